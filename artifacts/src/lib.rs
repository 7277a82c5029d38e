//! The CircleCI connector as a WebAssembly component, built from
//! `../connector` by this crate's build script (with `component-build`) and
//! checked there: it implements `ingest:connector/source-connector@0.3.0`
//! and imports nothing but wasi:http and wasi:io.
//!
//! Depend on this crate to get the component without knowing how it is
//! built; the guest is rebuilt only when its sources, the WIT or
//! `Cargo.lock` change.

/// Path of the component file (inside this crate's `OUT_DIR`).
pub const CIRCLECI_CONNECTOR_PATH: &str =
    concat!(env!("OUT_DIR"), "/circleci_connector.component.wasm");

/// The component's bytes, embedded at compile time.
pub static CIRCLECI_CONNECTOR: &[u8] = include_bytes!(concat!(
    env!("OUT_DIR"),
    "/circleci_connector.component.wasm"
));

#[cfg(test)]
mod tests {
    use super::*;
    use component_build::{CONNECTOR_ALLOWED_IMPORTS, check_imports, component_exports};

    #[test]
    fn embedded_component_matches_the_file() {
        let on_disk = std::fs::read(CIRCLECI_CONNECTOR_PATH).unwrap();
        assert_eq!(on_disk, CIRCLECI_CONNECTOR);
    }

    #[test]
    fn embedded_component_is_checked() {
        check_imports(CIRCLECI_CONNECTOR, &CONNECTOR_ALLOWED_IMPORTS).unwrap();
        let exports = component_exports(CIRCLECI_CONNECTOR).unwrap();
        assert!(
            exports.iter().any(|e| e == "ingest:connector/source@0.3.0"),
            "{exports:?}"
        );
    }
}
