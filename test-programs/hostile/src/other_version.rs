//! `other-version`: a well-behaved connector, except that it implements
//! `ingest:connector/source-connector@0.1.0` (a copy of the contract's WIT
//! with only the version changed, in `../wit-other-version`): it exports
//! `ingest:connector/types@0.1.0` and `ingest:connector/source@0.1.0`, and
//! no 0.3.0 interface: the shape of a component built for an older release
//! of the contract.
//!
//! Exercises the host's contract check at load time: a component built
//! against another version of the contract must be refused with a clear
//! error, not linked by structural luck nor failing at the first call.
//!
//! The SDK speaks only the current contract, so this behaviour keeps its
//! own bindings and glue: a form and catalog like the others', a benign
//! `validate`, and a `fetch` that returns the benign two records.

/// The behaviour's name.
pub const NAME: &str = "other-version";

/// The behaviour's `validate` and `fetch` when called through the SDK's
/// types (natively, where several behaviours may be enabled at once).
pub use crate::common::benign::{fetch, validate};

// The 0.1.0 package only holds the contract; its wasi dependencies come
// from the connector's WIT, loaded first.
mod bindings {
    wit_bindgen::generate!({
        world: "ingest:connector/source-connector@0.1.0",
        path: ["../../wit", "wit-other-version"],
        with: {
            "wasi:http/types@0.2.12": wasip2::http::types,
            "wasi:http/outgoing-handler@0.2.12": wasip2::http::outgoing_handler,
            "wasi:io/error@0.2.12": wasip2::io::error,
            "wasi:io/poll@0.2.12": wasip2::io::poll,
            "wasi:io/streams@0.2.12": wasip2::io::streams,
            "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
        },
    });
}

// With two versions of the package loaded, wit-bindgen puts the version in
// the module name.
use bindings::exports::ingest::connector0_1_0::source::Guest;
use bindings::exports::ingest::connector0_1_0::types as wit;

// Natively the export is not linked (see component.rs), so nothing names it.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct OtherVersion;

impl Guest for OtherVersion {
    fn credential_schema() -> wit::CredentialSpec {
        let spec = crate::common::credential_spec();
        wit::CredentialSpec {
            fields: spec
                .fields
                .into_iter()
                .map(|f| wit::CredentialField {
                    key: f.key,
                    label: f.label,
                    description: f.description,
                    kind: match f.kind {
                        crate::common::FieldKind::Text => wit::FieldKind::Text,
                        crate::common::FieldKind::Secret => wit::FieldKind::Secret,
                        crate::common::FieldKind::Url => wit::FieldKind::Url,
                    },
                    required: f.required,
                    default_value: f.default_value,
                })
                .collect(),
            json_schema: spec.json_schema,
        }
    }

    fn validate(credential: wit::Credential) -> Result<wit::Account, wit::ConnectorError> {
        crate::common::api_key(&credential)
            .map_err(|e| wit::ConnectorError::InvalidCredential(e.message().to_string()))?;
        Ok(wit::Account {
            id: "hostile".into(),
            name: NAME.into(),
            details: serde_json::json!({ "behaviour": NAME }).to_string(),
        })
    }

    fn settings_schema() -> String {
        crate::common::settings_schema()
    }

    fn streams() -> Vec<wit::StreamSpec> {
        crate::common::streams()
            .into_iter()
            .map(|s| wit::StreamSpec {
                name: s.name,
                description: s.description,
                json_schema: s.json_schema,
                primary_key: s.primary_key,
                cursor_field: s.cursor_field,
                parent: s.parent,
                sync_modes: vec![wit::SyncMode::FullRefresh],
            })
            .collect()
    }

    fn fetch(
        _credential: wit::Credential,
        _request: wit::FetchRequest,
    ) -> Result<wit::Page, wit::ConnectorError> {
        let records = (0..2)
            .map(|i| wit::StreamRecord {
                stream: 0,
                data: serde_json::json!({ "i": i }).to_string(),
            })
            .collect();
        Ok(wit::Page {
            records,
            state: None,
            has_more: false,
            cursors: vec![None],
            notices: Vec::new(),
            skipped: Vec::new(),
        })
    }
}

#[cfg(target_arch = "wasm32")]
bindings::export!(OtherVersion with_types_in bindings);
