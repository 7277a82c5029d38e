//! What ends a `connector-harness` run unsuccessfully, how it is printed,
//! and the process exit code of each kind (the README's table).
//!
//! The library's [`HarnessError`] says what went wrong in the host's terms;
//! this adds what only a command line has (a bad flag, a credential or
//! settings file that cannot be read) and the hints that name flags.

use std::fmt;

use host_harness::HarnessError;
use host_harness::bindings::ConnectorError;
use host_harness::error::printable;
use host_harness::limits::LimitKind;

/// Anything that ends a run unsuccessfully.
#[derive(Debug)]
pub enum CliError {
    /// The command line asks for something impossible.
    Usage(String),
    /// The credential file is missing, unreadable or not a JSON object of
    /// strings.
    CredentialFile(String),
    /// The settings file is unreadable or not a JSON object.
    SettingsFile(String),
    /// A file of the Airbyte or Singer protocol (config, catalog, state)
    /// cannot be used, or asks for what the connector does not have.
    Input(String),
    /// What the host library reported.
    Host(HarnessError),
    /// `conform` ran and at least one check failed (its report says which).
    Conform(String),
    /// An error already reported on stdout in the protocol's own terms
    /// (an Airbyte TRACE ERROR): exits with its code, printed on stderr
    /// only.
    Reported(Box<CliError>),
}

impl From<HarnessError> for CliError {
    fn from(e: HarnessError) -> Self {
        CliError::Host(e)
    }
}

impl CliError {
    /// The process exit code, distinct per kind.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::CredentialFile(_) => 20,
            CliError::SettingsFile(_) => 21,
            CliError::Input(_) => 27,
            CliError::Conform(_) => 28,
            CliError::Reported(e) => e.exit_code(),
            CliError::Host(e) => match e {
                HarnessError::Connector(e) => match e {
                    ConnectorError::InvalidCredential(_) => 10,
                    ConnectorError::Unauthorized(_) => 11,
                    ConnectorError::Forbidden(_) => 12,
                    ConnectorError::NotFound(_) => 13,
                    ConnectorError::RateLimited(_) => 14,
                    ConnectorError::Unavailable(_) => 15,
                    ConnectorError::Denied(_) => 16,
                    ConnectorError::BadResponse(_) => 17,
                    ConnectorError::InvalidSettings(_) => 18,
                    ConnectorError::InvalidState(_) => 19,
                },
                HarnessError::UnknownStream(_) => 2,
                HarnessError::State(_) => 22,
                HarnessError::Load(_) => 23,
                HarnessError::Trap(_) => 24,
                HarnessError::Io(_) => 25,
                HarnessError::Limit { .. } => 26,
            },
        }
    }

    /// The kind's name, printed before the message.
    pub fn kind(&self) -> &'static str {
        match self {
            CliError::Usage(_) | CliError::Host(HarnessError::UnknownStream(_)) => "usage",
            CliError::CredentialFile(_) => "credential-file",
            CliError::SettingsFile(_) => "settings-file",
            CliError::Input(_) => "input",
            CliError::Conform(_) => "conform",
            CliError::Reported(e) => e.kind(),
            CliError::Host(HarnessError::State(_)) => "state-file",
            CliError::Host(e) => e.kind(),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = match self {
            CliError::Usage(m)
            | CliError::CredentialFile(m)
            | CliError::SettingsFile(m)
            | CliError::Input(m)
            | CliError::Conform(m) => m.clone(),
            CliError::Reported(e) => return e.fmt(f),
            CliError::Host(e) => {
                let message = e.message();
                match e.limit().and_then(flag) {
                    Some(flag) => format!("{message} (raise it with {flag})"),
                    None => message,
                }
            }
        };
        write!(f, "{}: {}", self.kind(), printable(message.trim()))
    }
}

/// The flag that sets `limit`, if one does.
pub fn flag(limit: LimitKind) -> Option<&'static str> {
    match limit {
        LimitKind::Memory => Some("--max-memory-mb"),
        LimitKind::CpuTime => Some("--max-cpu-secs"),
        LimitKind::RequestsPerCall => Some("--max-requests-per-call"),
        LimitKind::ResponseBody => Some("--max-response-mb"),
        LimitKind::RecordsPerPage => Some("--max-records-per-page"),
        LimitKind::BytesPerPage => Some("--max-page-mb"),
        LimitKind::Connections => Some("--max-connections"),
        LimitKind::HostResources => Some("--max-host-resources"),
        LimitKind::HeaderBytes => Some("--max-header-kb"),
        LimitKind::RequestBody => Some("--max-request-body-kb"),
        LimitKind::RequestBytesPerCall => Some("--max-request-mb-per-call"),
        LimitKind::StateBytes => Some("--max-state-kb"),
        LimitKind::CallTime => Some("--max-call-secs"),
        LimitKind::TableElements | LimitKind::Instances => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_names_its_flag_and_each_kind_has_its_code() {
        let limit = CliError::Host(HarnessError::Limit {
            limit: LimitKind::Connections,
            value: "8".into(),
            detail: "a ninth was asked for".into(),
        });
        assert_eq!(
            limit.to_string(),
            "limit-exceeded: connections limit of 8 exceeded: a ninth was asked for \
             (raise it with --max-connections)"
        );
        assert_eq!(limit.exit_code(), 26);
        let state = CliError::Host(HarnessError::State("x: corrupt".into()));
        assert_eq!((state.kind(), state.exit_code()), ("state-file", 22));
        let unknown = CliError::Host(HarnessError::UnknownStream("no stream x".into()));
        assert_eq!((unknown.kind(), unknown.exit_code()), ("usage", 2));
        let bad = CliError::Host(HarnessError::Connector(ConnectorError::BadResponse(
            "a\nb\x1b[2J".into(),
        )));
        assert_eq!(bad.to_string(), "bad-response: a b\\u{1b}[2J");
        assert_eq!(bad.exit_code(), 17);
        let conform = CliError::Conform("1 of 10 checks failed: requests_allowed".into());
        assert_eq!((conform.kind(), conform.exit_code()), ("conform", 28));
    }
}
