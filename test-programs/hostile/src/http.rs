//! One HTTP request through wasi:http `outgoing-handler` (the `wasip2`
//! crate), for the behaviours that send any. No options are set: the host
//! applies its own timeouts and destination policy, and that is what the
//! tests are about.

use wasip2::http::outgoing_handler;
use wasip2::http::types::{ErrorCode, Fields, IncomingBody, Method, OutgoingRequest, Scheme};
use wasip2::io::streams::StreamError;

/// Body bytes read at most; the rest is dropped unread.
pub const MAX_BODY: usize = 1 << 20;

/// A response: its status and (at most [`MAX_BODY`] bytes of) its body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Why a request got no response.
#[derive(Debug)]
pub enum HttpError {
    /// The host refused it: `HttpRequestDenied` (its policy) or
    /// `DestinationIpProhibited`.
    Denied(ErrorCode),
    /// Any other wasi:http error.
    Failed(ErrorCode),
    /// The request could not even be built (bad URL, refused header, ...).
    Invalid(String),
}

impl HttpError {
    /// Whether the host refused the request.
    pub fn is_denied(&self) -> bool {
        matches!(self, HttpError::Denied(_))
    }

    /// A short description: `denied (HttpRequestDenied)`, `failed
    /// (ConnectionRefused)`, `invalid request (...)`; never a header value.
    pub fn describe(&self) -> String {
        // wasip2's Debug output is `ErrorCode::Name` or `ErrorCode::Name(..)`.
        let code = |code: &ErrorCode| {
            let text = format!("{code:?}");
            text.strip_prefix("ErrorCode::")
                .map(str::to_string)
                .unwrap_or(text)
        };
        match self {
            HttpError::Denied(c) => format!("denied ({})", code(c)),
            HttpError::Failed(c) => format!("failed ({})", code(c)),
            HttpError::Invalid(why) => format!("invalid request ({why})"),
        }
    }
}

impl From<ErrorCode> for HttpError {
    fn from(code: ErrorCode) -> Self {
        match code {
            ErrorCode::HttpRequestDenied | ErrorCode::DestinationIpProhibited => {
                HttpError::Denied(code)
            }
            code => HttpError::Failed(code),
        }
    }
}

/// `GET url` with `headers`; errors from `handle` and from the response
/// future (where a policy denial shows up) alike.
pub fn get(url: &str, headers: &[(&str, &str)]) -> Result<Response, HttpError> {
    let (scheme, authority, path_with_query) = split_url(url)?;
    let list: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect();
    let fields = Fields::from_list(&list)
        .map_err(|e| HttpError::Invalid(format!("a header was refused: {e:?}")))?;
    let request = OutgoingRequest::new(fields);
    let refused = |what: &str| HttpError::Invalid(format!("the {what} was refused"));
    request
        .set_method(&Method::Get)
        .map_err(|()| refused("method"))?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| refused("scheme"))?;
    request
        .set_authority(Some(authority))
        .map_err(|()| refused("authority"))?;
    request
        .set_path_with_query(Some(&path_with_query))
        .map_err(|()| refused("path"))?;

    let future = outgoing_handler::handle(request, None)?;
    let response = loop {
        match future.get() {
            Some(Ok(Ok(response))) => break response,
            Some(Ok(Err(code))) => return Err(code.into()),
            Some(Err(())) => return Err(HttpError::Invalid("response already taken".into())),
            None => future.subscribe().block(),
        }
    };
    let status = response.status();
    let body = response
        .consume()
        .map_err(|()| HttpError::Invalid("body already taken".into()))?;
    let bytes = read_body(&body)?;
    drop(IncomingBody::finish(body));
    Ok(Response {
        status,
        body: bytes,
    })
}

/// Reads at most [`MAX_BODY`] bytes of the body.
fn read_body(body: &IncomingBody) -> Result<Vec<u8>, HttpError> {
    let stream = body
        .stream()
        .map_err(|()| HttpError::Invalid("body stream already taken".into()))?;
    let mut bytes = Vec::new();
    while bytes.len() < MAX_BODY {
        match stream.blocking_read((MAX_BODY - bytes.len()) as u64) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(match wasip2::http::types::http_error_code(&e) {
                    Some(code) => code.into(),
                    None => HttpError::Invalid(e.to_debug_string()),
                });
            }
        }
    }
    Ok(bytes)
}

/// `http(s)://authority/path?query` → (scheme, authority, path with query).
/// The fragment, if any, is dropped; the path gets its leading `/`.
pub fn split_url(url: &str) -> Result<(Scheme, &str, String), HttpError> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else {
        return Err(HttpError::Invalid("not an http(s) URL".into()));
    };
    let rest = rest.split('#').next().unwrap_or("");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() {
        return Err(HttpError::Invalid("the URL has no host".into()));
    }
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    Ok((scheme, authority, path))
}
