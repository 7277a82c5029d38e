//! The one writer of protocol messages on stdout, shared by a sync's record
//! sinks, its checkpoint store and its observer (each of which the host
//! library owns for the sync's length, so they share it by handle).
//!
//! Messages are whole lines: a record's line is assembled around the
//! record's JSON as the connector returned it and the host checked it (an
//! object, secrets redacted), without parsing it again. Text the adapter
//! writes itself (logs, errors) passes the credential's redactor too.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufWriter, Write};
use std::sync::{Arc, Mutex, MutexGuard};

use host_harness::credential::Redactor;
use serde_json::Value;

/// A handle on stdout's protocol stream.
#[derive(Clone)]
pub struct Emitter(Arc<Mutex<Out>>);

/// What the handle guards: the writer and what the protocols count.
pub struct Out {
    writer: BufWriter<Box<dyn Write + Send>>,
    redactor: Redactor,
    /// Records written per stream since the stream's last state message.
    since_state: BTreeMap<String, u64>,
    /// Streams whose first record or state was written (Airbyte's RUNNING).
    pub running: BTreeSet<String>,
}

impl Emitter {
    /// An emitter on stdout.
    pub fn stdout() -> Emitter {
        let writer: Box<dyn Write + Send> = Box::new(std::io::stdout());
        Emitter(Arc::new(Mutex::new(Out {
            writer: BufWriter::with_capacity(256 * 1024, writer),
            redactor: Redactor::default(),
            since_state: BTreeMap::new(),
            running: BTreeSet::new(),
        })))
    }

    /// Exclusive use of the stream for a few messages.
    pub fn lock(&self) -> MutexGuard<'_, Out> {
        // A panic while holding it ends the process anyway (panic=abort is
        // not assumed): the data is plain counters and a buffer.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Out {
    /// Sets what is removed from text the adapter writes itself.
    pub fn set_redactor(&mut self, redactor: Redactor) {
        self.redactor = redactor;
    }

    /// `text` with the credential's secrets removed.
    pub fn redact(&self, text: &str) -> String {
        self.redactor.redact(text)
    }

    /// Writes one message.
    pub fn message(&mut self, message: &Value) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.writer, message)?;
        self.writer.write_all(b"\n")
    }

    /// Writes one page of `stream`'s records, each as one message: `head`,
    /// the record's JSON, `tail` and a newline; and counts them.
    pub fn records(
        &mut self,
        stream: &str,
        head: &[u8],
        records: &[String],
        tail: &[u8],
    ) -> std::io::Result<()> {
        for data in records {
            self.writer.write_all(head)?;
            self.writer.write_all(data.as_bytes())?;
            self.writer.write_all(tail)?;
            self.writer.write_all(b"\n")?;
        }
        // Counted once a page, not once a record: this is the hot path.
        match self.since_state.get_mut(stream) {
            Some(count) => *count += records.len() as u64,
            None => {
                self.since_state
                    .insert(stream.to_string(), records.len() as u64);
            }
        }
        Ok(())
    }

    /// Records of `stream` since its last state message, reset.
    pub fn take_count(&mut self, stream: &str) -> u64 {
        self.since_state.remove(stream).unwrap_or(0)
    }

    /// Pushes everything written to stdout.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.writer.flush()
    }
}

/// An I/O error of stdout as the host library's error.
pub fn io_error(e: std::io::Error) -> host_harness::HarnessError {
    host_harness::HarnessError::Io(format!("cannot write to stdout: {e}"))
}
