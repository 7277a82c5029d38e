//! A connector's typed errors: a plain-Rust mirror of the WIT
//! `connector-error` variant, plus the helpers that keep messages short and
//! free of secrets.

use std::fmt;

/// How long the upstream asked to wait (WIT `retry-hint`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryHint {
    /// How long the upstream asked to wait, when it said.
    pub retry_after_ms: Option<u64>,
    /// What happened, for the operator.
    pub message: String,
}

/// Why a call failed (WIT `connector-error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectorError {
    /// The credential is malformed (checked before any request).
    InvalidCredential(String),
    /// The upstream rejected the credential (HTTP 401).
    Unauthorized(String),
    /// The credential may not read this (HTTP 403).
    Forbidden(String),
    /// What was asked for does not exist (HTTP 404).
    NotFound(String),
    /// The upstream asked to slow down (HTTP 429).
    RateLimited(RetryHint),
    /// The upstream or the way to it failed; a retry may succeed.
    Unavailable(RetryHint),
    /// The host's policy refused the destination.
    Denied(String),
    /// The upstream answered something this connector cannot use.
    BadResponse(String),
    /// The settings are malformed.
    InvalidSettings(String),
    /// The state is not one this connector wrote, or not for this request.
    InvalidState(String),
}

impl ConnectorError {
    /// The WIT case name, e.g. `"rate-limited"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidCredential(_) => "invalid-credential",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not-found",
            Self::RateLimited(_) => "rate-limited",
            Self::Unavailable(_) => "unavailable",
            Self::Denied(_) => "denied",
            Self::BadResponse(_) => "bad-response",
            Self::InvalidSettings(_) => "invalid-settings",
            Self::InvalidState(_) => "invalid-state",
        }
    }

    /// The message, whatever the case.
    pub fn message(&self) -> &str {
        match self {
            Self::RateLimited(h) | Self::Unavailable(h) => &h.message,
            Self::InvalidCredential(m)
            | Self::Unauthorized(m)
            | Self::Forbidden(m)
            | Self::NotFound(m)
            | Self::Denied(m)
            | Self::BadResponse(m)
            | Self::InvalidSettings(m)
            | Self::InvalidState(m) => m,
        }
    }

    fn message_mut(&mut self) -> &mut String {
        match self {
            Self::RateLimited(h) | Self::Unavailable(h) => &mut h.message,
            Self::InvalidCredential(m)
            | Self::Unauthorized(m)
            | Self::Forbidden(m)
            | Self::NotFound(m)
            | Self::Denied(m)
            | Self::BadResponse(m)
            | Self::InvalidSettings(m)
            | Self::InvalidState(m) => m,
        }
    }

    /// Removes every occurrence of `secret` from the message. Messages are
    /// built never to contain the key; this is the last line of defence for
    /// text that comes from elsewhere (an upstream that echoes the token).
    pub fn redact(mut self, secret: &str) -> Self {
        if !secret.is_empty() {
            let m = self.message_mut();
            if m.contains(secret) {
                *m = m.replace(secret, "[redacted]");
            }
        }
        self
    }

    /// Appends advice to the message (used to add context a lower layer lacks).
    pub fn with_hint(mut self, hint: &str) -> Self {
        self.message_mut().push_str(hint);
        self
    }
}

impl fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind(), self.message())
    }
}

impl std::error::Error for ConnectorError {}

/// Longest piece of foreign text (upstream message, user-given name) quoted
/// in a message, in characters: enough to be useful, short enough for logs.
pub const QUOTE_MAX: usize = 300;

/// Makes foreign text safe to quote: control characters become spaces (no
/// log-line injection) and it is cut to `max` characters.
pub fn quote(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}
