//! The state file: where a stream's sync stands, saved durably after every
//! page so that a crash loses at most the page being written.
//!
//! The file is a small JSON envelope the host owns around the guest's opaque
//! state: it names the stream, so a state file of another stream is refused
//! rather than fed to the wrong reader, and it says whether the sync was
//! unfinished (resume it) or complete (its state starts the next sync).
//! A file that cannot be read or parsed is an error, never a silent restart
//! from scratch. Writes go to a temporary file that is synced and renamed
//! over the old one, so the file is always either the old or the new state.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::HarnessError;

const FORMAT: &str = "ingest-connector-state";
const VERSION: u32 = 1;

/// Largest state file accepted: the guest's state is meant to stay small.
pub const MAX_STATE_FILE_BYTES: u64 = 1024 * 1024;

/// Where one stream's sync stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub format: String,
    pub version: u32,
    pub stream: String,
    /// The guest's state, opaque to the host.
    pub state: Option<String>,
    /// Whether the sync this state belongs to was unfinished.
    pub has_more: bool,
}

impl Checkpoint {
    pub fn new(stream: &str, state: Option<String>, has_more: bool) -> Self {
        Checkpoint {
            format: FORMAT.to_string(),
            version: VERSION,
            stream: stream.to_string(),
            state,
            has_more,
        }
    }
}

/// A state file on disk.
#[derive(Clone, Debug)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        StateFile { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved checkpoint of `stream`; `None` when there is no file yet.
    pub fn load(&self, stream: &str) -> Result<Option<Checkpoint>, HarnessError> {
        let fail = |why: String| HarnessError::StateFile(format!("{}: {why}", self.path.display()));
        let bytes = match std::fs::metadata(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(fail(e.to_string())),
            Ok(meta) if meta.len() > MAX_STATE_FILE_BYTES => {
                return Err(fail(format!("{} bytes is too large for a state file", meta.len())));
            }
            Ok(_) => std::fs::read(&self.path).map_err(|e| fail(e.to_string()))?,
        };
        let checkpoint: Checkpoint = serde_json::from_slice(&bytes)
            .map_err(|e| fail(format!("not a state file written by this harness ({e}); move it away to start over")))?;
        if checkpoint.format != FORMAT || checkpoint.version != VERSION {
            return Err(fail(format!(
                "unknown state format {:?} version {} (expected {FORMAT:?} version {VERSION})",
                checkpoint.format, checkpoint.version
            )));
        }
        if checkpoint.stream != stream {
            return Err(fail(format!(
                "holds the state of stream {:?}, not {stream:?}",
                checkpoint.stream
            )));
        }
        Ok(Some(checkpoint))
    }

    /// Durably replaces the file with `checkpoint`.
    pub fn save(&self, checkpoint: &Checkpoint) -> Result<(), HarnessError> {
        let fail = |why: std::io::Error| HarnessError::Io(format!("cannot save state to {}: {why}", self.path.display()));
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
        let body = serde_json::to_vec_pretty(checkpoint).expect("a checkpoint always serialises");
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&body)?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            // Make the rename itself durable.
            std::fs::File::open(&dir)?.sync_all()
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            fail(e)
        })
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
        assert_eq!(file.load("pipelines").unwrap(), None);
        let c = Checkpoint::new("pipelines", Some("{\"v\":1}".into()), true);
        file.save(&c).unwrap();
        assert_eq!(file.load("pipelines").unwrap(), Some(c));
        assert!(file.load("projects").unwrap_err().to_string().contains("not \"projects\""));
        std::fs::write(file.path(), b"{garbage").unwrap();
        assert!(matches!(file.load("pipelines"), Err(HarnessError::StateFile(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
