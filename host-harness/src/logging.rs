//! The host's own log: `tracing` events, and a writer for a subscriber that
//! can never print a secret.
//!
//! The library emits events and spans (`tracing`); which ones are shown and
//! where is the embedding's choice. Its own events never carry a credential
//! value: they name tenants, calls, streams, hosts and counts, and any text
//! that came from a guest or the upstream (an error message, a notice) has
//! been through the tenant's [`Redactor`] first.
//!
//! Other crates log too (wasmtime-wasi-http logs hyper and TLS errors at
//! `warn`), and their text is not ours to vet. So a subscriber (the CLI's,
//! or an embedder's) writes through a [`RedactingWriter`]: every formatted line is redacted with the
//! secrets of the credential in use, and its control characters escaped
//! ([`printable`]), before it reaches stderr.

use std::io::Write;
use std::sync::{Arc, RwLock};

use tracing_subscriber::fmt::MakeWriter;

use crate::credential::Redactor;
use crate::error::printable;

/// The redactor a [`RedactingWriter`] applies; set once the credential is
/// known, shared with the writer.
#[derive(Clone, Default)]
pub struct SharedRedactor(Arc<RwLock<Redactor>>);

impl SharedRedactor {
    /// Redacts with `redactor` from now on.
    pub fn set(&self, redactor: Redactor) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = redactor;
    }

    fn redact(&self, text: &str) -> String {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .redact(text)
    }
}

/// A `MakeWriter` whose writers buffer one event and write it, redacted, to
/// the inner writer when dropped (the fmt layer makes one writer per event).
#[derive(Clone)]
pub struct RedactingWriter<W> {
    inner: Arc<std::sync::Mutex<W>>,
    redactor: SharedRedactor,
}

impl<W: Write> RedactingWriter<W> {
    /// A writer to `inner` that redacts with `redactor`.
    pub fn new(inner: W, redactor: SharedRedactor) -> Self {
        RedactingWriter {
            inner: Arc::new(std::sync::Mutex::new(inner)),
            redactor,
        }
    }
}

/// One event's text on its way out.
pub struct EventWriter<'a, W: Write> {
    buffer: Vec<u8>,
    target: &'a RedactingWriter<W>,
}

impl<W: Write> Write for EventWriter<'_, W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for EventWriter<'_, W> {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.buffer);
        let redacted = self.target.redactor.redact(&text);
        // One line, with nothing in it that drives a terminal: an event may
        // quote a guest's text.
        let line = printable(redacted.strip_suffix('\n').unwrap_or(&redacted));
        let mut inner = self.target.inner.lock().unwrap_or_else(|p| p.into_inner());
        // A log line that cannot be written is dropped: logging must never
        // end a sync.
        let _ = inner.write_all(line.as_bytes());
        let _ = inner.write_all(b"\n");
        let _ = inner.flush();
    }
}

impl<'a, W: Write + 'a> MakeWriter<'a> for RedactingWriter<W> {
    type Writer = EventWriter<'a, W>;
    fn make_writer(&'a self) -> Self::Writer {
        EventWriter {
            buffer: Vec::with_capacity(256),
            target: self,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_event_is_redacted_before_it_is_written() {
        let captured = Captured::default();
        let redactor = SharedRedactor::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(RedactingWriter::new(captured.clone(), redactor.clone()))
            .with_max_level(tracing::Level::TRACE)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!("before the credential: tok_early_0123");
            redactor.set(Redactor::new(["tok_secret_4567".to_string()]));
            tracing::warn!(
                header = "Circle-Token: tok_secret_4567",
                "a third-party event"
            );
            tracing::info!("url https://x/?key=tok_secret_4567&a=1");
            tracing::warn!("a guest's text: \x1b]0;title\x07 tok_\\u0073ecret_4567");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("tok_secret_4567"), "{text}");
        assert_eq!(text.matches("[REDACTED]").count(), 3, "{text}");
        assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text}");
        assert_eq!(text.lines().count(), 4, "one line per event: {text}");
        assert!(text.contains("tok_early_0123"), "nothing to redact yet");
    }
}
