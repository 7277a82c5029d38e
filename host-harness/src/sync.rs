//! The fetch loop: call the guest page by page, write its records, and
//! checkpoint its state after every page.
//!
//! Order matters for what a crash can cost: a page's records are written and
//! flushed to disk before the state that follows them is saved. A crash
//! between the two replays that one page on the next run (at-least-once per
//! page; records carry a primary key to dedupe on), and a crash anywhere
//! else loses and repeats nothing.

use std::io::Write;

use crate::bindings::FetchRequest;
use crate::checkpoint::{Checkpoint, StateFile};
use crate::connector::ConnectorInstance;
use crate::credential::Credential;
use crate::error::HarnessError;

/// Where a sync's records go.
pub trait RecordSink {
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

impl<W: Write> RecordSink for WriterSink<W> {
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
        FileSink { path: path.into(), file: None }
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
        let file = self.file.as_mut().ok_or_else(|| std::io::Error::other("sink not begun"))?;
        write_lines(file, records)
    }
    fn commit(&mut self) -> std::io::Result<()> {
        let file = self.file.as_mut().ok_or_else(|| std::io::Error::other("sink not begun"))?;
        file.flush()?;
        file.get_ref().sync_data()
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
        SyncOptions { max_pages: 1_000_000 }
    }
}

/// What a finished sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub pages: u64,
    pub records: u64,
    /// Whether it continued an interrupted sync.
    pub resumed: bool,
    /// Notices the connector attached to pages (skipped items and why).
    pub notices: Vec<String>,
}

/// Syncs one stream to completion, checkpointing after every page.
pub async fn run(
    instance: &mut ConnectorInstance,
    credential: &Credential,
    stream: &str,
    settings: &str,
    state_file: Option<&StateFile>,
    sink: &mut dyn RecordSink,
    options: &SyncOptions,
) -> Result<SyncReport, HarnessError> {
    let saved = match state_file {
        Some(file) => file.load(stream)?,
        None => None,
    };
    // An unfinished sync resumes from its state; a finished one's state is
    // where the next sync starts (an incremental watermark, or nothing).
    let resumed = saved.as_ref().is_some_and(|c| c.has_more);
    let mut state = saved.and_then(|c| c.state);
    let io = |what: &str, e: std::io::Error| HarnessError::Io(format!("{what}: {e}"));
    sink.begin(resumed).map_err(|e| io("cannot open output", e))?;

    let mut report = SyncReport { resumed, ..SyncReport::default() };
    loop {
        if report.pages >= options.max_pages {
            return Err(HarnessError::Trap(format!(
                "the connector returned {} pages without finishing (limit --max-pages)",
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
        sink.write_page(&records).map_err(|e| io("cannot write records", e))?;
        sink.commit().map_err(|e| io("cannot write records", e))?;
        if let Some(file) = state_file {
            file.save(&Checkpoint::new(stream, page.state.clone(), page.has_more))?;
        }
        report.pages += 1;
        report.records += records.len() as u64;
        report.notices.extend(page.notices);
        state = page.state;
        if !page.has_more {
            return Ok(report);
        }
    }
}

/// Checks that a record is one JSON object and makes it one line: a guest's
/// mistake must never corrupt the JSON Lines output.
fn normalize_record(record: String) -> Result<String, HarnessError> {
    let bad = |why: &str| HarnessError::Trap(format!("the connector returned a record that is {why}"));
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
