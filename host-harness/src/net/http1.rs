//! Sending one request over an open [`Connection`] and handing back its
//! response with the host's read timeouts attached.
//!
//! wasi-http gives us a request in absolute form (`https://host/path`) with
//! the Host header already set from the guest's authority. Sent to an origin
//! server (not a proxy), the request line must be in origin-form
//! (`/path?query`), and hyper sends whatever URI it is given, so the URI is
//! rewritten here ([`to_origin_form`]); the headers go out as they came.
//!
//! The response is never interpreted: a 3xx goes back to the guest as it
//! is, and nothing here follows a `Location`.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};
use wasmtime_wasi_http::{Error as HttpError, WasiBody};

use super::connect::Connection;

/// Why a request got no response head.
pub(crate) enum Failed {
    /// It never left: the connection was closed before hyper wrote any of
    /// it. Here it is back, to go out on another connection.
    Unsent(Box<http::Request<WasiBody>>, HttpError),
    /// It went out, whole or in part; what came back, or did not.
    Sent(HttpError),
}

impl Failed {
    pub(crate) fn into_error(self) -> HttpError {
        match self {
            Failed::Unsent(_, e) | Failed::Sent(e) => e,
        }
    }
}

/// Sends `request` (in origin-form already) over `conn`. Sending it and
/// receiving the response head must take at most `first_byte` (else
/// `ConnectionReadTimeout`, as in the default sender); on a timeout hyper
/// closes the connection, so the caller must not use it again.
pub(crate) async fn send(
    conn: &mut Connection,
    request: http::Request<WasiBody>,
    first_byte: Duration,
) -> Result<http::Response<Incoming>, Failed> {
    let sent = conn.sender().try_send_request(request);
    match tokio::time::timeout(first_byte, sent).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(mut e)) => match e.take_message() {
            Some(request) => Err(Failed::Unsent(
                Box::new(request),
                HttpError::from(e.into_error()),
            )),
            None => Err(Failed::Sent(HttpError::from(e.into_error()))),
        },
        Err(_) => Err(Failed::Sent(HttpError::ConnectionReadTimeout)),
    }
}

/// Rewrites the URI to origin-form (`/path?query`, `/` when empty), and
/// sets the Host header from the authority if the request has none:
/// HTTP/1.1 requires it, and the absolute URI that carried it is gone.
pub(crate) fn to_origin_form(
    request: &mut http::Request<WasiBody>,
    authority: &str,
) -> Result<(), HttpError> {
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let path = if path.is_empty() {
        "/".to_string()
    } else {
        path
    };
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(path)
        .build()
        .map_err(|_| HttpError::HttpRequestUriInvalid)?;
    if !request.headers().contains_key(http::header::HOST) {
        let host =
            http::HeaderValue::from_str(authority).map_err(|_| HttpError::HttpRequestUriInvalid)?;
        request.headers_mut().insert(http::header::HOST, host);
    }
    Ok(())
}

/// A response body that fails with `ConnectionReadTimeout` when the next
/// chunk takes longer than the between-bytes timeout. The clock starts when
/// the response head arrives and restarts with every chunk.
pub(crate) struct Paced {
    incoming: Incoming,
    between: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl Paced {
    pub(crate) fn new(incoming: Incoming, between: Duration) -> Self {
        Paced {
            incoming,
            between,
            deadline: Box::pin(tokio::time::sleep(between)),
        }
    }
}

impl Body for Paced {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = Instant::now() + this.between;
                this.deadline.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) if e.is_timeout() => {
                Poll::Ready(Some(Err(HttpError::HttpResponseTimeout)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(HttpError::from(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                ready!(this.deadline.as_mut().poll(cx));
                Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    fn request(uri: &str) -> http::Request<WasiBody> {
        http::Request::builder()
            .uri(uri)
            .header(http::header::HOST, "api.example.test:8080")
            .body(
                http_body_util::Empty::new()
                    .map_err(|e| match e {})
                    .boxed_unsync(),
            )
            .unwrap()
    }

    #[test]
    fn the_uri_becomes_origin_form_and_the_host_header_stays() {
        let mut r = request("http://api.example.test:8080/api/v2/me?x=1&y=%20");
        to_origin_form(&mut r, "api.example.test:8080").unwrap();
        assert_eq!(r.uri().to_string(), "/api/v2/me?x=1&y=%20");
        assert_eq!(r.headers()[http::header::HOST], "api.example.test:8080");
        assert_eq!(r.headers().get_all(http::header::HOST).iter().count(), 1);

        let mut r = request("https://api.example.test");
        to_origin_form(&mut r, "other.test").unwrap();
        assert_eq!(r.uri().to_string(), "/");
        assert_eq!(
            r.headers()[http::header::HOST],
            "api.example.test:8080",
            "the guest's Host wins"
        );
    }

    #[test]
    fn a_missing_host_header_is_filled_from_the_authority() {
        let mut r = request("http://h.test:81/x");
        r.headers_mut().remove(http::header::HOST);
        to_origin_form(&mut r, "h.test:81").unwrap();
        assert_eq!(r.headers()[http::header::HOST], "h.test:81");
    }
}
