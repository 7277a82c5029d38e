//! Builds the CircleCI connector (`../connector`) into a WebAssembly
//! component and puts it in `OUT_DIR`, the pattern of wasmtime's
//! `crates/test-programs/artifacts` build script.
//!
//! The guest gets its own cargo invocation and its own target directory,
//! `<workspace>/target/guest`: not `OUT_DIR`, so one guest build serves the
//! debug and the release host builds (and survives `OUT_DIR` hash changes),
//! and not the outer target dir itself, whose lock the outer cargo holds
//! while this script runs.

use component_build::{
    CONNECTOR_ALLOWED_IMPORTS, CONNECTOR_PACKAGE, CONNECTOR_WORLD, GuestBuild, ToolchainMissing,
    build_component, default_target_dir,
};
use std::path::PathBuf;
use std::process::ExitCode;

/// The file name of the component in `OUT_DIR`; `src/lib.rs` refers to it.
const COMPONENT_FILE: &str = "circleci_connector.component.wasm";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Cargo shows a failed build script's stderr; print the error
            // alone (no backtrace, no panic message) so a missing toolchain
            // reads as the commands to run.
            if let Some(missing) = err.downcast_ref::<ToolchainMissing>() {
                eprintln!("error: {missing}");
            } else {
                eprintln!("error: building the CircleCI connector component failed: {err:#}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(env("OUT_DIR")?);
    let workspace = manifest_dir
        .parent()
        .ok_or_else(|| anyhow::anyhow!("{} has no parent", manifest_dir.display()))?
        .to_path_buf();

    // Find the toolchain before printing anything to stdout: if it is
    // missing, cargo then shows just the install commands, not a page of
    // `rerun-if-changed` lines. (A failed script always reruns anyway.)
    let toolchain = component_build::detect()?;

    // The connector's own sources, and the SDK it is built on.
    component_build::rerun::declare_guest_inputs(
        &workspace,
        &workspace.join("connector"),
        &["../connector-sdk"],
    )?;

    let mut build = GuestBuild::new(
        &workspace,
        CONNECTOR_PACKAGE,
        default_target_dir(&workspace),
    );
    build.toolchain = Some(toolchain);
    let built = build_component(
        &build,
        &workspace.join("wit"),
        CONNECTOR_WORLD,
        &CONNECTOR_ALLOWED_IMPORTS,
    )?;

    // Write then rename, so a reader never sees half a component.
    let dest = out_dir.join(COMPONENT_FILE);
    let tmp = out_dir.join(format!("{COMPONENT_FILE}.tmp"));
    std::fs::write(&tmp, &built.component)
        .map_err(|e| anyhow::anyhow!("could not write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &dest)
        .map_err(|e| anyhow::anyhow!("could not write {}: {e}", dest.display()))?;
    eprintln!(
        "component-build: {} ({} bytes), imports {:?}",
        dest.display(),
        built.component.len(),
        built.imports
    );
    Ok(())
}

fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).map_err(|_| anyhow::anyhow!("cargo did not set {name}"))
}
