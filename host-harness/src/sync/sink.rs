//! Where a sync's records go: the [`RecordSink`] trait and the sinks the
//! host has (a writer, a file that keeps every record exactly once across
//! crashes, memory).

use std::io::Write;

use crate::checkpoint::OutputFile;

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

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
}
