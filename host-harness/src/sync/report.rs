//! What a sync tells its caller: a [`SyncReport`] per stream, and an
//! [`Observer`] told about every walk, page and wait as it happens.

use std::time::Duration;

use crate::error::HarnessError;
use crate::notices::Notices;
use crate::retry::Wait;

/// What a stream's sync did. Records, bytes, duplicates and unkeyed
/// records are the stream's own; the other counts are its walk's, the same
/// in the report of every stream of the walk (`walk` names them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// The streams read together in this one's walk, in order (this one
    /// included).
    pub walk: Vec<String>,
    /// Pages the connector returned.
    pub pages: u64,
    /// Records written (duplicates dropped are not counted here).
    pub records: u64,
    /// Upstream requests the connector made (that the policy let through).
    pub requests: u64,
    /// New connections those requests opened; the others went on
    /// connections kept open (see `pool`).
    pub connections: u64,
    /// Wall time during which at least one request waited on the network
    /// (see [`crate::outbound::OutboundLog::upstream_wait`]): the rest of a
    /// sync's time is the host's and the guest's own.
    pub upstream_wait: Duration,
    /// Time the connector's calls spent running (guest code and the host
    /// functions it calls, as the CPU limit meters it; not waits on I/O).
    pub guest_time: Duration,
    /// Of that, the time in the guest's own wasm code, when the loader
    /// measures it ([`crate::HostConfig::measure_wasm_time`]; else zero).
    pub wasm_time: Duration,
    /// Bytes of records written.
    pub bytes: u64,
    /// The largest state the connector returned, in bytes: it must stay
    /// small however much data there is.
    pub max_state_bytes: u64,
    /// Whether it continued an interrupted sync.
    pub resumed: bool,
    /// Notices the connector attached to pages (skipped items and why),
    /// grouped and counted.
    pub notices: Notices,
    /// Fetches asked again after a transient error.
    pub retries: u64,
    /// Time spent waiting before those retries.
    pub retry_wait: Duration,
    /// Records dropped because a record with the same primary key was
    /// already written in this run.
    pub duplicates: u64,
    /// Records written without dedupe because a primary-key field was
    /// absent or null.
    pub unkeyed: u64,
    /// Items the connector skipped because they could not be read (see the
    /// module docs).
    pub skipped: u64,
    /// The first [`super::MAX_SKIPPED_NAMED`] of them: what, and the answer it got.
    pub skipped_items: Vec<String>,
    /// The stream was finished by the interrupted run this one continues,
    /// so it was not synced again.
    pub already_done: bool,
    /// Requests the connector may have in flight at once: the tenant's
    /// maximum, the concurrency at the last page, and the lowest rate
    /// limits brought it to.
    pub concurrency: u32,
    /// See `concurrency`.
    pub concurrency_now: u32,
    /// See `concurrency`.
    pub lowest_concurrency: u32,
    /// Answers with status 429 (the upstream's rate limit).
    pub rate_limited: u64,
}

impl SyncReport {
    /// Whether this is the report of its walk's first stream: the one that
    /// shows the walk's shared counts (so that they are counted once).
    pub fn leads_walk(&self, stream: &str) -> bool {
        self.walk.first().is_none_or(|s| s == stream)
    }
}

/// Told about a sync as it goes (a progress display, a log). A walk is
/// named by its streams; reports come per stream, in the same order.
pub trait Observer: Send {
    /// A walk of `streams` starts.
    fn walk_started(&mut self, _streams: &[String]) {}
    /// A page of the walk was written and checkpointed; `so_far` is each
    /// stream's report up to it.
    fn page(&mut self, _streams: &[String], _so_far: &[SyncReport]) {}
    /// A fetch failed with a transient error; the host waits
    /// `wait.delay`, then asks the same page again.
    fn waiting(&mut self, _streams: &[String], _wait: &Wait) {}
    /// The walk ended: each stream's report, or the error that ended it.
    fn walk_finished(
        &mut self,
        _streams: &[String],
        _result: Result<&[SyncReport], &HarnessError>,
    ) {
    }
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}
