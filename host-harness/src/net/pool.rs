//! The keep-alive pool of one connector instance: HTTP/1.1 connections kept
//! open between requests, so a sync does not pay a TCP (and, for https, a
//! TLS) handshake per request.
//!
//! One `Pool` belongs to one `PolicyHooks`, that is to
//! one connector instance and so to one tenant; it is never shared, so one
//! tenant's requests never travel on a connection another tenant opened
//! (and never carry its credential to a server that saw the other's).
//!
//! # When a connection is used again
//!
//! - Only for the same destination: scheme, host and port (`Key`), as the
//!   name check normalized them.
//! - Only after its previous response body was read to its end and hyper
//!   says it can take another request (`Returning` hands it back then,
//!   before the reader learns that the body ended); a body dropped early or
//!   broken, a first-byte timeout, a `Connection: close` answer: the
//!   connection is dropped, which closes it.
//! - Only while it is open and younger than the idle timeout; each check-out
//!   looks again and throws dead entries away.
//!
//! A server may close an idle connection just as it is used again. hyper
//! gives a request back when it never went out (`try_send_request`); the
//! sender ([`crate::outbound`]) then sends it once on a new connection. A
//! request that did go out is never sent again here: whether to ask again
//! is the retry policy's business, which knows what the guest asked for.
//!
//! # Policy
//!
//! Every request passes the name check and the per-call request limit
//! before the pool is asked, and a new connection is opened only to
//! addresses the policy checked after resolving. A pooled connection is not
//! resolved again, as in every HTTP client; that is safe against DNS
//! rebinding because the connection stays on the address it was opened to,
//! which was checked, under the same policy (an instance's policy never
//! changes), for the very same scheme, host and port; for https, its
//! certificate was verified for that very host name. A rebound name can
//! only affect the next *new* connection, and that one is checked again.
//!
//! # Bounds
//!
//! Every open connection, busy or idle, holds one permit of the instance's
//! connection semaphore ([`crate::Limits::concurrent_connections`]) until it
//! closes: its driver task holds it. A request that finds no permit free
//! closes the oldest idle connection (of any host) instead of waiting for
//! one, and a connection that goes idle while requests wait is offered to
//! them. An idle connection closes by itself after the idle timeout
//! ([`KeepAlive`]): a timer per stay in the pool, which removes its own entry
//! only (each stay has its own generation number).

use std::collections::VecDeque;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, TryAcquireError};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use wasmtime_wasi_http::Error as HttpError;

use super::connect::Connection;
use crate::policy::{Destination, KeepAlive};

/// What a pooled connection may be used for again: exactly the scheme, host
/// and port it was opened for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    https: bool,
    host: String,
    port: u16,
}

impl Key {
    pub(crate) fn of(dest: &Destination) -> Key {
        Key {
            https: dest.is_https(),
            host: dest.host().to_string(),
            port: dest.port(),
        }
    }
}

/// The idle connections of one instance (cheap to clone: a shared handle).
#[derive(Clone)]
pub(crate) struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    keep_alive: KeepAlive,
    state: Mutex<State>,
    /// Woken whenever a connection goes idle, for requests waiting for a
    /// permit: the connection may be theirs, or theirs to close.
    went_idle: Notify,
}

#[derive(Default)]
struct State {
    /// Oldest first.
    idle: VecDeque<Idle>,
    next_generation: u64,
}

/// One stay of a connection in the pool.
struct Idle {
    key: Key,
    /// Tells this stay from the same connection's later ones, so a timer
    /// that fires late never removes a later stay.
    generation: u64,
    connection: Connection,
    since: Instant,
    /// Aborted when the stay ends before the timer fires.
    _expiry: Expiry,
}

/// The idle timer of one stay; dropping it cancels the timer.
struct Expiry(AbortHandle);

impl Drop for Expiry {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a request goes out on.
pub(crate) enum Slot {
    /// A kept connection to the same destination.
    Pooled(Connection),
    /// A permit for a new connection.
    New(OwnedSemaphorePermit),
}

impl Pool {
    pub(crate) fn new(keep_alive: KeepAlive) -> Pool {
        Pool {
            shared: Arc::new(Shared {
                keep_alive,
                state: Mutex::default(),
                went_idle: Notify::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn idle_timeout(&self) -> Duration {
        self.shared.keep_alive.idle_timeout
    }

    /// A kept connection to `key` for the next request, or a permit for a
    /// new one, waiting at most `wait` (then `None`: the caller reports the
    /// connection limit). When every permit is taken, the oldest idle
    /// connection is closed to free one.
    pub(crate) async fn slot(
        &self,
        key: &Key,
        permits: &Arc<Semaphore>,
        wait: Duration,
    ) -> Option<Slot> {
        self.acquire(Some(key), permits, wait).await
    }

    /// A permit for a new connection (never a kept one), as [`Pool::slot`].
    pub(crate) async fn fresh(
        &self,
        permits: &Arc<Semaphore>,
        wait: Duration,
    ) -> Option<OwnedSemaphorePermit> {
        match self.acquire(None, permits, wait).await {
            Some(Slot::New(permit)) => Some(permit),
            _ => None,
        }
    }

    async fn acquire(
        &self,
        key: Option<&Key>,
        permits: &Arc<Semaphore>,
        wait: Duration,
    ) -> Option<Slot> {
        let deadline = Instant::now() + wait;
        loop {
            // Listening before looking, so a connection that goes idle
            // between the look and the wait is not missed.
            let mut went_idle = pin!(self.shared.went_idle.notified());
            went_idle.as_mut().enable();
            if let Some(connection) = key.and_then(|key| self.checkout(key)) {
                return Some(Slot::Pooled(connection));
            }
            match permits.clone().try_acquire_owned() {
                Ok(permit) => return Some(Slot::New(permit)),
                Err(TryAcquireError::Closed) => return None,
                Err(TryAcquireError::NoPermits) => {}
            }
            // Every permit belongs to an open connection. An idle one is
            // worth less than a request that waits: close the oldest; its
            // driver ends and gives its permit back.
            self.evict_oldest();
            tokio::select! {
                permit = permits.clone().acquire_owned() => return permit.ok().map(Slot::New),
                () = went_idle.as_mut() => {}
                () = tokio::time::sleep_until(deadline) => return None,
            }
        }
    }

    /// The most recently returned live connection to `key`, if any; the
    /// dead and expired ones met on the way are dropped.
    fn checkout(&self, key: &Key) -> Option<Connection> {
        let idle_timeout = self.idle_timeout();
        let mut state = self.lock();
        while let Some(at) = state.idle.iter().rposition(|idle| &idle.key == key) {
            let idle = state.idle.remove(at)?;
            let fresh = idle.since.elapsed() < idle_timeout;
            if fresh && idle.connection.is_ready() {
                return Some(idle.connection);
            }
        }
        None
    }

    /// Closes the oldest idle connection; false when none is idle.
    fn evict_oldest(&self) -> bool {
        let oldest = self.lock().idle.pop_front();
        if let Some(idle) = &oldest {
            tracing::trace!(host = %idle.key.host, port = idle.key.port, "closing the oldest idle connection for a new one");
        }
        oldest.is_some()
    }

    /// Keeps `connection` for the next request to `key`, when keep-alive is
    /// on and the connection can take one. The oldest idle connection to
    /// the same destination is closed when there are too many.
    pub(crate) fn put_back(&self, key: Key, connection: Connection) {
        let keep_alive = self.shared.keep_alive;
        if !keep_alive.enabled() || !connection.is_ready() {
            return;
        }
        // The timer is a task; without a runtime there is no pool.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut state = self.lock();
        let mut same = state.idle.iter().filter(|idle| idle.key == key).count();
        while same >= keep_alive.max_idle_per_host {
            if let Some(at) = state.idle.iter().position(|idle| idle.key == key) {
                state.idle.remove(at);
            }
            same -= 1;
        }
        let generation = state.next_generation;
        state.next_generation += 1;
        let pool = Arc::downgrade(&self.shared);
        let timer = runtime.spawn(async move {
            tokio::time::sleep(keep_alive.idle_timeout).await;
            if let Some(shared) = pool.upgrade() {
                Pool { shared }.expire(generation);
            }
        });
        state.idle.push_back(Idle {
            key,
            generation,
            connection,
            since: Instant::now(),
            _expiry: Expiry(timer.abort_handle()),
        });
        drop(state);
        self.shared.went_idle.notify_waiters();
    }

    /// Ends the stay `generation`, if it is still in the pool; true if it was.
    fn expire(&self, generation: u64) -> bool {
        let mut state = self.lock();
        let at = state
            .idle
            .iter()
            .position(|idle| idle.generation == generation);
        at.and_then(|at| state.idle.remove(at)).is_some()
    }

    /// Idle connections now.
    #[cfg(test)]
    pub(crate) fn idle(&self) -> usize {
        self.lock().idle.len()
    }

    /// Hands `connection`, which just carried a request to `key`, to the
    /// response body ([`Returning`]): it comes back to the pool once the
    /// body is read to its end. With keep-alive off, the body just keeps it
    /// open until then.
    pub(crate) fn lease(&self, key: Key, connection: Connection) -> Lease {
        let pool = match self.shared.keep_alive.enabled() {
            true => Arc::downgrade(&self.shared),
            false => Weak::new(),
        };
        Lease {
            pool,
            key,
            connection,
        }
    }
}

/// How long a body that ended waits for hyper to be ready for the next
/// request on its connection, before it closes the connection instead.
/// hyper is ready in the same step that ends the body or microseconds after
/// (on another thread); this only bounds the unforeseen.
const GIVE_BACK_WAIT: Duration = Duration::from_secs(1);

/// A connection in use by one response; dropped (closing the connection)
/// unless the response's body ends cleanly.
pub(crate) struct Lease {
    pool: Weak<Shared>,
    key: Key,
    connection: Connection,
}

/// A response body that gives its connection back to the pool when it is
/// read to its end, and closes it when it fails or is dropped before.
///
/// It reports its end only once the connection is back (or closed): the
/// request that follows at once, as a sync's does, then finds it in the
/// pool. Handing it back from a task spawned at the end of the body would
/// race that request, and lose often enough on a multi-threaded runtime.
pub(crate) struct Returning<B> {
    inner: B,
    lease: Option<Lease>,
    /// Set when the body ended and hyper was not ready yet.
    giving_back: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<B> Returning<B> {
    pub(crate) fn new(inner: B, lease: Lease) -> Self {
        Returning {
            inner,
            lease: Some(lease),
            giving_back: None,
        }
    }

    /// The body ended: hands the connection back once hyper can send the
    /// next request on it; then the end can be reported.
    fn give_back(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(lease) = self.lease.as_mut() else {
            return Poll::Ready(());
        };
        let Some(shared) = lease.pool.upgrade() else {
            // Keep-alive is off, or the instance is gone: close it.
            self.lease = None;
            return Poll::Ready(());
        };
        match lease.connection.poll_ready(cx) {
            Poll::Ready(true) => {
                if let Some(Lease {
                    key, connection, ..
                }) = self.lease.take()
                {
                    Pool { shared }.put_back(key, connection);
                }
            }
            // It closed (a `Connection: close` answer, say).
            Poll::Ready(false) => self.lease = None,
            Poll::Pending => {
                let wait = self
                    .giving_back
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(GIVE_BACK_WAIT)));
                ready!(wait.as_mut().poll(cx));
                self.lease = None;
            }
        }
        Poll::Ready(())
    }
}

impl<B> Body for Returning<B>
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
        if this.giving_back.is_some() {
            ready!(this.give_back(cx));
            return Poll::Ready(None);
        }
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            None => ready!(this.give_back(cx)),
            // What is left on the connection is unknown: close it.
            Some(Err(_)) => this.lease = None,
            Some(Ok(_)) => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        // Not before the connection is handed back: a reader that trusts
        // this and stops polling would take the connection down with it.
        self.lease.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use hyper_util::rt::TokioIo;
    use tokio::io::DuplexStream;
    use wasmtime_wasi_http::WasiBody;

    use super::*;

    fn key(host: &str) -> Key {
        Key {
            https: false,
            host: host.to_string(),
            port: 80,
        }
    }

    fn pool(idle_timeout: Duration, max_idle_per_host: usize) -> Pool {
        Pool::new(KeepAlive {
            idle_timeout,
            max_idle_per_host,
        })
    }

    /// A real hyper connection over an in-memory pipe, its driver holding a
    /// permit of `permits`, ready for a request; and the server's end.
    async fn connection(permits: &Arc<Semaphore>) -> (Connection, DuplexStream) {
        let (client, server) = tokio::io::duplex(4096);
        let (sender, driver) =
            hyper::client::conn::http1::handshake::<_, WasiBody>(TokioIo::new(client))
                .await
                .unwrap();
        let permit = permits.clone().try_acquire_owned().unwrap();
        let mut connection = Connection::spawn(sender, driver, permit);
        assert!(connection.ready().await);
        (connection, server)
    }

    /// Lets spawned tasks (drivers, timers) run.
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_closes_after_the_idle_timeout_and_frees_its_permit() {
        let permits = Arc::new(Semaphore::new(1));
        let pool = pool(Duration::from_millis(100), 8);
        let (connection, _server) = connection(&permits).await;
        pool.put_back(key("a"), connection);
        assert_eq!(pool.idle(), 1);
        assert_eq!(
            permits.available_permits(),
            0,
            "an idle connection holds its permit"
        );

        tokio::time::sleep(Duration::from_millis(99)).await;
        assert_eq!(pool.idle(), 1, "not yet");
        tokio::time::sleep(Duration::from_millis(2)).await;
        settle().await;
        assert_eq!(pool.idle(), 0, "closed once idle for the timeout");
        assert_eq!(
            permits.available_permits(),
            1,
            "its driver ended and gave the permit back"
        );
        assert!(pool.checkout(&key("a")).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_timer_never_ends_a_later_stay() {
        let permits = Arc::new(Semaphore::new(1));
        let pool = pool(Duration::from_millis(100), 8);
        let (connection, _server) = connection(&permits).await;
        pool.put_back(key("a"), connection);
        let first = pool.lock().idle[0].generation;

        tokio::time::sleep(Duration::from_millis(60)).await;
        let connection = pool.checkout(&key("a")).expect("still kept");
        pool.put_back(key("a"), connection);
        let second = pool.lock().idle[0].generation;
        assert_ne!(first, second);
        assert!(
            !pool.expire(first),
            "the first stay's generation no longer matches"
        );
        assert_eq!(pool.idle(), 1);

        // Past the first stay's deadline, within the second's.
        tokio::time::sleep(Duration::from_millis(60)).await;
        settle().await;
        assert_eq!(
            pool.idle(),
            1,
            "the first timer was cancelled with its stay"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        settle().await;
        assert_eq!(pool.idle(), 0, "the second stay expires on its own clock");
    }

    #[tokio::test]
    async fn the_oldest_idle_connection_is_closed_to_free_a_permit() {
        let permits = Arc::new(Semaphore::new(2));
        let pool = pool(Duration::from_secs(30), 8);
        let (older, _a) = connection(&permits).await;
        let (newer, _b) = connection(&permits).await;
        pool.put_back(key("a"), older);
        pool.put_back(key("b"), newer);
        assert_eq!(permits.available_permits(), 0);

        // A request to a third host: no permit is free, two connections idle.
        let slot = tokio::time::timeout(
            Duration::from_secs(5),
            pool.slot(&key("c"), &permits, Duration::from_secs(5)),
        )
        .await
        .expect("it does not wait for the idle timeout");
        assert!(matches!(slot, Some(Slot::New(_))));
        assert_eq!(pool.idle(), 1);
        assert!(pool.checkout(&key("a")).is_none(), "the oldest went");
        assert!(pool.checkout(&key("b")).is_some(), "the newer stayed");
    }

    #[tokio::test]
    async fn a_connection_is_used_again_only_for_its_own_destination() {
        let permits = Arc::new(Semaphore::new(2));
        let pool = pool(Duration::from_secs(30), 8);
        let (connection, _server) = connection(&permits).await;
        pool.put_back(key("a"), connection);
        let other = Key {
            https: true,
            ..key("a")
        };
        assert!(pool.checkout(&other).is_none(), "not for https");
        let other = Key {
            port: 81,
            ..key("a")
        };
        assert!(pool.checkout(&other).is_none(), "not for another port");
        assert!(pool.checkout(&key("b")).is_none(), "not for another host");
        assert!(pool.checkout(&key("a")).is_some());
    }

    #[tokio::test]
    async fn a_dead_connection_is_thrown_away_at_checkout() {
        let permits = Arc::new(Semaphore::new(1));
        let pool = pool(Duration::from_secs(30), 8);
        let (connection, server) = connection(&permits).await;
        pool.put_back(key("a"), connection);
        // The server closes the idle connection.
        drop(server);
        settle().await;
        assert_eq!(pool.idle(), 1, "still listed");
        assert!(pool.checkout(&key("a")).is_none(), "but not handed out");
        assert_eq!(pool.idle(), 0);
        assert_eq!(permits.available_permits(), 1);
    }

    #[tokio::test]
    async fn at_most_max_idle_per_host_are_kept() {
        let permits = Arc::new(Semaphore::new(3));
        let pool = pool(Duration::from_secs(30), 2);
        // The servers' ends stay open, and with them the connections.
        let mut servers = Vec::new();
        for _ in 0..3 {
            let (connection, server) = connection(&permits).await;
            servers.push(server);
            pool.put_back(key("a"), connection);
        }
        assert_eq!(pool.idle(), 2);
        settle().await;
        assert_eq!(permits.available_permits(), 1, "the extra one was closed");
    }

    #[tokio::test]
    async fn a_waiting_request_gets_a_connection_that_goes_idle() {
        let permits = Arc::new(Semaphore::new(1));
        let pool = pool(Duration::from_secs(30), 8);
        let (busy, _server) = connection(&permits).await;
        let waiter = {
            let (pool, permits) = (pool.clone(), permits.clone());
            tokio::spawn(
                async move { pool.slot(&key("a"), &permits, Duration::from_secs(5)).await },
            )
        };
        settle().await;
        pool.put_back(key("a"), busy);
        let slot = waiter.await.unwrap();
        assert!(
            matches!(slot, Some(Slot::Pooled(_))),
            "the same connection, not a new one"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_permit_or_an_idle_connection_the_wait_is_bounded() {
        let permits = Arc::new(Semaphore::new(0));
        let pool = pool(Duration::from_secs(30), 8);
        let started = Instant::now();
        let slot = pool
            .slot(&key("a"), &permits, Duration::from_millis(200))
            .await;
        assert!(slot.is_none());
        assert_eq!(started.elapsed(), Duration::from_millis(200));
    }

    #[tokio::test]
    async fn keep_alive_off_keeps_nothing() {
        let permits = Arc::new(Semaphore::new(1));
        let pool = pool(Duration::ZERO, 8);
        let (connection, _server) = connection(&permits).await;
        pool.put_back(key("a"), connection);
        assert_eq!(pool.idle(), 0);
        settle().await;
        assert_eq!(permits.available_permits(), 1, "closed at once");
    }
}
