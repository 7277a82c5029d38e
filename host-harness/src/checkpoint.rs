//! Where each stream's sync stands ([`SyncState`]), saved durably after
//! every page so that a crash loses at most the page being written.
//!
//! The [`Checkpointer`] keeps a sync's state and hands it to a
//! [`CheckpointStore`] after every page: a file ([`StateFile`], what the CLI
//! uses), nothing ([`Checkpointer::in_memory`]), or an embedder's own store
//! (a platform's database row per connection, say). The state is a small
//! JSON envelope the host owns around the guest's opaque states
//! ([`SyncState::to_json`], [`SyncState::from_json`]). Per stream ([`Checkpoint`]): its
//! cursor (what its last finished sync ended with; the next sync starts
//! from it), whether it is in an unfinished walk, and where its output
//! stands. Per unfinished walk of several streams read together
//! ([`WalkCheckpoint`]): the guest's walk state, from which the walk
//! resumes. A page's checkpoint of every stream of its walk is one save. A
//! state that cannot be read or parsed is an error, never a
//! silent restart from scratch. The file store writes to a new file of a random name,
//! created exclusively (never through a symlink) with the state file's mode
//! (0600 unless the operator says otherwise), synced and renamed over the old
//! one, so the file is always either the old or the new state. A state the
//! host saves is one it can read back: a file over [`MAX_STATE_FILE_BYTES`]
//! is refused when it would be written, not when the next run reads it.
//!
//! A run of several streams is recorded too ([`RunProgress`]): which streams
//! it syncs and which of them it finished. A rerun of the same streams after
//! a crash skips the finished ones (rather than syncing a full-refresh stream
//! all over again, or an incremental one from its new watermark, which would
//! leave that stream's output with only the changes) and resumes the one in
//! flight.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::HarnessError;

/// Where a sync's [`SyncState`] is kept between pages and between runs.
///
/// The host calls [`CheckpointStore::save`] after every page of every walk,
/// before it asks for the next page, and when a run of several streams
/// starts or ends. A store that keeps the state elsewhere than a file
/// implements this; [`StateFile`] is the file store.
pub trait CheckpointStore: Send {
    /// The state saved last; an empty [`SyncState`] when nothing was saved
    /// yet. A state that exists but cannot be read is an error
    /// ([`HarnessError::State`]), never an empty state: that would start
    /// the sync over silently.
    fn load(&mut self) -> Result<SyncState, HarnessError>;

    /// Makes `state` durable before returning. `changed` names the streams
    /// whose checkpoint this save moves (a page's walk), empty when only the
    /// run's bookkeeping does. An error ends the sync: the page's records
    /// may already be in the sink, and the next run asks for that page again
    /// from the checkpoint saved before it.
    fn save(&mut self, state: &SyncState, changed: &[String]) -> Result<(), HarnessError>;
}
use crate::limits::{LimitKind, bytes};

const FORMAT: &str = "ingest-connector-state";
/// Version 2 keeps walks; version 1 files (one state per stream) still
/// load: a finished stream's state is its cursor, and an unfinished
/// stream's state (a walk of the connector's contract 0.1) is dropped, so
/// that stream is read again from its start.
const VERSION: u32 = 2;

/// Largest state file written or read: room for every stream of a catalog
/// at its [`crate::Limits::state_bytes`] with margin (the guest's states are
/// meant to stay small).
pub const MAX_STATE_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The mode new state and output files get unless the operator says
/// otherwise: readable by their owner only (records and states are the
/// tenant's data).
pub const DEFAULT_FILE_MODE: u32 = 0o600;

/// Where one stream's sync stands.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The stream's cursor, opaque to the host: what its last finished
    /// sync ended with (none for a stream that keeps nothing between
    /// syncs). While a sync of it is unfinished, still the cursor that sync
    /// started from: every call of a walk passes the same.
    pub state: Option<String>,
    /// Whether the stream is in an unfinished walk (see [`WalkCheckpoint`]).
    pub has_more: bool,
    /// How many bytes of the stream's output file were written when this
    /// checkpoint was taken, for sinks that can cut back to it (files): a
    /// resumed sync truncates the file there, so a page written but not
    /// checkpointed before a crash is not written twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_bytes: Option<u64>,
    /// Which file those bytes are in, for sinks that write one: a resumed
    /// sync whose output is another file (a scheduler that writes each run
    /// to its own file) writes from this checkpoint on into the new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<OutputFile>,
}

/// A file a stream's records were written to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    /// Its path, absolute.
    pub path: String,
    /// Its device and inode: the same path may name another file later.
    pub dev: u64,
    /// See `dev`.
    pub ino: u64,
}

/// An unfinished walk: the streams read together, in the order the
/// connector was asked for them, and the guest's state of the walk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalkCheckpoint {
    /// The walk's streams, in the order the connector was asked for them.
    pub streams: Vec<String>,
    /// The guest's state of the walk, opaque to the host.
    pub state: String,
}

/// The key of the walk of `streams` in [`SyncState::walks`].
pub fn walk_key(streams: &[String]) -> String {
    streams.join(",")
}

/// A multi-stream run that has not finished every stream yet.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunProgress {
    /// The streams of the run, in order.
    pub streams: Vec<String>,
    /// Those it finished.
    pub done: Vec<String>,
}

/// Every stream's checkpoint, as stored in one state file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncState {
    format: String,
    version: u32,
    /// Each stream's checkpoint, by stream name.
    pub streams: BTreeMap<String, Checkpoint>,
    /// The unfinished walks, by [`walk_key`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub walks: BTreeMap<String, WalkCheckpoint>,
    /// The unfinished run of several streams, if any. (Absent in files
    /// written before runs were recorded: the same version reads both.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunProgress>,
}

impl Default for SyncState {
    fn default() -> Self {
        SyncState {
            format: FORMAT.to_string(),
            version: VERSION,
            streams: BTreeMap::new(),
            walks: BTreeMap::new(),
            run: None,
        }
    }
}

impl SyncState {
    /// `stream`'s checkpoint, if it has one.
    pub fn get(&self, stream: &str) -> Option<&Checkpoint> {
        self.streams.get(stream)
    }

    /// Sets `stream`'s checkpoint.
    pub fn set(&mut self, stream: &str, checkpoint: Checkpoint) {
        self.streams.insert(stream.to_string(), checkpoint);
    }

    /// The unfinished walk of exactly `streams`, if any.
    pub fn walk(&self, streams: &[String]) -> Option<&WalkCheckpoint> {
        self.walks
            .get(&walk_key(streams))
            .filter(|w| w.streams == streams)
    }

    /// The state as the JSON a store keeps: what [`SyncState::from_json`]
    /// reads back. Refused when it is larger than
    /// [`MAX_STATE_FILE_BYTES`], which `from_json` would refuse: a state
    /// saved must be one the next run can read.
    pub fn to_json(&self) -> Result<Vec<u8>, HarnessError> {
        let mut body = serde_json::to_vec_pretty(self).expect("a state always serialises");
        body.push(b'\n');
        if body.len() as u64 > MAX_STATE_FILE_BYTES {
            return Err(HarnessError::Limit {
                limit: LimitKind::StateBytes,
                value: format!("{} for the whole state", bytes(MAX_STATE_FILE_BYTES)),
                detail: format!(
                    "the state would take {}; nothing was saved",
                    bytes(body.len() as u64)
                ),
            });
        }
        Ok(body)
    }

    /// Reads a state [`SyncState::to_json`] wrote (of this version or an
    /// earlier one). Anything else is [`HarnessError::State`].
    pub fn from_json(bytes: &[u8]) -> Result<SyncState, HarnessError> {
        if bytes.len() as u64 > MAX_STATE_FILE_BYTES {
            return Err(HarnessError::State(format!(
                "{} bytes is too large for a state",
                bytes.len()
            )));
        }
        let mut state: SyncState = serde_json::from_slice(bytes).map_err(|e| {
            HarnessError::State(format!(
                "not a state written by this host ({e}); move it away to start over"
            ))
        })?;
        if state.format != FORMAT || !(1..=VERSION).contains(&state.version) {
            return Err(HarnessError::State(format!(
                "unknown state format {:?} version {} (expected {FORMAT:?} version {VERSION})",
                state.format, state.version
            )));
        }
        if state.version == 1 {
            // See [`VERSION`]: an unfinished stream of version 1 starts over.
            for checkpoint in state.streams.values_mut() {
                if checkpoint.has_more {
                    checkpoint.state = None;
                }
            }
            state.version = VERSION;
        }
        Ok(state)
    }
}

/// A state file on disk.
#[derive(Clone, Debug)]
pub struct StateFile {
    path: PathBuf,
    mode: u32,
}

impl StateFile {
    /// The state file at `path`, written with [`DEFAULT_FILE_MODE`].
    pub fn new(path: impl Into<PathBuf>) -> Self {
        StateFile {
            path: path.into(),
            mode: DEFAULT_FILE_MODE,
        }
    }

    /// The same file, written with permission bits `mode` (e.g. `0o640`).
    pub fn with_mode(self, mode: u32) -> Self {
        StateFile { mode, ..self }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved state; empty when there is no file yet.
    pub fn load(&self) -> Result<SyncState, HarnessError> {
        let fail = |why: String| HarnessError::State(format!("{}: {why}", self.path.display()));
        let bytes = match std::fs::metadata(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(SyncState::default()),
            Err(e) => return Err(fail(e.to_string())),
            Ok(meta) if meta.len() > MAX_STATE_FILE_BYTES => {
                return Err(fail(format!(
                    "{} bytes is too large for a state file",
                    meta.len()
                )));
            }
            Ok(_) => std::fs::read(&self.path).map_err(|e| fail(e.to_string()))?,
        };
        SyncState::from_json(&bytes).map_err(|e| match e {
            HarnessError::State(why) => fail(why),
            other => other,
        })
    }

    /// Durably replaces the file with `state`.
    pub fn save(&self, state: &SyncState) -> Result<(), HarnessError> {
        let body = state.to_json()?;
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let write = || -> std::io::Result<()> {
            let mut file = tempfile::Builder::new()
                .prefix(".state-")
                .permissions(std::fs::Permissions::from_mode(self.mode))
                .tempfile_in(&dir)?;
            file.write_all(&body)?;
            file.as_file().sync_all()?;
            file.persist(&self.path).map_err(|e| e.error)?;
            // Make the rename itself durable.
            std::fs::File::open(&dir)?.sync_all()
        };
        write().map_err(|why| {
            HarnessError::Io(format!(
                "cannot save state to {}: {why}",
                self.path.display()
            ))
        })
    }
}

impl CheckpointStore for StateFile {
    fn load(&mut self) -> Result<SyncState, HarnessError> {
        StateFile::load(self)
    }

    fn save(&mut self, state: &SyncState, _changed: &[String]) -> Result<(), HarnessError> {
        StateFile::save(self, state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_foreign_files() {
        let dir = std::env::temp_dir().join(format!("ckpt-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = StateFile::new(dir.join("state.json"));
        assert_eq!(file.load().unwrap(), SyncState::default());
        let mut state = SyncState::default();
        state.set(
            "pipelines",
            Checkpoint {
                state: Some("{\"v\":1}".into()),
                has_more: true,
                output_bytes: Some(42),
                output: None,
            },
        );
        file.save(&state).unwrap();
        assert_eq!(file.load().unwrap(), state);
        assert_eq!(file.load().unwrap().get("projects"), None);
        std::fs::write(file.path(), b"{garbage").unwrap();
        assert!(matches!(file.load(), Err(HarnessError::State(_))));
        std::fs::write(
            file.path(),
            br#"{"format":"other","version":1,"streams":{}}"#,
        )
        .unwrap();
        assert!(
            file.load()
                .unwrap_err()
                .to_string()
                .contains("unknown state format")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_file_is_private_written_afresh_and_never_larger_than_it_may_be_read() {
        use std::os::unix::fs::MetadataExt;
        let dir = std::env::temp_dir().join(format!("ckpt-mode-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        // A symlink where the file goes is replaced, never written through.
        let target = dir.join("elsewhere");
        std::fs::write(&target, b"keep").unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let file = StateFile::new(&path);
        file.save(&SyncState::default()).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        assert!(
            !std::fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        StateFile::new(&path)
            .with_mode(0o640)
            .save(&SyncState::default())
            .unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o640);

        // A state too large to be read back is refused before it is written.
        let mut huge = SyncState::default();
        huge.set(
            "s",
            Checkpoint {
                state: Some("x".repeat(MAX_STATE_FILE_BYTES as usize)),
                has_more: true,
                output_bytes: None,
                output: None,
            },
        );
        let err = file.save(&huge).unwrap_err();
        assert_eq!(err.limit(), Some(LimitKind::StateBytes), "{err}");
        assert_eq!(
            file.load().unwrap(),
            SyncState::default(),
            "the old state stays"
        );
        // What fits is read back.
        let mut big = SyncState::default();
        big.set(
            "s",
            Checkpoint {
                state: Some("x".repeat(MAX_STATE_FILE_BYTES as usize / 2)),
                has_more: true,
                output_bytes: None,
                output: None,
            },
        );
        file.save(&big).unwrap();
        assert_eq!(file.load().unwrap(), big);
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.starts_with(".state-")), "{names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_rerun_of_the_same_streams_skips_those_finished() {
        let streams: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let mut c = Checkpointer::in_memory();
        assert!(c.begin_run(&streams).unwrap().is_empty());
        c.stream_done("a").unwrap();
        c.stream_done("a").unwrap();
        // The process dies here; the rerun reads the same state.
        let mut rerun = Checkpointer {
            state: c.state().clone(),
            store: None,
        };
        assert_eq!(rerun.begin_run(&streams).unwrap(), vec!["a".to_string()]);
        // A stream's last checkpoint marks it done in the same write.
        rerun
            .record(
                "b",
                Checkpoint {
                    state: None,
                    has_more: false,
                    output_bytes: None,
                    output: None,
                },
            )
            .unwrap();
        let crashed = Checkpointer {
            state: rerun.state().clone(),
            store: None,
        };
        assert_eq!(
            crashed.state().run.as_ref().unwrap().done,
            ["a".to_string(), "b".to_string()]
        );
        // Another set of streams is another run.
        let mut other = Checkpointer {
            state: c.state().clone(),
            store: None,
        };
        assert!(other.begin_run(&streams[..2]).unwrap().is_empty());
        rerun.end_run().unwrap();
        assert!(rerun.begin_run(&streams).unwrap().is_empty());
        // Files written before runs were recorded still load.
        let old: SyncState =
            serde_json::from_str(r#"{"format":"ingest-connector-state","version":1,"streams":{}}"#)
                .unwrap();
        assert_eq!(old.run, None);
    }
}

/// A sync's state in memory, handed to its [`CheckpointStore`] (when there
/// is one) at every checkpoint.
#[derive(Default)]
pub struct Checkpointer {
    state: SyncState,
    store: Option<Box<dyn CheckpointStore>>,
}

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpointer")
            .field("state", &self.state)
            .field("stored", &self.store.is_some())
            .finish()
    }
}

impl Checkpointer {
    /// State kept in memory only (tests, one-off syncs).
    pub fn in_memory() -> Self {
        Checkpointer::default()
    }

    /// State loaded from, and saved to, `store` (a [`StateFile`], or the
    /// embedder's own).
    pub fn open(mut store: impl CheckpointStore + 'static) -> Result<Self, HarnessError> {
        Ok(Checkpointer {
            state: store.load()?,
            store: Some(Box::new(store)),
        })
    }

    /// `stream`'s checkpoint, if it has one.
    pub fn get(&self, stream: &str) -> Option<&Checkpoint> {
        self.state.get(stream)
    }

    /// The whole state, as last saved.
    pub fn state(&self) -> &SyncState {
        &self.state
    }

    /// Records `stream`'s new checkpoint and makes it durable (see
    /// [`Checkpointer::record_walk`]).
    pub fn record(&mut self, stream: &str, checkpoint: Checkpoint) -> Result<(), HarnessError> {
        self.record_walk(&[stream.to_string()], None, vec![checkpoint])
    }

    /// Records the new checkpoint of every stream of a walk (`streams`, in
    /// the walk's order, with `checkpoints` in the same order) and the
    /// walk's state while it has more (`walk`), and makes them durable in
    /// one write. A walk's last checkpoint (no `walk` state) drops the walk
    /// and marks its streams finished in the current run, in the same
    /// write: a crash between the two would otherwise make the rerun sync
    /// them again from their new cursors, truncating their output to only
    /// what changed since.
    pub fn record_walk(
        &mut self,
        streams: &[String],
        walk: Option<String>,
        checkpoints: Vec<Checkpoint>,
    ) -> Result<(), HarnessError> {
        let key = walk_key(streams);
        // Another walk of any of these streams (an interrupted run that
        // grouped them otherwise) can no longer resume: their checkpoints
        // move on here.
        self.state
            .walks
            .retain(|k, w| *k == key || !w.streams.iter().any(|s| streams.contains(s)));
        match walk {
            Some(state) => {
                self.state.walks.insert(
                    key,
                    WalkCheckpoint {
                        streams: streams.to_vec(),
                        state,
                    },
                );
            }
            None => {
                self.state.walks.remove(&key);
            }
        }
        for (stream, checkpoint) in streams.iter().zip(checkpoints) {
            let finished = !checkpoint.has_more;
            self.state.set(stream, checkpoint);
            if finished
                && let Some(run) = &mut self.state.run
                && run.streams.iter().any(|s| s == stream)
                && !run.done.iter().any(|s| s == stream)
            {
                run.done.push(stream.to_string());
            }
        }
        self.save(streams)
    }

    fn save(&mut self, changed: &[String]) -> Result<(), HarnessError> {
        match &mut self.store {
            Some(store) => store.save(&self.state, changed),
            None => Ok(()),
        }
    }

    /// Starts a run of `streams`, or continues the unfinished run of the
    /// same streams: returns the streams that run already finished.
    pub fn begin_run(&mut self, streams: &[String]) -> Result<Vec<String>, HarnessError> {
        if let Some(run) = &self.state.run
            && run.streams == streams
        {
            return Ok(run.done.clone());
        }
        self.state.run = Some(RunProgress {
            streams: streams.to_vec(),
            done: Vec::new(),
        });
        self.save(&[])?;
        Ok(Vec::new())
    }

    /// Marks `stream` finished in the current run.
    pub fn stream_done(&mut self, stream: &str) -> Result<(), HarnessError> {
        if let Some(run) = &mut self.state.run
            && !run.done.iter().any(|s| s == stream)
        {
            run.done.push(stream.to_string());
            return self.save(&[]);
        }
        Ok(())
    }

    /// Ends the current run: the next run starts every stream again (full
    /// refresh, or incremental from its watermark).
    pub fn end_run(&mut self) -> Result<(), HarnessError> {
        if self.state.run.take().is_some() {
            self.save(&[])?;
        }
        Ok(())
    }
}
