//! The gate every outgoing wasi:http request passes.
//!
//! wasmtime-wasi-http hands each request the guest makes to
//! [`WasiHttpHooks::send_request`]; ours checks its host name against the
//! operator's [`OutboundPolicy`], then has the host's own sender
//! ([`crate::net`]) resolve the name once, check every address it resolves
//! to, and connect only to those. A refusal at either check is
//! `HttpRequestDenied` to the guest (nothing left the process but, for the
//! second, a DNS lookup) and a [`Denial`] in the [`OutboundLog`] for the
//! host's message. Requests go out with the host's timeouts, shortened where
//! the guest asked for less. Redirects are never followed here: a 3xx goes
//! back to the guest as it is.
//!
//! It also enforces the instance's outbound [`Limits`]: requests per call
//! (counted from [`PolicyHooks::begin_call`]; one too many is refused with
//! `HttpRequestDenied`), the size of each response body (a longer body ends
//! with an `HttpResponseBodySize` stream error) and the connections in flight
//! (a semaphore whose permit each request holds until its body is finished
//! or dropped and its connection closed; a request beyond it waits for a
//! permit as long as the connect timeout, then fails with
//! `ConnectionLimitReached`). Each of these records the limit in the
//! instance's tripwire, so the host reports the limit, not the guest's
//! rendering of the refusal.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use crate::credential::Redactor;
use crate::limits::{LimitKind, Limits, Tripwire, bytes};
use crate::net::{self, IoFuture, Refused};
use crate::policy::{Denial, OutboundPolicy, Timeouts};

/// What one instance's requests did, for reports and tests.
#[derive(Debug, Default, Clone)]
pub struct OutboundLog {
    /// Requests that passed the policy (their name and every address it
    /// resolved to) and went on to the network, whatever came of it; a name
    /// that does not resolve counts here too.
    pub sent: u64,
    /// Requests refused, by the policy (name or address) or a limit.
    pub denied: u64,
    /// Why the most recent request was refused.
    pub last_denial: Option<Denial>,
}

/// The `WasiHttpHooks` of one store.
pub struct PolicyHooks {
    policy: Arc<OutboundPolicy>,
    log: Arc<Mutex<OutboundLog>>,
    limits: Limits,
    /// Requests made since [`PolicyHooks::begin_call`].
    requests_this_call: u64,
    connections: Arc<Semaphore>,
    tripwire: Arc<Tripwire>,
    /// The current call's secrets: a guest may put one in a URL, and the
    /// denials and log events that name the destination must not show it.
    redactor: Redactor,
}

impl PolicyHooks {
    /// Hooks with the default [`Limits`].
    pub fn new(policy: Arc<OutboundPolicy>) -> Self {
        Self::with_limits(policy, &Limits::default(), Arc::default())
    }

    pub(crate) fn with_limits(
        policy: Arc<OutboundPolicy>,
        limits: &Limits,
        tripwire: Arc<Tripwire>,
    ) -> Self {
        let permits = usize::try_from(limits.concurrent_connections)
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS);
        PolicyHooks {
            policy,
            log: Arc::default(),
            limits: limits.clone(),
            requests_this_call: 0,
            connections: Arc::new(Semaphore::new(permits)),
            tripwire,
            redactor: Redactor::default(),
        }
    }

    /// Starts counting a new call's requests.
    pub fn begin_call(&mut self, redactor: Redactor) {
        self.redactor = redactor;
        self.requests_this_call = 0;
    }

    /// A handle on this store's request log.
    pub fn log(&self) -> Arc<Mutex<OutboundLog>> {
        self.log.clone()
    }

    /// The host's timeouts, shortened where the guest asked for less.
    fn timeouts(&self, guest: Option<RequestOptions>) -> Timeouts {
        let host = self.policy.timeouts;
        let min = |host: Duration, guest: Option<Duration>| match guest {
            Some(g) if g < host => g,
            _ => host,
        };
        let guest = guest.unwrap_or_default();
        Timeouts {
            connect: min(host.connect, guest.connect_timeout),
            first_byte: min(host.first_byte, guest.first_byte_timeout),
            between_bytes: min(host.between_bytes, guest.between_bytes_timeout),
        }
    }
}

/// Counts a request in the log: `Ok` sent, `Err(Some)` refused by the
/// policy, `Err(None)` refused by a limit (not a policy denial).
fn record(log: &Mutex<OutboundLog>, outcome: Result<(), Option<&Denial>>) {
    let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
    match outcome {
        Ok(()) => log.sent += 1,
        Err(denial) => {
            log.denied += 1;
            if let Some(denial) = denial {
                log.last_denial = Some(denial.clone());
            }
        }
    }
}

impl PolicyHooks {
    fn redact_denial(&self, denial: Denial) -> Denial {
        Denial {
            destination: self.redactor.redact(&denial.destination),
            ..denial
        }
    }
}

impl WasiHttpHooks for PolicyHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _io: IoFuture,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send>
    {
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("");
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or("");
        // Every request counts, refused or not: a guest looping on refused
        // requests is stopped too.
        self.requests_this_call += 1;
        let over_limit = self.requests_this_call > u64::from(self.limits.requests_per_call);
        let verdict = if over_limit {
            self.tripwire.trip(self.limits.exceeded(
                LimitKind::RequestsPerCall,
                format!(
                    "the connector started request {} of one call",
                    self.requests_this_call
                ),
            ));
            Err(None)
        } else {
            self.policy
                .check(scheme, authority)
                .map_err(|denial| Some(self.redact_denial(denial)))
        };
        // A name refusal is recorded now, before the future is polled: a
        // guest that drops the request still leaves its trace.
        if let Err(denial) = &verdict {
            if let Some(denial) = denial {
                tracing::info!(%denial, "request refused");
            }
            record(&self.log, Err(denial.as_ref()));
        }
        let redactor = self.redactor.clone();
        let timeouts = self.timeouts(options);
        let policy = self.policy.clone();
        let log = self.log.clone();
        let connections = self.connections.clone();
        let tripwire = self.tripwire.clone();
        let limits = self.limits.clone();
        Box::new(async move {
            let dest = verdict.map_err(|_| HttpError::HttpRequestDenied)?;
            let wait = timeouts.connect;
            let permit = match tokio::time::timeout(wait, connections.acquire_owned()).await {
                Ok(Ok(permit)) => Arc::new(permit),
                _ => {
                    tripwire.trip(limits.exceeded(
                        LimitKind::Connections,
                        format!("a request waited {} ms for one of the instance's connections to finish", wait.as_millis()),
                    ));
                    return Err(HttpError::ConnectionLimitReached);
                }
            };
            // Resolving and connecting share the connect timeout, as they
            // did inside the default sender.
            let deadline = Instant::now() + timeouts.connect;
            let addrs = match net::resolve_checked(&policy, &dest, deadline).await {
                Ok(addrs) => {
                    record(&log, Ok(()));
                    tracing::debug!(
                        destination = %redactor.redact(dest.authority()),
                        addresses = ?addrs,
                        "resolved and allowed"
                    );
                    addrs
                }
                Err(Refused::Denied(denial)) => {
                    let denial = Denial {
                        destination: redactor.redact(&denial.destination),
                        ..denial
                    };
                    tracing::info!(%denial, "request refused after resolving");
                    record(&log, Err(Some(&denial)));
                    return Err(HttpError::HttpRequestDenied);
                }
                Err(Refused::Failed(e)) => {
                    tracing::debug!(
                        destination = %redactor.redact(dest.authority()),
                        error = %e,
                        "name did not resolve"
                    );
                    record(&log, Ok(()));
                    return Err(e);
                }
            };
            let (response, io) = net::send(&dest, &addrs, request, &timeouts, deadline).await?;
            let body_permit = permit.clone();
            let response = response
                .map(|body| LimitedBody::new(body, &limits, tripwire, body_permit).boxed_unsync());
            // The connection's task holds the permit too: it is released
            // when both the body and the connection are done.
            let io = async move {
                let result = Box::into_pin(io).await;
                drop(permit);
                result
            };
            Ok((response, Box::new(io) as IoFuture))
        })
    }
}

/// A response body that ends with an error once it has delivered more than
/// the limit, and holds its request's connection permit until it is done.
struct LimitedBody {
    inner: WasiBody,
    limit: u64,
    value: String,
    seen: u64,
    checked_length: bool,
    failed: bool,
    tripwire: Arc<Tripwire>,
    permit: Option<Arc<OwnedSemaphorePermit>>,
}

impl LimitedBody {
    fn new(
        inner: WasiBody,
        limits: &Limits,
        tripwire: Arc<Tripwire>,
        permit: Arc<OwnedSemaphorePermit>,
    ) -> Self {
        LimitedBody {
            inner,
            limit: limits.response_body_bytes,
            value: limits.value_of(LimitKind::ResponseBody),
            seen: 0,
            checked_length: false,
            failed: false,
            tripwire,
            permit: Some(permit),
        }
    }

    fn fail(&mut self, detail: String) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        self.failed = true;
        self.permit = None;
        self.tripwire.trip(crate::limits::LimitExceeded {
            limit: LimitKind::ResponseBody,
            value: self.value.clone(),
            detail,
        });
        Poll::Ready(Some(Err(HttpError::HttpResponseBodySize(Some(self.limit)))))
    }
}

impl Body for LimitedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let this = &mut *self;
        if this.failed {
            return Poll::Ready(None);
        }
        if !this.checked_length {
            // A declared length over the limit fails before anything is read.
            this.checked_length = true;
            let declared = this.inner.size_hint().lower();
            if declared > this.limit {
                return this.fail(format!("a response declared a body of {}", bytes(declared)));
            }
        }
        match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    this.seen = this.seen.saturating_add(data.len() as u64);
                    if this.seen > this.limit {
                        return this
                            .fail(format!("a response body went past {} bytes", this.limit));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            other => {
                // The end of the body, or its error: the request is done.
                this.permit = None;
                Poll::Ready(other)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        if self.failed {
            SizeHint::with_exact(0)
        } else {
            self.inner.size_hint()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    /// A body of chunks that declares no length (like a chunked response).
    struct Chunks(VecDeque<Bytes>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = HttpError;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
            Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
        }
    }

    fn body(chunks: &[&'static str], limit: u64) -> (LimitedBody, Arc<Tripwire>, Arc<Semaphore>) {
        let tripwire = Arc::new(Tripwire::default());
        let semaphore = Arc::new(Semaphore::new(1));
        let permit = Arc::new(semaphore.clone().try_acquire_owned().unwrap());
        let limits = Limits {
            response_body_bytes: limit,
            ..Limits::default()
        };
        let inner = Chunks(
            chunks
                .iter()
                .map(|c| Bytes::from_static(c.as_bytes()))
                .collect(),
        )
        .boxed_unsync();
        (
            LimitedBody::new(inner, &limits, tripwire.clone(), permit),
            tripwire,
            semaphore,
        )
    }

    #[tokio::test]
    async fn a_body_within_the_limit_passes_and_frees_its_connection() {
        let (mut b, tripwire, semaphore) = body(&["abc", "def"], 6);
        assert_eq!(semaphore.available_permits(), 0);
        let mut seen = Vec::new();
        while let Some(frame) = b.frame().await {
            seen.extend_from_slice(frame.unwrap().data_ref().unwrap());
        }
        assert_eq!(seen, b"abcdef");
        assert!(tripwire.take().is_none());
        assert_eq!(
            semaphore.available_permits(),
            1,
            "the end of the body gives the permit back"
        );
    }

    #[tokio::test]
    async fn a_body_past_the_limit_ends_with_an_error_naming_it() {
        let (mut b, tripwire, semaphore) = body(&["abc", "def", "ghi"], 5);
        assert!(b.frame().await.unwrap().is_ok());
        let err = b.frame().await.unwrap().unwrap_err();
        assert!(
            matches!(err, HttpError::HttpResponseBodySize(Some(5))),
            "{err:?}"
        );
        assert!(b.frame().await.is_none(), "nothing after the error");
        let hit = tripwire.take().unwrap();
        assert_eq!(hit.limit, LimitKind::ResponseBody);
        assert_eq!(hit.value, "5 bytes");
        assert_eq!(semaphore.available_permits(), 1);
    }

    #[tokio::test]
    async fn a_declared_length_past_the_limit_fails_before_reading() {
        let tripwire = Arc::new(Tripwire::default());
        let semaphore = Arc::new(Semaphore::new(1));
        let permit = Arc::new(semaphore.clone().try_acquire_owned().unwrap());
        let limits = Limits {
            response_body_bytes: 3,
            ..Limits::default()
        };
        let inner = http_body_util::Full::new(Bytes::from_static(b"abcd"))
            .map_err(|e| match e {})
            .boxed_unsync();
        let mut b = LimitedBody::new(inner, &limits, tripwire.clone(), permit);
        assert!(b.frame().await.unwrap().is_err());
        assert!(
            tripwire
                .take()
                .unwrap()
                .detail
                .contains("declared a body of 4 bytes")
        );
    }

    #[test]
    fn requests_are_counted_per_call() {
        let limits = Limits {
            requests_per_call: 2,
            ..Limits::default()
        };
        let mut hooks =
            PolicyHooks::with_limits(Arc::new(OutboundPolicy::default()), &limits, Arc::default());
        let request = || {
            http::Request::builder()
                .uri("https://evil.example/x")
                .body(
                    http_body_util::Empty::new()
                        .map_err(|e| match e {})
                        .boxed_unsync(),
                )
                .unwrap()
        };
        for _ in 0..3 {
            drop(Box::into_pin(hooks.send_request(
                request(),
                None,
                Box::new(async { Ok(()) }),
            )));
        }
        let log = hooks.log();
        let log = log.lock().unwrap().clone();
        assert_eq!(
            (log.sent, log.denied),
            (0, 3),
            "two policy denials and one limit refusal"
        );
        assert!(
            hooks
                .tripwire
                .take()
                .is_some_and(|hit| hit.limit == LimitKind::RequestsPerCall)
        );
        hooks.begin_call(Redactor::default());
        drop(Box::into_pin(hooks.send_request(
            request(),
            None,
            Box::new(async { Ok(()) }),
        )));
        assert!(
            hooks.tripwire.take().is_none(),
            "a new call starts counting again"
        );
    }
}
