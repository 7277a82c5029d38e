//! The built component itself: it imports wasi:http and wasi:io and nothing
//! else, and exports the contract.

#[test]
fn imports_only_wasi_http_and_wasi_io() {
    let imports =
        component_build::component_imports(connector_artifacts::CIRCLECI_CONNECTOR).unwrap();
    assert!(
        imports
            .iter()
            .any(|i| i == "wasi:http/outgoing-handler@0.2.12"),
        "{imports:?}"
    );
    for import in &imports {
        assert!(
            import.starts_with("wasi:http/types@0.2.")
                || import.starts_with("wasi:http/outgoing-handler@0.2.")
                || import.starts_with("wasi:io/"),
            "unexpected import {import} in {imports:?}"
        );
    }
}

#[test]
fn exports_the_contract() {
    let exports =
        component_build::component_exports(connector_artifacts::CIRCLECI_CONNECTOR).unwrap();
    assert!(
        exports.iter().any(|e| e == "ingest:connector/source@0.3.0"),
        "{exports:?}"
    );
    assert!(
        exports.iter().any(|e| e == "ingest:connector/types@0.3.0"),
        "{exports:?}"
    );
}
