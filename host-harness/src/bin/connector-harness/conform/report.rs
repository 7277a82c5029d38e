//! The report of a conformance run: a table for people (check, result,
//! detail; then the counts) or, with `--json`, one JSON object for
//! machines. Every detail is redacted of the credential's secret values
//! (and the mangled ones), made printable and cut to one line first, so
//! neither form can carry a secret or a terminal escape.

use std::io::Write;

use host_harness::HarnessError;
use host_harness::credential::Redactor;
use host_harness::error::printable;
use serde::Serialize;

use super::{Outcome, Row};
use crate::exit::CliError;

/// The `--json` object.
#[derive(Serialize)]
struct JsonReport<'a> {
    component: &'a str,
    checks: Vec<JsonCheck<'a>>,
    passed: usize,
    failed: usize,
    skipped: usize,
}

/// One check of the `--json` object.
#[derive(Serialize)]
struct JsonCheck<'a> {
    id: &'a str,
    result: &'a str,
    detail: &'a str,
}

/// A detail is cut to this many characters.
const MAX_DETAIL_CHARS: usize = 600;

/// A finished run's rows, ready to print.
pub struct Report {
    component: String,
    rows: Vec<Row>,
}

/// `text` redacted by every redactor, printable, and cut.
fn clean(text: &str, redactors: &[Redactor]) -> String {
    let mut text = text.to_string();
    for redactor in redactors {
        text = redactor.redact(&text);
    }
    let text = printable(text.trim()).into_owned();
    if text.chars().count() > MAX_DETAIL_CHARS {
        let mut cut: String = text.chars().take(MAX_DETAIL_CHARS).collect();
        cut.push('…');
        cut
    } else {
        text
    }
}

impl Report {
    /// The report of `rows` for `component`, cleaned by `redactors`.
    pub fn new(component: &str, rows: Vec<Row>, redactors: &[Redactor]) -> Report {
        Report {
            component: clean(component, redactors),
            rows: rows
                .into_iter()
                .map(|row| Row {
                    detail: clean(&row.detail, redactors),
                    ..row
                })
                .collect(),
        }
    }

    /// How many checks there are.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    fn count(&self, outcome: Outcome) -> usize {
        self.rows.iter().filter(|r| r.outcome == outcome).count()
    }

    /// The ids of the checks that failed.
    pub fn failed(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.rows
            .iter()
            .filter(|r| r.outcome == Outcome::Fail)
            .map(|r| r.id)
    }

    /// The table: a header, a row per check, then the counts.
    pub fn table(&self) -> String {
        let width = self
            .rows
            .iter()
            .map(|r| r.id.len())
            .chain(["check".len()])
            .max()
            .unwrap_or(0);
        let mut out = format!("conformance of {}\n", self.component);
        out.push_str(&format!("{:width$}  {:6}  detail\n", "check", "result"));
        for row in &self.rows {
            out.push_str(&format!(
                "{:width$}  {:6}  {}\n",
                row.id,
                row.outcome.word(),
                row.detail
            ));
        }
        out.push_str(&format!(
            "{} checks: {} passed, {} failed, {} skipped\n",
            self.rows.len(),
            self.count(Outcome::Pass),
            self.count(Outcome::Fail),
            self.count(Outcome::Skip)
        ));
        out
    }

    /// The JSON form, its keys in the order people read them.
    pub fn json(&self) -> String {
        let json = JsonReport {
            component: &self.component,
            checks: self
                .rows
                .iter()
                .map(|r| JsonCheck {
                    id: r.id,
                    result: r.outcome.word(),
                    detail: &r.detail,
                })
                .collect(),
            passed: self.count(Outcome::Pass),
            failed: self.count(Outcome::Fail),
            skipped: self.count(Outcome::Skip),
        };
        let mut text = serde_json::to_string_pretty(&json).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Prints the table, or the JSON, on stdout.
    pub fn print(&self, json: bool) -> Result<(), CliError> {
        let text = if json { self.json() } else { self.table() };
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|e| CliError::Host(HarnessError::Io(format!("cannot write the report: {e}"))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_are_redacted_printable_and_aligned() {
        let rows = vec![
            Row::pass("schemas_valid", "fine"),
            Row::fail("secrets_not_echoed", "key CCIPAT_abc123 in\x1b[2J\nerror"),
            Row::skip("incremental_second_sync", "none"),
        ];
        let redactor = Redactor::new(["CCIPAT_abc123".to_string()]);
        let report = Report::new("x.wasm", rows, &[redactor]);
        let table = report.table();
        assert_eq!(
            table,
            "conformance of x.wasm\n\
             check                    result  detail\n\
             schemas_valid            pass    fine\n\
             secrets_not_echoed       fail    key [REDACTED] in\\u{1b}[2J error\n\
             incremental_second_sync  skip    none\n\
             3 checks: 1 passed, 1 failed, 1 skipped\n"
        );
        let text = report.json();
        assert!(
            text.starts_with("{\n  \"component\": \"x.wasm\",\n  \"checks\": ["),
            "{text}"
        );
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["failed"], 1);
        assert_eq!(json["checks"][1]["result"], "fail");
        assert_eq!(report.failed().collect::<Vec<_>>(), ["secrets_not_echoed"]);
    }
}
