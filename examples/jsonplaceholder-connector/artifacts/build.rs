//! Builds the example connector (`..`) into a WebAssembly component in
//! `OUT_DIR`, as `artifacts/` does for the CircleCI connector: its own
//! cargo invocation and target directory, the component checked against
//! the contract's world and its import allow-list.

use std::process::ExitCode;

use component_build::script::{self, ScriptDirs};

/// The guest package.
const PACKAGE: &str = "jsonplaceholder-connector";
/// The file name of the component in `OUT_DIR`; `src/lib.rs` refers to it.
const COMPONENT_FILE: &str = "jsonplaceholder_connector.component.wasm";

fn main() -> ExitCode {
    script::main("the example connector component", || {
        // examples/jsonplaceholder-connector/artifacts → the workspace root.
        let dirs = ScriptDirs::from_env(3)?;
        let guest = dirs.workspace.join("examples/jsonplaceholder-connector");
        // The guest's sources and the SDK it is built on.
        script::build_connector_artifact(
            &dirs,
            &guest,
            PACKAGE,
            &["../../connector-sdk"],
            COMPONENT_FILE,
        )
    })
}
