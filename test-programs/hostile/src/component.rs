//! The `source` export: the catalog and the credential form from
//! [`crate::common`], `validate` and `fetch` from the selected behaviour,
//! exported through the SDK's glue ([`connector_sdk::export!`]; natively it
//! expands to nothing). `other-version` exports another version of the
//! contract, which the SDK does not speak: it has its own raw glue
//! (`other_version.rs`).

use crate::behaviour;
use crate::common::{
    self, Account, ConnectorError, CredentialSpec, FetchRequest, HttpClient, Page, StreamSpec,
};
use connector_sdk::Source;

/// The component: the selected behaviour as the SDK's [`Source`].
// Natively the exports are not linked, so nothing names it.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub struct Component;

// Three behaviours describe themselves differently; the rest share
// `common`'s form and catalog.
#[cfg(feature = "bad-names")]
use crate::bad_names::streams;
#[cfg(all(feature = "forgetful", not(feature = "bad-names")))]
use crate::forgetful::streams;
#[cfg(feature = "unmarked")]
use crate::unmarked::credential_spec;
#[cfg(not(feature = "unmarked"))]
use common::credential_spec;
#[cfg(not(any(feature = "bad-names", feature = "forgetful")))]
use common::streams;

impl Source for Component {
    fn credential_schema() -> CredentialSpec {
        credential_spec()
    }

    fn validate(
        client: &mut dyn HttpClient,
        credential: &[(String, String)],
    ) -> Result<Account, ConnectorError> {
        behaviour::validate(client, credential.to_vec())
    }

    fn settings_schema() -> String {
        common::settings_schema()
    }

    fn streams() -> Vec<StreamSpec> {
        streams()
    }

    fn fetch(
        client: &mut dyn HttpClient,
        credential: &[(String, String)],
        request: &FetchRequest,
    ) -> Result<Page, ConnectorError> {
        behaviour::fetch(client, credential.to_vec(), request.clone())
    }
}

#[cfg(not(feature = "other-version"))]
connector_sdk::export!(Component);
