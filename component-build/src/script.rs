//! What every build script that builds components shares: the entry point
//! that turns an error into one readable line, the paths cargo hands a
//! build script, writing a component so no reader sees half of it, and the
//! whole build of one connector guest into `OUT_DIR`.
//!
//! `artifacts/` (the CircleCI connector), `test-programs/artifacts/` (the
//! hostile programs) and the example connector's `artifacts/` are each a
//! few lines on top of this.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};

use crate::{
    CONNECTOR_ALLOWED_IMPORTS, CONNECTOR_WORLD, GuestBuild, ToolchainMissing, build_component,
    default_target_dir,
};

/// Runs a build script's work; on failure prints the error alone (no
/// backtrace, no panic message) so that a missing toolchain reads as the
/// commands to run, and anything else as one error chain naming `what`.
pub fn main(what: &str, run: impl FnOnce() -> Result<()>) -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if let Some(missing) = err.downcast_ref::<ToolchainMissing>() {
                eprintln!("error: {missing}");
            } else {
                eprintln!("error: building {what} failed: {err:#}");
            }
            ExitCode::FAILURE
        }
    }
}

/// The paths cargo gives a build script.
#[derive(Debug, Clone)]
pub struct ScriptDirs {
    /// The directory of the crate whose build script runs.
    pub manifest_dir: PathBuf,
    /// Where the script's outputs go.
    pub out_dir: PathBuf,
    /// The workspace root: `manifest_dir`'s ancestor `depth` levels up.
    pub workspace: PathBuf,
}

impl ScriptDirs {
    /// Reads `CARGO_MANIFEST_DIR` and `OUT_DIR`; the workspace is `depth`
    /// levels above the manifest directory (1 for `artifacts/`).
    pub fn from_env(depth: usize) -> Result<ScriptDirs> {
        let manifest_dir = PathBuf::from(cargo_env("CARGO_MANIFEST_DIR")?);
        let out_dir = PathBuf::from(cargo_env("OUT_DIR")?);
        let workspace = manifest_dir
            .ancestors()
            .nth(depth)
            .ok_or_else(|| anyhow!("{} is not {depth} levels deep", manifest_dir.display()))?
            .to_path_buf();
        Ok(ScriptDirs {
            manifest_dir,
            out_dir,
            workspace,
        })
    }
}

/// A variable cargo sets for build scripts.
pub fn cargo_env(name: &str) -> Result<String> {
    std::env::var(name).map_err(|_| anyhow!("cargo did not set {name}"))
}

/// Writes `bytes` to `dest` through a temporary file and a rename, so a
/// reader never sees half a component.
pub fn write_atomically(dest: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = dest.with_extension("wasm.tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("could not write {}", tmp.display()))?;
    std::fs::rename(&tmp, dest).with_context(|| format!("could not write {}", dest.display()))
}

/// Builds the connector guest `package` (in `guest`, built on the crates
/// `inputs` names relative to it, whose changes rebuild it too) into a
/// component checked against the contract's world and import allow-list,
/// and writes it to `OUT_DIR/file`.
pub fn build_connector_artifact(
    dirs: &ScriptDirs,
    guest: &Path,
    package: &str,
    inputs: &[&str],
    file: &str,
) -> Result<()> {
    // Find the toolchain before printing anything to stdout: if it is
    // missing, cargo then shows just the install commands, not a page of
    // `rerun-if-changed` lines. (A failed script always reruns anyway.)
    let toolchain = crate::detect()?;
    crate::rerun::declare_guest_inputs(&dirs.workspace, guest, inputs)?;
    let mut build = GuestBuild::new(
        &dirs.workspace,
        package,
        default_target_dir(&dirs.workspace),
    );
    build.toolchain = Some(toolchain);
    let built = build_component(
        &build,
        &dirs.workspace.join("wit"),
        CONNECTOR_WORLD,
        &CONNECTOR_ALLOWED_IMPORTS,
    )?;
    let dest = dirs.out_dir.join(file);
    write_atomically(&dest, &built.component)?;
    eprintln!(
        "component-build: {} ({} bytes), imports {:?}",
        dest.display(),
        built.component.len(),
        built.imports
    );
    Ok(())
}
