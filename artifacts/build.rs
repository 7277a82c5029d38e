//! Builds the CircleCI connector (`../connector`) into a WebAssembly
//! component and puts it in `OUT_DIR`, the pattern of wasmtime's
//! `crates/test-programs/artifacts` build script.
//!
//! The guest gets its own cargo invocation and its own target directory,
//! `<workspace>/target/guest`: not `OUT_DIR`, so one guest build serves the
//! debug and the release host builds (and survives `OUT_DIR` hash changes),
//! and not the outer target dir itself, whose lock the outer cargo holds
//! while this script runs.

use std::process::ExitCode;

use component_build::CONNECTOR_PACKAGE;
use component_build::script::{self, ScriptDirs};

/// The file name of the component in `OUT_DIR`; `src/lib.rs` refers to it.
const COMPONENT_FILE: &str = "circleci_connector.component.wasm";

fn main() -> ExitCode {
    script::main("the CircleCI connector component", || {
        let dirs = ScriptDirs::from_env(1)?;
        let guest = dirs.workspace.join("connector");
        // The connector's own sources, and the SDK it is built on.
        script::build_connector_artifact(
            &dirs,
            &guest,
            CONNECTOR_PACKAGE,
            &["../connector-sdk"],
            COMPONENT_FILE,
        )
    })
}
