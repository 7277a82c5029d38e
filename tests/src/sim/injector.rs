//! Runs a [`FaultPlan`]: decides for each API request whether it fails and how, remembers how often
//! each request was attempted, and counts what was injected.
//!
//! The decision for attempt `n` of a request is a pure function of `(plan seed, request identity, n)`
//! (see [`crate::sim::faults`]), so only the attempt counters are state; they live behind one lock,
//! taken only while a plan is active: without one, [`Injector::decide`] is a single atomic load.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::codec::parse_query;
use super::faults::{FaultKind, FaultPlan, Rate, endpoint_of};
use super::handlers::Request as Probe;
use super::rng::mix64;

/// Keeps decisions of different plans' seeds apart from the page-token key and the data streams.
const SALT: u64 = 0x6661_756c_7473_2121;

/// A request's attempts so far under the current plan.
#[derive(Debug, Default, Clone, Copy)]
struct Memory {
    attempts: u32,
    /// Failures in a row, up to the latest attempt.
    streak: u32,
}

#[derive(Debug)]
struct Inner {
    plan: Arc<FaultPlan>,
    /// Request identity hash → attempts. Grows with the distinct requests made under a plan (a few
    /// bytes each), and is dropped when the plan is replaced.
    memory: HashMap<u64, Memory>,
    /// Fault name → how many were injected since the plan was set.
    injected: BTreeMap<String, u64>,
}

#[derive(Debug)]
pub struct Injector {
    /// Whether the plan can inject anything: the lock-free fast path of every request.
    active: AtomicBool,
    /// Whether project pipeline listings page by offset from the head (see `head-insert`).
    offset_cursors: AtomicBool,
    inner: Mutex<Inner>,
}

impl Injector {
    /// An injector running `plan`, which must be valid ([`FaultPlan::problem`]).
    pub fn new(plan: FaultPlan) -> Injector {
        let injector = Injector {
            active: AtomicBool::new(false),
            offset_cursors: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                plan: Arc::new(FaultPlan::none()),
                memory: HashMap::new(),
                injected: BTreeMap::new(),
            }),
        };
        injector.set(plan);
        injector
    }

    /// Runs `plan` from now on, forgetting every attempt and count of the previous one.
    pub fn set(&self, plan: FaultPlan) {
        let mut inner = self.lock();
        self.active.store(plan.is_active(), Ordering::Release);
        self.offset_cursors
            .store(plan.offset_cursors(), Ordering::Release);
        inner.plan = Arc::new(plan);
        inner.memory.clear();
        inner.injected.clear();
    }

    pub fn plan(&self) -> Arc<FaultPlan> {
        Arc::clone(&self.lock().plan)
    }

    pub fn offset_cursors(&self) -> bool {
        self.offset_cursors.load(Ordering::Acquire)
    }

    /// The fault for this attempt of `probe`, if any, with the plan that chose it (for its timings).
    /// Counts the attempt; does not count the fault (the server does, with [`Injector::record`], once
    /// it applied it). Paths outside `/api/v2` never fault.
    pub fn decide(&self, probe: Probe<'_>) -> Option<(FaultKind, Arc<FaultPlan>)> {
        if !self.active.load(Ordering::Acquire) {
            return None;
        }
        let endpoint = endpoint_of(probe.path)?;
        let has_page_token = parse_query(probe.query)
            .iter()
            .any(|(name, value)| name == "page-token" && !value.is_empty());
        let identity = identity(probe);

        let mut inner = self.lock();
        let plan = Arc::clone(&inner.plan);
        let memory = inner.memory.entry(identity).or_default();
        let attempt = memory.attempts;
        memory.attempts = memory.attempts.saturating_add(1);
        if memory.streak >= plan.max_consecutive {
            // The promise that a retried request gets through, whatever the rates.
            memory.streak = 0;
            return None;
        }
        let draw = mix64(mix64(plan.seed ^ SALT) ^ identity ^ mix64(u64::from(attempt) + 1))
            % u64::from(Rate::ONE);
        let mut bound = 0u64;
        let chosen = plan
            .rules
            .iter()
            .filter(|rule| rule.applies(endpoint, has_page_token))
            .find(|rule| {
                bound += u64::from(rule.rate.millionths());
                draw < bound
            })
            .map(|rule| rule.kind);
        match chosen {
            Some(kind) if kind.is_failure() => memory.streak += 1,
            _ => memory.streak = 0,
        }
        chosen.map(|kind| (kind, plan))
    }

    /// Counts one injected fault.
    pub fn record(&self, kind: FaultKind) {
        *self.lock().injected.entry(kind.to_string()).or_default() += 1;
    }

    /// Fault name → how many were injected since the plan was set.
    pub fn injected(&self) -> BTreeMap<String, u64> {
        self.lock().injected.clone()
    }

    /// A panic elsewhere cannot leave the maps half-updated in a way that matters.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A request's identity: method, raw path, raw query and credentials, hashed.
fn identity(probe: Probe<'_>) -> u64 {
    let mut h = mix64(SALT);
    let mut part = |bytes: &[u8]| {
        for chunk in bytes.chunks(8) {
            let word = chunk.iter().fold(0u64, |w, &b| w << 8 | u64::from(b));
            h = mix64(h ^ word ^ (chunk.len() as u64) << 56);
        }
        // The length ends each part, so ("ab", "c") and ("a", "bc") differ.
        h = mix64(h ^ bytes.len() as u64);
    };
    part(probe.method.as_str().as_bytes());
    part(probe.path.as_bytes());
    part(probe.query.unwrap_or("").as_bytes());
    for name in ["circle-token", "authorization"] {
        for value in probe.headers.get_all(name) {
            part(value.as_bytes());
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::faults::FaultRule;
    use http::{HeaderMap, Method};

    fn probe<'a>(path: &'a str, query: Option<&'a str>, headers: &'a HeaderMap) -> Probe<'a> {
        Probe {
            method: &Method::GET,
            path,
            query,
            headers,
        }
    }

    #[test]
    fn at_rate_one_a_request_fails_max_consecutive_times_then_succeeds() {
        let plan = FaultPlan {
            max_consecutive: 2,
            ..FaultPlan::seeded(1).with(FaultRule::new(FaultKind::Reset, 1.0))
        };
        let injector = Injector::new(plan);
        let headers = HeaderMap::new();
        let outcomes: Vec<bool> = (0..6)
            .map(|_| {
                injector
                    .decide(probe("/api/v2/me", None, &headers))
                    .is_some()
            })
            .collect();
        assert_eq!(outcomes, [true, true, false, true, true, false]);
        // Outside the API nothing faults, and nothing is remembered.
        assert!(
            injector
                .decide(probe("/_sim/stats", None, &headers))
                .is_none()
        );
    }

    #[test]
    fn decisions_depend_on_seed_request_and_attempt_only() {
        let plan = |seed| {
            FaultPlan::seeded(seed)
                .with(FaultRule::new(FaultKind::CutJson, 0.3))
                .with(FaultRule::new(FaultKind::StalePageToken, 0.3))
        };
        let headers = HeaderMap::new();
        let run = |injector: &Injector, order: &[usize]| {
            let paths = [
                "/api/v2/me",
                "/api/v2/pipeline/x/workflow",
                "/api/v2/workflow/y",
            ];
            let mut seen: Vec<Vec<Option<FaultKind>>> = vec![Vec::new(); paths.len()];
            for &i in order {
                let kind = injector
                    .decide(probe(paths[i], Some("page-token=abc"), &headers))
                    .map(|(k, _)| k);
                seen[i].push(kind);
            }
            seen
        };
        let order: Vec<usize> = (0..60).map(|i| i % 3).collect();
        let mut shuffled = order.clone();
        shuffled.sort_unstable();
        let a = run(&Injector::new(plan(5)), &order);
        // Same seed, other interleaving: every request sees the same sequence.
        assert_eq!(a, run(&Injector::new(plan(5)), &shuffled));
        assert_ne!(a, run(&Injector::new(plan(6)), &order));
        let faults = a.iter().flatten().filter(|k| k.is_some()).count();
        assert!((20..=50).contains(&faults), "{faults} of 60 at 0.6");
    }

    #[test]
    fn page_token_faults_need_a_page_token() {
        let injector = Injector::new(
            FaultPlan::seeded(3).with(FaultRule::new(FaultKind::StalePageToken, 1.0)),
        );
        let headers = HeaderMap::new();
        for query in [None, Some("page-token="), Some("branch=main")] {
            assert!(
                injector
                    .decide(probe("/api/v2/pipeline/x/workflow", query, &headers))
                    .is_none()
            );
        }
        assert!(
            injector
                .decide(probe(
                    "/api/v2/pipeline/x/workflow",
                    Some("page-token=t"),
                    &headers
                ))
                .is_some()
        );
    }
}
