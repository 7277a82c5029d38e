//! What faults look like on the wire: a response body that can pause and break off, a connection that
//! can end with a TCP reset, and the replies of rate limits and server errors.
//!
//! Without a fault every response is a [`SimBody::Full`], written by hyper exactly as before (one
//! `Content-Length`, the whole body). A [`SimBody::Scripted`] body sends its data, pauses, and then
//! fails: hyper then drops the connection without finishing the message, which is how a truncated or
//! stalled body reaches the client. Each pause also gives hyper the chance to flush what it already
//! has, so the partial body really is on the wire before the connection goes.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{DATE, HeaderName};
use http::{HeaderValue, StatusCode};
use http_body_util::Full;
use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

use super::faults::{RateLimitBody, RetryHint};
use super::reply::Reply;
use super::time::{Millis, SECOND, http_date};

/// The error that makes hyper abandon a response: a body cut short, or a request answered by closing
/// the connection.
#[derive(Debug, Clone, Copy)]
pub struct Cut;

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("fault injected: connection cut")
    }
}

impl std::error::Error for Cut {}

/// One step of a scripted body.
#[derive(Debug)]
pub enum Step {
    Data(Bytes),
    Pause(Duration),
    /// Ends the response abnormally: hyper closes the connection.
    Cut,
}

/// A response body: the whole answer, or a scripted one that breaks off.
#[derive(Debug)]
pub enum SimBody {
    Full(Full<Bytes>),
    Scripted(Scripted),
}

#[derive(Debug)]
pub struct Scripted {
    steps: VecDeque<Step>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl SimBody {
    pub fn full(bytes: Bytes) -> SimBody {
        SimBody::Full(Full::new(bytes))
    }

    pub fn scripted(steps: Vec<Step>) -> SimBody {
        SimBody::Scripted(Scripted {
            steps: steps.into(),
            sleep: None,
        })
    }
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = Cut;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Cut>>> {
        match self.get_mut() {
            SimBody::Full(full) => Pin::new(full)
                .poll_frame(cx)
                .map_err(|never| match never {}),
            SimBody::Scripted(script) => loop {
                if let Some(sleep) = script.sleep.as_mut() {
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    script.sleep = None;
                }
                match script.steps.pop_front() {
                    None => return Poll::Ready(None),
                    Some(Step::Data(bytes)) => return Poll::Ready(Some(Ok(Frame::data(bytes)))),
                    Some(Step::Pause(d)) => script.sleep = Some(Box::pin(tokio::time::sleep(d))),
                    Some(Step::Cut) => return Poll::Ready(Some(Err(Cut))),
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            SimBody::Full(full) => full.is_end_stream(),
            SimBody::Scripted(script) => script.steps.is_empty() && script.sleep.is_none(),
        }
    }

    /// Exact for a whole answer (hyper sends `Content-Length`); unknown for a scripted one (hyper then
    /// uses the `Content-Length` header the fault set, or chunked encoding without one).
    fn size_hint(&self) -> SizeHint {
        match self {
            SimBody::Full(full) => full.size_hint(),
            SimBody::Scripted(_) => SizeHint::default(),
        }
    }
}

/// A TCP stream that, when asked to, closes with a reset (RST) instead of an orderly FIN: it sets a
/// zero linger just before the socket is closed.
#[derive(Debug)]
pub struct ResettableStream {
    stream: TcpStream,
    reset: Arc<AtomicBool>,
}

impl ResettableStream {
    /// The stream, and the switch that makes its close a reset.
    pub fn new(stream: TcpStream) -> (ResettableStream, Arc<AtomicBool>) {
        let reset = Arc::new(AtomicBool::new(false));
        let stream = ResettableStream {
            stream,
            reset: Arc::clone(&reset),
        };
        (stream, reset)
    }
}

impl Drop for ResettableStream {
    fn drop(&mut self) {
        if self.reset.load(Ordering::Acquire) {
            // Linger 0 turns close() into an RST; only for this one socket, right before it closes.
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// A header value known to be valid (all are built from ASCII digits and fixed text here).
fn value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

fn with_date(reply: Reply, now: Millis) -> Reply {
    reply.with_header(DATE, value(&http_date(now)))
}

/// A 429 with `body` and `hint`, announcing a wait of `wait_secs` from `now` (the simulated `Date`).
pub fn rate_limited(body: RateLimitBody, hint: RetryHint, wait_secs: u64, now: Millis) -> Reply {
    let status = StatusCode::TOO_MANY_REQUESTS;
    let mut reply = match body {
        RateLimitBody::Json => Reply::error(status, "Rate limit exceeded."),
        RateLimitBody::EmptyObject => Reply::json(status, &serde_json::json!({})),
        RateLimitBody::Text => raw(status, "text/plain; charset=utf-8", "Rate limited."),
        RateLimitBody::Empty => raw(status, "application/json", ""),
    };
    let secs = wait_secs.to_string();
    let until = now + wait_secs as Millis * SECOND;
    let headers: Vec<(&str, String)> = match hint {
        RetryHint::RetryAfter => vec![("retry-after", secs)],
        RetryHint::RetryAfterDate => vec![("retry-after", http_date(until))],
        RetryHint::RateLimitReset => vec![
            ("ratelimit-limit", "150".into()),
            ("ratelimit-remaining", "0".into()),
            ("ratelimit-reset", secs),
        ],
        RetryHint::XRateLimitReset => vec![
            ("x-ratelimit-remaining", "0".into()),
            ("x-ratelimit-reset", secs),
        ],
        RetryHint::XRateLimitResetUnix => vec![
            ("x-ratelimit-remaining", "0".into()),
            ("x-ratelimit-reset", (until / SECOND).to_string()),
        ],
        RetryHint::None => Vec::new(),
    };
    for (name, text) in headers {
        reply = reply.with_header(HeaderName::from_static(name), value(&text));
    }
    with_date(reply, now)
}

/// A 5xx: CircleCI's JSON error shape, or a proxy's HTML page.
pub fn server_error(status: u16, html: bool, now: Millis) -> Reply {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let reason = status.canonical_reason().unwrap_or("Error");
    let reply = if html {
        let page = format!(
            "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} \
             {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
            code = status.as_u16()
        );
        raw(status, "text/html", &page)
    } else if status == StatusCode::INTERNAL_SERVER_ERROR {
        Reply::error(status, "Internal server error.")
    } else {
        Reply::error(status, reason)
    };
    with_date(reply, now)
}

/// The 404 CircleCI answers for a page token it no longer knows.
pub fn stale_page_token(now: Millis) -> Reply {
    with_date(Reply::error(StatusCode::NOT_FOUND, "Not Found"), now)
}

/// A 200 whose body is not JSON at all.
pub fn garbage(now: Millis) -> Reply {
    let mut reply = raw(StatusCode::OK, "application/json", "");
    reply.body = Bytes::from_static(b"\xff\xfe<garbage> this is not JSON }{ \x00\x01");
    with_date(reply, now)
}

fn raw(status: StatusCode, content_type: &'static str, body: &str) -> Reply {
    Reply {
        status,
        content_type,
        headers: Vec::new(),
        body: Bytes::copy_from_slice(body.as_bytes()),
    }
}

/// Where a body is cut: about `numerator/denominator` of the way, always leaving at least one byte
/// out and, when there are two or more, one byte in.
pub fn cut_point(len: usize, numerator: usize, denominator: usize) -> usize {
    (len * numerator / denominator)
        .max(usize::from(len > 1))
        .min(len.saturating_sub(1))
}
