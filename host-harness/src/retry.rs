//! Retrying a failed `fetch`: which errors are worth another attempt, how
//! long to wait before it, and when to give up.
//!
//! The guest never sleeps and never retries (ARCHITECTURE.md): it answers one
//! attempt with a typed error, and the host decides. A retry asks the very
//! same request again, with the same state, so it can never skip or repeat
//! a page. Waiting is `tokio::time::sleep`, so tests run it on paused time.
//!
//! What is retried, and why:
//! - `rate-limited` and `unavailable`: the contract's transient errors.
//!   The upstream's hint (`retry-after-ms`) is honoured as given, capped at
//!   [`RetryPolicy::max_hint`]; without a hint the delay is exponential
//!   backoff with jitter.
//! - `bad-response`, a few times only ([`RetryPolicy::bad_response_attempts`]):
//!   a body cut short by a dropped connection, or a proxy's error page in
//!   place of JSON, is usually gone on the next attempt; an upstream whose
//!   format really changed fails the same way every time, so a small number
//!   of attempts finds out within seconds.
//! - Nothing else. `unauthorized`, `forbidden`, `not-found`, `invalid-*` and
//!   `denied` give the same answer however often they are asked. A limit
//!   is the operator's decision, not an accident. A trap is a guest bug:
//!   the same request with the same state meets the same bug again, after
//!   having spent upstream requests, and the trapped instance is unusable
//!   anyway. A trap ends the stream's sync; its state file resumes a rerun
//!   (which gets a fresh instance: a `Tenant` replaces an unusable one
//!   before its next walk).
//!
//! The bounds are per page (per request): attempts and the total time spent
//! waiting start again after every page that succeeds. A sync that is
//! rate-limited on many pages therefore goes at the upstream's pace rather
//! than failing, while a single page that cannot be read ends the sync
//! within [`RetryPolicy::max_total_wait`] of waiting. Time spent in the
//! attempts themselves is bounded by the outbound timeouts and the CPU
//! limit, not here.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use crate::bindings::ConnectorError;
use crate::error::HarnessError;

/// Attempts of one page, the first included: with the default delays,
/// seven waits ride out roughly a minute of trouble without a hint.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;
/// Waiting allowed for one page over all its retries. A scheduled sync
/// should not sit silently on one page for longer: failing lets the
/// scheduler and its alerts see the problem, and the state file resumes.
pub const DEFAULT_MAX_TOTAL_WAIT: Duration = Duration::from_secs(300);
/// The first backoff delay (before jitter); it doubles per attempt.
pub const DEFAULT_BASE_DELAY: Duration = Duration::from_millis(500);
/// The largest backoff delay (before jitter).
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(60);
/// The longest hint honoured. CircleCI asks for seconds to a minute; a
/// longer hint (or a hostile guest's `u64::MAX`) is cut to this.
pub const DEFAULT_MAX_HINT: Duration = Duration::from_secs(300);
/// Attempts of a page that failed with `bad-response`, the first included.
pub const DEFAULT_BAD_RESPONSE_ATTEMPTS: u32 = 3;

/// How a backoff delay is randomised, so that many syncs failing together
/// do not come back together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Jitter {
    /// Exactly the exponential delay.
    None,
    /// Anywhere between zero and the exponential delay ("full jitter"):
    /// spreads retries the most, for the least total waiting.
    #[default]
    Full,
    /// Half the exponential delay plus up to another half: never retries
    /// much sooner than the schedule says.
    Equal,
}

/// When and how often a failed fetch is tried again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts of one page, the first included; 1 (or 0) never retries.
    pub max_attempts: u32,
    /// Waiting allowed for one page over all its retries. When the next
    /// wait would go past it the host gives up at once, rather than sleep
    /// and then fail anyway.
    pub max_total_wait: Duration,
    /// The first backoff delay; it doubles with every attempt.
    pub base_delay: Duration,
    /// The largest backoff delay.
    pub max_delay: Duration,
    /// The longest wait a guest's (upstream's) `retry-after-ms` can ask for.
    pub max_hint: Duration,
    /// How backoff delays are randomised. Hinted delays are not: the
    /// upstream chose the moment.
    pub jitter: Jitter,
    /// Attempts of a page that failed with `bad-response`, the first
    /// included (never more than `max_attempts`).
    pub bad_response_attempts: u32,
    /// Seeds the jitter, for reproducible delays (tests); `None` seeds it
    /// from the process's randomness.
    pub jitter_seed: Option<u64>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            max_total_wait: DEFAULT_MAX_TOTAL_WAIT,
            base_delay: DEFAULT_BASE_DELAY,
            max_delay: DEFAULT_MAX_DELAY,
            max_hint: DEFAULT_MAX_HINT,
            jitter: Jitter::Full,
            bad_response_attempts: DEFAULT_BAD_RESPONSE_ATTEMPTS,
            jitter_seed: None,
        }
    }
}

impl RetryPolicy {
    /// Never retries: every error ends the sync at once.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// How many attempts a request that failed with `error` gets in all,
    /// the first included: 1 means it is not retried.
    pub fn attempts_for(&self, error: &HarnessError) -> u32 {
        let max = self.max_attempts.max(1);
        match error {
            HarnessError::Connector(ConnectorError::RateLimited(_))
            | HarnessError::Connector(ConnectorError::Unavailable(_)) => max,
            HarnessError::Connector(ConnectorError::BadResponse(_)) => {
                self.bad_response_attempts.clamp(1, max)
            }
            _ => 1,
        }
    }

    /// Whether `error` is ever retried under this policy.
    pub fn retries(&self, error: &HarnessError) -> bool {
        self.attempts_for(error) > 1
    }
}

/// One wait before a retry, as the observer is told about it.
#[derive(Debug)]
pub struct Wait {
    /// The error that failed the last attempt.
    pub error: HarnessError,
    /// The attempt about to be made after the wait (2 for the first retry).
    pub attempt: u32,
    /// The attempts this kind of error gets in all.
    pub max_attempts: u32,
    /// How long the host waits now.
    pub delay: Duration,
    /// Whether `delay` is the upstream's hint (capped) rather than backoff.
    pub hinted: bool,
    /// What this request waited before this wait.
    pub waited: Duration,
}

/// Where one request stands: attempts made and time waited so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tries {
    /// Attempts that failed so far.
    pub failed: u32,
    /// Time waited between them.
    pub waited: Duration,
}

/// The answer to a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Wait this long, then try again.
    Retry {
        /// How long.
        delay: Duration,
        /// Whether the upstream asked for it (else backoff).
        hinted: bool,
    },
    /// Give up: the error is not retried, or the attempts are used up.
    GiveUp,
    /// Give up: waiting `delay` would go past the total wait allowed.
    OutOfTime {
        /// The wait that would have passed the total.
        delay: Duration,
    },
}

/// A [`RetryPolicy`] in use by one sync: the policy plus its jitter source,
/// which runs on across pages (so pages do not all draw the same delays).
#[derive(Clone, Debug)]
pub struct Retrier {
    policy: RetryPolicy,
    rng: SplitMix64,
}

impl Retrier {
    /// A retrier of one page under `policy`.
    pub fn new(policy: &RetryPolicy) -> Self {
        let seed = policy.jitter_seed.unwrap_or_else(entropy);
        Retrier {
            policy: policy.clone(),
            rng: SplitMix64::new(seed),
        }
    }

    /// Its policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// Decides what follows an attempt that failed with `error`, and counts
    /// it (and the wait, if there is one) in `tries`.
    pub fn next(&mut self, tries: &mut Tries, error: &HarnessError) -> Next {
        tries.failed += 1;
        if tries.failed >= self.policy.attempts_for(error) {
            return Next::GiveUp;
        }
        let (delay, hinted) = match hint_of(error) {
            Some(ms) => (Duration::from_millis(ms).min(self.policy.max_hint), true),
            None => (self.backoff(tries.failed), false),
        };
        let total = tries.waited.saturating_add(delay);
        if total > self.policy.max_total_wait {
            return Next::OutOfTime { delay };
        }
        tries.waited = total;
        Next::Retry { delay, hinted }
    }

    /// The jittered backoff delay after the `failed`-th failed attempt:
    /// `base × 2^(failed-1)`, capped at `max_delay`, then jittered.
    pub fn backoff(&mut self, failed: u32) -> Duration {
        let doubling = 1u32 << failed.saturating_sub(1).min(31);
        let ceiling = self
            .policy
            .base_delay
            .saturating_mul(doubling)
            .min(self.policy.max_delay);
        // Whole milliseconds: the timer's resolution, and what is reported.
        let ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(match self.policy.jitter {
            Jitter::None => ms,
            Jitter::Full => self.rng.up_to(ms),
            Jitter::Equal => ms / 2 + self.rng.up_to(ms - ms / 2),
        })
    }

    /// What follows an attempt that failed with `error`: the wait before
    /// the next attempt, or the error to return (`error` itself after a
    /// single attempt, else saying how many attempts and how much waiting
    /// it took). Counts the attempt (and the wait) in `tries`.
    pub fn failed(&mut self, tries: &mut Tries, error: HarnessError) -> Result<Wait, HarnessError> {
        let waited = tries.waited;
        match self.next(tries, &error) {
            Next::Retry { delay, hinted } => Ok(Wait {
                attempt: tries.failed + 1,
                max_attempts: self.policy.attempts_for(&error),
                error,
                delay,
                hinted,
                waited,
            }),
            next => Err(gave_up(error, tries, next, self.policy.max_total_wait)),
        }
    }

    /// Runs `attempt` until it succeeds or the policy gives up, sleeping
    /// between attempts and telling `on_wait` about each wait first (the
    /// sync loop does the same with [`Retrier::failed`] around its fetch).
    pub async fn run<T, F, Fut>(
        &mut self,
        mut attempt: F,
        mut on_wait: impl FnMut(&Wait),
    ) -> Result<T, HarnessError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, HarnessError>>,
    {
        let mut tries = Tries::default();
        loop {
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(error) => {
                    let wait = self.failed(&mut tries, error)?;
                    on_wait(&wait);
                    tokio::time::sleep(wait.delay).await;
                }
            }
        }
    }
}

/// The retry hint of a rate-limited or unavailable error.
fn hint_of(error: &HarnessError) -> Option<u64> {
    match error {
        HarnessError::Connector(
            ConnectorError::RateLimited(hint) | ConnectorError::Unavailable(hint),
        ) => hint.retry_after_ms,
        _ => None,
    }
}

/// The final error, saying how hard the host tried when it tried more than
/// once (an operator reading "unavailable" wants to know it was no blip).
fn gave_up(error: HarnessError, tries: &Tries, next: Next, allowed: Duration) -> HarnessError {
    let why = match next {
        Next::OutOfTime { delay } => format!(
            "gave up after {} attempt(s) and {} of waiting: waiting {} more would pass the {} allowed",
            tries.failed,
            secs(tries.waited),
            secs(delay),
            secs(allowed),
        ),
        _ if tries.failed > 1 => format!(
            "gave up after {} attempts and {} of waiting",
            tries.failed,
            secs(tries.waited)
        ),
        _ => return error,
    };
    error.map_messages(|m| format!("{why}: {m}"))
}

/// A duration as an operator reads it: "4.2 s".
pub fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// A small, fast, seedable generator (SplitMix64): jitter needs spread, not
/// secrecy, and a seed makes tests reproducible.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..=max` (multiply-shift; its bias is far below what
    /// jitter could notice).
    pub fn up_to(&mut self, max: u64) -> u64 {
        let span = u128::from(max) + 1;
        ((u128::from(self.next_u64()) * span) >> 64) as u64
    }
}

/// A seed that differs between syncs: std's per-process random hash keys
/// (they change with every `RandomState`), mixed with the clock.
fn entropy() -> u64 {
    let mut hasher = std::hash::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    hasher.write_u128(now.as_nanos());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::RetryHint;
    use crate::limits::LimitKind;
    use tokio::time::Instant;

    fn rate_limited(ms: Option<u64>) -> HarnessError {
        HarnessError::Connector(ConnectorError::RateLimited(RetryHint {
            retry_after_ms: ms,
            message: "slow down".into(),
        }))
    }

    fn unavailable() -> HarnessError {
        HarnessError::Connector(ConnectorError::Unavailable(RetryHint {
            retry_after_ms: None,
            message: "upstream 503".into(),
        }))
    }

    fn seeded(policy: RetryPolicy) -> Retrier {
        Retrier::new(&RetryPolicy {
            jitter_seed: Some(42),
            ..policy
        })
    }

    /// Runs a request whose attempts fail with `errors` (then succeed),
    /// returning its outcome, the attempts made, the waits announced and
    /// the time that passed on the (paused) clock.
    async fn drive(
        retrier: &mut Retrier,
        mut errors: Vec<HarnessError>,
    ) -> (Result<u32, HarnessError>, u32, Vec<Duration>, Duration) {
        errors.reverse();
        let attempts = std::cell::Cell::new(0);
        let mut waits = Vec::new();
        let start = Instant::now();
        let result = retrier
            .run(
                || {
                    attempts.set(attempts.get() + 1);
                    let outcome = match errors.pop() {
                        Some(error) => Err(error),
                        None => Ok(attempts.get()),
                    };
                    async move { outcome }
                },
                |wait| {
                    assert_eq!(wait.attempt as usize, waits.len() + 2);
                    assert_eq!(wait.waited, waits.iter().sum());
                    waits.push(wait.delay);
                },
            )
            .await;
        (result, attempts.get(), waits, start.elapsed())
    }

    #[test]
    fn only_transient_errors_are_retried() {
        let policy = RetryPolicy::default();
        let c = |e: ConnectorError| HarnessError::Connector(e);
        assert_eq!(policy.attempts_for(&rate_limited(None)), 8);
        assert_eq!(policy.attempts_for(&unavailable()), 8);
        assert_eq!(
            policy.attempts_for(&c(ConnectorError::BadResponse("cut".into()))),
            3
        );
        for never in [
            c(ConnectorError::InvalidCredential(String::new())),
            c(ConnectorError::Unauthorized(String::new())),
            c(ConnectorError::Forbidden(String::new())),
            c(ConnectorError::NotFound(String::new())),
            c(ConnectorError::Denied(String::new())),
            c(ConnectorError::InvalidSettings(String::new())),
            c(ConnectorError::InvalidState(String::new())),
            HarnessError::Trap("the connector trapped: unreachable".into()),
            HarnessError::Limit {
                limit: LimitKind::CpuTime,
                value: "30 s".into(),
                detail: String::new(),
            },
            HarnessError::Io("disk full".into()),
        ] {
            assert!(!policy.retries(&never), "{never}");
        }
        // Fewer attempts in all cap bad-response too; none retries nothing.
        let two = RetryPolicy {
            max_attempts: 2,
            ..RetryPolicy::default()
        };
        assert_eq!(
            two.attempts_for(&c(ConnectorError::BadResponse(String::new()))),
            2
        );
        assert!(!RetryPolicy::none().retries(&rate_limited(None)));
        let zero = RetryPolicy {
            max_attempts: 0,
            ..RetryPolicy::default()
        };
        assert_eq!(zero.attempts_for(&unavailable()), 1);
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let mut retrier = seeded(RetryPolicy {
            jitter: Jitter::None,
            ..RetryPolicy::default()
        });
        let delays: Vec<u64> = (1..=10)
            .map(|n| retrier.backoff(n).as_millis() as u64)
            .collect();
        assert_eq!(
            delays,
            [
                500, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000
            ]
        );
        // Absurd attempt numbers do not overflow.
        assert_eq!(retrier.backoff(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn jitter_stays_within_its_bounds_and_spreads() {
        for (jitter, low) in [(Jitter::Full, 0.0), (Jitter::Equal, 0.5)] {
            let mut retrier = seeded(RetryPolicy {
                jitter,
                ..RetryPolicy::default()
            });
            for failed in 1..=9 {
                let ceiling = (500u64 << (failed - 1)).min(60_000) as f64 / 1000.0;
                let samples: Vec<f64> = (0..500)
                    .map(|_| retrier.backoff(failed).as_secs_f64())
                    .collect();
                let (min, max) = samples
                    .iter()
                    .fold((f64::MAX, 0.0f64), |(lo, hi), &d| (lo.min(d), hi.max(d)));
                assert!(
                    min >= ceiling * low && max <= ceiling,
                    "{jitter:?} {failed}"
                );
                // Spread over most of the range, not clumped.
                assert!(
                    max - min > (ceiling - ceiling * low) * 0.8,
                    "{jitter:?} {failed}: {min}..{max}"
                );
                let mean = samples.iter().sum::<f64>() / samples.len() as f64;
                let mid = (ceiling + ceiling * low) / 2.0;
                assert!((mean - mid).abs() < ceiling * 0.1, "{jitter:?} mean {mean}");
            }
        }
    }

    #[test]
    fn a_seed_makes_the_delays_reproducible() {
        let draw = |seed| {
            let mut retrier = Retrier::new(&RetryPolicy {
                jitter_seed: Some(seed),
                ..RetryPolicy::default()
            });
            (1..8).map(|n| retrier.backoff(n)).collect::<Vec<_>>()
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
        // Unseeded retriers differ from each other.
        let unseeded = || {
            let mut retrier = Retrier::new(&RetryPolicy::default());
            (1..8).map(|n| retrier.backoff(n)).collect::<Vec<_>>()
        };
        assert_ne!(unseeded(), unseeded());
    }

    #[tokio::test(start_paused = true)]
    async fn the_hint_is_honoured_exactly_and_capped() {
        let mut retrier = seeded(RetryPolicy {
            max_total_wait: Duration::from_secs(3600),
            ..RetryPolicy::default()
        });
        let (result, attempts, waits, elapsed) = drive(
            &mut retrier,
            vec![
                rate_limited(Some(4200)),
                rate_limited(Some(0)),
                rate_limited(Some(u64::MAX)),
            ],
        )
        .await;
        assert_eq!(result.unwrap(), 4);
        assert_eq!(attempts, 4);
        assert_eq!(
            waits,
            [
                Duration::from_millis(4200),
                Duration::ZERO,
                DEFAULT_MAX_HINT
            ]
        );
        assert_eq!(elapsed, waits.iter().sum::<Duration>());

        // The observer is told that the delay is the hint.
        let mut tries = Tries::default();
        assert_eq!(
            retrier.next(&mut tries, &rate_limited(Some(10))),
            Next::Retry {
                delay: Duration::from_millis(10),
                hinted: true
            }
        );
        assert!(matches!(
            retrier.next(&mut tries, &unavailable()),
            Next::Retry { hinted: false, .. }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_are_bounded() {
        let policy = RetryPolicy {
            jitter: Jitter::None,
            ..RetryPolicy::default()
        };
        let mut retrier = seeded(policy);
        let (result, attempts, waits, elapsed) =
            drive(&mut retrier, (0..20).map(|_| unavailable()).collect()).await;
        assert_eq!(attempts, 8);
        assert_eq!(waits.len(), 7);
        assert_eq!(elapsed, Duration::from_millis(500 * 127));
        let err = result.unwrap_err();
        assert_eq!(err.kind(), "unavailable", "the last error, same kind");
        assert_eq!(err.kind(), "unavailable");
        assert_eq!(
            err.to_string(),
            "unavailable: gave up after 8 attempts and 63.5 s of waiting: upstream 503"
        );

        // The next request starts with a fresh count.
        let (result, attempts, _, _) =
            drive(&mut retrier, (0..7).map(|_| unavailable()).collect()).await;
        assert_eq!((result.unwrap(), attempts), (8, 8));
    }

    #[tokio::test(start_paused = true)]
    async fn total_waiting_is_bounded_without_a_doomed_sleep() {
        let mut retrier = seeded(RetryPolicy {
            max_total_wait: Duration::from_secs(150),
            ..RetryPolicy::default()
        });
        let (result, attempts, waits, elapsed) = drive(
            &mut retrier,
            (0..20).map(|_| rate_limited(Some(60_000))).collect(),
        )
        .await;
        // 60 s + 60 s waited; a third wait would reach 180 s: give up now.
        assert_eq!(attempts, 3);
        assert_eq!(waits, [Duration::from_secs(60); 2]);
        assert_eq!(elapsed, Duration::from_secs(120));
        let text = result.unwrap_err().to_string();
        assert!(
            text.starts_with("rate-limited: gave up after 3 attempt(s) and 120.0 s of waiting")
                && text.contains("waiting 60.0 s more would pass the 150.0 s allowed")
                && text.ends_with("slow down (retry after 60000 ms)"),
            "{text}"
        );

        // A hint longer than the whole allowance: no wait at all.
        let mut retrier = seeded(RetryPolicy {
            max_hint: Duration::from_secs(3600),
            ..RetryPolicy::default()
        });
        let (result, attempts, waits, elapsed) =
            drive(&mut retrier, vec![rate_limited(Some(3_600_000))]).await;
        assert_eq!((attempts, waits.len(), elapsed), (1, 0, Duration::ZERO));
        assert!(
            result
                .unwrap_err()
                .to_string()
                .contains("gave up after 1 attempt(s)")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn other_errors_come_back_at_once_and_unchanged() {
        let mut retrier = seeded(RetryPolicy::default());
        let unauthorized = HarnessError::Connector(ConnectorError::Unauthorized("401".into()));
        let (result, attempts, waits, elapsed) = drive(&mut retrier, vec![unauthorized]).await;
        assert_eq!((attempts, waits.len(), elapsed), (1, 0, Duration::ZERO));
        assert_eq!(result.unwrap_err().to_string(), "unauthorized: 401");

        let trap = HarnessError::Trap("the connector trapped: unreachable".into());
        let (result, attempts, _, _) = drive(&mut retrier, vec![trap]).await;
        assert_eq!(attempts, 1);
        assert_eq!(result.unwrap_err().kind(), "trap");
    }

    #[tokio::test(start_paused = true)]
    async fn bad_response_is_retried_a_few_times() {
        let mut retrier = seeded(RetryPolicy::default());
        let bad = || HarnessError::Connector(ConnectorError::BadResponse("truncated".into()));
        let (result, attempts, waits, elapsed) = drive(&mut retrier, vec![bad(), bad()]).await;
        assert_eq!((result.unwrap(), attempts), (3, 3));
        assert!(waits[0] <= Duration::from_millis(500) && waits[1] <= Duration::from_secs(1));
        assert_eq!(elapsed, waits.iter().sum::<Duration>());

        let (result, attempts, _, _) = drive(&mut retrier, (0..5).map(|_| bad()).collect()).await;
        assert_eq!(attempts, 3);
        assert!(
            result
                .unwrap_err()
                .to_string()
                .starts_with("bad-response: gave up after 3 attempts")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn no_retry_means_one_attempt() {
        let mut retrier = seeded(RetryPolicy::none());
        let (result, attempts, waits, _) = drive(&mut retrier, vec![rate_limited(Some(1))]).await;
        assert_eq!((attempts, waits.len()), (1, 0));
        assert_eq!(
            result.unwrap_err().to_string(),
            "rate-limited: slow down (retry after 1 ms)"
        );
    }
}
