//! How many requests one tenant's connector keeps in flight at once, and
//! how that adapts to the upstream's rate limits.
//!
//! The guest is told the concurrency it may use (`fetch-request.concurrency`,
//! read from [`Pace::concurrency`] at every call), and the host enforces it
//! too: every request the guest sends takes a [`Pace`] permit before it goes
//! out ([`Pace::acquire`]) and gives it back when its answer's head arrives,
//! so a guest that starts more requests than it was told only queues them.
//!
//! The concurrency moves additive-increase, multiplicative-decrease: a `429`
//! halves it (down to one) and, when it says how long in seconds
//! (`Retry-After: N`), pauses every request of the tenant until that has
//! passed (the upstream's limit is per token, so each request that went out
//! anyway would only earn another 429); a run of as many answers without a
//! 429 as the concurrency in use grows it back by one, up to the configured
//! maximum. A 429 that gives no such hint only halves the concurrency: the
//! failed request's retry waits as the retry policy says (which also reads
//! the other hints the guest reports, such as an HTTP date). One tenant's
//! pace never touches another's: each tenant's instances have their own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// The concurrency a tenant starts with unless its operator says otherwise.
pub const DEFAULT_CONCURRENCY: u32 = 4;
/// The most requests a tenant may have in flight, whatever is configured
/// (the guest keeps at most as many too).
pub const MAX_CONCURRENCY: u32 = 32;
/// The longest `Retry-After` a pause honours; a longer one (or a hostile
/// upstream's) is cut to this. The retry policy bounds waiting overall.
pub const MAX_PAUSE: Duration = Duration::from_secs(300);

/// One tenant's pace. Shared by its instances' outbound hooks and its sync
/// loop.
#[derive(Debug)]
pub struct Pace {
    state: Mutex<State>,
    /// Wakes requests waiting for room.
    room: Notify,
    rate_limited: AtomicU64,
}

#[derive(Debug)]
struct State {
    max: u32,
    limit: u32,
    in_flight: u32,
    /// Answers without a 429 since the limit last moved.
    streak: u32,
    paused_until: Option<Instant>,
    /// The lowest the limit went.
    lowest: u32,
}

impl Pace {
    /// A pace starting at (and never above) `max` requests in flight,
    /// clamped to 1..=[`MAX_CONCURRENCY`].
    pub fn new(max: u32) -> Arc<Pace> {
        let max = max.clamp(1, MAX_CONCURRENCY);
        Arc::new(Pace {
            state: Mutex::new(State {
                max,
                limit: max,
                in_flight: 0,
                streak: 0,
                paused_until: None,
                lowest: max,
            }),
            room: Notify::new(),
            rate_limited: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Requests the guest may have in flight now.
    pub fn concurrency(&self) -> u32 {
        self.lock().limit
    }

    /// The configured maximum.
    pub fn max(&self) -> u32 {
        self.lock().max
    }

    /// The lowest concurrency rate limits brought it to so far.
    pub fn lowest(&self) -> u32 {
        self.lock().lowest
    }

    /// 429 answers seen so far.
    pub fn rate_limited(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
    }

    /// Lowers the maximum (and the concurrency, if above it) to `max`,
    /// clamped to 1..=[`MAX_CONCURRENCY`]: the instance's connection limit
    /// bounds it.
    pub fn cap(&self, max: u32) {
        let max = max.clamp(1, MAX_CONCURRENCY);
        let mut s = self.lock();
        s.max = s.max.min(max);
        s.limit = s.limit.min(s.max);
        s.lowest = s.lowest.min(s.limit);
    }

    /// Waits until the tenant is not paused and has room for one more
    /// request in flight, and takes it.
    pub async fn acquire(self: &Arc<Self>) -> Permit {
        loop {
            let notified = self.room.notified();
            tokio::pin!(notified);
            // Registered before the check, so a permit given back between
            // the check and the wait still wakes this one.
            notified.as_mut().enable();
            let pause = {
                let mut s = self.lock();
                match s.paused_until {
                    Some(until) if until > Instant::now() => Some(until),
                    _ => {
                        s.paused_until = None;
                        if s.in_flight < s.limit {
                            s.in_flight += 1;
                            return Permit { pace: self.clone() };
                        }
                        None
                    }
                }
            };
            match pause {
                Some(until) => tokio::time::sleep_until(until).await,
                None => notified.await,
            }
        }
    }

    /// Counts an answer: a `429` (with the seconds its `Retry-After` asks
    /// for, if any) halves the concurrency and pauses the tenant; any other
    /// answer counts towards growing it back.
    pub fn answered(&self, status: u16, retry_after: Option<Duration>) {
        let mut s = self.lock();
        if status == 429 {
            self.rate_limited.fetch_add(1, Ordering::Relaxed);
            s.limit = (s.limit / 2).max(1);
            s.lowest = s.lowest.min(s.limit);
            s.streak = 0;
            if let Some(wait) = retry_after.filter(|w| !w.is_zero()) {
                let until = Instant::now() + wait.min(MAX_PAUSE);
                s.paused_until = Some(s.paused_until.map_or(until, |p| p.max(until)));
            }
            return;
        }
        s.streak += 1;
        if s.streak >= s.limit && s.limit < s.max {
            s.limit += 1;
            s.streak = 0;
            drop(s);
            self.room.notify_waiters();
        }
    }

    fn release(&self) {
        let mut s = self.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        drop(s);
        self.room.notify_waiters();
    }
}

/// Room for one request in flight, given back when dropped.
#[derive(Debug)]
pub struct Permit {
    pace: Arc<Pace>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.pace.release();
    }
}

/// The delay a `Retry-After` header value asks for, when it is whole
/// seconds (an HTTP date is left to the retry policy).
pub fn retry_after(value: Option<&str>) -> Option<Duration> {
    value?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_429_halves_and_pauses_and_successes_grow_it_back() {
        let pace = Pace::new(8);
        assert_eq!(pace.concurrency(), 8);
        pace.answered(429, Some(Duration::from_secs(2)));
        assert_eq!((pace.concurrency(), pace.rate_limited()), (4, 1));
        let before = Instant::now();
        let permit = pace.acquire().await;
        assert!(
            Instant::now() - before >= Duration::from_secs(2),
            "waited out Retry-After"
        );
        drop(permit);
        pace.answered(429, None);
        pace.answered(429, None);
        pace.answered(429, None);
        assert_eq!((pace.concurrency(), pace.lowest()), (1, 1));
        // One step per run of successes as long as the concurrency.
        pace.answered(200, None);
        assert_eq!(pace.concurrency(), 2);
        pace.answered(200, None);
        assert_eq!(pace.concurrency(), 2);
        pace.answered(404, None);
        assert_eq!(pace.concurrency(), 3);
        for _ in 0..100 {
            pace.answered(200, None);
        }
        assert_eq!(pace.concurrency(), 8, "never above the maximum");
        pace.cap(3);
        assert_eq!((pace.concurrency(), pace.max()), (3, 3));
        assert_eq!(Pace::new(0).max(), 1);
        assert_eq!(Pace::new(1000).max(), MAX_CONCURRENCY);
    }

    #[tokio::test(start_paused = true)]
    async fn never_more_in_flight_than_the_concurrency() {
        let pace = Pace::new(2);
        let a = pace.acquire().await;
        let _b = pace.acquire().await;
        let waiting = tokio::spawn({
            let pace = pace.clone();
            async move { pace.acquire().await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiting.is_finished(), "a third waits");
        drop(a);
        let _c = tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("room given back wakes it")
            .unwrap();
    }

    #[test]
    fn retry_after_is_whole_seconds() {
        assert_eq!(retry_after(Some(" 3 ")), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(retry_after(Some("-1")), None);
        assert_eq!(retry_after(None), None);
    }
}
