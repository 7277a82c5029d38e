//! A rate limit per token (tenant): a token bucket in real (wall-clock) time, off by default.
//!
//! CircleCI publishes no rate limit. What is known: tools observe about 1,000 requests a minute per
//! token, one measurement showed `x-ratelimit-limit: 300` with `x-ratelimit-reset: 1`, and CircleCI
//! Server documents 150 requests/s with bursts of 300. A [`RateLimit`] models that shape: each tenant's
//! token has a bucket of [`RateLimit::burst`] tokens, full at the start, refilled continuously at
//! [`RateLimit::per_second`]. An API request presenting a tenant's token takes one token; one that
//! finds the bucket empty is answered, before anything else looks at it (no handler, no fault):
//!
//! ```text
//! HTTP/1.1 429 Too Many Requests
//! content-type: application/json
//! retry-after: S
//! ratelimit-limit: BURST
//! ratelimit-remaining: 0
//! ratelimit-reset: S
//! x-ratelimit-limit: BURST
//! x-ratelimit-remaining: 0
//! x-ratelimit-reset: S
//! date: <the simulated now, as on every answer>
//!
//! {"message":"Rate limit exceeded."}
//! ```
//!
//! where `S` is the time until the bucket holds a token again, in whole seconds rounded up, at least 1.
//! An admitted request's unfaulted answer carries the same six `RateLimit-*`/`X-RateLimit-*` headers
//! with the tokens left (rounded down) and the seconds until the bucket is full again (rounded up, 0
//! when full). Without a rate limit no answer carries any of them.
//!
//! This is about throughput, so it is the only part of the simulator that runs on the wall clock: which
//! request of a fast client gets a 429 depends on timing. The data served is still the seeded,
//! epoch-timed data; the `Date` header stays the simulated "now". Requests that present no token or an
//! unknown one are not limited (they are answered 401), and the simulator's own `/_sim/*` paths never
//! are. A 429 is recorded in the request log like any other answer (status 429, no fault) and counted
//! ([`RateLimiter::limited`]); its body is not counted in the API body bytes
//! ([`crate::sim::served`]).
//!
//! Controls: [`crate::sim::SimConfig::rate_limit`] from the start,
//! [`crate::sim::Simulator::set_rate_limit`] or `POST /_sim/rate-limit` at run time (a new limit starts
//! every bucket full), `circleci-sim --rate-limit N[/BURST]`; the count is
//! [`crate::sim::Simulator::rate_limited`], `GET /_sim/rate-limit` and `"rate_limited"` in
//! `/_sim/stats`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::header::{DATE, HeaderName, RETRY_AFTER};
use http::{HeaderValue, StatusCode};

use super::reply::Reply;
use super::time::{Millis, http_date};

/// The highest rate and burst accepted (a million a second is far beyond what the simulator serves).
pub const MAX_RATE: f64 = 1_000_000.0;
/// See [`MAX_RATE`].
pub const MAX_BURST: u32 = 1_000_000;

/// A token bucket per token: `burst` requests at once, `per_second` sustained.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RateLimit {
    /// Tokens added per second (the sustained rate); finite, above 0, at most [`MAX_RATE`].
    pub per_second: f64,
    /// The bucket's size (requests that may go at once after a pause); 1 to [`MAX_BURST`].
    pub burst: u32,
}

/// [`RateLimit::problem`] rejects NaN, so equality is an equivalence on every valid limit.
impl Eq for RateLimit {}

impl RateLimit {
    pub fn new(per_second: f64, burst: u32) -> RateLimit {
        RateLimit { per_second, burst }
    }

    /// `per_second` with a burst of the same size (rounded up, at least 1).
    pub fn per_second(per_second: f64) -> RateLimit {
        RateLimit::new(per_second, default_burst(per_second))
    }

    /// Parses `N` or `N/BURST` (the binary's `--rate-limit` syntax); `N` may have decimals, and the
    /// burst defaults to `N` (rounded up). `None` when it is not that or not valid.
    pub fn parse(text: &str) -> Option<RateLimit> {
        let (rate, burst) = match text.split_once('/') {
            Some((rate, burst)) => (rate, Some(burst.trim().parse::<u32>().ok()?)),
            None => (text, None),
        };
        let rate: f64 = rate.trim().parse().ok()?;
        let limit = match burst {
            Some(burst) => RateLimit::new(rate, burst),
            None => RateLimit::per_second(rate),
        };
        limit.problem().is_none().then_some(limit)
    }

    /// Why this limit cannot be served, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if !(self.per_second.is_finite() && self.per_second > 0.0 && self.per_second <= MAX_RATE) {
            return Some(format!(
                "per_second must be a number above 0 and at most {MAX_RATE}"
            ));
        }
        if !(1..=MAX_BURST).contains(&self.burst) {
            return Some(format!("burst must be 1 to {MAX_BURST}"));
        }
        None
    }
}

fn default_burst(per_second: f64) -> u32 {
    if per_second.is_finite() && per_second > 0.0 {
        per_second.ceil().min(f64::from(MAX_BURST)) as u32
    } else {
        1
    }
}

impl<'de> serde::Deserialize<'de> for RateLimit {
    /// `{"per_second": N, "burst": B}`; `burst` may be left out (it defaults to `N`, rounded up).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Wire {
            per_second: f64,
            #[serde(default)]
            burst: Option<u32>,
        }
        let wire = Wire::deserialize(deserializer)?;
        Ok(RateLimit::new(
            wire.per_second,
            wire.burst.unwrap_or_else(|| default_burst(wire.per_second)),
        ))
    }
}

/// What the limiter decided for one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Admission {
    /// No rate limit is set: the answer is exactly what it is without one.
    Unlimited,
    /// The request took a token; the answer shows what is left.
    Admitted(Quota),
    /// The bucket was empty: answer [`rate_limited`] with this quota.
    Limited(Quota),
}

/// The state of one bucket as the `RateLimit-*` headers report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// The bucket's size.
    pub limit: u32,
    /// Whole tokens left (0 on a 429).
    pub remaining: u32,
    /// Seconds, rounded up: on a 429 until a token is there (at least 1), else until the bucket is
    /// full (0 when it is).
    pub reset_secs: u64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug, Default)]
struct Limits {
    limit: Option<RateLimit>,
    /// One per tenant, by its position in the config; created full on first use.
    buckets: Vec<Option<Bucket>>,
}

/// The limit in force, one bucket per tenant, and the count of 429s answered.
#[derive(Debug, Default)]
pub struct RateLimiter {
    /// Whether a limit is set (read without the lock on every request).
    on: AtomicBool,
    /// Whether a limit was ever set: from then on `/_sim/stats` reports it.
    ever: AtomicBool,
    limits: Mutex<Limits>,
    limited: AtomicU64,
}

impl RateLimiter {
    pub fn new(limit: Option<RateLimit>) -> RateLimiter {
        let limiter = RateLimiter::default();
        limiter.set(limit);
        limiter
    }

    /// Uses `limit` from now on (`None`: no limit), every bucket full again. The caller checks
    /// [`RateLimit::problem`]. The count of 429s goes on.
    pub fn set(&self, limit: Option<RateLimit>) {
        let mut limits = self.lock();
        limits.limit = limit;
        limits.buckets.clear();
        self.on.store(limit.is_some(), Ordering::Release);
        if limit.is_some() {
            self.ever.store(true, Ordering::Release);
        }
    }

    /// Whether a limit is set (cheap: no lock).
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Acquire)
    }

    /// The limit in force.
    pub fn limit(&self) -> Option<RateLimit> {
        self.lock().limit
    }

    /// Whether a limit was set at some point (then `/_sim/stats` reports it).
    pub fn ever_set(&self) -> bool {
        self.ever.load(Ordering::Acquire)
    }

    /// How many requests were answered 429 by the limit so far.
    pub fn limited(&self) -> u64 {
        self.limited.load(Ordering::Relaxed)
    }

    /// Takes a token from tenant `tenant`'s bucket at `now`, or says how long until there is one (and
    /// counts the 429 the caller answers).
    pub fn admit(&self, tenant: usize, now: Instant) -> Admission {
        if !self.on.load(Ordering::Acquire) {
            return Admission::Unlimited;
        }
        let mut limits = self.lock();
        let Some(limit) = limits.limit else {
            return Admission::Unlimited;
        };
        if limits.buckets.len() <= tenant {
            limits.buckets.resize(tenant + 1, None);
        }
        let burst = f64::from(limit.burst);
        let bucket = limits.buckets[tenant].get_or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * limit.per_second).min(burst);
        bucket.at = bucket.at.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Admission::Admitted(Quota {
                limit: limit.burst,
                remaining: bucket.tokens.floor() as u32,
                reset_secs: whole_seconds((burst - bucket.tokens) / limit.per_second),
            })
        } else {
            self.limited.fetch_add(1, Ordering::Relaxed);
            Admission::Limited(Quota {
                limit: limit.burst,
                remaining: 0,
                reset_secs: whole_seconds((1.0 - bucket.tokens) / limit.per_second).max(1),
            })
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Limits> {
        self.limits.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `secs` rounded up to whole seconds; a hair above a whole number (float noise) does not count.
fn whole_seconds(secs: f64) -> u64 {
    let rounded = (secs - 1e-9).ceil();
    if rounded <= 0.0 {
        0
    } else {
        Duration::from_secs_f64(rounded.min(1e12)).as_secs()
    }
}

/// The six headers that show `quota`: `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` and
/// the same as `X-RateLimit-*`.
pub fn with_quota(mut reply: Reply, quota: Quota) -> Reply {
    let values = [
        ("limit", quota.limit.to_string()),
        ("remaining", quota.remaining.to_string()),
        ("reset", quota.reset_secs.to_string()),
    ];
    for prefix in ["ratelimit-", "x-ratelimit-"] {
        for (name, value) in &values {
            if let (Ok(name), Ok(value)) = (
                HeaderName::try_from(format!("{prefix}{name}")),
                HeaderValue::from_str(value),
            ) {
                reply = reply.with_header(name, value);
            }
        }
    }
    reply
}

/// The 429 of an empty bucket: `{"message":"Rate limit exceeded."}`, `Retry-After`, the quota headers
/// and the simulated `Date` (`now`).
pub fn rate_limited(quota: Quota, now: Millis) -> Reply {
    let reply = Reply::error(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded.")
        .with_header(RETRY_AFTER, HeaderValue::from(quota.reset_secs));
    let reply = with_quota(reply, quota);
    match HeaderValue::from_str(&http_date(now)) {
        Ok(date) => reply.with_header(DATE, date),
        Err(_) => reply,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_validates() {
        assert_eq!(RateLimit::parse("50"), Some(RateLimit::new(50.0, 50)));
        assert_eq!(
            RateLimit::parse("150/300"),
            Some(RateLimit::new(150.0, 300))
        );
        assert_eq!(RateLimit::parse("2.5"), Some(RateLimit::new(2.5, 3)));
        assert_eq!(RateLimit::parse("0.5/1"), Some(RateLimit::new(0.5, 1)));
        for bad in ["", "0", "-3", "x", "5/0", "5/x", "NaN", "inf", "1e9"] {
            assert_eq!(RateLimit::parse(bad), None, "{bad}");
        }
        let json: RateLimit = serde_json::from_str(r#"{"per_second": 16.7}"#).unwrap();
        assert_eq!(json, RateLimit::new(16.7, 17));
        let json: RateLimit = serde_json::from_str(r#"{"per_second": 150, "burst": 300}"#).unwrap();
        assert_eq!(json, RateLimit::new(150.0, 300));
        assert!(serde_json::from_str::<RateLimit>(r#"{"per_second": 1, "other": 2}"#).is_err());
        assert_eq!(
            serde_json::to_value(RateLimit::new(150.0, 300)).unwrap(),
            serde_json::json!({"per_second": 150.0, "burst": 300})
        );
    }

    #[test]
    fn a_bucket_drains_and_refills_in_time() {
        let limiter = RateLimiter::new(Some(RateLimit::new(2.0, 3)));
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let quota = |remaining, reset_secs| Quota {
            limit: 3,
            remaining,
            reset_secs,
        };
        assert_eq!(limiter.admit(0, at(0)), Admission::Admitted(quota(2, 1)));
        assert_eq!(limiter.admit(0, at(0)), Admission::Admitted(quota(1, 1)));
        assert_eq!(limiter.admit(0, at(0)), Admission::Admitted(quota(0, 2)));
        // Empty: half a second until the next token, announced as 1 s.
        assert_eq!(limiter.admit(0, at(0)), Admission::Limited(quota(0, 1)));
        assert_eq!(limiter.admit(0, at(400)), Admission::Limited(quota(0, 1)));
        assert_eq!(limiter.limited(), 2);
        // Another tenant has its own bucket.
        assert_eq!(limiter.admit(1, at(400)), Admission::Admitted(quota(2, 1)));
        // 0.5 s later a token is back; 10 s later the bucket is full (not fuller).
        assert_eq!(limiter.admit(0, at(500)), Admission::Admitted(quota(0, 2)));
        assert_eq!(
            limiter.admit(0, at(10_500)),
            Admission::Admitted(quota(2, 1))
        );
        // A slow rate announces longer waits.
        limiter.set(Some(RateLimit::new(0.25, 1)));
        assert_eq!(
            limiter.admit(0, at(0)),
            Admission::Admitted(Quota {
                limit: 1,
                remaining: 0,
                reset_secs: 4
            })
        );
        assert_eq!(
            limiter.admit(0, at(1000)),
            Admission::Limited(Quota {
                limit: 1,
                remaining: 0,
                reset_secs: 3
            })
        );
        assert_eq!(limiter.limited(), 3, "the count goes on across limits");
        limiter.set(None);
        assert_eq!(limiter.admit(0, at(1000)), Admission::Unlimited);
        assert!(limiter.ever_set());
        assert!(!RateLimiter::new(None).ever_set());
    }

    #[test]
    fn the_429_has_every_header() {
        let quota = Quota {
            limit: 300,
            remaining: 0,
            reset_secs: 1,
        };
        let reply = rate_limited(quota, 0);
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(&reply.body[..], br#"{"message":"Rate limit exceeded."}"#);
        let headers: Vec<(String, String)> = reply
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        let want = [
            ("retry-after", "1"),
            ("ratelimit-limit", "300"),
            ("ratelimit-remaining", "0"),
            ("ratelimit-reset", "1"),
            ("x-ratelimit-limit", "300"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1"),
            ("date", "Thu, 01 Jan 1970 00:00:00 GMT"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(headers, want);
    }
}
