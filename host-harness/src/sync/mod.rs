//! The fetch loop: call the guest page by page, write its records, and
//! checkpoint its state after every page.
//!
//! # Walks
//!
//! Streams with the same root (follow `parent` to a stream without one) are
//! read together, in one *walk* ([`run_walk`]): the connector reads each
//! upstream listing once and tags every record with its stream. Each stream
//! keeps its own output, its own dedupe, and its own cursor (what its last
//! finished sync ended with, passed with every call of the next); the walk
//! has one state while it runs. A page's records are written to every
//! stream's output first, then the checkpoint of every stream and of the
//! walk is saved in one write. [`crate::Tenant::sync_streams`] plans the
//! walks of a run ([`walks`]); [`SyncOptions::shared_walks`] off reads every
//! stream alone, as connectors of the contract's first version did.
//!
//! # Requests in flight
//!
//! Each call tells the connector how many requests it may keep in flight
//! at once: the tenant's [`crate::pace::Pace`], which starts at
//! [`crate::TenantSpec::concurrency`] (bounded by the instance's connection
//! limit) and halves on a rate limit, growing back as answers come. The host
//! enforces it on the requests too.
//!
//! Order matters for what a crash can cost: a page's records are written and
//! flushed to disk before the state that follows them is saved. A crash
//! between the two replays that one page on the next run (at-least-once per
//! page; records carry a primary key to dedupe on), and a crash anywhere
//! else loses and repeats nothing.
//!
//! A fetch that fails with a transient error is asked again, the same
//! request with the same state, as [`crate::retry`] decides; so a retry can
//! neither skip nor repeat a page. Within one run, a record whose primary
//! key was already written is dropped (`dedupe`); that memory does
//! not survive a restart.
//!
//! # Items that keep failing
//!
//! When the retries of an `unavailable` or `bad-response` answer are spent,
//! the host does not end the sync at once: it asks the guest once more with
//! the same state and `skip-failing` set to its account of the failure. The
//! guest knows what an item is: it skips the one whose request keeps
//! failing (a pipeline that answers 500 every time, say), names it in the
//! page's `skipped` list, and goes on; what is not one item's (something
//! the whole stream needs) it answers with an error, and the sync ends with
//! the original failure. The host knows when retries are spent, and when an
//! upstream is down rather than an item broken: after
//! [`SyncOptions::max_skips_in_a_row`] skips with no successful answer in
//! between, it stops (the next run resumes at the same place).

mod plan;
mod record;
mod report;
mod sink;

use std::time::Duration;

use crate::bindings::{ConnectorError, FetchRequest, StreamSpec};
use crate::checkpoint::{Checkpoint, Checkpointer};
use crate::connector::ConnectorInstance;
use crate::credential::Credential;
use crate::dedupe::{self, RecordKey, SeenKeys};
use crate::error::HarnessError;
use crate::retry::{Retrier, RetryPolicy, Tries};

pub use crate::notices::{NoticeKind, Notices};
pub use plan::{plan, primary_key_of, walks};
use record::normalize_record;
pub use report::{Observer, Quiet, SyncReport};
pub use sink::{FileSink, MemorySink, RecordSink, Resumed, WriterSink};

/// Bounds on one sync.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// Stop with an error after this many pages: a guest that never says
    /// it is done must not loop forever.
    pub max_pages: u64,
    /// How a fetch that failed with a transient error is retried.
    pub retry: RetryPolicy,
    /// How many primary keys a sync remembers to drop duplicate records
    /// (see `dedupe`); 0 turns dedupe off.
    pub dedupe_capacity: usize,
    /// Ask the guest to skip an item whose request still fails once the
    /// retries are spent, rather than end the sync (see the module docs).
    /// Default: yes.
    pub skip_failing: bool,
    /// Stop after this many skips in a row with no successful answer from
    /// the upstream in between: it looks down, not broken item by item.
    /// Default [`DEFAULT_MAX_SKIPS_IN_A_ROW`].
    pub max_skips_in_a_row: u32,
    /// Read the streams of a run that share a root in one walk (see the
    /// module docs). Default: yes.
    pub shared_walks: bool,
}

/// Default for [`SyncOptions::max_skips_in_a_row`].
pub const DEFAULT_MAX_SKIPS_IN_A_ROW: u32 = 10;

/// Skipped items a [`SyncReport`] names; beyond this they are only counted.
pub const MAX_SKIPPED_NAMED: usize = 100;

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            max_pages: 1_000_000,
            retry: RetryPolicy::default(),
            dedupe_capacity: dedupe::DEFAULT_CAPACITY,
            skip_failing: true,
            max_skips_in_a_row: DEFAULT_MAX_SKIPS_IN_A_ROW,
            shared_walks: true,
        }
    }
}

/// Syncs one stream to completion, checkpointing after every page (a walk
/// of one stream: see [`run_walk`]).
///
/// The stream's primary key (for dedupe) is read from the instance's
/// catalog; a caller that holds the catalog already can hand it over with
/// [`run_with_primary_key`].
#[allow(clippy::too_many_arguments)]
pub async fn run(
    instance: &mut ConnectorInstance,
    credential: &Credential,
    stream: &str,
    settings: &str,
    checkpoints: &mut Checkpointer,
    sink: &mut dyn RecordSink,
    options: &SyncOptions,
    observer: &mut dyn Observer,
) -> Result<SyncReport, HarnessError> {
    let primary_key = primary_key_of(&instance.streams().await?, stream);
    run_with_primary_key(
        instance,
        credential,
        stream,
        &primary_key,
        settings,
        checkpoints,
        sink,
        options,
        observer,
    )
    .await
}

/// [`run`], with the stream's primary key given: records are deduped on
/// those top-level fields (none: no dedupe).
#[allow(clippy::too_many_arguments)]
pub async fn run_with_primary_key(
    instance: &mut ConnectorInstance,
    credential: &Credential,
    stream: &str,
    primary_key: &[String],
    settings: &str,
    checkpoints: &mut Checkpointer,
    sink: &mut dyn RecordSink,
    options: &SyncOptions,
    observer: &mut dyn Observer,
) -> Result<SyncReport, HarnessError> {
    let streams = [WalkStream {
        name: stream.to_string(),
        primary_key: primary_key.to_vec(),
    }];
    let mut reports = run_walk(
        instance,
        credential,
        &streams,
        settings,
        checkpoints,
        &mut [sink],
        options,
        observer,
    )
    .await?;
    Ok(reports.pop().expect("one report per stream"))
}

/// One stream of a walk: its name, and the primary key its records are
/// deduped on (empty: no dedupe).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalkStream {
    /// The stream's name in the catalog.
    pub name: String,
    /// Its primary key's fields, for dedupe (empty: no dedupe).
    pub primary_key: Vec<String>,
}

impl WalkStream {
    /// `name` with the primary key `catalog` gives it.
    pub fn of(catalog: &[StreamSpec], name: &str) -> WalkStream {
        WalkStream {
            name: name.to_string(),
            primary_key: primary_key_of(catalog, name),
        }
    }
}

/// Syncs the streams of one walk (streams with the same root, see the
/// module docs) to completion: each stream's records into its own sink (in
/// the order of `streams`), every stream's checkpoint and the walk's state
/// saved after every page in one write. An interrupted walk of the same
/// streams resumes where its last checkpoint left it; the reports come per
/// stream, in order.
#[allow(clippy::too_many_arguments)]
pub async fn run_walk(
    instance: &mut ConnectorInstance,
    credential: &Credential,
    streams: &[WalkStream],
    settings: &str,
    checkpoints: &mut Checkpointer,
    sinks: &mut [&mut dyn RecordSink],
    options: &SyncOptions,
    observer: &mut dyn Observer,
) -> Result<Vec<SyncReport>, HarnessError> {
    assert_eq!(streams.len(), sinks.len(), "one sink per stream");
    let names: Vec<String> = streams.iter().map(|s| s.name.clone()).collect();
    let label = names.join(",");
    let saved: Vec<Option<Checkpoint>> =
        names.iter().map(|n| checkpoints.get(n).cloned()).collect();
    // An unfinished walk of exactly these streams resumes from its state;
    // otherwise the walk starts from every stream's cursor (a stream that
    // was in another, interrupted walk starts over from the cursor it had).
    let walk_state = checkpoints
        .state()
        .walk(&names)
        .filter(|_| saved.iter().all(|c| c.as_ref().is_some_and(|c| c.has_more)))
        .map(|w| w.state.clone());
    let resumed = walk_state.is_some();
    let cursors: Vec<Option<String>> = saved
        .iter()
        .map(|c| c.as_ref().and_then(|c| c.state.clone()))
        .collect();
    let io = |what: &str, e: std::io::Error| HarnessError::Io(format!("{what}: {e}"));

    let pace = instance.pace();
    let mut reports: Vec<SyncReport> = names
        .iter()
        .map(|_| SyncReport {
            walk: names.clone(),
            resumed,
            concurrency: pace.max(),
            concurrency_now: pace.concurrency(),
            lowest_concurrency: pace.lowest(),
            ..SyncReport::default()
        })
        .collect();
    for ((sink, checkpoint), report) in sinks.iter_mut().zip(&saved).zip(&mut reports) {
        let resume_at = checkpoint.as_ref().and_then(|c| c.output_bytes);
        let recorded = checkpoint.as_ref().and_then(|c| c.output.clone());
        let opened = match (resumed, resume_at) {
            (true, Some(position)) => sink.resume_at(position, recorded.as_ref()),
            _ => sink.begin(resumed).map(|()| Resumed::InPlace),
        }
        .map_err(|e| io("cannot open output", e))?;
        if let Resumed::NewFile { previous, cut } = opened {
            let line = format!(
                "resumed into a new output file: the records before the last checkpoint are in {previous}{}",
                if cut {
                    " (cut back to that checkpoint)"
                } else {
                    ""
                }
            );
            tracing::info!(walk = %label, previous = %previous, cut, "resumed into a new output file");
            report.notices.add(line);
        }
    }

    let before = instance.outbound_log();
    let wasm_before = instance.wasm_time();
    let rate_limited_before = pace.rate_limited();
    // Give-ups of this sync so far, and the upstream's successful answers
    // at the last one: skips with none in between mean it is down.
    let mut skips_in_a_row = 0u32;
    let mut ok_at_last_skip = None;
    let mut retrier = Retrier::new(&options.retry);
    // Start empty on every run, a resumed one included (see the module docs).
    let mut seen: Vec<SeenKeys> = streams
        .iter()
        .map(|_| SeenKeys::new(options.dedupe_capacity))
        .collect();
    let mut state = walk_state;
    let mut pages = 0u64;
    loop {
        if pages >= options.max_pages {
            return Err(HarnessError::Trap(format!(
                "the connector returned {pages} pages of {label} without finishing (the sync's page limit)"
            )));
        }
        let mut request = FetchRequest {
            streams: names.clone(),
            settings: settings.to_string(),
            state: state.clone(),
            cursors: cursors.clone(),
            concurrency: pace.concurrency(),
            skip_failing: None,
        };
        // The same request until it succeeds or the policy gives up: a retry
        // neither skips nor repeats a page. (A plain loop rather than
        // `Retrier::run`: its borrow of the instance keeps this future `Send`.)
        let mut tries = Tries::default();
        let mut gave_up: Option<HarnessError> = None;
        let mut guest_time = Duration::ZERO;
        let mut retried = (0u64, Duration::ZERO);
        let page = loop {
            let result = instance.fetch(credential, &request).await;
            guest_time += instance.cpu_time_of_last_call();
            match result {
                Ok(page) => break page,
                // The guest could not skip what failed: the sync ends with
                // the failure that led here.
                Err(error) if gave_up.is_some() => {
                    tracing::debug!(walk = %label, error = %error, "the connector could not skip the failing item");
                    return Err(gave_up.take().expect("checked"));
                }
                Err(error) => {
                    let wait = match retrier.failed(&mut tries, error) {
                        Ok(wait) => wait,
                        Err(error) if options.skip_failing && skippable(&error) => {
                            let ok = instance.outbound_log().answered_ok;
                            skips_in_a_row = match ok_at_last_skip {
                                Some(last) if last == ok => skips_in_a_row + 1,
                                _ => 1,
                            };
                            ok_at_last_skip = Some(ok);
                            if skips_in_a_row > options.max_skips_in_a_row {
                                return Err(error.map_messages(|m| {
                                    format!(
                                        "{m} (the last {} items failed the same way with no \
                                         successful answer in between: the upstream looks down; \
                                         the next run resumes here)",
                                        options.max_skips_in_a_row
                                    )
                                }));
                            }
                            tracing::info!(walk = %label, error = %error, "retries spent; asking the connector to skip the failing item");
                            request.skip_failing = Some(error.to_string());
                            gave_up = Some(error);
                            continue;
                        }
                        Err(error) => return Err(error),
                    };
                    retried.0 += 1;
                    retried.1 += wait.delay;
                    tracing::info!(
                        walk = %label,
                        page = pages + 1,
                        attempt = wait.attempt,
                        max_attempts = wait.max_attempts,
                        delay_ms = u64::try_from(wait.delay.as_millis()).unwrap_or(u64::MAX),
                        hinted = wait.hinted,
                        error = %wait.error,
                        "fetch failed; retrying the same page"
                    );
                    observer.waiting(&names, &wait);
                    tokio::time::sleep(wait.delay).await;
                    // A rate limit may have lowered the concurrency meanwhile.
                    request.concurrency = pace.concurrency();
                }
            }
        };
        // Each stream's records, checked, made one line and deduped.
        let mut per_stream: Vec<Vec<String>> = vec![Vec::new(); streams.len()];
        let (mut duplicates, mut unkeyed) = (vec![0u64; streams.len()], vec![0u64; streams.len()]);
        for record in page.records {
            // In bounds: the instance checked every index against the request.
            let k = record.stream as usize;
            let (data, key) = normalize_record(record.data, &streams[k].primary_key)?;
            match key {
                RecordKey::Hash(hash) if !seen[k].insert(hash) => {
                    duplicates[k] += 1;
                    continue;
                }
                RecordKey::Missing => unkeyed[k] += 1,
                RecordKey::Hash(_) | RecordKey::None => {}
            }
            per_stream[k].push(data);
        }
        for (sink, records) in sinks.iter_mut().zip(&per_stream) {
            sink.write_page(records)
                .map_err(|e| io("cannot write records", e))?;
            sink.commit().map_err(|e| io("cannot write records", e))?;
        }
        let saved: Vec<Checkpoint> = sinks
            .iter()
            .enumerate()
            .map(|(k, sink)| Checkpoint {
                state: match page.has_more {
                    true => cursors[k].clone(),
                    false => page.cursors.get(k).cloned().flatten(),
                },
                has_more: page.has_more,
                output_bytes: sink.position(),
                output: sink.output_file(),
            })
            .collect();
        checkpoints.record_walk(&names, page.state.clone(), saved)?;
        pages += 1;

        let log = instance.outbound_log();
        let mut skipped = Vec::new();
        for item in page.skipped {
            tracing::info!(walk = %label, item = %item, "the connector skipped an item");
            skipped.push(item);
        }
        for (k, report) in reports.iter_mut().enumerate() {
            // The walk's counts, in every stream's report.
            report.pages = pages;
            report.guest_time += guest_time;
            report.retries += retried.0;
            report.retry_wait += retried.1;
            report.requests = log.sent - before.sent;
            report.connections = log.connections_opened - before.connections_opened;
            report.upstream_wait = log.upstream_wait.saturating_sub(before.upstream_wait);
            report.wasm_time = instance.wasm_time().saturating_sub(wasm_before);
            report.rate_limited = pace.rate_limited() - rate_limited_before;
            report.lowest_concurrency = pace.lowest();
            report.concurrency_now = pace.concurrency();
            report.max_state_bytes = report
                .max_state_bytes
                .max(page.state.as_ref().map_or(0, |s| s.len() as u64));
            report.skipped += skipped.len() as u64;
            for item in &skipped {
                if report.skipped_items.len() < MAX_SKIPPED_NAMED {
                    report.skipped_items.push(item.clone());
                }
            }
            for notice in &page.notices {
                report.notices.add(notice.clone());
            }
            // The stream's own.
            let records = &per_stream[k];
            report.records += records.len() as u64;
            report.bytes += records.iter().map(|r| r.len() as u64 + 1).sum::<u64>();
            report.duplicates += duplicates[k];
            report.unkeyed += unkeyed[k];
        }
        tracing::debug!(
            walk = %label,
            page = pages,
            records = per_stream.iter().map(Vec::len).sum::<usize>(),
            has_more = page.has_more,
            "page written and checkpointed"
        );
        observer.page(&names, &reports);
        state = page.state;
        if !page.has_more {
            let r = &reports[0];
            if r.retries > 0 || r.skipped > 0 || r.rate_limited > 0 {
                tracing::info!(
                    walk = %label,
                    retries = r.retries,
                    skipped = r.skipped,
                    rate_limited = r.rate_limited,
                    retry_wait_ms = u64::try_from(r.retry_wait.as_millis()).unwrap_or(u64::MAX),
                    "sync finished"
                );
            }
            return Ok(reports);
        }
    }
}

/// Whether a failure whose retries are spent may be one item's, for the
/// guest to skip: what the upstream answered, not the credential, the
/// settings, a limit or a trap.
fn skippable(error: &HarnessError) -> bool {
    matches!(
        error,
        HarnessError::Connector(ConnectorError::Unavailable(_) | ConnectorError::BadResponse(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sync runs in its own task (one per tenant), so its future is `Send`.
    #[allow(dead_code)]
    fn sync_futures_are_send(
        instance: &mut ConnectorInstance,
        credential: &Credential,
        checkpoints: &mut Checkpointer,
        sink: &mut dyn RecordSink,
        options: &SyncOptions,
        observer: &mut dyn Observer,
    ) {
        fn send<T: Send>(_: &T) {}
        send(&run(
            instance,
            credential,
            "s",
            "{}",
            checkpoints,
            sink,
            options,
            observer,
        ));
    }
}
