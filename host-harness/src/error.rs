//! The host's error type: the guest's typed errors plus what can go wrong on
//! the host's side.
//!
//! Every message is one line meant for an operator. Messages that may carry
//! text from the guest or the upstream are passed through
//! [`crate::credential::Redactor`] before they are shown, and
//! [`HarnessError`]'s `Display` makes them safe for a terminal
//! ([`printable`]).

use std::fmt;

use crate::bindings::ConnectorError;
use crate::limits::{LimitExceeded, LimitKind};

/// Anything that ends a host call unsuccessfully.
#[derive(Debug, Clone)]
pub enum HarnessError {
    /// The connector answered with one of the contract's typed errors.
    Connector(ConnectorError),
    /// A stream was asked for that the connector's catalog does not have.
    UnknownStream(String),
    /// The saved state cannot be read: unreadable, corrupt, of another
    /// format, or larger than a state may be.
    State(String),
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
        /// Which limit.
        limit: LimitKind,
        /// Its configured value, with its unit.
        value: String,
        /// What happened.
        detail: String,
    },
}

impl HarnessError {
    /// A stable, machine-readable name of the kind: the contract's name for
    /// a connector error (`unauthorized`, `rate-limited`, …), else the
    /// host's (`unknown-stream`, `state`, `load`, `trap`, `io`,
    /// `limit-exceeded`).
    pub fn kind(&self) -> &'static str {
        match self {
            HarnessError::Connector(e) => connector_error_kind(e),
            HarnessError::UnknownStream(_) => "unknown-stream",
            HarnessError::State(_) => "state",
            HarnessError::Load(_) => "load",
            HarnessError::Trap(_) => "trap",
            HarnessError::Io(_) => "io",
            HarnessError::Limit { .. } => "limit-exceeded",
        }
    }

    /// The message without its kind, as it was made (not yet made
    /// printable: `Display` does that).
    pub fn message(&self) -> String {
        match self {
            HarnessError::Connector(e) => connector_error_message(e),
            HarnessError::UnknownStream(m)
            | HarnessError::State(m)
            | HarnessError::Load(m)
            | HarnessError::Trap(m)
            | HarnessError::Io(m) => m.clone(),
            HarnessError::Limit {
                limit,
                value,
                detail,
            } => format!("{limit} limit of {value} exceeded: {detail}"),
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
            HarnessError::UnknownStream(m) => HarnessError::UnknownStream(f(&m)),
            HarnessError::State(m) => HarnessError::State(f(&m)),
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
        write!(f, "{}: {}", self.kind(), printable(self.message().trim()))
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
    use crate::bindings::RetryHint;

    /// The kind names are the contract's: every case of `connector-error`
    /// in `wit/connector.wit`, spelled as there, and nothing else.
    #[test]
    fn connector_error_kinds_are_the_wit_case_names() {
        let wit = include_str!("../../wit/connector.wit");
        let start = wit.find("variant connector-error {").expect("the variant");
        let body = &wit[start..][..wit[start..].find('}').expect("its end")];
        let cases: Vec<&str> = body
            .lines()
            .skip(1)
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("//"))
            .map(|l| l.split('(').next().unwrap_or(l).trim_end_matches(','))
            .collect();
        let hint = || RetryHint {
            message: String::new(),
            retry_after_ms: None,
        };
        let ours: Vec<&str> = [
            ConnectorError::InvalidCredential(String::new()),
            ConnectorError::Unauthorized(String::new()),
            ConnectorError::Forbidden(String::new()),
            ConnectorError::NotFound(String::new()),
            ConnectorError::RateLimited(hint()),
            ConnectorError::Unavailable(hint()),
            ConnectorError::Denied(String::new()),
            ConnectorError::BadResponse(String::new()),
            ConnectorError::InvalidSettings(String::new()),
            ConnectorError::InvalidState(String::new()),
        ]
        .iter()
        .map(connector_error_kind)
        .collect();
        assert_eq!(ours, cases);
    }

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
