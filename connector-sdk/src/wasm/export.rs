//! The glue between the generated `source` export and a [`Source`]: one
//! function per export, converting the WIT types to the plain-Rust model
//! and back, with [`WasiHttp`] as the client. [`crate::export!`] expands to
//! an implementation of the generated trait that calls these.

use super::client::WasiHttp;
use super::wit;
use crate::error::{ConnectorError, RetryHint};
use crate::model;
use crate::source::Source;

/// `credential-schema`, converted.
pub fn credential_schema<S: Source>() -> wit::CredentialSpec {
    let s = S::credential_schema();
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

/// `validate`, with the wasi:http client.
pub fn validate<S: Source>(
    credential: wit::Credential,
) -> Result<wit::Account, wit::ConnectorError> {
    let a = S::validate(&mut WasiHttp, &credential).map_err(to_wit)?;
    Ok(wit::Account {
        id: a.id,
        name: a.name,
        details: a.details,
    })
}

/// `settings-schema`, as the source gives it.
pub fn settings_schema<S: Source>() -> String {
    S::settings_schema()
}

/// `streams`, converted.
pub fn streams<S: Source>() -> Vec<wit::StreamSpec> {
    S::streams()
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

/// `fetch`, with the wasi:http client.
pub fn fetch<S: Source>(
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
    let p = S::fetch(&mut WasiHttp, &credential, &request).map_err(to_wit)?;
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
