//! The bodies the gate wraps: a request body counted against the request's
//! and the call's limits as it goes out, and a response body capped at its
//! limit whose waits for data count as time waiting on the network.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use wasmtime_wasi_http::{Error as HttpError, WasiBody};

use super::log::Waiting;
use crate::limits::{LimitKind, Limits, Tripwire, bytes};

/// A request body on its way out: it ends with an error once it has sent
/// more than the request's limit, or the call's bytes pass the call's.
pub(super) struct RequestBody {
    pub(super) inner: WasiBody,
    pub(super) seen: u64,
    pub(super) limits: Limits,
    /// The call's running total, shared by its requests.
    pub(super) call: Arc<AtomicU64>,
    pub(super) tripwire: Arc<Tripwire>,
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let this = &mut *self;
        let frame = std::task::ready!(Pin::new(&mut this.inner).poll_frame(cx));
        if let Some(Ok(f)) = &frame
            && let Some(data) = f.data_ref()
        {
            let len = data.len() as u64;
            this.seen = this.seen.saturating_add(len);
            let call = this
                .call
                .fetch_add(len, Ordering::Relaxed)
                .saturating_add(len);
            let hit = if this.seen > this.limits.request_body_bytes {
                Some((
                    LimitKind::RequestBody,
                    this.limits.request_body_bytes,
                    format!(
                        "a request body went past {} bytes",
                        this.limits.request_body_bytes
                    ),
                ))
            } else if call > this.limits.request_bytes_per_call {
                Some((
                    LimitKind::RequestBytesPerCall,
                    this.limits.request_bytes_per_call,
                    format!(
                        "the call's request bodies went past {} bytes",
                        this.limits.request_bytes_per_call
                    ),
                ))
            } else {
                None
            };
            if let Some((limit, value, detail)) = hit {
                this.tripwire.trip(this.limits.exceeded(limit, detail));
                return Poll::Ready(Some(Err(HttpError::HttpRequestBodySize(Some(value)))));
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body as the guest reads it: it ends with an error once it
/// has delivered more than the size limit, and its waits for data count as
/// time waiting on the network (from a read that finds nothing to the next
/// that finds something, or the end, or an error).
pub(super) struct ResponseBody<B> {
    /// `None` once the limit was passed: nothing more is read, and
    /// dropping the rest closes the connection now (freeing its permit)
    /// rather than when the guest lets go.
    pub(super) inner: Option<B>,
    pub(super) limit: u64,
    pub(super) value: String,
    pub(super) seen: u64,
    pub(super) checked_length: bool,
    pub(super) tripwire: Arc<Tripwire>,
    /// The request's wait, stopped when its head arrived.
    pub(super) waiting: Waiting,
}

impl<B> ResponseBody<B>
where
    B: Body<Data = Bytes, Error = HttpError> + Unpin,
{
    pub(super) fn new(
        inner: B,
        limits: &Limits,
        tripwire: Arc<Tripwire>,
        waiting: Waiting,
    ) -> Self {
        ResponseBody {
            inner: Some(inner),
            limit: limits.response_body_bytes,
            value: limits.value_of(LimitKind::ResponseBody),
            seen: 0,
            checked_length: false,
            tripwire,
            waiting,
        }
    }

    pub(super) fn fail(&mut self, detail: String) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        self.inner = None;
        self.waiting.stop();
        self.tripwire.trip(crate::limits::LimitExceeded {
            limit: LimitKind::ResponseBody,
            value: self.value.clone(),
            detail,
        });
        Poll::Ready(Some(Err(HttpError::HttpResponseBodySize(Some(self.limit)))))
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes, Error = HttpError> + Unpin,
{
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        if !this.checked_length {
            // A declared length over the limit fails before anything is read.
            this.checked_length = true;
            let declared = inner.size_hint().lower();
            if declared > this.limit {
                return this.fail(format!("a response declared a body of {}", bytes(declared)));
            }
        }
        let frame = Pin::new(inner).poll_frame(cx);
        let frame = match frame {
            Poll::Pending => {
                this.waiting.start();
                return Poll::Pending;
            }
            Poll::Ready(frame) => {
                this.waiting.stop();
                frame
            }
        };
        if let Some(Ok(f)) = &frame
            && let Some(data) = f.data_ref()
        {
            this.seen = this.seen.saturating_add(data.len() as u64);
            if this.seen > this.limit {
                return this.fail(format!("a response body went past {} bytes", this.limit));
            }
        }
        // The end of the body, or its error, passes as it is.
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Some(b) => b.size_hint(),
            None => SizeHint::with_exact(0),
        }
    }
}
