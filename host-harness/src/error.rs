//! The host's error type: the guest's typed errors plus what can go wrong on
//! the host's side, each with its own process exit code.
//!
//! Every message is one line meant for an operator. Messages that may carry
//! text from the guest or the upstream are passed through
//! [`crate::credential::Redactor`] before they are shown.

use std::fmt;

use crate::bindings::ConnectorError;
use crate::limits::{LimitExceeded, LimitKind};

/// Anything that ends a harness call unsuccessfully.
#[derive(Debug, Clone)]
pub enum HarnessError {
    /// The connector answered with one of the contract's typed errors.
    Connector(ConnectorError),
    /// The credential file is missing, unreadable or not a JSON object of strings.
    CredentialFile(String),
    /// The settings file is unreadable or not JSON.
    SettingsFile(String),
    /// The state file is unreadable, corrupt or belongs to another stream.
    StateFile(String),
    /// The component was refused or could not be compiled.
    Load(String),
    /// The guest trapped (panicked, ran out of a limit, misbehaved).
    Trap(String),
    /// Writing output or checkpoints failed.
    Io(String),
    /// The call exceeded one of the instance's [`crate::Limits`]: which
    /// one, its configured value, and what happened. Only that call ended;
    /// after a memory or CPU limit the instance cannot be used again.
    Limit {
        limit: LimitKind,
        value: String,
        detail: String,
    },
    /// The command line asks for something impossible.
    Usage(String),
}

impl HarnessError {
    /// The process exit code, distinct per kind (documented in the README).
    pub fn exit_code(&self) -> i32 {
        match self {
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
            HarnessError::CredentialFile(_) => 20,
            HarnessError::SettingsFile(_) => 21,
            HarnessError::StateFile(_) => 22,
            HarnessError::Load(_) => 23,
            HarnessError::Trap(_) => 24,
            HarnessError::Io(_) => 25,
            HarnessError::Limit { .. } => 26,
            HarnessError::Usage(_) => 2,
        }
    }

    /// A stable, machine-readable name of the kind.
    pub fn kind(&self) -> &'static str {
        match self {
            HarnessError::Connector(e) => connector_error_kind(e),
            HarnessError::CredentialFile(_) => "credential-file",
            HarnessError::SettingsFile(_) => "settings-file",
            HarnessError::StateFile(_) => "state-file",
            HarnessError::Load(_) => "load",
            HarnessError::Trap(_) => "trap",
            HarnessError::Io(_) => "io",
            HarnessError::Limit { .. } => "limit-exceeded",
            HarnessError::Usage(_) => "usage",
        }
    }

    /// Applies `f` to every message the error carries (used for redaction).
    pub fn map_messages(self, f: impl Fn(&str) -> String) -> Self {
        use ConnectorError as C;
        match self {
            HarnessError::Connector(e) => HarnessError::Connector(match e {
                C::InvalidCredential(m) => C::InvalidCredential(f(&m)),
                C::Unauthorized(m) => C::Unauthorized(f(&m)),
                C::Forbidden(m) => C::Forbidden(f(&m)),
                C::NotFound(m) => C::NotFound(f(&m)),
                C::RateLimited(mut h) => {
                    h.message = f(&h.message);
                    C::RateLimited(h)
                }
                C::Unavailable(mut h) => {
                    h.message = f(&h.message);
                    C::Unavailable(h)
                }
                C::Denied(m) => C::Denied(f(&m)),
                C::BadResponse(m) => C::BadResponse(f(&m)),
                C::InvalidSettings(m) => C::InvalidSettings(f(&m)),
                C::InvalidState(m) => C::InvalidState(f(&m)),
            }),
            HarnessError::CredentialFile(m) => HarnessError::CredentialFile(f(&m)),
            HarnessError::SettingsFile(m) => HarnessError::SettingsFile(f(&m)),
            HarnessError::StateFile(m) => HarnessError::StateFile(f(&m)),
            HarnessError::Load(m) => HarnessError::Load(f(&m)),
            HarnessError::Trap(m) => HarnessError::Trap(f(&m)),
            HarnessError::Io(m) => HarnessError::Io(f(&m)),
            HarnessError::Limit {
                limit,
                value,
                detail,
            } => HarnessError::Limit {
                limit,
                value: f(&value),
                detail: f(&detail),
            },
            HarnessError::Usage(m) => HarnessError::Usage(f(&m)),
        }
    }
}

/// The contract's name for a connector error kind.
pub fn connector_error_kind(e: &ConnectorError) -> &'static str {
    match e {
        ConnectorError::InvalidCredential(_) => "invalid-credential",
        ConnectorError::Unauthorized(_) => "unauthorized",
        ConnectorError::Forbidden(_) => "forbidden",
        ConnectorError::NotFound(_) => "not-found",
        ConnectorError::RateLimited(_) => "rate-limited",
        ConnectorError::Unavailable(_) => "unavailable",
        ConnectorError::Denied(_) => "denied",
        ConnectorError::BadResponse(_) => "bad-response",
        ConnectorError::InvalidSettings(_) => "invalid-settings",
        ConnectorError::InvalidState(_) => "invalid-state",
    }
}

/// The message a connector error carries.
pub fn connector_error_message(e: &ConnectorError) -> String {
    match e {
        ConnectorError::RateLimited(h) | ConnectorError::Unavailable(h) => match h.retry_after_ms {
            Some(ms) => format!("{} (retry after {ms} ms)", h.message),
            None => h.message.clone(),
        },
        ConnectorError::InvalidCredential(m)
        | ConnectorError::Unauthorized(m)
        | ConnectorError::Forbidden(m)
        | ConnectorError::NotFound(m)
        | ConnectorError::Denied(m)
        | ConnectorError::BadResponse(m)
        | ConnectorError::InvalidSettings(m)
        | ConnectorError::InvalidState(m) => m.clone(),
    }
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = match self {
            HarnessError::Connector(e) => connector_error_message(e),
            HarnessError::CredentialFile(m)
            | HarnessError::SettingsFile(m)
            | HarnessError::StateFile(m)
            | HarnessError::Load(m)
            | HarnessError::Trap(m)
            | HarnessError::Io(m)
            | HarnessError::Usage(m) => m.clone(),
            HarnessError::Limit {
                limit,
                value,
                detail,
            } => match limit.flag() {
                Some(flag) => {
                    format!("{limit} limit of {value} exceeded: {detail} (raise it with {flag})")
                }
                None => format!("{limit} limit of {value} exceeded: {detail}"),
            },
        };
        write!(f, "{}: {}", self.kind(), printable(message.trim()))
    }
}

/// `text` made safe to print on one line of a terminal: line breaks become
/// spaces, and every other control character (C0, DEL, C1, which include
/// ESC and the single-byte CSI that drive a terminal, and BEL) and every
/// Unicode bidirectional or invisible format control (which can make a line
/// read other than it is) is shown escaped, `\u{1b}`. Text from a guest or
/// an upstream goes through this before the host shows it.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        c.is_control()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
    };
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            c if unsafe_char(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

impl std::error::Error for HarnessError {}

impl HarnessError {
    /// Which limit ended the call, if one did.
    pub fn limit(&self) -> Option<LimitKind> {
        match self {
            HarnessError::Limit { limit, .. } => Some(*limit),
            _ => None,
        }
    }
}

impl From<LimitExceeded> for HarnessError {
    fn from(e: LimitExceeded) -> Self {
        HarnessError::Limit {
            limit: e.limit,
            value: e.value,
            detail: e.detail,
        }
    }
}

impl From<ConnectorError> for HarnessError {
    fn from(e: ConnectorError) -> Self {
        HarnessError::Connector(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_print_on_one_line_without_terminal_controls() {
        let error = HarnessError::Connector(ConnectorError::BadResponse(
            "a\nb\r\x1b[2J\x07\u{9b}31m\u{202e}evil\u{7f}".into(),
        ));
        let shown = error.to_string();
        assert_eq!(
            shown,
            "bad-response: a b \\u{1b}[2J\\u{7}\\u{9b}31m\\u{202e}evil\\u{7f}"
        );
        assert!(!shown.chars().any(|c| c.is_control()), "{shown:?}");
        assert_eq!(printable("plain é ✓"), "plain é ✓");
    }
}
