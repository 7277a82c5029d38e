//! The `source` export: converts between the generated WIT types and the
//! plain-Rust model, and calls [`crate::connector`] with [`WasiHttp`].

use super::bindings::exports::ingest::connector::source::Guest;
use super::bindings::exports::ingest::connector::types as wit;
use super::http::WasiHttp;
use crate::error::{ConnectorError, RetryHint};
use crate::model;

struct Component;

impl Guest for Component {
    fn credential_schema() -> wit::CredentialSpec {
        let s = crate::connector::credential_schema();
        wit::CredentialSpec {
            fields: s
                .fields
                .into_iter()
                .map(|f| wit::CredentialField {
                    key: f.key,
                    label: f.label,
                    description: f.description,
                    kind: match f.kind {
                        model::FieldKind::Text => wit::FieldKind::Text,
                        model::FieldKind::Secret => wit::FieldKind::Secret,
                        model::FieldKind::Url => wit::FieldKind::Url,
                    },
                    required: f.required,
                    default_value: f.default_value,
                })
                .collect(),
            json_schema: s.json_schema,
        }
    }

    fn validate(credential: wit::Credential) -> Result<wit::Account, wit::ConnectorError> {
        let a = crate::connector::validate(&mut WasiHttp, &credential).map_err(to_wit)?;
        Ok(wit::Account {
            id: a.id,
            name: a.name,
            details: a.details,
        })
    }

    fn streams() -> Vec<wit::StreamSpec> {
        crate::connector::streams()
            .into_iter()
            .map(|s| wit::StreamSpec {
                name: s.name,
                description: s.description,
                json_schema: s.json_schema,
                primary_key: s.primary_key,
                cursor_field: s.cursor_field,
                parent: s.parent,
                sync_modes: s
                    .sync_modes
                    .into_iter()
                    .map(|m| match m {
                        model::SyncMode::FullRefresh => wit::SyncMode::FullRefresh,
                        model::SyncMode::Incremental => wit::SyncMode::Incremental,
                    })
                    .collect(),
            })
            .collect()
    }

    fn fetch(
        credential: wit::Credential,
        request: wit::FetchRequest,
    ) -> Result<wit::Page, wit::ConnectorError> {
        let request = model::FetchRequest {
            streams: request.streams,
            settings: request.settings,
            state: request.state,
            cursors: request.cursors,
            concurrency: request.concurrency,
            skip_failing: request.skip_failing,
        };
        let p = crate::connector::fetch(&mut WasiHttp, &credential, &request).map_err(to_wit)?;
        Ok(wit::Page {
            records: p
                .records
                .into_iter()
                .map(|r| wit::StreamRecord {
                    stream: r.stream,
                    data: r.data,
                })
                .collect(),
            state: p.state,
            has_more: p.has_more,
            cursors: p.cursors,
            notices: p.notices,
            skipped: p.skipped,
        })
    }
}

fn to_wit(e: ConnectorError) -> wit::ConnectorError {
    let hint = |h: RetryHint| wit::RetryHint {
        retry_after_ms: h.retry_after_ms,
        message: h.message,
    };
    match e {
        ConnectorError::InvalidCredential(m) => wit::ConnectorError::InvalidCredential(m),
        ConnectorError::Unauthorized(m) => wit::ConnectorError::Unauthorized(m),
        ConnectorError::Forbidden(m) => wit::ConnectorError::Forbidden(m),
        ConnectorError::NotFound(m) => wit::ConnectorError::NotFound(m),
        ConnectorError::RateLimited(h) => wit::ConnectorError::RateLimited(hint(h)),
        ConnectorError::Unavailable(h) => wit::ConnectorError::Unavailable(hint(h)),
        ConnectorError::Denied(m) => wit::ConnectorError::Denied(m),
        ConnectorError::BadResponse(m) => wit::ConnectorError::BadResponse(m),
        ConnectorError::InvalidSettings(m) => wit::ConnectorError::InvalidSettings(m),
        ConnectorError::InvalidState(m) => wit::ConnectorError::InvalidState(m),
    }
}

super::bindings::export!(Component with_types_in super::bindings);
