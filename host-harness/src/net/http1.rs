//! Sending one request over an open [`Connection`] and handing back its
//! response with the host's read timeouts attached.
//!
//! wasi-http gives us a request in absolute form (`https://host/path`) with
//! the Host header already set from the guest's authority. Sent to an origin
//! server (not a proxy), the request line must be in origin-form
//! (`/path?query`), and hyper sends whatever URI it is given, so the URI is
//! rewritten here; the headers go out as they came.
//!
//! The response is never interpreted: a 3xx goes back to the guest as it
//! is, and nothing here follows a `Location`.

use std::future::poll_fn;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};
use wasmtime_wasi_http::{Error as HttpError, WasiBody};

use super::IoFuture;
use super::connect::Connection;
use crate::policy::Timeouts;

/// Sends `request` over `conn`. Sending it and receiving the response head
/// must take at most `timeouts.first_byte` (else `ConnectionReadTimeout`),
/// as in the default sender, and the body
/// may pause at most `timeouts.between_bytes` between two chunks. Returns
/// the response and the future that drives the connection until it closes
/// (after the body), which the caller must poll.
pub(crate) async fn exchange(
    conn: Connection,
    mut request: http::Request<WasiBody>,
    authority: &str,
    timeouts: &Timeouts,
) -> Result<(http::Response<WasiBody>, IoFuture), HttpError> {
    to_origin_form(&mut request, authority)?;
    let Connection { mut sender, driver } = conn;
    let mut driver = Some(Box::pin(driver));
    let mut response = pin!(tokio::time::timeout(
        timeouts.first_byte,
        sender.send_request(request)
    ));
    // The response only arrives while the connection task runs, so poll
    // both until the response (or a failure of the connection) comes.
    let response = poll_fn(|cx| {
        if let Poll::Ready(result) = response.as_mut().poll(cx) {
            return Poll::Ready(head(result));
        }
        let Some(task) = driver.as_mut() else {
            return Poll::Pending;
        };
        let closed = ready!(task.as_mut().poll(cx));
        driver = None;
        match closed {
            // The connection is done, so the response is too: poll it again.
            Ok(()) => response.as_mut().poll(cx).map(head),
            Err(e) => Poll::Ready(Err(HttpError::from(e))),
        }
    })
    .await?;
    // Without its sender the connection closes once this response's body is
    // read, which ends the driver (and frees the caller's connection permit).
    // A pool would keep the sender here instead.
    drop(sender);
    let response =
        response.map(|incoming| Paced::new(incoming, timeouts.between_bytes).boxed_unsync());
    let io: IoFuture = match driver {
        Some(task) => Box::new(async move {
            task.await.map_err(|e| {
                if e.is_timeout() {
                    HttpError::HttpResponseTimeout
                } else {
                    HttpError::from(e)
                }
            })
        }),
        None => Box::new(async { Ok(()) }),
    };
    Ok((response, io))
}

/// The response head, or why it did not come: the first-byte timeout, or
/// what hyper said.
fn head(
    result: Result<hyper::Result<http::Response<Incoming>>, tokio::time::error::Elapsed>,
) -> Result<http::Response<Incoming>, HttpError> {
    match result {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(e)) => Err(HttpError::from(e)),
        Err(_) => Err(HttpError::ConnectionReadTimeout),
    }
}

/// Rewrites the URI to origin-form (`/path?query`, `/` when empty), and
/// sets the Host header from the authority if the request has none:
/// HTTP/1.1 requires it, and the absolute URI that carried it is gone.
fn to_origin_form(request: &mut http::Request<WasiBody>, authority: &str) -> Result<(), HttpError> {
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
struct Paced {
    incoming: Incoming,
    between: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl Paced {
    fn new(incoming: Incoming, between: Duration) -> Self {
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
