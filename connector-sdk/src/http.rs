//! The only door to the network: a minimal blocking HTTP client trait.
//!
//! The wasm build implements it with wasi:http (`wasm::WasiHttp`, wasm32 only);
//! native tests implement it with a scripted fake; a native benchmark can
//! plug in a real client.

/// Largest response body a connector reads. API pages are far below this;
/// the cap stops a misbehaving server from exhausting the sandbox's memory.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Most bytes read of a non-2xx body: only its message is used (and quoted
/// to 300 characters), so a huge error page costs no memory.
pub const ERROR_BODY_BYTES: usize = 64 * 1024;

/// One `GET` of a batch: its URL and exactly its headers.
#[derive(Debug, Clone, Copy)]
pub struct Get<'a> {
    /// The absolute URL.
    pub url: &'a str,
    /// Every header sent, as (name, value).
    pub headers: &'a [(&'a str, &'a str)],
}

/// Sends HTTP requests. Implementations must not retry or sleep: the host
/// owns retry policy.
pub trait HttpClient {
    /// Sends `GET url` with exactly these headers and reads the whole body
    /// (at most [`MAX_BODY_BYTES`], else [`TransportError::TooLarge`]). A
    /// 2xx body that cannot be read to its end is an error; for other
    /// statuses see [`body_limit`] and [`body_failure`].
    fn get(&mut self, url: &str, headers: &[(&str, &str)]) -> Result<HttpResponse, TransportError>;

    /// Sends every request of `batch` at once, keeping them in flight
    /// together, and waits for all of them: the answers, in `batch`'s order,
    /// each as [`HttpClient::get`] would give it. The default sends them one
    /// after the other.
    fn get_all(&mut self, batch: &[Get<'_>]) -> Vec<Result<HttpResponse, TransportError>> {
        batch.iter().map(|g| self.get(g.url, g.headers)).collect()
    }
}

/// How many body bytes to read for an answer of `status`: a 2xx body whole
/// (up to [`MAX_BODY_BYTES`]); of any other, a prefix long enough for its
/// message ([`ERROR_BODY_BYTES`]).
pub fn body_limit(status: u16) -> usize {
    if (200..300).contains(&status) {
        MAX_BODY_BYTES
    } else {
        ERROR_BODY_BYTES
    }
}

/// What reading the body of an answer of `status` failing with `err` (or
/// passing [`body_limit`], as [`TransportError::TooLarge`]) makes of it:
/// for a 2xx answer the error (the data is incomplete, so it must not be
/// parsed); for any other, `Ok`: its status says what happened, and the
/// body read so far is only a message (a 429 stays rate-limited).
pub fn body_failure(status: u16, err: TransportError) -> Result<(), TransportError> {
    if (200..300).contains(&status) {
        Err(err)
    } else {
        Ok(())
    }
}

/// A complete HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The HTTP status code.
    pub status: u16,
    /// Every header, as (name, value), in the order received.
    pub headers: Vec<(String, String)>,
    /// The body read (for a non-2xx answer, at most [`ERROR_BODY_BYTES`]).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response from literals, for tests and scripted fakes.
    pub fn new(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    /// First value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
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

/// A short description, e.g. `denied`, `timed out (ConnectionTimeout)`:
/// the case and its detail, never a header value.
impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (what, detail) = match self {
            TransportError::Denied(d) => ("denied", d.as_str()),
            TransportError::Timeout(d) => ("timed out", d.as_str()),
            TransportError::Connection(d) => ("connection failed", d.as_str()),
            TransportError::Protocol(d) => ("protocol error", d.as_str()),
            TransportError::TooLarge => ("body too large", ""),
            TransportError::Other(d) => ("failed", d.as_str()),
        };
        if detail.is_empty() {
            f.write_str(what)
        } else {
            write!(f, "{what} ({detail})")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_body_fails_only_a_2xx_answer() {
        for err in [
            TransportError::Protocol("HttpResponseIncomplete".into()),
            TransportError::Connection("ConnectionTerminated".into()),
            TransportError::TooLarge,
        ] {
            assert_eq!(body_failure(200, err.clone()), Err(err.clone()));
            assert_eq!(body_failure(206, err.clone()), Err(err.clone()));
            // The status decides: a cut 429 stays rate-limited.
            for status in [301, 404, 429, 500, 503] {
                assert_eq!(body_failure(status, err.clone()), Ok(()));
            }
        }
        assert_eq!(body_limit(200), MAX_BODY_BYTES);
        assert_eq!(TransportError::Denied(String::new()).to_string(), "denied");
        assert_eq!(
            TransportError::Connection("ConnectionRefused".into()).to_string(),
            "connection failed (ConnectionRefused)"
        );
        assert_eq!(body_limit(429), ERROR_BODY_BYTES);
    }
}
