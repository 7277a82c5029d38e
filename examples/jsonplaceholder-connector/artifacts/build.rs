//! Builds the example connector (`..`) into a WebAssembly component in
//! `OUT_DIR`, as `artifacts/` does for the CircleCI connector: its own
//! cargo invocation and target directory, the component checked against
//! the contract's world and its import allow-list.

use component_build::{
    CONNECTOR_ALLOWED_IMPORTS, CONNECTOR_WORLD, GuestBuild, ToolchainMissing, build_component,
    default_target_dir,
};
use std::path::PathBuf;
use std::process::ExitCode;

/// The guest package.
const PACKAGE: &str = "jsonplaceholder-connector";
/// The file name of the component in `OUT_DIR`; `src/lib.rs` refers to it.
const COMPONENT_FILE: &str = "jsonplaceholder_connector.component.wasm";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if let Some(missing) = err.downcast_ref::<ToolchainMissing>() {
                eprintln!("error: {missing}");
            } else {
                eprintln!("error: building the example connector component failed: {err:#}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(env("OUT_DIR")?);
    let guest = manifest_dir
        .parent()
        .ok_or_else(|| anyhow::anyhow!("{} has no parent", manifest_dir.display()))?
        .to_path_buf();
    // examples/jsonplaceholder-connector/artifacts → the workspace root.
    let workspace = guest
        .ancestors()
        .nth(2)
        .ok_or_else(|| anyhow::anyhow!("{} is not two levels deep", guest.display()))?
        .to_path_buf();

    let toolchain = component_build::detect()?;
    // The guest's sources and the SDK it is built on.
    component_build::rerun::declare_guest_inputs(&workspace, &guest, &["../../connector-sdk"])?;

    let mut build = GuestBuild::new(&workspace, PACKAGE, default_target_dir(&workspace));
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
