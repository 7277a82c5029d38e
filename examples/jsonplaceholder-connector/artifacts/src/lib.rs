//! The example JSONPlaceholder connector (`..`) as a WebAssembly component,
//! built from source by this crate's build script and checked there: it
//! implements `ingest:connector/source-connector@0.3.0` and imports nothing
//! but wasi:http and wasi:io.

/// The component's bytes, embedded at compile time.
pub static JSONPLACEHOLDER_CONNECTOR: &[u8] = include_bytes!(concat!(
    env!("OUT_DIR"),
    "/jsonplaceholder_connector.component.wasm"
));

#[cfg(test)]
mod tests {
    use super::*;
    use component_build::{CONNECTOR_ALLOWED_IMPORTS, check_imports, component_exports};

    #[test]
    fn the_component_is_checked() {
        check_imports(JSONPLACEHOLDER_CONNECTOR, &CONNECTOR_ALLOWED_IMPORTS).unwrap();
        let exports = component_exports(JSONPLACEHOLDER_CONNECTOR).unwrap();
        assert!(
            exports.iter().any(|e| e == "ingest:connector/source@0.3.0"),
            "{exports:?}"
        );
    }
}
