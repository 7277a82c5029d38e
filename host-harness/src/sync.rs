//! The fetch loop: call the guest page by page, write its records, and
//! checkpoint its state after every page.
//!
//! Order matters for what a crash can cost: a page's records are written and
//! flushed to disk before the state that follows them is saved. A crash
//! between the two replays that one page on the next run (at-least-once per
//! page; records carry a primary key to dedupe on), and a crash anywhere
//! else loses and repeats nothing.

use std::io::Write;

use std::sync::Arc;

use crate::bindings::{FetchRequest, StreamSpec};
use crate::checkpoint::{Checkpoint, Checkpointer};
use crate::connector::{Connector, ConnectorInstance};
use crate::credential::Credential;
use crate::error::HarnessError;
use crate::notices::Notices;
use crate::policy::OutboundPolicy;

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

/// JSON Lines into a file: truncated when a sync starts over, appended to
/// when it resumes, synced to disk before each checkpoint.
pub struct FileSink {
    path: std::path::PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
}

impl FileSink {
    pub fn new(path: impl Into<std::path::PathBuf>) -> Self {
        FileSink {
            path: path.into(),
            file: None,
        }
    }
}

impl RecordSink for FileSink {
    fn begin(&mut self, resuming: bool) -> std::io::Result<()> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(resuming)
            .truncate(!resuming)
            .open(&self.path)?;
        self.file = Some(std::io::BufWriter::new(file));
        Ok(())
    }
    fn write_page(&mut self, records: &[String]) -> std::io::Result<()> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| std::io::Error::other("sink not begun"))?;
        write_lines(file, records)
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
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            max_pages: 1_000_000,
        }
    }
}

/// What a stream's sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub pages: u64,
    pub records: u64,
    /// Upstream requests the connector made (that the policy let through).
    pub requests: u64,
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
}

/// Told about a sync as it goes (a progress display, a log).
pub trait Observer: Send {
    fn stream_started(&mut self, _stream: &str) {}
    fn page(&mut self, _stream: &str, _so_far: &SyncReport) {}
    fn stream_finished(&mut self, _stream: &str, _result: Result<&SyncReport, &HarnessError>) {}
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}

/// Syncs one stream to completion, checkpointing after every page.
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
    let saved = checkpoints.get(stream).cloned();
    // An unfinished sync resumes from its state; a finished one's state is
    // where the next sync starts (an incremental watermark, or nothing).
    let resumed = saved.as_ref().is_some_and(|c| c.has_more);
    let mut state = saved.and_then(|c| c.state);
    let io = |what: &str, e: std::io::Error| HarnessError::Io(format!("{what}: {e}"));
    sink.begin(resumed)
        .map_err(|e| io("cannot open output", e))?;

    let sent_before = instance.outbound_log().sent;
    let mut report = SyncReport {
        resumed,
        ..SyncReport::default()
    };
    loop {
        if report.pages >= options.max_pages {
            return Err(HarnessError::Trap(format!(
                "the connector returned {} pages of {stream} without finishing (limit --max-pages)",
                report.pages
            )));
        }
        let request = FetchRequest {
            stream: stream.to_string(),
            settings: settings.to_string(),
            state: state.clone(),
        };
        let page = instance.fetch(credential, &request).await?;
        let records = page
            .records
            .into_iter()
            .map(normalize_record)
            .collect::<Result<Vec<_>, _>>()?;
        sink.write_page(&records)
            .map_err(|e| io("cannot write records", e))?;
        sink.commit().map_err(|e| io("cannot write records", e))?;
        checkpoints.record(
            stream,
            Checkpoint {
                state: page.state.clone(),
                has_more: page.has_more,
            },
        )?;
        report.pages += 1;
        report.records += records.len() as u64;
        report.bytes += records.iter().map(|r| r.len() as u64 + 1).sum::<u64>();
        report.max_state_bytes = report
            .max_state_bytes
            .max(page.state.as_ref().map_or(0, |s| s.len() as u64));
        report.requests = instance.outbound_log().sent - sent_before;
        for notice in page.notices {
            report.notices.add(notice);
        }
        tracing::debug!(
            stream,
            page = report.pages,
            records = records.len(),
            has_more = page.has_more,
            "page written and checkpointed"
        );
        observer.page(stream, &report);
        state = page.state;
        if !page.has_more {
            return Ok(report);
        }
    }
}

/// Syncs several streams one after the other, each in a fresh instance (a
/// trap in one never poisons the next), all checkpointed into one state.
/// A stream that fails does not stop the others: every stream's outcome is
/// returned, in order.
#[allow(clippy::too_many_arguments)]
pub async fn run_streams(
    connector: &Connector,
    policy: &Arc<OutboundPolicy>,
    credential: &Credential,
    streams: &[String],
    settings: &str,
    checkpoints: &mut Checkpointer,
    sink_for: &mut dyn FnMut(&str) -> Box<dyn RecordSink>,
    options: &SyncOptions,
    observer: &mut dyn Observer,
) -> Vec<(String, Result<SyncReport, HarnessError>)> {
    let mut outcomes = Vec::with_capacity(streams.len());
    for stream in streams {
        observer.stream_started(stream);
        let result = async {
            let mut instance = connector.instantiate(policy.clone()).await?;
            let mut sink = sink_for(stream);
            run(
                &mut instance,
                credential,
                stream,
                settings,
                checkpoints,
                sink.as_mut(),
                options,
                observer,
            )
            .await
        }
        .await;
        observer.stream_finished(stream, result.as_ref());
        outcomes.push((stream.clone(), result));
    }
    outcomes
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
                return Err(HarnessError::Usage(format!(
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
/// mistake must never corrupt the JSON Lines output.
fn normalize_record(record: String) -> Result<String, HarnessError> {
    let bad =
        |why: &str| HarnessError::Trap(format!("the connector returned a record that is {why}"));
    if !record.contains(['\n', '\r']) {
        // The common case: check without re-serialising.
        serde_json::from_str::<serde::de::IgnoredAny>(&record).map_err(|_| bad("not JSON"))?;
        if !record.trim_start().starts_with('{') {
            return Err(bad("not a JSON object"));
        }
        return Ok(record);
    }
    let value: serde_json::Value = serde_json::from_str(&record).map_err(|_| bad("not JSON"))?;
    if !value.is_object() {
        return Err(bad("not a JSON object"));
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

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
            Err(HarnessError::Usage(_))
        ));
    }

    #[test]
    fn records_must_be_json_objects_on_one_line() {
        assert_eq!(normalize_record("{\"a\":1}".into()).unwrap(), "{\"a\":1}");
        assert_eq!(
            normalize_record("{\n \"a\": 1\n}".into()).unwrap(),
            "{\"a\":1}"
        );
        assert!(normalize_record("[1]".into()).is_err());
        assert!(normalize_record("{\"a\":".into()).is_err());
        assert!(normalize_record("{} {}".into()).is_err());
    }
}
