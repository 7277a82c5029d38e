//! What one instance's requests did ([`OutboundLog`]): counts, denials,
//! and the wall time during which at least one request waited on the
//! network.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::policy::Denial;

/// How many distinct refusals an [`OutboundLog`] names; beyond them it only
/// counts.
pub(super) const MAX_DENIALS_KEPT: usize = 16;

/// What one instance's requests did, for reports and tests.
#[derive(Debug, Default, Clone)]
pub struct OutboundLog {
    /// Requests that passed the policy (their name and every address it
    /// resolved to, or went on a connection kept from an earlier request to
    /// the same destination) and went on to the network, whatever came of
    /// it; a name that does not resolve counts here too.
    pub sent: u64,
    /// Requests refused, by the policy (name or address) or a limit.
    pub denied: u64,
    /// Why the most recent request was refused.
    pub last_denial: Option<Denial>,
    /// The first 16 distinct refusals by the policy, in order: what a
    /// report names when a connector tried destinations it may not reach
    /// (`denied` counts them all).
    pub denials: Vec<Denial>,
    /// New TCP connections made.
    pub connections_opened: u64,
    /// Requests that went on a connection kept open from an earlier one.
    pub reused: u64,
    /// Responses with a 2xx status: the upstream answering at all (the
    /// sync loop tells an upstream that is down from items that fail).
    pub answered_ok: u64,
    /// Responses with status 429: the upstream's rate limit (see
    /// [`crate::pace`]).
    pub rate_limited: u64,
    /// Wall time during which at least one of the instance's requests
    /// waited on the network: from when a request leaves for the network
    /// (resolving and connecting included, for a new connection) until its
    /// response head arrives, and, while its body is read, from each read
    /// that found nothing until data (or the end) arrives. Concurrent waits
    /// count once. A wait still in progress counts from
    /// [`OutboundLog::snapshot`] on.
    pub upstream_wait: Duration,
    /// Requests waiting on the network now.
    pub(super) waiting: u32,
    /// Since when at least one has been.
    pub(super) waiting_since: Option<std::time::Instant>,
}

impl OutboundLog {
    /// A copy with the wait in progress, if any, counted up to now.
    pub fn snapshot(&self) -> OutboundLog {
        let mut copy = self.clone();
        if let Some(since) = copy.waiting_since {
            copy.upstream_wait += since.elapsed();
        }
        copy
    }

    pub(super) fn wait_began(&mut self, now: std::time::Instant) {
        if self.waiting == 0 {
            self.waiting_since = Some(now);
        }
        self.waiting += 1;
    }

    pub(super) fn wait_ended(&mut self, now: std::time::Instant) {
        self.waiting = self.waiting.saturating_sub(1);
        if self.waiting == 0
            && let Some(since) = self.waiting_since.take()
        {
            self.upstream_wait += now.saturating_duration_since(since);
        }
    }
}

pub(super) fn lock(log: &Mutex<OutboundLog>) -> MutexGuard<'_, OutboundLog> {
    log.lock().unwrap_or_else(|p| p.into_inner())
}

/// One request's wait on the network, counted in its log's `upstream_wait`
/// while it lasts (and ended when dropped).
pub(super) struct Waiting {
    pub(super) log: Arc<Mutex<OutboundLog>>,
    pub(super) on: bool,
}

impl Waiting {
    /// A wait that starts now.
    pub(super) fn new(log: &Arc<Mutex<OutboundLog>>) -> Self {
        let mut waiting = Waiting {
            log: log.clone(),
            on: false,
        };
        waiting.start();
        waiting
    }

    pub(super) fn start(&mut self) {
        if !self.on {
            self.on = true;
            lock(&self.log).wait_began(std::time::Instant::now());
        }
    }

    pub(super) fn stop(&mut self) {
        if self.on {
            self.on = false;
            lock(&self.log).wait_ended(std::time::Instant::now());
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.stop();
    }
}
