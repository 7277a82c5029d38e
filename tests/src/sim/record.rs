//! The request log: every request the simulator served, in order, so tests can assert on exactly what a
//! connector sent (paths as received, headers, how many pages it read).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// One served request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// The path exactly as received: percent-encoding preserved, query excluded.
    pub path: String,
    /// The raw query string (without `?`), if any.
    pub query: Option<String>,
    /// Header names lowercased, in the order received (repeated headers appear repeatedly).
    pub headers: Vec<(String, String)>,
    /// The status the simulator answered with; 0 when it sent no response (a `reset` fault).
    pub status: u16,
    /// The fault injected into this request's answer, by name ([`crate::sim::faults`]), if any.
    pub fault: Option<String>,
}

impl RecordedRequest {
    /// The first value of a header; `name` is matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Append-only, shared between connection tasks.
#[derive(Debug, Default)]
pub struct RequestLog {
    entries: Mutex<Vec<RecordedRequest>>,
    /// Requests recorded since the start or the last clear, readable without taking the lock.
    count: AtomicU64,
}

/// A summary of the log, computed without copying it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogStats {
    pub requests: usize,
    pub with_circle_token: usize,
    /// Status code → how many responses had it.
    pub statuses: BTreeMap<u16, u64>,
}

impl RequestLog {
    pub fn push(&self, request: RecordedRequest) {
        let mut entries = self.lock();
        entries.push(request);
        self.count.store(entries.len() as u64, Ordering::Release);
    }

    pub fn snapshot(&self) -> Vec<RecordedRequest> {
        self.lock().clone()
    }

    pub fn clear(&self) {
        let mut entries = self.lock();
        entries.clear();
        self.count.store(0, Ordering::Release);
    }

    /// How many requests are recorded; cheap, for tests that make very many.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }

    pub fn stats(&self) -> LogStats {
        let entries = self.lock();
        let mut statuses = BTreeMap::new();
        for r in entries.iter() {
            *statuses.entry(r.status).or_default() += 1;
        }
        LogStats {
            requests: entries.len(),
            with_circle_token: entries
                .iter()
                .filter(|r| r.header("circle-token").is_some())
                .count(),
            statuses,
        }
    }

    /// A panic elsewhere while holding the lock cannot leave a `Vec` half-pushed, so the log stays usable.
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RecordedRequest>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
