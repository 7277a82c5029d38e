//! The request log: every request the simulator served, in order, so tests can assert on exactly what a
//! connector sent (paths as received, headers, how many pages it read).

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
    /// The status the simulator answered with.
    pub status: u16,
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
}

impl RequestLog {
    pub fn push(&self, request: RecordedRequest) {
        self.lock().push(request);
    }

    pub fn snapshot(&self) -> Vec<RecordedRequest> {
        self.lock().clone()
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    /// A panic elsewhere while holding the lock cannot leave a `Vec` half-pushed, so the log stays usable.
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RecordedRequest>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
