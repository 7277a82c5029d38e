//! The gate every outgoing wasi:http request passes.
//!
//! wasmtime-wasi-http hands each request the guest makes to
//! [`WasiHttpHooks::send_request`]; ours checks its host name against the
//! operator's [`OutboundPolicy`], then has the host's own sender
//! ([`crate::net`]) send it: on a connection the instance kept open to the
//! same scheme, host and port (`pool`), or on a new one, for
//! which it resolves the name once, checks every address it resolves to,
//! and connects only to those. A refusal at either check is
//! `HttpRequestDenied` to the guest (nothing left the process but, for the
//! second, a DNS lookup) and a [`Denial`] in the [`OutboundLog`] for the
//! host's message. Requests go out with the host's timeouts, shortened where
//! the guest asked for less. Redirects are never followed here: a 3xx goes
//! back to the guest as it is.
//!
//! It also enforces the instance's outbound [`Limits`]: requests per call
//! (counted from [`PolicyHooks::begin_call`]; one too many is refused with
//! `HttpRequestDenied`), the size of each request body and of all of a
//! call's request bodies (a declared length over either is refused before
//! anything is sent; a body that grows past one ends with an
//! `HttpRequestBodySize` error, which aborts the request), the size of each
//! response body (a longer body ends
//! with an `HttpResponseBodySize` stream error) and the connections open at
//! once (a semaphore whose permit each connection holds, busy or idle in the
//! pool, until it closes; a request that finds none free closes an idle
//! connection, else waits for a permit as long as the connect timeout, then
//! fails with `ConnectionLimitReached`). Each of these records the limit in
//! the instance's tripwire, so the host reports the limit, not the guest's
//! rendering of the refusal.
//!
//! Every request also keeps its tenant's [`Pace`]: it takes a permit before
//! it goes out (so a guest never has more in flight than the tenant's
//! concurrency, and none while the tenant waits out a `Retry-After`), and
//! its answer's status feeds the pace (a 429 slows the tenant down, other
//! answers grow it back).
//!
//! The [`OutboundLog`] counts what the requests did, and how long the
//! instance waited on the network (`upstream_wait`), for reports and
//! benchmarks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Body;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

mod body;
mod log;

use body::{RequestBody, ResponseBody};
pub use log::OutboundLog;
use log::{Waiting, lock};

use crate::credential::Redactor;
use crate::limits::{LimitExceeded, LimitKind, Limits, Tripwire, bytes};
use crate::net::connect::{self, Connection};
use crate::net::http1::{self, Failed, Paced};
use crate::net::pool::{Key, Pool, Returning, Slot};
use crate::net::{self, IoFuture, Refused};
use crate::pace::Pace;
use crate::policy::{Denial, Destination, OutboundPolicy, Timeouts};

/// The `WasiHttpHooks` of one store.
pub struct PolicyHooks {
    policy: Arc<OutboundPolicy>,
    log: Arc<Mutex<OutboundLog>>,
    limits: Limits,
    /// Requests made since [`PolicyHooks::begin_call`].
    requests_this_call: u64,
    /// Request body bytes sent since [`PolicyHooks::begin_call`], shared
    /// with the bodies on their way out.
    request_bytes_this_call: Arc<AtomicU64>,
    connections: Arc<Semaphore>,
    /// This instance's kept connections; never shared with another.
    pool: Pool,
    tripwire: Arc<Tripwire>,
    /// The current call's secrets: a guest may put one in a URL, and the
    /// denials and log events that name the destination must not show it.
    redactor: Redactor,
    /// The tenant's requests in flight and rate limits.
    pace: Arc<Pace>,
}

impl PolicyHooks {
    /// Hooks with the default [`Limits`].
    #[cfg(test)]
    pub fn new(policy: Arc<OutboundPolicy>) -> Self {
        Self::with_limits(policy, &Limits::default())
    }

    /// Hooks enforcing `limits` (their outbound ones).
    #[cfg(test)]
    pub fn with_limits(policy: Arc<OutboundPolicy>, limits: &Limits) -> Self {
        Self::with_tripwire(policy, limits, Arc::default())
    }

    /// Hooks that record a limit hit in `tripwire`, the instance's.
    pub(crate) fn with_tripwire(
        policy: Arc<OutboundPolicy>,
        limits: &Limits,
        tripwire: Arc<Tripwire>,
    ) -> Self {
        let permits = usize::try_from(limits.concurrent_connections)
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS);
        PolicyHooks {
            pool: Pool::new(policy.keep_alive),
            policy,
            log: Arc::default(),
            limits: limits.clone(),
            requests_this_call: 0,
            request_bytes_this_call: Arc::default(),
            connections: Arc::new(Semaphore::new(permits)),
            tripwire,
            redactor: Redactor::default(),
            pace: {
                let pace = Pace::new(crate::pace::DEFAULT_CONCURRENCY);
                pace.cap(limits.concurrent_connections);
                pace
            },
        }
    }

    /// The pace this instance's requests keep.
    pub fn pace(&self) -> Arc<Pace> {
        self.pace.clone()
    }

    /// Makes this instance keep `pace` (its tenant's, shared by its
    /// instances), capped by the instance's connection limit.
    pub fn set_pace(&mut self, pace: Arc<Pace>) {
        pace.cap(self.limits.concurrent_connections);
        self.pace = pace;
    }

    /// Starts counting a new call's requests.
    pub fn begin_call(&mut self, redactor: Redactor) {
        self.redactor = redactor;
        self.requests_this_call = 0;
        // A new counter: a body of an earlier call still on its way out
        // (it cannot grow, the guest is not running) counts there.
        self.request_bytes_this_call = Arc::default();
    }

    /// A handle on this store's request log.
    pub fn log(&self) -> Arc<Mutex<OutboundLog>> {
        self.log.clone()
    }

    /// Connections kept open for the next request now.
    #[cfg(test)]
    pub fn idle_connections(&self) -> usize {
        self.pool.idle()
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

    /// The request-body limit a request's declared `Content-Length` would
    /// pass, if any: such a request is refused before anything is sent.
    fn declared_body_over_limit(&self, request: &http::Request<WasiBody>) -> Option<LimitExceeded> {
        let declared = request
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .or_else(|| request.body().size_hint().exact())?;
        let sent = self.request_bytes_this_call.load(Ordering::Relaxed);
        if declared > self.limits.request_body_bytes {
            Some(self.limits.exceeded(
                LimitKind::RequestBody,
                format!("a request declared a body of {}", bytes(declared)),
            ))
        } else if sent.saturating_add(declared) > self.limits.request_bytes_per_call {
            Some(self.limits.exceeded(
                LimitKind::RequestBytesPerCall,
                format!(
                    "a request declared a body of {} after {} sent in this call",
                    bytes(declared),
                    bytes(sent)
                ),
            ))
        } else {
            None
        }
    }

    fn redact_denial(&self, denial: Denial) -> Denial {
        Denial {
            destination: self.redactor.redact(&denial.destination),
            ..denial
        }
    }

    /// What one request's future needs from the hooks.
    fn outgoing(&self, options: Option<RequestOptions>) -> Outgoing {
        Outgoing {
            policy: self.policy.clone(),
            log: self.log.clone(),
            limits: self.limits.clone(),
            connections: self.connections.clone(),
            pool: self.pool.clone(),
            tripwire: self.tripwire.clone(),
            redactor: self.redactor.clone(),
            timeouts: self.timeouts(options),
            pace: self.pace.clone(),
        }
    }
}

/// Counts a request in the log: `Ok` sent, `Err(Some)` refused by the
/// policy, `Err(None)` refused by a limit (not a policy denial).
fn record(log: &Mutex<OutboundLog>, outcome: Result<(), Option<&Denial>>) {
    let mut log = lock(log);
    match outcome {
        Ok(()) => log.sent += 1,
        Err(denial) => {
            log.denied += 1;
            if let Some(denial) = denial {
                if log.denials.len() < log::MAX_DENIALS_KEPT && !log.denials.contains(denial) {
                    log.denials.push(denial.clone());
                }
                log.last_denial = Some(denial.clone());
            }
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
        // Both checks come before the pool is asked: a kept connection
        // never lets a request skip them.
        let verdict = if over_limit {
            self.tripwire.trip(self.limits.exceeded(
                LimitKind::RequestsPerCall,
                format!(
                    "the connector started request {} of one call",
                    self.requests_this_call
                ),
            ));
            Err(None)
        } else if let Some(hit) = self.declared_body_over_limit(&request) {
            self.tripwire.trip(hit);
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
        let outgoing = self.outgoing(options);
        let request = request.map(|body| {
            RequestBody {
                inner: body,
                seen: 0,
                limits: self.limits.clone(),
                call: self.request_bytes_this_call.clone(),
                tripwire: self.tripwire.clone(),
            }
            .boxed_unsync()
        });
        Box::new(async move {
            let dest = verdict.map_err(|_| HttpError::HttpRequestDenied)?;
            outgoing.deliver(dest, request).await
        })
    }
}

/// One request on its way out, with what it needs of its instance.
struct Outgoing {
    policy: Arc<OutboundPolicy>,
    log: Arc<Mutex<OutboundLog>>,
    limits: Limits,
    connections: Arc<Semaphore>,
    pool: Pool,
    tripwire: Arc<Tripwire>,
    redactor: Redactor,
    timeouts: Timeouts,
    pace: Arc<Pace>,
}

impl Outgoing {
    /// Sends `request`, which passed the name check, on a kept connection
    /// to `dest` or a new one, and hands back the response with its body
    /// wrapped in the host's limits and accounting.
    async fn deliver(
        self,
        dest: Destination,
        mut request: http::Request<WasiBody>,
    ) -> Result<(http::Response<WasiBody>, IoFuture), HttpError> {
        http1::to_origin_form(&mut request, dest.authority())?;
        // Room among the tenant's requests in flight, after any pause a
        // rate limit asked for; held until the answer's head arrives.
        let permit = self.pace.acquire().await;
        let key = Key::of(&dest);
        let wait = self.timeouts.connect;
        let slot = self.pool.slot(&key, &self.connections, wait).await;
        let mut waiting = Waiting::new(&self.log);
        let (mut conn, kept) = match slot {
            Some(Slot::Pooled(conn)) => {
                record(&self.log, Ok(()));
                (conn, true)
            }
            Some(Slot::New(permit)) => (self.open(&dest, permit, true).await?, false),
            None => return Err(self.no_connection(wait)),
        };
        let head = match http1::send(&mut conn, request, self.timeouts.first_byte).await {
            Err(Failed::Unsent(request, error)) if kept => {
                // The server closed the kept connection before the request
                // went out: it goes once more, on a new connection.
                tracing::debug!(
                    destination = %self.redactor.redact(dest.authority()),
                    %error,
                    "a kept connection was closed; sending on a new one"
                );
                drop(conn);
                let Some(permit) = self.pool.fresh(&self.connections, wait).await else {
                    return Err(self.no_connection(wait));
                };
                conn = self.open(&dest, permit, false).await?;
                http1::send(&mut conn, *request, self.timeouts.first_byte).await
            }
            sent => {
                if kept {
                    lock(&self.log).reused += 1;
                }
                sent
            }
        };
        let head = head.map_err(Failed::into_error)?;
        waiting.stop();
        let status = head.status().as_u16();
        if head.status().is_success() {
            lock(&self.log).answered_ok += 1;
        } else if status == 429 {
            lock(&self.log).rate_limited += 1;
        }
        let hint = head
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok());
        self.pace.answered(status, crate::pace::retry_after(hint));
        drop(permit);
        let lease = self.pool.lease(key, conn);
        let between = self.timeouts.between_bytes;
        let limits = &self.limits;
        let tripwire = self.tripwire;
        let response = head.map(|incoming| {
            let body = Returning::new(Paced::new(incoming, between), lease);
            ResponseBody::new(body, limits, tripwire, waiting).boxed_unsync()
        });
        // Nothing for wasmtime-wasi-http to run: the connection's driver
        // has its own task.
        Ok((response, Box::new(async { Ok(()) }) as IoFuture))
    }

    /// Resolves `dest`, checks every address, and connects to them with
    /// `permit`. The request counts as sent once its addresses pass (or its
    /// name does not resolve), unless `first` is false: a request sent again
    /// after a kept connection closed was counted already.
    async fn open(
        &self,
        dest: &Destination,
        permit: OwnedSemaphorePermit,
        first: bool,
    ) -> Result<Connection, HttpError> {
        // Resolving and connecting share the connect timeout, as they did
        // inside the default sender.
        let deadline = Instant::now() + self.timeouts.connect;
        let shown = || self.redactor.redact(dest.authority());
        let addrs = match net::resolve_checked(&self.policy, dest, deadline).await {
            Ok(addrs) => {
                tracing::debug!(destination = %shown(), addresses = ?addrs, "resolved and allowed");
                addrs
            }
            Err(Refused::Denied(denial)) => {
                let denial = Denial {
                    destination: self.redactor.redact(&denial.destination),
                    ..denial
                };
                tracing::info!(%denial, "request refused after resolving");
                record(&self.log, Err(Some(&denial)));
                return Err(HttpError::HttpRequestDenied);
            }
            Err(Refused::Failed(e)) => {
                tracing::debug!(destination = %shown(), error = %e, "name did not resolve");
                if first {
                    record(&self.log, Ok(()));
                }
                return Err(e);
            }
        };
        if first {
            record(&self.log, Ok(()));
        }
        let log = &self.log;
        let connected = || lock(log).connections_opened += 1;
        connect::open(
            dest,
            &addrs,
            deadline,
            self.timeouts.connect,
            permit,
            connected,
        )
        .await
    }

    /// The connection limit, after a request waited `wait` for a connection.
    fn no_connection(&self, wait: Duration) -> HttpError {
        self.tripwire.trip(self.limits.exceeded(
            LimitKind::Connections,
            format!(
                "a request waited {} ms for one of the instance's connections to finish",
                wait.as_millis()
            ),
        ));
        HttpError::ConnectionLimitReached
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::task::{Context, Poll, ready};

    use bytes::Bytes;
    use hyper::body::Frame;

    use super::*;

    /// A body of chunks that declares no length (like a chunked response),
    /// which says when it is dropped.
    struct Chunks(VecDeque<Bytes>, Arc<AtomicBool>);

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

    impl Drop for Chunks {
        fn drop(&mut self) {
            self.1.store(true, Ordering::SeqCst);
        }
    }

    /// A wait on a log of its own, already stopped (as after a head).
    fn stopped_wait() -> (Waiting, Arc<Mutex<OutboundLog>>) {
        let log = Arc::new(Mutex::new(OutboundLog::default()));
        let mut waiting = Waiting::new(&log);
        waiting.stop();
        (waiting, log)
    }

    fn body(
        chunks: &[&'static str],
        limit: u64,
    ) -> (ResponseBody<Chunks>, Arc<Tripwire>, Arc<AtomicBool>) {
        let tripwire = Arc::new(Tripwire::default());
        let dropped = Arc::new(AtomicBool::new(false));
        let limits = Limits {
            response_body_bytes: limit,
            ..Limits::default()
        };
        let inner = Chunks(
            chunks
                .iter()
                .map(|c| Bytes::from_static(c.as_bytes()))
                .collect(),
            dropped.clone(),
        );
        (
            ResponseBody::new(inner, &limits, tripwire.clone(), stopped_wait().0),
            tripwire,
            dropped,
        )
    }

    #[tokio::test]
    async fn a_body_within_the_limit_passes() {
        let (mut b, tripwire, _) = body(&["abc", "def"], 6);
        let mut seen = Vec::new();
        while let Some(frame) = b.frame().await {
            seen.extend_from_slice(frame.unwrap().data_ref().unwrap());
        }
        assert_eq!(seen, b"abcdef");
        assert!(tripwire.take().is_none());
    }

    #[tokio::test]
    async fn a_body_past_the_limit_ends_with_an_error_naming_it() {
        let (mut b, tripwire, dropped) = body(&["abc", "def", "ghi"], 5);
        assert!(b.frame().await.unwrap().is_ok());
        let err = b.frame().await.unwrap().unwrap_err();
        assert!(
            matches!(err, HttpError::HttpResponseBodySize(Some(5))),
            "{err:?}"
        );
        assert!(
            dropped.load(Ordering::SeqCst),
            "the rest (and with it the connection) is dropped at once"
        );
        assert!(b.frame().await.is_none(), "nothing after the error");
        let hit = tripwire.take().unwrap();
        assert_eq!(hit.limit, LimitKind::ResponseBody);
        assert_eq!(hit.value, "5 bytes");
    }

    #[tokio::test]
    async fn a_declared_length_past_the_limit_fails_before_reading() {
        let tripwire = Arc::new(Tripwire::default());
        let limits = Limits {
            response_body_bytes: 3,
            ..Limits::default()
        };
        let inner = http_body_util::Full::new(Bytes::from_static(b"abcd"))
            .map_err(|e| match e {})
            .boxed_unsync();
        let mut b = ResponseBody::new(inner, &limits, tripwire.clone(), stopped_wait().0);
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
    fn concurrent_waits_count_once() {
        let ms = Duration::from_millis;
        let t0 = std::time::Instant::now();
        let mut log = OutboundLog::default();
        // Two requests waiting over [0, 10] and [5, 20]: 20 ms of waiting.
        log.wait_began(t0);
        log.wait_began(t0 + ms(5));
        log.wait_ended(t0 + ms(10));
        assert_eq!(log.upstream_wait, Duration::ZERO, "one still waits");
        log.wait_ended(t0 + ms(20));
        assert_eq!(log.upstream_wait, ms(20));
        // Then nothing waits for 10 ms, then one request for 5.
        log.wait_began(t0 + ms(30));
        log.wait_ended(t0 + ms(35));
        assert_eq!(log.upstream_wait, ms(25));
        // An unmatched end (cannot happen) changes nothing.
        log.wait_ended(t0 + ms(50));
        assert_eq!(log.upstream_wait, ms(25));
    }

    /// A body whose first read finds nothing; its data comes `after` later.
    struct Late {
        sleep: Pin<Box<tokio::time::Sleep>>,
        done: bool,
    }

    impl Body for Late {
        type Data = Bytes;
        type Error = HttpError;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
            if self.done {
                return Poll::Ready(None);
            }
            ready!(self.sleep.as_mut().poll(cx));
            self.done = true;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"x")))))
        }
    }

    #[tokio::test]
    async fn a_body_counts_the_time_it_waits_for_data() {
        let (waiting, log) = stopped_wait();
        let late = Late {
            sleep: Box::pin(tokio::time::sleep(Duration::from_millis(30))),
            done: false,
        };
        let mut metered = ResponseBody::new(late, &Limits::default(), Arc::default(), waiting);
        assert!(metered.frame().await.unwrap().is_ok());
        let waited = lock(&log).upstream_wait;
        assert!(waited >= Duration::from_millis(30), "{waited:?}");
        assert!(metered.frame().await.is_none());
        assert_eq!(lock(&log).upstream_wait, waited, "no wait for the end");
        assert_eq!(lock(&log).waiting, 0);

        // A body that never waits adds nothing.
        let (mut ready, _, _) = body(&["abc"], 10);
        let log = ready.waiting.log.clone();
        let before = lock(&log).upstream_wait;
        while ready.frame().await.is_some() {}
        assert_eq!(lock(&log).upstream_wait, before);
    }

    #[test]
    fn requests_are_counted_per_call() {
        let limits = Limits {
            requests_per_call: 2,
            ..Limits::default()
        };
        let mut hooks = PolicyHooks::with_limits(Arc::new(OutboundPolicy::default()), &limits);
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

    /// A loopback server that answers every request on every connection
    /// with `200 ok` and keeps the connection open; it counts both.
    async fn answering_server() -> (std::net::SocketAddr, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let counters = (Arc::clone(&connections), Arc::clone(&requests));
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counters.0.fetch_add(1, Ordering::SeqCst);
                let requests = counters.1.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    loop {
                        while !head.ends_with(b"\r\n\r\n") {
                            match socket.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => head.extend_from_slice(&buf[..n]),
                            }
                        }
                        head.clear();
                        requests.fetch_add(1, Ordering::SeqCst);
                        let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if socket.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (addr, connections, requests)
    }

    /// Hooks allowing `addr`, with a connection to it already kept in the
    /// pool, whose server end is handed back: it is an in-memory pipe, so
    /// what happens to the kept connection is up to the test.
    async fn hooks_with_a_kept_connection(
        addr: std::net::SocketAddr,
    ) -> (PolicyHooks, tokio::io::DuplexStream) {
        let policy = OutboundPolicy {
            allow: crate::AllowList::parse(&[format!("http://{addr}")]).unwrap(),
            ..OutboundPolicy::default()
        };
        let hooks = PolicyHooks::new(Arc::new(policy));
        let dest = hooks.policy.check("http", &addr.to_string()).unwrap();
        let (client, server) = tokio::io::duplex(4096);
        let (sender, driver) = hyper::client::conn::http1::handshake::<_, WasiBody>(
            hyper_util::rt::TokioIo::new(client),
        )
        .await
        .unwrap();
        let permit = hooks.connections.clone().try_acquire_owned().unwrap();
        let mut kept = Connection::spawn(sender, driver, permit);
        assert!(kept.ready().await);
        hooks.pool.put_back(Key::of(&dest), kept);
        assert_eq!(hooks.idle_connections(), 1);
        (hooks, server)
    }

    fn request_to(addr: std::net::SocketAddr) -> http::Request<WasiBody> {
        http::Request::builder()
            .uri(format!("http://{addr}/x"))
            .header(http::header::HOST, addr.to_string())
            .body(
                http_body_util::Empty::new()
                    .map_err(|e| match e {})
                    .boxed_unsync(),
            )
            .unwrap()
    }

    async fn get(hooks: &mut PolicyHooks, addr: std::net::SocketAddr) -> Result<Bytes, HttpError> {
        let future = hooks.send_request(request_to(addr), None, Box::new(async { Ok(()) }));
        let (response, _io) = Box::into_pin(future).await?;
        Ok(response.into_body().collect().await?.to_bytes())
    }

    #[tokio::test]
    async fn a_request_a_closed_kept_connection_never_sent_goes_once_on_a_new_one() {
        let (addr, connections, requests) = answering_server().await;
        let (mut hooks, server_end) = hooks_with_a_kept_connection(addr).await;
        // The server closes the kept connection; its driver has not run
        // since, so the pool still finds it ready and hands it out. hyper
        // sees the close before it writes the request, and gives it back.
        drop(server_end);
        let body = get(&mut hooks, addr)
            .await
            .expect("answered on a new connection");
        assert_eq!(body.as_ref(), b"ok");
        let log = hooks.log().lock().unwrap().snapshot();
        assert_eq!(
            (log.sent, log.reused, log.connections_opened),
            (1, 0, 1),
            "{log:?}"
        );
        assert_eq!(connections.load(Ordering::SeqCst), 1);
        assert_eq!(requests.load(Ordering::SeqCst), 1, "sent once");
    }

    #[tokio::test]
    async fn a_request_that_went_out_on_a_kept_connection_is_not_sent_again() {
        use tokio::io::AsyncReadExt;
        let (addr, connections, _) = answering_server().await;
        let (mut hooks, mut server_end) = hooks_with_a_kept_connection(addr).await;
        // The server reads the request, then closes without answering.
        tokio::spawn(async move {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.ends_with(b"\r\n\r\n") {
                match server_end.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
        });
        let err = get(&mut hooks, addr).await.unwrap_err();
        assert!(!matches!(err, HttpError::HttpRequestDenied), "{err:?}");
        let log = hooks.log().lock().unwrap().snapshot();
        assert_eq!(
            (log.sent, log.reused, log.connections_opened),
            (1, 1, 0),
            "{log:?}"
        );
        assert_eq!(connections.load(Ordering::SeqCst), 0, "never sent again");
    }

    #[tokio::test]
    async fn a_body_read_to_its_end_gives_its_connection_back() {
        let (addr, connections, requests) = answering_server().await;
        let policy = OutboundPolicy {
            allow: crate::AllowList::parse(&[format!("http://{addr}")]).unwrap(),
            ..OutboundPolicy::default()
        };
        let mut hooks = PolicyHooks::new(Arc::new(policy));
        for _ in 0..3 {
            assert_eq!(get(&mut hooks, addr).await.unwrap().as_ref(), b"ok");
            assert_eq!(hooks.idle_connections(), 1);
        }
        let log = hooks.log().lock().unwrap().snapshot();
        assert_eq!(
            (log.sent, log.reused, log.connections_opened),
            (3, 2, 1),
            "{log:?}"
        );
        assert_eq!(connections.load(Ordering::SeqCst), 1);
        assert_eq!(requests.load(Ordering::SeqCst), 3);
        assert!(log.upstream_wait > Duration::ZERO);

        // A body dropped before its end takes its connection with it.
        let future = hooks.send_request(request_to(addr), None, Box::new(async { Ok(()) }));
        let (response, _io) = Box::into_pin(future).await.unwrap();
        assert_eq!(hooks.idle_connections(), 0, "in use");
        drop(response);
        assert_eq!(hooks.idle_connections(), 0, "not given back");
        assert_eq!(get(&mut hooks, addr).await.unwrap().as_ref(), b"ok");
        assert_eq!(
            connections.load(Ordering::SeqCst),
            2,
            "a new one was opened"
        );
    }
}
