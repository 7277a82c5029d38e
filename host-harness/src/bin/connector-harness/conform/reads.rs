//! The checks that sync, through the host library as a platform syncs
//! (`Tenant::sync_streams`, walk by walk, a tenant for each sync):
//!
//! - `read_records_valid`: a full read of every stream asked for; each
//!   record is checked against its stream's schema and primary key as it
//!   arrives, and remembered only as hashes of its key and of its text;
//! - `resume_loses_nothing`: syncs resumed from intermediate states that
//!   read saved (evenly spaced, at most `--resume-points` per walk), in a
//!   fresh instance as after a crash, compared with the read by key;
//! - `incremental_second_sync`: a sync from the read's final state,
//!   compared with the read by key and content for incremental streams.
//!
//! The records, states, notices and skipped items of every sync are
//! looked at for secrets too (see [`super::evidence`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use host_harness::bindings::{StreamSpec, SyncMode};
use host_harness::checkpoint::{CheckpointStore, Checkpointer, SyncState};
use host_harness::credential::{Credential, Redactor};
use host_harness::retry::RetryPolicy;
use host_harness::sync::{self, Observer, RecordSink, SyncOptions, SyncReport};
use host_harness::{HarnessError, error::printable};
use jsonschema::Validator;
use serde_json::Value;

use super::evidence::{Evidence, Leak, is_host_redaction_notice, leak_in};
use super::schemas::shown;
use super::{Row, plural};
use crate::Host;
use crate::exit::CliError;

/// How much the reads may do.
pub struct Bounds {
    /// Pages of one sync.
    pub max_pages: u64,
    /// Intermediate states of one walk that a sync is resumed from.
    pub resume_points: usize,
}

/// The rows of the reads, in order.
pub struct Rows {
    pub read: Row,
    pub resume: Row,
    pub incremental: Row,
}

const READ: &str = "read_records_valid";
const RESUME: &str = "resume_loses_nothing";
const INCREMENTAL: &str = "incremental_second_sync";

impl Rows {
    /// Every read row skipped, for `why`.
    pub fn skipped(why: &str) -> Rows {
        Rows {
            read: Row::skip(READ, why),
            resume: Row::skip(RESUME, why),
            incremental: Row::skip(INCREMENTAL, why),
        }
    }
}

/// What the reads need.
pub struct Reader<'a> {
    pub host: &'a Host,
    pub credential: &'a Credential,
    pub settings: &'a str,
    pub catalog: &'a [StreamSpec],
    /// Each stream's compiled schema (a stream whose schema does not
    /// compile has none).
    pub validators: &'a BTreeMap<String, Arc<Validator>>,
    pub bounds: &'a Bounds,
    /// The secret values, to find them in clear.
    pub clear: &'a Redactor,
}

/// One record as a sync remembers it: hashes of its key and its text.
#[derive(Clone, Copy)]
struct Seen {
    key: u64,
    content: u64,
}

/// What one sync did to one stream.
#[derive(Default)]
struct StreamLog {
    name: String,
    primary_key: Vec<String>,
    /// Its schema, in a full read.
    validator: Option<Arc<Validator>>,
    /// The records written, in order (the host drops duplicates by key).
    seen: Vec<Seen>,
    invalid: u64,
    first_invalid: Option<String>,
    unkeyed: u64,
    first_unkeyed: Option<String>,
}

/// An intermediate state the host saved, and how many records of each
/// stream of the walk had been written when it did.
struct Save {
    state: SyncState,
    written: Vec<usize>,
    /// The page after which it was saved, counting from 1.
    page: u64,
}

/// Intermediate states kept per sync; when there are twice as many, every
/// other one is dropped, so those kept stay evenly spaced.
const KEPT_SAVES: usize = 32;

/// What one sync did, gathered by its sinks and its checkpoint store.
#[derive(Default)]
struct Recorder {
    streams: Vec<StreamLog>,
    /// Whether records are checked against their schemas (a full read).
    checking: bool,
    clear: Redactor,
    /// Intermediate states, evenly spaced (see [`KEPT_SAVES`]).
    saves: Vec<Save>,
    /// Keep every `stride`-th intermediate state.
    stride: u64,
    /// Intermediate states saved so far.
    unfinished: u64,
    /// Pages written and checkpointed.
    pages: u64,
    /// The most records one page held, over the walk's streams.
    largest_page: usize,
    written_at_last_save: usize,
    /// The last state saved.
    final_state: Option<SyncState>,
    /// Records and states looked at for secrets, and where one showed.
    looked: u64,
    leaks: Vec<(String, Leak)>,
}

fn hash_of(text: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

impl Recorder {
    fn new(
        walk: &[String],
        catalog: &[StreamSpec],
        validators: Option<&BTreeMap<String, Arc<Validator>>>,
        clear: Redactor,
    ) -> Recorder {
        Recorder {
            streams: walk
                .iter()
                .map(|name| StreamLog {
                    name: name.clone(),
                    primary_key: sync::primary_key_of(catalog, name),
                    validator: validators.and_then(|v| v.get(name).cloned()),
                    ..StreamLog::default()
                })
                .collect(),
            checking: validators.is_some(),
            clear,
            stride: 1,
            ..Recorder::default()
        }
    }

    fn leak(&mut self, place: String, text: &str) {
        self.looked += 1;
        if let Some(leak) = leak_in(text, &self.clear)
            && !self.leaks.iter().any(|(p, _)| *p == place)
        {
            self.leaks.push((place, leak));
        }
    }

    fn write(&mut self, index: usize, records: &[String]) {
        for text in records {
            let Some(stream) = self.streams.get(index) else {
                return;
            };
            let place = format!("records of {}", stream.name);
            self.leak(place, text);
            let checking = self.checking;
            let Some(stream) = self.streams.get_mut(index) else {
                return;
            };
            let value: Option<Value> = serde_json::from_str(text).ok();
            let content = hash_of(text);
            let key = match (&value, stream.primary_key.is_empty()) {
                // No primary key: a record is itself.
                (_, true) => Some(content),
                (Some(value), false) => match key_of(value, &stream.primary_key) {
                    Ok(key) => Some(hash_of(&key)),
                    Err(why) => {
                        stream.unkeyed += 1;
                        stream.first_unkeyed.get_or_insert(why);
                        None
                    }
                },
                (None, false) => None,
            };
            stream.seen.push(Seen {
                key: key.unwrap_or(content),
                content,
            });
            if !checking {
                continue;
            }
            let fault = match (&value, &stream.validator) {
                (None, _) => Some("not a JSON object".to_string()),
                (Some(value), Some(validator)) => {
                    crate::json_schema::faults(validator, value, "record", false, 1).pop()
                }
                (Some(_), None) => None,
            };
            if let Some(fault) = fault {
                stream.invalid += 1;
                stream.first_invalid.get_or_insert(fault);
            }
        }
    }

    fn save(&mut self, state: &SyncState, changed: &[String]) {
        self.final_state = Some(state.clone());
        for text in state
            .walks
            .values()
            .map(|w| &w.state)
            .chain(state.streams.values().filter_map(|c| c.state.as_ref()))
        {
            self.leak("the state".to_string(), text);
        }
        if changed.is_empty() {
            // The run's bookkeeping, not a page.
            return;
        }
        self.pages += 1;
        let written: Vec<usize> = self.streams.iter().map(|s| s.seen.len()).collect();
        let total: usize = written.iter().sum();
        self.largest_page = self
            .largest_page
            .max(total.saturating_sub(self.written_at_last_save));
        self.written_at_last_save = total;
        let unfinished = changed
            .iter()
            .any(|s| state.get(s).is_some_and(|c| c.has_more));
        if !unfinished {
            return;
        }
        if self.unfinished.is_multiple_of(self.stride) {
            self.saves.push(Save {
                state: state.clone(),
                written,
                page: self.pages,
            });
            if self.saves.len() >= 2 * KEPT_SAVES {
                let mut i = 0;
                self.saves.retain(|_| {
                    i += 1;
                    i % 2 == 1
                });
                self.stride *= 2;
            }
        }
        self.unfinished += 1;
    }
}

/// A record's primary key as one text, or which field is missing or null.
fn key_of(record: &Value, primary_key: &[String]) -> Result<String, String> {
    let mut values = Vec::with_capacity(primary_key.len());
    for field in primary_key {
        match record.get(field) {
            None => return Err(format!("{} is missing", shown(field))),
            Some(Value::Null) => return Err(format!("{} is null", shown(field))),
            Some(value) => values.push(value),
        }
    }
    Ok(serde_json::to_string(&values).unwrap_or_default())
}

fn lock(shared: &Mutex<Recorder>) -> MutexGuard<'_, Recorder> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

/// A stream's sink: its records go to the recorder.
struct Sink {
    shared: Arc<Mutex<Recorder>>,
    index: usize,
}

impl RecordSink for Sink {
    fn begin(&mut self, _resuming: bool) -> std::io::Result<()> {
        Ok(())
    }

    fn write_page(&mut self, records: &[String]) -> std::io::Result<()> {
        lock(&self.shared).write(self.index, records);
        Ok(())
    }

    fn commit(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The checkpoint store: starts from a given state, and keeps what the
/// host saves in the recorder.
struct Store {
    shared: Arc<Mutex<Recorder>>,
    initial: Option<SyncState>,
}

impl CheckpointStore for Store {
    fn load(&mut self) -> Result<SyncState, HarnessError> {
        Ok(self.initial.take().unwrap_or_default())
    }

    fn save(&mut self, state: &SyncState, changed: &[String]) -> Result<(), HarnessError> {
        lock(&self.shared).save(state, changed);
        Ok(())
    }
}

/// Keeps the walk's report as of its last page: its notices and skipped
/// items are looked at for secrets even when a later page fails.
#[derive(Default)]
struct Watch {
    last: Option<SyncReport>,
}

impl Observer for Watch {
    fn page(&mut self, _streams: &[String], so_far: &[SyncReport]) {
        // Every stream's report of a walk carries the walk's notices.
        self.last = so_far.first().cloned();
    }
}

/// What one sync came to.
struct Run {
    recorder: Recorder,
    /// The first error of the walk's streams.
    error: Option<HarnessError>,
}

/// A walk's name in a detail.
fn label(walk: &[String]) -> String {
    match walk {
        [first, .., last] if walk.len() > 2 => {
            format!("{first}…{last} ({} streams)", walk.len())
        }
        _ => walk.join(","),
    }
}

/// Up to `n` of `saves`, evenly spaced, the first and the last included.
fn pick(saves: &[Save], n: usize) -> Vec<&Save> {
    if saves.len() <= n {
        return saves.iter().collect();
    }
    if n == 1 {
        return vec![&saves[saves.len() / 2]];
    }
    let mut picked: Vec<usize> = (0..n)
        .map(|i| (i * (saves.len() - 1) + (n - 1) / 2) / (n - 1))
        .collect();
    picked.dedup();
    picked.into_iter().map(|i| &saves[i]).collect()
}

/// Records of the full read after `save` that neither the read before it
/// nor the resumed sync returned, per stream; and how many records the
/// resumed sync returned that the read had before it.
fn compare(full: &Recorder, save: &Save, resumed: &Recorder) -> (Vec<(String, usize)>, usize) {
    let mut lost = Vec::new();
    let mut repeated = 0;
    for (k, stream) in full.streams.iter().enumerate() {
        let split = save
            .written
            .get(k)
            .copied()
            .unwrap_or(0)
            .min(stream.seen.len());
        let before: HashSet<u64> = stream.seen[..split].iter().map(|s| s.key).collect();
        let after: HashSet<u64> = resumed
            .streams
            .get(k)
            .map(|s| s.seen.iter().map(|s| s.key).collect())
            .unwrap_or_default();
        let missing: HashSet<u64> = stream.seen[split..]
            .iter()
            .map(|s| s.key)
            .filter(|key| !before.contains(key) && !after.contains(key))
            .collect();
        repeated += after.intersection(&before).count();
        if !missing.is_empty() {
            lost.push((stream.name.clone(), missing.len()));
        }
    }
    (lost, repeated)
}

impl Reader<'_> {
    /// The three read rows.
    pub async fn check(
        &self,
        planned: &[String],
        evidence: &mut Evidence,
    ) -> Result<Rows, CliError> {
        let walks = sync::walks(self.catalog, planned);
        let mut reads = Vec::new();
        for walk in &walks {
            let during = format!("the read of {}", label(walk));
            reads.push(self.sync(walk, None, true, &during, evidence).await?);
        }
        let read = self.read_row(&walks, &reads);
        let resume = self.resume_row(&walks, &reads, evidence).await?;
        let incremental = self
            .incremental_row(planned, &walks, &reads, evidence)
            .await?;
        Ok(Rows {
            read,
            resume,
            incremental,
        })
    }

    fn options(&self) -> SyncOptions {
        SyncOptions {
            max_pages: self.bounds.max_pages,
            // Retries as a platform's, but a conformance run does not wait
            // out an upstream that is down for minutes.
            retry: RetryPolicy {
                max_total_wait: Duration::from_secs(60),
                ..RetryPolicy::default()
            },
            ..SyncOptions::default()
        }
    }

    /// Syncs `walk` in a tenant of its own, from `from` (none: from
    /// nothing), checking records against their schemas when `full`.
    async fn sync(
        &self,
        walk: &[String],
        from: Option<SyncState>,
        full: bool,
        during: &str,
        evidence: &mut Evidence,
    ) -> Result<Run, CliError> {
        let validators = full.then_some(self.validators);
        let shared = Arc::new(Mutex::new(Recorder::new(
            walk,
            self.catalog,
            validators,
            self.clear.clone(),
        )));
        let mut tenant = self.host.tenant(self.credential.clone()).await?;
        let store = Store {
            shared: shared.clone(),
            initial: from,
        };
        let mut watch = Watch::default();
        let result = match Checkpointer::open(store) {
            Ok(mut checkpoints) => {
                let mut sink_for = |stream: &str| -> Box<dyn RecordSink> {
                    Box::new(Sink {
                        shared: shared.clone(),
                        index: walk.iter().position(|s| s == stream).unwrap_or(usize::MAX),
                    })
                };
                tenant
                    .sync_streams(
                        walk,
                        self.settings,
                        &mut checkpoints,
                        &mut sink_for,
                        &self.options(),
                        &mut watch,
                    )
                    .await
            }
            Err(e) => Err(e),
        };
        evidence.requests(during, &tenant.outbound_log());
        let error = match result {
            Ok(outcomes) => outcomes.into_iter().find_map(|(_, outcome)| outcome.err()),
            Err(e) => Some(e),
        };
        if let Some(report) = &watch.last {
            for notice in report.notices.examples() {
                if !is_host_redaction_notice(notice) {
                    evidence.look("notices", notice);
                }
            }
            for item in &report.skipped_items {
                evidence.look("skipped items", item);
            }
        }
        if let Some(e) = &error {
            evidence.error(&format!("the error of {during}"), e);
        }
        let recorder = std::mem::take(&mut *lock(&shared));
        evidence.found(recorder.looked, &recorder.leaks);
        Ok(Run { recorder, error })
    }

    /// `read_records_valid`.
    fn read_row(&self, walks: &[Vec<String>], reads: &[Run]) -> Row {
        let mut faults = Vec::new();
        let (mut records, mut pages, mut streams) = (0usize, 0u64, 0usize);
        let mut empty = Vec::new();
        for (walk, run) in walks.iter().zip(reads) {
            pages += run.recorder.pages;
            if let Some(e) = &run.error {
                let hint = if run.recorder.pages >= self.bounds.max_pages {
                    " (raise --max-pages, or narrow the settings)"
                } else {
                    ""
                };
                faults.push(format!("the read of {} failed: {e}{hint}", label(walk)));
            }
            for stream in &run.recorder.streams {
                streams += 1;
                let n = stream.seen.len();
                records += n;
                if n == 0 {
                    empty.push(stream.name.clone());
                }
                if stream.validator.is_none() && n > 0 {
                    faults.push(format!(
                        "{}: its schema does not compile, so its {n} records were not checked",
                        stream.name
                    ));
                }
                if stream.invalid > 0 {
                    faults.push(format!(
                        "{}: {} of {n} records do not match its schema (first: {})",
                        stream.name,
                        stream.invalid,
                        printable(stream.first_invalid.as_deref().unwrap_or(""))
                    ));
                }
                if stream.unkeyed > 0 {
                    faults.push(format!(
                        "{}: {} of {n} records lack their primary key (first: {})",
                        stream.name,
                        stream.unkeyed,
                        printable(stream.first_unkeyed.as_deref().unwrap_or(""))
                    ));
                }
            }
        }
        let mut pass = format!(
            "{} in {}, {} in {}: each matches its stream's schema and has its primary key",
            plural(streams as u64, "stream"),
            plural(walks.len() as u64, "walk"),
            plural(records as u64, "record"),
            plural(pages, "page"),
        );
        if !empty.is_empty() {
            pass.push_str(&format!(" (no records: {})", empty.join(", ")));
        }
        Row::from_faults(READ, &faults, pass)
    }

    /// `resume_loses_nothing`.
    async fn resume_row(
        &self,
        walks: &[Vec<String>],
        reads: &[Run],
        evidence: &mut Evidence,
    ) -> Result<Row, CliError> {
        if self.bounds.resume_points == 0 {
            return Ok(Row::skip(RESUME, "--resume-points 0"));
        }
        let mut faults = Vec::new();
        let mut tried = Vec::new();
        let mut unread = Vec::new();
        let (mut resumes, mut most_repeated) = (0usize, 0usize);
        for (walk, run) in walks.iter().zip(reads) {
            if run.error.is_some() {
                unread.push(label(walk));
                continue;
            }
            let full = &run.recorder;
            let points = pick(&full.saves, self.bounds.resume_points);
            if points.is_empty() {
                continue;
            }
            let name = label(walk);
            for save in &points {
                resumes += 1;
                let at = format!("resumed after page {} of {}", save.page, full.pages);
                let during = format!("a sync of {name} {at}");
                let resumed = self
                    .sync(walk, Some(save.state.clone()), false, &during, evidence)
                    .await?;
                if let Some(e) = &resumed.error {
                    faults.push(format!("{name} {at}: {e}"));
                    continue;
                }
                let (lost, repeated) = compare(full, save, &resumed.recorder);
                if !lost.is_empty() {
                    let total: usize = lost.iter().map(|(_, n)| n).sum();
                    let per_stream: Vec<String> =
                        lost.iter().map(|(s, n)| format!("{s} {n}")).collect();
                    faults.push(format!(
                        "{name} {at} lost {} the read returned after that page ({})",
                        plural(total as u64, "record"),
                        per_stream.join(", ")
                    ));
                }
                if repeated > full.largest_page {
                    faults.push(format!(
                        "{name} {at} repeated {}, more than its largest page ({})",
                        plural(repeated as u64, "record"),
                        full.largest_page
                    ));
                }
                most_repeated = most_repeated.max(repeated);
            }
            let pages: Vec<String> = points.iter().map(|s| s.page.to_string()).collect();
            tried.push(format!(
                "{name} after page {} of {}",
                pages.join(", "),
                full.pages
            ));
        }
        if resumes == 0 {
            let why = if unread.len() == walks.len() {
                "no read finished (see read_records_valid)".to_string()
            } else {
                "every read finished in one page: no intermediate state to resume from".to_string()
            };
            return Ok(Row::skip(RESUME, why));
        }
        let repeats = if most_repeated == 0 {
            "nothing lost or repeated".to_string()
        } else {
            format!(
                "nothing lost, at most {} repeated",
                plural(most_repeated as u64, "record")
            )
        };
        let mut pass = format!(
            "{} ({}): {repeats}",
            plural(resumes as u64, "resumed sync"),
            tried.join("; ")
        );
        if !unread.is_empty() {
            pass.push_str(&format!(
                "; not tried for {}, whose read failed",
                unread.join(", ")
            ));
        }
        Ok(Row::from_faults(RESUME, &faults, pass))
    }

    /// `incremental_second_sync`.
    async fn incremental_row(
        &self,
        planned: &[String],
        walks: &[Vec<String>],
        reads: &[Run],
        evidence: &mut Evidence,
    ) -> Result<Row, CliError> {
        let incremental = |name: &str| {
            self.catalog
                .iter()
                .any(|s| s.name == name && s.sync_modes.contains(&SyncMode::Incremental))
        };
        if !planned.iter().any(|s| incremental(s)) {
            return Ok(Row::skip(
                INCREMENTAL,
                "no incremental stream among those read",
            ));
        }
        let mut faults = Vec::new();
        let mut unread = Vec::new();
        let (mut checked, mut returned) = (0usize, 0usize);
        for (walk, run) in walks.iter().zip(reads) {
            let ours: Vec<usize> = (0..walk.len()).filter(|&k| incremental(&walk[k])).collect();
            if ours.is_empty() {
                continue;
            }
            let name = label(walk);
            let final_state = match (&run.error, &run.recorder.final_state) {
                (None, Some(state)) => state.clone(),
                _ => {
                    unread.push(name);
                    continue;
                }
            };
            let during = format!("the second sync of {name}");
            let second = self
                .sync(walk, Some(final_state), false, &during, evidence)
                .await?;
            if let Some(e) = &second.error {
                faults.push(format!("the second sync of {name} failed: {e}"));
                continue;
            }
            for k in ours {
                checked += 1;
                let (Some(first), Some(again)) =
                    (run.recorder.streams.get(k), second.recorder.streams.get(k))
                else {
                    continue;
                };
                let before: HashMap<u64, u64> =
                    first.seen.iter().map(|s| (s.key, s.content)).collect();
                let unchanged = again
                    .seen
                    .iter()
                    .filter(|s| before.get(&s.key) == Some(&s.content))
                    .count();
                returned += again.seen.len();
                if unchanged > 0 {
                    faults.push(format!(
                        "{}: {unchanged} of the {} the second sync returned were returned by the first, unchanged",
                        first.name,
                        plural(again.seen.len() as u64, "record")
                    ));
                }
            }
        }
        if checked == 0 && faults.is_empty() {
            return Ok(Row::skip(
                INCREMENTAL,
                format!(
                    "the read of {} failed (see read_records_valid)",
                    unread.join(", ")
                ),
            ));
        }
        Ok(Row::from_faults(
            INCREMENTAL,
            &faults,
            format!(
                "{}: a second sync from the final state returned {} of them, none unchanged \
                 from the first",
                plural(checked as u64, "incremental stream"),
                plural(returned as u64, "record")
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn save(page: u64) -> Save {
        Save {
            state: SyncState::default(),
            written: Vec::new(),
            page,
        }
    }

    #[test]
    fn resume_points_are_evenly_spaced_first_and_last_included() {
        let saves: Vec<Save> = (1..=14).map(save).collect();
        let pages = |n| pick(&saves, n).iter().map(|s| s.page).collect::<Vec<_>>();
        assert_eq!(pages(5), [1, 4, 8, 11, 14]);
        assert_eq!(pages(2), [1, 14]);
        assert_eq!(pages(1), [8]);
        assert_eq!(pages(20).len(), 14);
    }

    #[test]
    fn kept_states_stay_evenly_spaced() {
        let mut recorder = Recorder::new(&["s".to_string()], &[], None, Redactor::default());
        let mut state = SyncState::default();
        state.set(
            "s",
            host_harness::checkpoint::Checkpoint {
                has_more: true,
                ..Default::default()
            },
        );
        for _ in 0..200 {
            recorder.save(&state, &["s".to_string()]);
        }
        assert_eq!(recorder.pages, 200);
        let pages: Vec<u64> = recorder.saves.iter().map(|s| s.page).collect();
        assert!(pages.len() < 2 * KEPT_SAVES && pages.len() >= KEPT_SAVES / 2);
        let gaps: HashSet<u64> = pages.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(gaps.len(), 1, "{pages:?}");
    }

    #[test]
    fn a_resume_that_skips_records_loses_them() {
        let seen = |keys: &[u64]| {
            keys.iter()
                .map(|&key| Seen { key, content: key })
                .collect::<Vec<_>>()
        };
        let stream = |keys: &[u64]| StreamLog {
            name: "items".into(),
            seen: seen(keys),
            ..StreamLog::default()
        };
        let full = Recorder {
            streams: vec![stream(&[0, 1, 2, 3, 4, 5])],
            ..Recorder::default()
        };
        let at = Save {
            state: SyncState::default(),
            written: vec![2],
            page: 1,
        };
        let resumed = Recorder {
            streams: vec![stream(&[1, 4, 5])],
            ..Recorder::default()
        };
        assert_eq!(
            compare(&full, &at, &resumed),
            (vec![("items".to_string(), 2)], 1)
        );
    }
}
