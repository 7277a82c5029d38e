//! The only door to the network: a minimal blocking HTTP client trait.
//!
//! The wasm build implements it with wasi:http; native tests implement it
//! with a scripted fake; a native benchmark can plug in a real client.

/// Largest response body the connector reads. CircleCI pages are ~20 items,
/// far below this; the cap stops a misbehaving server from exhausting the
/// sandbox's memory.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// The `User-Agent` sent with every request.
pub const USER_AGENT: &str = "ingest-connector-circleci/0.1.0";

/// Sends HTTP requests. Implementations must not retry or sleep: the host
/// owns retry policy.
pub trait HttpClient {
    /// Sends `GET url` with exactly these headers and reads the whole body
    /// (at most [`MAX_BODY_BYTES`], else [`TransportError::TooLarge`]).
    fn get(&mut self, url: &str, headers: &[(&str, &str)]) -> Result<HttpResponse, TransportError>;
}

/// A complete HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// First value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A response from literals, for tests.
#[cfg(test)]
pub(crate) fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.as_bytes().to_vec(),
    }
}

/// Why no HTTP response was obtained. The strings are diagnostic details
/// from the transport (never request headers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// The host's policy refused the destination.
    Denied(String),
    /// Connecting or waiting for the answer took too long.
    Timeout(String),
    /// DNS, connect, TLS or reset errors.
    Connection(String),
    /// The peer spoke broken HTTP or the answer was cut off.
    Protocol(String),
    /// The body exceeded [`MAX_BODY_BYTES`] (or the host's own limit).
    TooLarge,
    /// Anything else.
    Other(String),
}
