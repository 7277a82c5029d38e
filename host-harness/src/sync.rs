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
//! key was already written is dropped ([`crate::dedupe`]); that memory does
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

use std::io::Write;
use std::time::Duration;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use crate::bindings::{ConnectorError, FetchRequest, StreamSpec};
use crate::checkpoint::{Checkpoint, Checkpointer, OutputFile};
use crate::connector::ConnectorInstance;
use crate::credential::Credential;
use crate::dedupe::{self, RecordKey, SeenKeys};
use crate::error::HarnessError;
pub use crate::notices::{NoticeKind, Notices};
use crate::retry::{Retrier, RetryPolicy, Tries, Wait};

/// Where a sync's records go. `Send`, so that a sync can run in its own task
/// (one per tenant).
pub trait RecordSink: Send {
    /// Called when a sync starts; `resuming` says whether it continues an
    /// interrupted one (keep what was written) or starts over.
    fn begin(&mut self, resuming: bool) -> std::io::Result<()>;
    /// Writes one page of records, one JSON object per line.
    fn write_page(&mut self, records: &[String]) -> std::io::Result<()>;
    /// Makes everything written so far durable.
    fn commit(&mut self) -> std::io::Result<()>;
    /// Bytes durably written so far, for a sink that can later cut its
    /// output back to this point (a file); `None` for one that cannot.
    fn position(&self) -> Option<u64> {
        None
    }
    /// The file the records go to, for a sink that writes one.
    fn output_file(&self) -> Option<OutputFile> {
        None
    }
    /// Resumes an interrupted sync whose last checkpoint was taken when
    /// the output (`recorded`, when the sink said) held `position` bytes
    /// (see [`RecordSink::position`]): anything written after it belongs to
    /// a page that will be fetched again. By default the same as
    /// `begin(true)`.
    fn resume_at(
        &mut self,
        position: u64,
        recorded: Option<&OutputFile>,
    ) -> std::io::Result<Resumed> {
        let _ = (position, recorded);
        self.begin(true).map(|()| Resumed::InPlace)
    }
}

/// How a sink resumed an interrupted sync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resumed {
    /// In the output of the interrupted run, cut back to its last checkpoint.
    InPlace,
    /// In a new output (the interrupted run wrote `previous`, which was cut
    /// back to its last checkpoint when `cut`).
    NewFile {
        /// The file the interrupted run wrote.
        previous: String,
        /// Whether it was cut back to its last checkpoint.
        cut: bool,
    },
}

/// JSON Lines into any writer (stdout, a pipe).
pub struct WriterSink<W: Write>(pub W);

impl<W: Write + Send> RecordSink for WriterSink<W> {
    fn begin(&mut self, _resuming: bool) -> std::io::Result<()> {
        Ok(())
    }
    fn write_page(&mut self, records: &[String]) -> std::io::Result<()> {
        write_lines(&mut self.0, records)
    }
    fn commit(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// JSON Lines into a file: truncated when a sync starts over, synced to
/// disk before each checkpoint, and on resumption cut back to the length it
/// had at the last checkpoint (the state file keeps it), so every record is
/// in the file exactly once however often the process was killed.
///
/// A resumed sync whose path now names another file than the checkpoint's,
/// or no file (a scheduler writing each run to its own file), writes into
/// its new file from the last checkpoint on, and cuts the old file back to
/// that checkpoint when it is still there: every record is then in exactly
/// one of the two files.
///
/// A new file is created with mode 0600 ([`crate::checkpoint::DEFAULT_FILE_MODE`])
/// unless [`FileSink::with_mode`] says otherwise. A sink made with
/// [`FileSink::no_follow`] refuses to open its path through a symlink (for
/// files the host names itself inside a directory).
pub struct FileSink {
    path: std::path::PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
    /// Bytes in the file, committed or not.
    written: u64,
    mode: u32,
    follow: bool,
    /// The file opened, once opened.
    opened: Option<OutputFile>,
}

impl FileSink {
    /// A sink writing to the file at `path` (created with
    /// [`crate::checkpoint::DEFAULT_FILE_MODE`] when new).
    pub fn new(path: impl Into<std::path::PathBuf>) -> Self {
        FileSink {
            path: path.into(),
            file: None,
            written: 0,
            mode: crate::checkpoint::DEFAULT_FILE_MODE,
            follow: true,
            opened: None,
        }
    }

    /// Keeps `file` as the sink's output, noting what it is.
    fn keep(&mut self, file: std::fs::File, written: u64) -> std::io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let meta = file.metadata()?;
        let path = std::path::absolute(&self.path)?;
        self.opened = Some(OutputFile {
            path: path.to_string_lossy().into_owned(),
            dev: meta.dev(),
            ino: meta.ino(),
        });
        self.written = written;
        self.file = Some(std::io::BufWriter::new(file));
        Ok(())
    }

    /// The permission bits a new file gets (e.g. `0o640`).
    pub fn with_mode(self, mode: u32) -> Self {
        FileSink { mode, ..self }
    }

    /// Never opens the path through a symlink: a link planted where the
    /// file goes is an error, not a way to write elsewhere.
    pub fn no_follow(self) -> Self {
        FileSink {
            follow: false,
            ..self
        }
    }

    fn options(&self) -> std::fs::OpenOptions {
        use std::os::unix::fs::OpenOptionsExt;
        let mut options = std::fs::OpenOptions::new();
        options.mode(self.mode);
        if !self.follow {
            options.custom_flags(libc::O_NOFOLLOW);
        }
        options
    }
}

impl RecordSink for FileSink {
    fn begin(&mut self, resuming: bool) -> std::io::Result<()> {
        let file = self
            .options()
            .create(true)
            .write(true)
            .append(resuming)
            .truncate(!resuming)
            .open(&self.path)?;
        let len = file.metadata()?.len();
        self.keep(file, len)
    }
    fn resume_at(
        &mut self,
        position: u64,
        recorded: Option<&OutputFile>,
    ) -> std::io::Result<Resumed> {
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
        let is = |path: &str, file: &OutputFile| {
            std::fs::symlink_metadata(path)
                .is_ok_and(|m| m.dev() == file.dev && m.ino() == file.ino)
        };
        let here = std::path::absolute(&self.path)?;
        let moved = recorded.filter(|r| !is(&here.to_string_lossy(), r));
        if let Some(old) = moved {
            // The output is another file now: this run writes its records
            // (from the checkpoint on) there, and the interrupted run's file
            // keeps only what was checkpointed, so no record is in both.
            let mut cut = false;
            if is(&old.path, old)
                && let Ok(file) = std::fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&old.path)
                && file.metadata()?.len() > position
            {
                file.set_len(position)?;
                file.sync_all()?;
                cut = true;
            }
            self.begin(false)?;
            return Ok(Resumed::NewFile {
                previous: old.path.clone(),
                cut,
            });
        }
        let file = self.options().append(true).open(&self.path)?;
        let len = file.metadata()?.len();
        if len < position {
            // Someone cut the file: the records of the checkpointed pages
            // are gone, and resuming would hide that.
            return Err(std::io::Error::other(format!(
                "{} holds {len} bytes but the state says {position} were written: the output was \
                 changed since; move it and the state file away to sync again",
                self.path.display()
            )));
        }
        // Whatever follows the checkpoint is a page that is fetched again.
        file.set_len(position)?;
        self.keep(file, position)?;
        Ok(Resumed::InPlace)
    }
    fn position(&self) -> Option<u64> {
        Some(self.written)
    }
    fn output_file(&self) -> Option<OutputFile> {
        self.opened.clone()
    }
    fn write_page(&mut self, records: &[String]) -> std::io::Result<()> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| std::io::Error::other("sink not begun"))?;
        write_lines(file, records)?;
        self.written += records.iter().map(|r| r.len() as u64 + 1).sum::<u64>();
        Ok(())
    }
    fn commit(&mut self) -> std::io::Result<()> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| std::io::Error::other("sink not begun"))?;
        file.flush()?;
        file.get_ref().sync_data()
    }
}

/// Records kept in memory, page by page: for tests and for callers that
/// hand records on themselves.
#[derive(Debug, Default)]
pub struct MemorySink {
    /// The records of every page, page by page.
    pub pages: Vec<Vec<String>>,
    /// The `resuming` flag of every `begin`.
    pub begun_resuming: Vec<bool>,
}

impl MemorySink {
    /// Every record, parsed.
    pub fn records(&self) -> Vec<serde_json::Value> {
        self.pages
            .iter()
            .flatten()
            .map(|r| serde_json::from_str(r).expect("records are checked JSON objects"))
            .collect()
    }
}

impl RecordSink for MemorySink {
    fn begin(&mut self, resuming: bool) -> std::io::Result<()> {
        self.begun_resuming.push(resuming);
        Ok(())
    }
    fn write_page(&mut self, records: &[String]) -> std::io::Result<()> {
        self.pages.push(records.to_vec());
        Ok(())
    }
    fn commit(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn write_lines(out: &mut impl Write, records: &[String]) -> std::io::Result<()> {
    for record in records {
        out.write_all(record.as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Bounds on one sync.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// Stop with an error after this many pages: a guest that never says
    /// it is done must not loop forever.
    pub max_pages: u64,
    /// How a fetch that failed with a transient error is retried.
    pub retry: RetryPolicy,
    /// How many primary keys a sync remembers to drop duplicate records
    /// (see [`crate::dedupe`]); 0 turns dedupe off.
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
    /// connections kept open (see [`crate::net::pool`]).
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
    /// The first [`MAX_SKIPPED_NAMED`] of them: what, and the answer it got.
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

/// The primary key the catalog gives `stream`; empty (no dedupe) when the
/// catalog does not list it (the guest will say what it makes of the name).
pub fn primary_key_of(catalog: &[StreamSpec], stream: &str) -> Vec<String> {
    catalog
        .iter()
        .find(|s| s.name == stream)
        .map(|s| s.primary_key.clone())
        .unwrap_or_default()
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

/// The walks of `streams` (planned by [`plan`]): streams with the same root
/// in the catalog's parent chains together, in the order of `streams`; the
/// walks in the order of their first stream.
pub fn walks(catalog: &[StreamSpec], streams: &[String]) -> Vec<Vec<String>> {
    let root = |name: &str| {
        let mut current = name.to_string();
        for _ in 0..=catalog.len() {
            match catalog
                .iter()
                .find(|s| s.name == current)
                .and_then(|s| s.parent.clone())
            {
                Some(parent) => current = parent,
                None => break,
            }
        }
        current
    };
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for stream in streams {
        let r = root(stream);
        match groups.iter_mut().find(|(k, _)| *k == r) {
            Some((_, group)) => group.push(stream.clone()),
            None => groups.push((r, vec![stream.clone()])),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// The streams to sync, parents before children: `all` (every stream of the
/// catalog) or a list of names, each checked against the catalog.
pub fn plan(catalog: &[StreamSpec], requested: &[String]) -> Result<Vec<String>, HarnessError> {
    let known: Vec<&str> = catalog.iter().map(|s| s.name.as_str()).collect();
    let wanted: Vec<&str> = if requested.iter().any(|r| r == "all") {
        known.clone()
    } else {
        for name in requested {
            if !known.contains(&name.as_str()) {
                return Err(HarnessError::UnknownStream(format!(
                    "unknown stream {name:?}; the streams are: all, {}",
                    known.join(", ")
                )));
            }
        }
        requested.iter().map(String::as_str).collect()
    };
    // Depth in the parent chain orders parents first; the catalog's order
    // breaks ties, so the plan is stable.
    let depth = |name: &str| {
        let mut depth = 0;
        let mut current = name;
        while let Some(parent) = catalog
            .iter()
            .find(|s| s.name == current)
            .and_then(|s| s.parent.as_deref())
        {
            depth += 1;
            current = parent;
            if depth > catalog.len() {
                break; // a cycle in a hostile catalog; the order no longer matters
            }
        }
        depth
    };
    let mut plan: Vec<(usize, usize, &str)> = Vec::new();
    for name in wanted {
        if !plan.iter().any(|(_, _, n)| *n == name) {
            let position = known.iter().position(|k| *k == name).unwrap_or(usize::MAX);
            plan.push((depth(name), position, name));
        }
    }
    plan.sort();
    Ok(plan.into_iter().map(|(_, _, n)| n.to_string()).collect())
}

/// Checks that a record is one JSON object and makes it one line: a guest's
/// mistake must never corrupt the JSON Lines output. Returns it with its
/// primary key, read in the same pass.
fn normalize_record(
    record: String,
    primary_key: &[String],
) -> Result<(String, RecordKey), HarnessError> {
    let bad =
        |why: &str| HarnessError::Trap(format!("the connector returned a record that is {why}"));
    if !record.contains(['\n', '\r']) {
        // The common case: check and pick the key fields without building
        // the record or re-serialising it.
        let mut parser = serde_json::Deserializer::from_str(&record);
        let values = KeyFields(primary_key)
            .deserialize(&mut parser)
            .and_then(|values| parser.end().map(|()| values))
            .map_err(|e| match e.classify() {
                serde_json::error::Category::Data => bad("not a JSON object"),
                _ => bad("not JSON"),
            })?;
        return Ok((record, RecordKey::of(&values)));
    }
    let value: Value = serde_json::from_str(&record).map_err(|_| bad("not JSON"))?;
    let Value::Object(object) = &value else {
        return Err(bad("not a JSON object"));
    };
    let key = RecordKey::of_object(object, primary_key);
    Ok((value.to_string(), key))
}

/// Parses a JSON object, keeping only the values of the named top-level
/// fields (in the order named; `None` where absent) and skipping the rest.
struct KeyFields<'k>(&'k [String]);

impl<'de> DeserializeSeed<'de> for KeyFields<'_> {
    type Value = Vec<Option<Value>>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeyFields<'_> {
    type Value = Vec<Option<Value>>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut values = vec![None; self.0.len()];
        while let Some(field) = map.next_key_seed(FieldIndex(self.0))? {
            match field {
                // A repeated field: the last value wins, as when parsed whole.
                Some(i) => values[i] = Some(map.next_value::<Value>()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(values)
    }
}

/// A field name, as its position among the key fields (without allocating).
struct FieldIndex<'k>(&'k [String]);

impl<'de> DeserializeSeed<'de> for FieldIndex<'_> {
    type Value = Option<usize>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for FieldIndex<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|k| k == name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_resumed_at_its_checkpoint_loses_the_uncheckpointed_tail() {
        let dir = std::env::temp_dir().join(format!("filesink-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.jsonl");
        let mut sink = FileSink::new(&path);
        sink.begin(false).unwrap();
        sink.write_page(&["{\"i\":1}".into(), "{\"i\":2}".into()])
            .unwrap();
        sink.commit().unwrap();
        let checkpoint = sink.position().unwrap();
        assert_eq!(checkpoint, 16);
        // A page written but not checkpointed, then a torn line: the crash.
        sink.write_page(&["{\"i\":3}".into()]).unwrap();
        sink.commit().unwrap();
        drop(sink);
        let mut torn = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        torn.write_all(b"{\"i\":4").unwrap();
        drop(torn);

        let mut sink = FileSink::new(&path);
        let recorded = None;
        assert_eq!(
            sink.resume_at(checkpoint, recorded).unwrap(),
            Resumed::InPlace
        );
        sink.write_page(&["{\"i\":3}".into()]).unwrap();
        sink.commit().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"i\":1}\n{\"i\":2}\n{\"i\":3}\n"
        );

        // A file shorter than its checkpoint is an error, not a silent gap.
        std::fs::write(&path, b"{}\n").unwrap();
        let err = FileSink::new(&path)
            .resume_at(checkpoint, None)
            .unwrap_err();
        assert!(err.to_string().contains("the output was changed"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_resumed_sync_whose_output_moved_writes_into_its_new_file() {
        let dir = std::env::temp_dir().join(format!("filesink-moved-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let first = dir.join("run-0001.jsonl");
        let mut sink = FileSink::new(&first);
        sink.begin(false).unwrap();
        sink.write_page(&["{\"i\":1}".into()]).unwrap();
        sink.commit().unwrap();
        let (checkpoint, recorded) = (sink.position().unwrap(), sink.output_file().unwrap());
        // A page written but not checkpointed, then the crash.
        sink.write_page(&["{\"i\":2}".into()]).unwrap();
        sink.commit().unwrap();
        drop(sink);

        // The scheduler's next run writes to its own file.
        let second = dir.join("run-0002.jsonl");
        let mut sink = FileSink::new(&second);
        let resumed = sink.resume_at(checkpoint, Some(&recorded)).unwrap();
        assert_eq!(
            resumed,
            Resumed::NewFile {
                previous: recorded.path.clone(),
                cut: true
            }
        );
        sink.write_page(&["{\"i\":2}".into()]).unwrap();
        sink.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&first).unwrap(), "{\"i\":1}\n");
        assert_eq!(std::fs::read_to_string(&second).unwrap(), "{\"i\":2}\n");
        assert_ne!(sink.output_file().unwrap(), recorded);

        // The old file is gone (shipped elsewhere): nothing to cut.
        let moved = sink.output_file().unwrap();
        std::fs::remove_file(&second).unwrap();
        let third = dir.join("run-0003.jsonl");
        let resumed = FileSink::new(&third).resume_at(9, Some(&moved)).unwrap();
        assert!(
            matches!(resumed, Resumed::NewFile { cut: false, .. }),
            "{resumed:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn spec(name: &str, parent: Option<&str>) -> StreamSpec {
        StreamSpec {
            name: name.into(),
            description: String::new(),
            json_schema: "{}".into(),
            primary_key: vec!["id".into()],
            cursor_field: None,
            parent: parent.map(Into::into),
            sync_modes: vec![],
        }
    }

    #[test]
    fn plans_parents_first() {
        let catalog = [
            spec("jobs", Some("workflows")),
            spec("me", None),
            spec("workflows", Some("pipelines")),
            spec("pipelines", None),
        ];
        let all = plan(&catalog, &["all".into()]).unwrap();
        assert_eq!(all, ["me", "pipelines", "workflows", "jobs"]);
        let some = plan(
            &catalog,
            &["jobs".into(), "pipelines".into(), "jobs".into()],
        )
        .unwrap();
        assert_eq!(some, ["pipelines", "jobs"]);
        assert!(matches!(
            plan(&catalog, &["nope".into()]),
            Err(HarnessError::UnknownStream(_))
        ));
    }

    #[test]
    fn records_must_be_json_objects_on_one_line() {
        let normalize = |r: &str| normalize_record(r.into(), &[]).map(|(r, _)| r);
        assert_eq!(normalize("{\"a\":1}").unwrap(), "{\"a\":1}");
        assert_eq!(normalize("{\n \"a\": 1\n}").unwrap(), "{\"a\":1}");
        assert!(normalize("[1]").is_err());
        assert!(normalize("\"x\"").is_err());
        assert!(normalize("{\"a\":").is_err());
        assert!(normalize("{} {}").is_err());
        assert!(
            normalize("[1]")
                .unwrap_err()
                .to_string()
                .contains("not a JSON object")
        );
        assert!(
            normalize("{\"a\":")
                .unwrap_err()
                .to_string()
                .contains("not JSON")
        );
    }

    #[test]
    fn the_key_is_read_in_the_same_pass_either_way() {
        let pk = ["project".to_string(), "id".to_string()];
        let one_line = r#"{"id":7,"x":[1,{"id":8}],"project":"p\u0031"}"#;
        let (_, a) = normalize_record(one_line.into(), &pk).unwrap();
        let (_, b) = normalize_record("{\"project\": \"p1\",\n \"id\": 7}".into(), &pk).unwrap();
        assert!(matches!(a, RecordKey::Hash(_)));
        assert_eq!(a, b, "escapes and layout do not change the key");
        let (_, nested_only) =
            normalize_record(r#"{"x":{"id":7,"project":"p1"}}"#.into(), &pk).unwrap();
        assert_eq!(nested_only, RecordKey::Missing, "key fields are top-level");
        let (_, repeated) =
            normalize_record(r#"{"project":"p1","id":1,"id":7}"#.into(), &pk).unwrap();
        assert_eq!(repeated, a, "the last of a repeated field wins");
        let (_, none) = normalize_record(one_line.into(), &[]).unwrap();
        assert_eq!(none, RecordKey::None);
    }

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
