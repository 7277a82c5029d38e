//! The progress display a person sees on a terminal: one live line per
//! stream (records, pages, requests, rate), a line while the host waits to
//! retry a page, then a summary table.
//!
//! It is only used when stderr is a terminal; piped or logged runs stay
//! quiet. Notices and errors arrive already redacted: the connector
//! instance removes secret values from everything it returns.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::error::{HarnessError, printable};
use crate::retry::{Wait, secs};
use crate::sync::{Observer, SyncReport};

/// Redraws at most this often, so a fast sync is not slowed by the terminal.
const REDRAW_EVERY: Duration = Duration::from_millis(100);

/// Live progress on a terminal.
pub struct TerminalProgress<W: Write> {
    out: W,
    started: Instant,
    stream_started: Instant,
    last_draw: Option<Instant>,
    finished: Vec<Row>,
}

struct Row {
    stream: String,
    outcome: Result<SyncReport, String>,
    elapsed: Duration,
}

impl<W: Write> TerminalProgress<W> {
    pub fn new(out: W) -> Self {
        let now = Instant::now();
        TerminalProgress {
            out,
            started: now,
            stream_started: now,
            last_draw: None,
            finished: Vec::new(),
        }
    }

    fn line(&self, stream: &str, report: &SyncReport, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64().max(1e-3);
        format!(
            "{stream:<30} {:>9} records {:>7} pages {:>7} requests {:>9.0} rec/s",
            report.records,
            report.pages,
            report.requests,
            report.records as f64 / secs
        )
    }

    /// The summary table, once every stream is done.
    pub fn summary(&mut self) {
        let total = self.started.elapsed();
        let _ = writeln!(
            self.out,
            "\n{:<30} {:>9} {:>7} {:>9} {:>7} {:>7} {:>8} {:>11}  result",
            "stream",
            "records",
            "pages",
            "requests",
            "retries",
            "skipped",
            "seconds",
            "state bytes"
        );
        let (mut records, mut requests, mut retries, mut skipped) = (0, 0, 0, 0);
        let (mut connections, mut waited) = (0, Duration::ZERO);
        for row in &self.finished {
            if let Ok(rep) = &row.outcome {
                connections += rep.connections;
                waited += rep.upstream_wait;
            }
            let (r, p, q, t, k, st, result) = match &row.outcome {
                Ok(rep) => (
                    rep.records,
                    rep.pages,
                    rep.requests,
                    rep.retries,
                    rep.skipped,
                    rep.max_state_bytes,
                    match rep.already_done {
                        true => "done before the interruption".to_string(),
                        false => "ok".to_string(),
                    },
                ),
                Err(e) => (0, 0, 0, 0, 0, 0, e.clone()),
            };
            records += r;
            requests += q;
            retries += t;
            skipped += k;
            let _ = writeln!(
                self.out,
                "{:<30} {r:>9} {p:>7} {q:>9} {t:>7} {k:>7} {:>8.2} {st:>11}  {result}",
                row.stream,
                row.elapsed.as_secs_f64()
            );
        }
        let _ = writeln!(
            self.out,
            "{:<30} {records:>9} {:>7} {requests:>9} {retries:>7} {skipped:>7} {:>8.2}",
            "total",
            "",
            total.as_secs_f64()
        );
        if connections > 0 {
            let _ = writeln!(
                self.out,
                "{requests} requests on {connections} connection(s), {:.1} requests/connection; \
                 waiting on the upstream {:.2} s",
                requests as f64 / connections as f64,
                waited.as_secs_f64()
            );
        }
    }
}

impl<W: Write + Send> Observer for TerminalProgress<W> {
    fn stream_started(&mut self, stream: &str) {
        self.stream_started = Instant::now();
        self.last_draw = None;
        let _ = write!(self.out, "\r\x1b[2K{stream}: starting…");
        let _ = self.out.flush();
    }

    fn page(&mut self, stream: &str, so_far: &SyncReport) {
        let now = Instant::now();
        if self.last_draw.is_some_and(|t| now - t < REDRAW_EVERY) {
            return;
        }
        self.last_draw = Some(now);
        let line = self.line(stream, so_far, self.stream_started.elapsed());
        let _ = write!(self.out, "\r\x1b[2K{line}");
        let _ = self.out.flush();
    }

    fn waiting(&mut self, stream: &str, wait: &Wait) {
        // Only the error's kind: the line must fit, and the full message
        // comes with the final error if the retries do not help.
        let _ = write!(
            self.out,
            "\r\x1b[2K{stream}: {}, retrying in {} (attempt {}/{})",
            wait.error.kind(),
            secs(wait.delay),
            wait.attempt,
            wait.max_attempts
        );
        let _ = self.out.flush();
        // The next page replaces this line at once.
        self.last_draw = None;
    }

    fn stream_finished(&mut self, stream: &str, result: Result<&SyncReport, &HarnessError>) {
        let elapsed = self.stream_started.elapsed();
        match result {
            Ok(report) if report.already_done => {
                let _ = writeln!(
                    self.out,
                    "\r\x1b[2K{stream}: done by the interrupted run this one continues"
                );
            }
            Ok(report) => {
                let line = self.line(stream, report, elapsed);
                let _ = writeln!(self.out, "\r\x1b[2K{line}");
                for kind in report.notices.kinds() {
                    let _ = writeln!(self.out, "  notice: {}", kind);
                }
                const SHOWN: usize = 10;
                for item in report.skipped_items.iter().take(SHOWN) {
                    let _ = writeln!(self.out, "  skipped: {}", printable(item));
                }
                if report.skipped > SHOWN as u64 {
                    let _ = writeln!(
                        self.out,
                        "  skipped: {} more (see --log info)",
                        report.skipped - SHOWN as u64
                    );
                }
                if report.notices.overflow > 0 {
                    let _ = writeln!(
                        self.out,
                        "  notice: {} more of other kinds",
                        report.notices.overflow
                    );
                }
                if report.retries > 0 {
                    let _ = writeln!(
                        self.out,
                        "  retried {} time(s), waited {}",
                        report.retries,
                        secs(report.retry_wait)
                    );
                }
                if report.duplicates > 0 {
                    let _ = writeln!(
                        self.out,
                        "  dropped {} duplicate record(s): their primary key was already written",
                        report.duplicates
                    );
                }
                if report.unkeyed > 0 {
                    let _ = writeln!(
                        self.out,
                        "  {} record(s) lack a primary-key value: written without dedupe",
                        report.unkeyed
                    );
                }
            }
            Err(e) => {
                let _ = writeln!(self.out, "\r\x1b[2K{stream:<30} failed: {}", e);
            }
        }
        let _ = self.out.flush();
        self.finished.push(Row {
            stream: stream.to_string(),
            outcome: result.cloned().map_err(|e| e.to_string()),
            elapsed,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::{ConnectorError, RetryHint};
    use std::time::Duration;

    #[test]
    fn shows_the_wait_and_the_retries() {
        let mut progress = TerminalProgress::new(Vec::new());
        progress.stream_started("pipelines");
        let error = HarnessError::Connector(ConnectorError::RateLimited(RetryHint {
            retry_after_ms: Some(4200),
            message: "slow down".into(),
        }));
        progress.waiting(
            "pipelines",
            &Wait {
                error,
                attempt: 2,
                max_attempts: 8,
                delay: Duration::from_millis(4200),
                hinted: true,
                waited: Duration::ZERO,
            },
        );
        let report = SyncReport {
            records: 3,
            pages: 1,
            requests: 5,
            connections: 2,
            upstream_wait: Duration::from_millis(1500),
            retries: 1,
            retry_wait: Duration::from_millis(4200),
            duplicates: 2,
            ..SyncReport::default()
        };
        progress.stream_finished("pipelines", Ok(&report));
        progress.summary();
        let text = String::from_utf8(progress.out).unwrap();
        assert!(
            text.contains("pipelines: rate-limited, retrying in 4.2 s (attempt 2/8)"),
            "{text}"
        );
        assert!(text.contains("retried 1 time(s), waited 4.2 s"), "{text}");
        assert!(text.contains("dropped 2 duplicate record(s)"), "{text}");
        assert!(text.contains("retries"), "{text}");
        assert!(
            text.contains(
                "5 requests on 2 connection(s), 2.5 requests/connection; waiting on the upstream 1.50 s"
            ),
            "{text}"
        );
    }
}
