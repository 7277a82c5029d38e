//! The progress display a person sees on a terminal: one live line per
//! walk (the streams read together: records, pages, requests, requests in
//! flight, rate limits, rate), a line while the host waits to retry a page,
//! then a summary table with a row per stream.
//!
//! It is only used when stderr is a terminal; piped or logged runs stay
//! quiet. Notices and errors arrive already redacted: the connector
//! instance removes secret values from everything it returns.

use std::io::Write;
use std::time::{Duration, Instant};

use host_harness::HarnessError;
use host_harness::error::printable;
use host_harness::retry::{Wait, secs};
use host_harness::sync::{Observer, SyncReport};

/// Redraws at most this often, so a fast sync is not slowed by the terminal.
const REDRAW_EVERY: Duration = Duration::from_millis(100);

/// Live progress on a terminal.
pub struct TerminalProgress<W: Write> {
    out: W,
    started: Instant,
    walk_started: Instant,
    last_draw: Option<Instant>,
    finished: Vec<Row>,
}

struct Row {
    stream: String,
    outcome: Result<SyncReport, String>,
    elapsed: Duration,
}

/// How a walk is named on one line: its first stream, and how many more.
fn label(streams: &[String]) -> String {
    match streams {
        [] => String::new(),
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} +{} more", rest.len()),
    }
}

impl<W: Write> TerminalProgress<W> {
    pub fn new(out: W) -> Self {
        let now = Instant::now();
        TerminalProgress {
            out,
            started: now,
            walk_started: now,
            last_draw: None,
            finished: Vec::new(),
        }
    }

    fn line(&self, streams: &[String], reports: &[SyncReport], elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64().max(1e-3);
        let records: u64 = reports.iter().map(|r| r.records).sum();
        let Some(walk) = reports.first() else {
            return label(streams);
        };
        let limited = match walk.rate_limited {
            0 => String::new(),
            n => format!(" {n} rate-limited"),
        };
        format!(
            "{:<30} {records:>9} records {:>7} pages {:>7} requests {:>2} in flight{limited} {:>9.0} rec/s",
            label(streams),
            walk.pages,
            walk.requests,
            walk.concurrency_now,
            records as f64 / secs
        )
    }

    /// The summary table, once every walk is done. The walk's counts
    /// (pages, requests, …) are on its first stream's row.
    pub fn summary(&mut self) {
        let total = self.started.elapsed();
        let _ = writeln!(
            self.out,
            "\n{:<30} {:>9} {:>7} {:>9} {:>6} {:>7} {:>7} {:>8} {:>11}  result",
            "stream",
            "records",
            "pages",
            "requests",
            "429s",
            "retries",
            "skipped",
            "seconds",
            "state bytes"
        );
        let (mut records, mut requests, mut limited, mut retries, mut skipped) = (0, 0, 0, 0, 0);
        let (mut connections, mut waited) = (0, Duration::ZERO);
        let (mut concurrency, mut lowest) = (0, u32::MAX);
        for row in &self.finished {
            let result = match &row.outcome {
                Ok(rep) if rep.already_done => "done before the interruption".to_string(),
                Ok(_) => "ok".to_string(),
                Err(e) => e.clone(),
            };
            let rep = match &row.outcome {
                Ok(rep) => rep.clone(),
                Err(_) => SyncReport::default(),
            };
            records += rep.records;
            let shared = if rep.leads_walk(&row.stream) {
                connections += rep.connections;
                waited += rep.upstream_wait;
                requests += rep.requests;
                limited += rep.rate_limited;
                retries += rep.retries;
                skipped += rep.skipped;
                if rep.concurrency > 0 {
                    concurrency = concurrency.max(rep.concurrency);
                    lowest = lowest.min(rep.lowest_concurrency);
                }
                format!(
                    "{:>7} {:>9} {:>6} {:>7} {:>7} {:>8.2} {:>11}",
                    rep.pages,
                    rep.requests,
                    rep.rate_limited,
                    rep.retries,
                    rep.skipped,
                    row.elapsed.as_secs_f64(),
                    rep.max_state_bytes
                )
            } else {
                format!(
                    "{:>7} {:>9} {:>6} {:>7} {:>7} {:>8} {:>11}",
                    "", "", "", "", "", "", ""
                )
            };
            let _ = writeln!(
                self.out,
                "{:<30} {:>9} {shared}  {result}",
                row.stream, rep.records
            );
        }
        let _ = writeln!(
            self.out,
            "{:<30} {records:>9} {:>7} {requests:>9} {limited:>6} {retries:>7} {skipped:>7} {:>8.2}",
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
        if concurrency > 0 {
            let _ = writeln!(
                self.out,
                "up to {concurrency} request(s) in flight{}",
                if limited > 0 {
                    format!(", lowered to {lowest} by {limited} rate-limited answer(s)")
                } else {
                    String::new()
                }
            );
        }
    }
}

impl<W: Write + Send> Observer for TerminalProgress<W> {
    fn walk_started(&mut self, streams: &[String]) {
        self.walk_started = Instant::now();
        self.last_draw = None;
        let _ = write!(self.out, "\r\x1b[2K{}: starting…", label(streams));
        let _ = self.out.flush();
    }

    fn page(&mut self, streams: &[String], so_far: &[SyncReport]) {
        let now = Instant::now();
        if self.last_draw.is_some_and(|t| now - t < REDRAW_EVERY) {
            return;
        }
        self.last_draw = Some(now);
        let line = self.line(streams, so_far, self.walk_started.elapsed());
        let _ = write!(self.out, "\r\x1b[2K{line}");
        let _ = self.out.flush();
    }

    fn waiting(&mut self, streams: &[String], wait: &Wait) {
        // Only the error's kind: the line must fit, and the full message
        // comes with the final error if the retries do not help.
        let _ = write!(
            self.out,
            "\r\x1b[2K{}: {}, retrying in {} (attempt {}/{})",
            label(streams),
            wait.error.kind(),
            secs(wait.delay),
            wait.attempt,
            wait.max_attempts
        );
        let _ = self.out.flush();
        // The next page replaces this line at once.
        self.last_draw = None;
    }

    fn walk_finished(&mut self, streams: &[String], result: Result<&[SyncReport], &HarnessError>) {
        let elapsed = self.walk_started.elapsed();
        match result {
            Ok([report]) if report.already_done => {
                let _ = writeln!(
                    self.out,
                    "\r\x1b[2K{}: done by the interrupted run this one continues",
                    label(streams)
                );
            }
            Ok(reports) => {
                let line = self.line(streams, reports, elapsed);
                let _ = writeln!(self.out, "\r\x1b[2K{line}");
                if streams.len() > 1 {
                    for (stream, report) in streams.iter().zip(reports) {
                        let _ = writeln!(self.out, "  {stream}: {} records", report.records);
                    }
                }
                if let Some(walk) = reports.first() {
                    self.details(walk);
                }
                for (stream, report) in streams.iter().zip(reports) {
                    if report.duplicates > 0 {
                        let _ = writeln!(
                            self.out,
                            "  {stream}: dropped {} duplicate record(s): their primary key was already written",
                            report.duplicates
                        );
                    }
                    if report.unkeyed > 0 {
                        let _ = writeln!(
                            self.out,
                            "  {stream}: {} record(s) lack a primary-key value: written without dedupe",
                            report.unkeyed
                        );
                    }
                }
            }
            Err(e) => {
                let _ = writeln!(self.out, "\r\x1b[2K{:<30} failed: {}", label(streams), e);
            }
        }
        let _ = self.out.flush();
        for (k, stream) in streams.iter().enumerate() {
            self.finished.push(Row {
                stream: stream.clone(),
                outcome: match result {
                    Ok(reports) => Ok(reports.get(k).cloned().unwrap_or_default()),
                    Err(e) => Err(e.to_string()),
                },
                elapsed,
            });
        }
    }
}

impl<W: Write> TerminalProgress<W> {
    /// A walk's notices, skipped items and retries, once.
    fn details(&mut self, report: &SyncReport) {
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
        if report.rate_limited > 0 {
            let _ = writeln!(
                self.out,
                "  {} rate-limited answer(s): requests in flight lowered to {} (from {})",
                report.rate_limited, report.lowest_concurrency, report.concurrency
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use host_harness::bindings::{ConnectorError, RetryHint};
    use std::time::Duration;

    #[test]
    fn shows_the_wait_and_the_retries() {
        let mut progress = TerminalProgress::new(Vec::new());
        let walk = ["pipelines".to_string()];
        progress.walk_started(&walk);
        let error = HarnessError::Connector(ConnectorError::RateLimited(RetryHint {
            retry_after_ms: Some(4200),
            message: "slow down".into(),
        }));
        progress.waiting(
            &walk,
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
            walk: walk.to_vec(),
            concurrency: 4,
            lowest_concurrency: 2,
            rate_limited: 3,
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
        progress.walk_finished(&walk, Ok(std::slice::from_ref(&report)));
        progress.summary();
        let text = String::from_utf8(progress.out).unwrap();
        assert!(
            text.contains("pipelines: rate-limited, retrying in 4.2 s (attempt 2/8)"),
            "{text}"
        );
        assert!(text.contains("retried 1 time(s), waited 4.2 s"), "{text}");
        assert!(
            text.contains("pipelines: dropped 2 duplicate record(s)"),
            "{text}"
        );
        assert!(
            text.contains("up to 4 request(s) in flight, lowered to 2 by 3 rate-limited answer(s)"),
            "{text}"
        );
        assert!(text.contains("retries"), "{text}");
        assert!(
            text.contains(
                "5 requests on 2 connection(s), 2.5 requests/connection; waiting on the upstream 1.50 s"
            ),
            "{text}"
        );
    }
}
