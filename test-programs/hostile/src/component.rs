//! The `source` export: the catalog and the credential form from
//! [`crate::common`], `validate` and `fetch` from the selected behaviour.

use crate::behaviour;
use crate::bindings::contract::source::Guest;
use crate::common::{
    self, Account, ConnectorError, Credential, CredentialSpec, FetchRequest, Page, StreamSpec,
};

// Natively the exports are not linked (see below), so nothing names it.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct Component;

// Two behaviours describe themselves differently; the rest share
// `common`'s form and catalog.
#[cfg(feature = "bad-names")]
use crate::bad_names::streams;
#[cfg(feature = "unmarked")]
use crate::unmarked::credential_spec;
#[cfg(not(feature = "unmarked"))]
use common::credential_spec;
#[cfg(not(feature = "bad-names"))]
use common::streams;

impl Guest for Component {
    fn credential_schema() -> CredentialSpec {
        credential_spec()
    }

    fn validate(credential: Credential) -> Result<Account, ConnectorError> {
        behaviour::validate(credential)
    }

    fn streams() -> Vec<StreamSpec> {
        streams()
    }

    fn fetch(credential: Credential, request: FetchRequest) -> Result<Page, ConnectorError> {
        behaviour::fetch(credential, request)
    }
}

// Only in the wasm module: a native cdylib cannot export names such as
// `ingest:connector/source@0.2.0#fetch` (the linker's version script
// rejects them), and nothing native calls them anyway.
#[cfg(target_arch = "wasm32")]
crate::bindings::export!(Component with_types_in crate::bindings);
