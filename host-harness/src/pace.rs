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
//! halves it (down to one; once per pause, however many requests of a batch
//! met it) and, when it says how long in seconds (`Retry-After: N`), pauses
//! every request of the tenant until that has passed (the upstream's limit
//! is per token, so each request that went out anyway would only earn
//! another 429); a run of as many answers without a 429 as the concurrency
//! in use grows it back by one, up to the configured maximum. A 429 that
//! gives no such hint only halves the concurrency: the failed request's
//! retry waits as the retry policy says (which also reads the other hints
//! the guest reports, such as an HTTP date).
//!
//! Concurrency alone cannot keep a fast upstream's rate: against one that
//! answers in a millisecond, a single request in flight is a thousand a
//! second, and `Retry-After` is whole seconds, so every 429 would cost a
//! second's pause. So a 429 that asks for a wait also sets a *rate*
//! (one that does not only lowers the concurrency): requests start at most at
//! 95 % of the rate the upstream answered the tenant at over the last
//! second (over its limit, that is the limit), spaced evenly. Only a clean
//! window measures it (a whole second of history, no pause in it, enough
//! answers); a 429 without one (the first burst, one just after a pause)
//! sets a rate that doubles every half second and never lowers a rate
//! already set, so 429s that are not about the rate cannot cut it down. The
//! first clean 429 after such a ramp mixed the ramp's slower steps, so the
//! rate it sets grows by about 4 % a second until a 429 measures it over a
//! steady window. From then on it grows by about 0.5 % a second, so that a
//! limit that was raised is found again at the cost of one 429 now and
//! then.
//!
//! One tenant's pace never touches another's: each tenant's instances have
//! their own.

use std::collections::VecDeque;
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
/// The lowest request rate a 429 sets, per second.
pub const MIN_RATE: f64 = 0.2;
/// The share of the measured rate a 429 sets.
const RATE_MARGIN: f64 = 0.95;
/// How often the rate grows without a 429.
const RATE_STEP: Duration = Duration::from_millis(250);
/// The fewest answers in a window that measure a rate.
const MIN_SAMPLE: usize = 20;
/// The window the rate is measured over.
const RATE_WINDOW: Duration = Duration::from_secs(1);

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
    /// When the last pause ends (or ended): the rate's window must not
    /// overlap it to measure anything.
    last_pause: Option<Instant>,
    /// The lowest the limit went.
    lowest: u32,
    rate: Rate,
}

/// How far the measured rate can be trusted, so how fast it grows.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum Phase {
    /// Set with less than a window of history (the first burst): the
    /// limit is not known at all, so the cap doubles every half second.
    #[default]
    Ramp,
    /// Set at the end of a ramp, whose window mixed slower steps: the
    /// cap is low, so it grows by about 4 % a second until a 429 measures
    /// the limit over a window of steady pace.
    Probe,
    /// Measured over a steady window: grows by about 0.5 % a second, so
    /// that a raised limit is found again at the cost of a 429 now and then.
    Steady,
}

impl Phase {
    /// The factor the cap grows by every [`RATE_STEP`].
    fn growth(self) -> f64 {
        match self {
            Phase::Ramp => std::f64::consts::SQRT_2,
            Phase::Probe => 1.01,
            Phase::Steady => 1.00125,
        }
    }
}

/// Requests a second, once a 429 said there is a limit.
#[derive(Debug, Default)]
struct Rate {
    /// Starts per second allowed; none until the first 429.
    cap: Option<f64>,
    /// How the cap grows while no 429 comes.
    phase: Phase,
    /// When the cap last grew (or was set).
    grown: Option<Instant>,
    /// The earliest start of the next request.
    next: Option<Instant>,
    /// Answers other than 429 within the last [`RATE_WINDOW`].
    answered: VecDeque<Instant>,
    /// The first start of all.
    first: Option<Instant>,
}

impl Rate {
    /// The moment a request may start at or after `now`, taken.
    fn slot(&mut self, now: Instant) -> Instant {
        self.grow(now);
        let slot = match (self.cap, self.next) {
            (Some(cap), Some(next)) if next > now => {
                self.next = Some(next + Duration::from_secs_f64(1.0 / cap));
                next
            }
            (Some(cap), _) => {
                self.next = Some(now + Duration::from_secs_f64(1.0 / cap));
                now
            }
            (None, _) => now,
        };
        self.first.get_or_insert(slot);
        slot
    }

    /// An answer other than 429 came at `now`.
    fn answered(&mut self, now: Instant) {
        self.answered.push_back(now);
        while self
            .answered
            .front()
            .is_some_and(|t| *t + RATE_WINDOW < now)
        {
            self.answered.pop_front();
        }
    }

    /// The cap grows with the whole steps since it last did.
    fn grow(&mut self, now: Instant) {
        let (Some(cap), Some(grown)) = (self.cap, self.grown) else {
            return;
        };
        let steps = now.saturating_duration_since(grown).as_millis() / RATE_STEP.as_millis();
        if steps == 0 {
            return;
        }
        let steps = steps.min(1_000) as u32;
        // Bounded, so that a long quiet spell cannot overflow it.
        self.cap = Some((cap * self.phase.growth().powi(steps as i32)).min(1e9));
        self.grown = Some(grown + RATE_STEP * steps);
    }

    /// A 429 at `now`: the rate is 95 % of the answers over the last
    /// window (a whole window is assumed when there is less history).
    ///
    /// Only a *clean* window measures the limit: a whole window of history,
    /// no pause ending inside it (`paused_until`, the last pause's end), and
    /// at least [`MIN_SAMPLE`] answers. Any other (the first burst, a 429
    /// just after a pause, a trickle) sets a rate that doubles every half
    /// second and never lowers one already set: otherwise 429s that are not
    /// about the rate (an upstream's hiccup, a rate limit shared with other
    /// clients) would each cut the rate to what the pauses they caused left
    /// of it, down to a request every few seconds.
    fn limited(&mut self, now: Instant, paused_until: Option<Instant>) {
        let since = now.checked_sub(RATE_WINDOW).unwrap_or(now);
        let sent = self.answered.iter().filter(|t| **t >= since).count();
        let history = self
            .first
            .map_or(Duration::ZERO, |f| now.saturating_duration_since(f));
        let estimate = (sent as f64 / RATE_WINDOW.as_secs_f64() * RATE_MARGIN).max(MIN_RATE);
        let clean = history >= RATE_WINDOW
            && paused_until.is_none_or(|p| p + RATE_WINDOW <= now)
            && sent >= MIN_SAMPLE;
        if clean {
            self.phase = match self.phase {
                // A ramp's window mixed slower steps: probe from here.
                Phase::Ramp if self.cap.is_some() => Phase::Probe,
                _ => Phase::Steady,
            };
            self.cap = Some(estimate);
        } else {
            self.phase = Phase::Ramp;
            self.cap = Some(self.cap.map_or(estimate, |cap| cap.max(estimate)));
        }
        self.grown = Some(now);
    }
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
                last_pause: None,
                lowest: max,
                rate: Rate::default(),
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

    /// The request rate (per second) rate limits set, if any did.
    pub fn rate(&self) -> Option<f64> {
        let mut s = self.lock();
        s.rate.grow(Instant::now());
        s.rate.cap
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
            enum Next {
                Go(Instant),
                Sleep(Instant),
                Wait,
            }
            let next = {
                let mut s = self.lock();
                let now = Instant::now();
                match s.paused_until {
                    Some(until) if until > now => Next::Sleep(until),
                    _ => {
                        s.paused_until = None;
                        if s.in_flight < s.limit {
                            s.in_flight += 1;
                            Next::Go(s.rate.slot(now))
                        } else {
                            Next::Wait
                        }
                    }
                }
            };
            match next {
                Next::Go(slot) => {
                    // Room is taken; the request starts at its slot. A
                    // slot that is already due must not go through the
                    // timer, which works in whole milliseconds: that would
                    // add up to a millisecond to every request.
                    let permit = Permit { pace: self.clone() };
                    if slot > Instant::now() {
                        tokio::time::sleep_until(slot).await;
                    }
                    return permit;
                }
                Next::Sleep(until) => tokio::time::sleep_until(until).await,
                Next::Wait => notified.await,
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
            let now = Instant::now();
            // The other requests of the batch that met the limit count
            // once: one decrease per pause.
            let paused = s.paused_until.is_some_and(|p| p > now);
            let wait = retry_after.filter(|w| !w.is_zero());
            if !paused {
                s.limit = (s.limit / 2).max(1);
                s.lowest = s.lowest.min(s.limit);
                // Only a 429 that asks for a wait says the tenant is over a
                // rate; one without (an upstream's passing refusal) only
                // lowers the concurrency, as its retry waits on its own.
                if wait.is_some() {
                    let last_pause = s.last_pause;
                    s.rate.limited(now, last_pause);
                }
            }
            s.streak = 0;
            if let Some(wait) = wait {
                let until = now + wait.min(MAX_PAUSE);
                s.paused_until = Some(s.paused_until.map_or(until, |p| p.max(until)));
                s.last_pause = s.paused_until;
            }
            return;
        }
        s.rate.answered(Instant::now());
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

    #[tokio::test(start_paused = true)]
    async fn a_batch_that_meets_the_limit_halves_once() {
        let pace = Pace::new(8);
        for _ in 0..4 {
            pace.answered(429, Some(Duration::from_secs(1)));
        }
        assert_eq!((pace.concurrency(), pace.rate_limited()), (4, 4));
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_sets_a_rate_that_spaces_the_requests() {
        let pace = Pace::new(4);
        assert_eq!(pace.rate(), None);
        // Twenty answers in the last second, then a 429 asking for a wait
        // (a millisecond, so that the spacing below is the rate's).
        for _ in 0..20 {
            drop(pace.acquire().await);
            pace.answered(200, None);
            tokio::time::advance(Duration::from_millis(50)).await;
        }
        pace.answered(429, Some(Duration::from_millis(1)));
        let rate = pace.rate().unwrap();
        assert!(
            (rate - 19.0).abs() < 1.0,
            "95 % of about 20 a second: {rate}"
        );
        let started = Instant::now();
        for _ in 0..19 {
            drop(pace.acquire().await);
        }
        let took = Instant::now() - started;
        assert!(
            took >= Duration::from_millis(900),
            "spaced at the rate: {took:?}"
        );
        // It grows by 0.5 % a second without 429s.
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(pace.rate().unwrap() > rate * 1.04);
        // Set with less than a second of history, it doubles every half
        // second; the next 429 ends the ramp with a faster growth (its
        // window mixed slower steps), the one after that measures it.
        let fresh = Pace::new(4);
        for _ in 0..3 {
            drop(fresh.acquire().await);
            fresh.answered(200, None);
        }
        fresh.answered(429, Some(Duration::from_millis(1)));
        let first = fresh.rate().unwrap();
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!((fresh.rate().unwrap() - first * 16.0).abs() < 1e-6);
        // A clean window of answers, then a 429: it measures.
        let answer_for_a_second = || async {
            for _ in 0..30 {
                fresh.answered(200, None);
                tokio::time::advance(Duration::from_millis(30)).await;
            }
        };
        answer_for_a_second().await;
        fresh.answered(429, Some(Duration::from_millis(1)));
        let probing = fresh.rate().unwrap();
        assert!(
            (probing - 28.5).abs() < 1.5,
            "95 % of 30 a second: {probing}"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        let grown = fresh.rate().unwrap() / probing;
        assert!((1.03..1.05).contains(&grown), "about 4 % a second: {grown}");
        answer_for_a_second().await;
        fresh.answered(429, Some(Duration::from_millis(1)));
        let steady = fresh.rate().unwrap();
        tokio::time::advance(Duration::from_secs(1)).await;
        let grown = fresh.rate().unwrap() / steady;
        assert!(
            (1.004..1.006).contains(&grown),
            "about 0.5 % a second: {grown}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_that_cannot_measure_the_rate_never_lowers_it() {
        let pace = Pace::new(8);
        // A steady second of 40 answers, then a 429 with a pause: 38/s.
        for _ in 0..40 {
            drop(pace.acquire().await);
            pace.answered(200, None);
            tokio::time::advance(Duration::from_millis(25)).await;
        }
        pace.answered(429, Some(Duration::from_secs(1)));
        let measured = pace.rate().unwrap();
        assert!((measured - 38.0).abs() < 1.0, "{measured}");
        // Just after the pause, three answers and another 429: the window
        // overlaps the pause and holds too few answers to measure anything.
        tokio::time::advance(Duration::from_secs(1)).await;
        for _ in 0..3 {
            drop(pace.acquire().await);
            pace.answered(200, None);
        }
        pace.answered(429, Some(Duration::from_secs(1)));
        let after = pace.rate().unwrap();
        assert!(after >= measured, "not lowered: {after} < {measured}");
        // And it grows back fast (doubling every half second).
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(pace.rate().unwrap() >= after * 15.0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_that_asks_for_no_wait_sets_no_rate() {
        let pace = Pace::new(8);
        for _ in 0..40 {
            pace.answered(200, None);
            tokio::time::advance(Duration::from_millis(25)).await;
        }
        pace.answered(429, None);
        pace.answered(429, Some(Duration::ZERO));
        assert_eq!(pace.rate(), None);
        assert_eq!(pace.concurrency(), 2, "the concurrency halves");
    }

    #[test]
    fn retry_after_is_whole_seconds() {
        assert_eq!(retry_after(Some(" 3 ")), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(retry_after(Some("-1")), None);
        assert_eq!(retry_after(None), None);
    }
}
