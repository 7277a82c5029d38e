//! `connector-harness conform`: the contract's conformance suite as a
//! command, for any component of the `ingest:connector` source world (not
//! only the CircleCI connector), in the manner of Airbyte's connector
//! acceptance tests. A component's author runs it against a test account
//! (or a simulator) with a working credential; it prints one row per check
//! and exits non-zero when any fails.
//!
//! The checks, in the order they are printed (their ids are stable):
//!
//! | id | passes when |
//! | --- | --- |
//! | `schemas_valid` | the credential's JSON Schema and the settings schema compile; the form's fields are the schema's properties; every secret field (kind `secret`, `writeOnly`, `x-secret`, or a key that looks like a secret's) is marked all three ways; the settings schema describes an object whose required settings have defaults |
//! | `inputs_match_schemas` | the credential and the settings given are what their schemas describe |
//! | `catalog_valid` | stream names are unique, every schema compiles and describes an object, primary-key and cursor fields are properties of it, parents are streams of the catalog |
//! | `validate_accepts` | `validate` with the credential returns an account with an id and JSON details |
//! | `validate_rejects_mangled` | `validate` with the secret fields' values mangled fails `unauthorized` or `invalid-credential`, with no secret in the message |
//! | `read_records_valid` | a full read of every stream asked for finishes, and every record matches its stream's schema and has its primary-key fields, none null |
//! | `resume_loses_nothing` | a sync resumed from intermediate states of that read (up to `--resume-points` per walk, evenly spaced) returns every record the read returned after that point, and repeats at most a page's worth |
//! | `incremental_second_sync` | a second sync from the read's final state returns no record of an incremental stream that the read returned with the same content |
//! | `secrets_not_echoed` | no secret value of the credential turns up in an account, an error, a record, a state, a notice or a skipped item |
//! | `requests_allowed` | no request went to a destination outside the allow-list |
//!
//! A check that cannot run says why and is skipped (an incremental check of
//! a catalog without incremental streams; the reads when the catalog is
//! refused). Each call runs in a tenant of its own, as the platform would
//! run it, so every request is accounted to the check that made it and a
//! component that traps in one check leaves the others a fresh instance.
//! Every loop is bounded: `--max-pages` per read, `--resume-points` per walk.
//!
//! The host redacts every secret value from what a component returns, so
//! a secret that a component puts into its output shows as the host's
//! `[REDACTED]` mark: that mark is what `secrets_not_echoed` and
//! `validate_rejects_mangled` look for, besides the values themselves.
//! What the command prints passes through the same redaction and is made
//! printable.

mod evidence;
mod reads;
mod report;
mod schemas;
mod validate;

use std::path::{Path, PathBuf};

use host_harness::credential::{Credential, Redactor};
use host_harness::sync;

use crate::Host;
use crate::exit::CliError;
use crate::files;

use evidence::Evidence;

/// `connector-harness conform`'s arguments.
#[derive(clap::Args)]
pub struct ConformArgs {
    /// A working credential: a JSON object keyed by the form's field keys.
    #[arg(long, value_name = "FILE")]
    credential: PathBuf,
    /// The connector's settings, a JSON object (default `{}`).
    #[arg(long, value_name = "FILE")]
    settings: Option<PathBuf>,
    /// The streams to read: one, a comma-separated list, or `all`.
    #[arg(long, default_value = "all", value_name = "NAME[,NAME…]|all")]
    stream: String,
    /// Print one JSON object (component, checks, counts) instead of a table.
    #[arg(long)]
    json: bool,
    /// Pages one read may take; a read that has not finished by then fails.
    #[arg(long, default_value_t = 200, value_name = "N")]
    max_pages: u64,
    /// Intermediate states of each walk that a sync is resumed from,
    /// evenly spaced over the read (0: no resume check).
    #[arg(long, default_value_t = 5, value_name = "N")]
    resume_points: usize,
}

/// The largest `--max-pages`: a conformance run reads a test account.
const MAX_PAGES: u64 = 100_000;
/// The largest `--resume-points`: each one is a sync of its own.
const MAX_RESUME_POINTS: usize = 50;

/// What a check came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    Skip,
}

impl Outcome {
    /// The word printed and put in the JSON.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Skip => "skip",
        }
    }
}

/// One row of the report.
#[derive(Clone, Debug)]
pub struct Row {
    /// The check's stable id.
    pub id: &'static str,
    pub outcome: Outcome,
    /// One line: counts when it passed, what failed, or why it was skipped.
    pub detail: String,
}

impl Row {
    fn pass(id: &'static str, detail: impl Into<String>) -> Row {
        Row {
            id,
            outcome: Outcome::Pass,
            detail: detail.into(),
        }
    }

    fn fail(id: &'static str, detail: impl Into<String>) -> Row {
        Row {
            id,
            outcome: Outcome::Fail,
            detail: detail.into(),
        }
    }

    fn skip(id: &'static str, detail: impl Into<String>) -> Row {
        Row {
            id,
            outcome: Outcome::Skip,
            detail: detail.into(),
        }
    }

    /// Passes with `pass` when there are no `faults`, else fails naming
    /// them (the first few, and how many more).
    fn from_faults(id: &'static str, faults: &[String], pass: impl Into<String>) -> Row {
        if faults.is_empty() {
            Row::pass(id, pass)
        } else {
            Row::fail(id, join_faults(faults))
        }
    }
}

/// `n` and `noun`, with an `s` unless `n` is one.
pub fn plural(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Faults shown in one detail; beyond them only counted.
const SHOWN_FAULTS: usize = 4;

fn join_faults(faults: &[String]) -> String {
    let mut text = faults
        .iter()
        .take(SHOWN_FAULTS)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if faults.len() > SHOWN_FAULTS {
        text.push_str(&format!("; and {} more", faults.len() - SHOWN_FAULTS));
    }
    text
}

/// Runs the suite against the loaded component and prints the report.
pub async fn run(args: ConformArgs, host: &Host, component: Option<&Path>) -> Result<(), CliError> {
    if !(1..=MAX_PAGES).contains(&args.max_pages) {
        return Err(CliError::Usage(format!(
            "--max-pages must be between 1 and {MAX_PAGES}"
        )));
    }
    if args.resume_points > MAX_RESUME_POINTS {
        return Err(CliError::Usage(format!(
            "--resume-points must be at most {MAX_RESUME_POINTS}"
        )));
    }
    let requested: Vec<String> = args
        .stream
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if requested.is_empty() {
        return Err(CliError::Usage("--stream names no stream".into()));
    }
    let credential = files::read_credential(&args.credential)?;
    let settings = files::read_settings(args.settings.as_deref())?;
    let bounds = reads::Bounds {
        max_pages: args.max_pages,
        resume_points: args.resume_points,
    };
    let (rows, redactor) = suite(host, credential, &settings, &requested, &bounds).await?;
    let name = match component {
        Some(path) => path.display().to_string(),
        None => "the built-in CircleCI connector".to_string(),
    };
    let report = report::Report::new(&name, rows, &redactor);
    report.print(args.json)?;
    let failed: Vec<&str> = report.failed().collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::Conform(format!(
            "{} of {} checks failed: {}",
            failed.len(),
            report.len(),
            failed.join(", ")
        )))
    }
}

/// Every check, in order, and what redacts the report: the tenant's
/// redactor and the mangled secret values.
async fn suite(
    host: &Host,
    credential: Credential,
    settings: &str,
    requested: &[String],
    bounds: &reads::Bounds,
) -> Result<(Vec<Row>, Vec<Redactor>), CliError> {
    let mut probe = host.tenant(credential.clone()).await?;
    // Which values are secret is the host's decision (the schema's marks,
    // keys that look secret, --secret-field): the tenant's redactor knows.
    // Without it (the schema call failed) the keys that look secret are.
    let redactor = match probe.redactor().await {
        Ok(r) => r,
        Err(_) => credential.redactor_for_keys(&[]),
    };
    let secret_keys: Vec<String> = credential
        .0
        .iter()
        .filter(|(_, v)| redactor.finds_in(v))
        .map(|(k, _)| k.clone())
        .collect();
    let mangled = validate::mangle(&credential, &secret_keys);
    let values: Vec<String> = credential
        .0
        .iter()
        .chain(&mangled.0)
        .filter(|(k, _)| secret_keys.contains(k))
        .map(|(_, v)| v.clone())
        .collect();
    let clear = Redactor::new(values);
    let mut evidence = Evidence::new(clear.clone());

    let spec = probe.credential_schema().await;
    let settings_schema = probe.settings_schema().await;
    let catalog = probe.streams().await;
    for (what, error) in [
        ("credential-schema", spec.as_ref().err()),
        ("settings-schema", settings_schema.as_ref().err()),
        ("streams", catalog.as_ref().err()),
    ] {
        if let Some(e) = error {
            evidence.error(&format!("the error of {what}"), e);
        }
    }
    evidence.requests("the schema and catalog calls", &probe.outbound_log());
    drop(probe);

    let mut rows = Vec::new();
    let schemas = schemas::check_schemas(&spec, &settings_schema);
    rows.push(schemas.row.clone());
    rows.push(schemas::inputs_match(&schemas, &credential, settings));
    let checked = schemas::check_catalog(&catalog);
    rows.push(checked.row.clone());
    // An unknown stream is the operator's mistake: said before anything
    // is read, like `fetch` says it.
    let planned = match &catalog {
        Ok(catalog) => Some(sync::plan(catalog, requested)?),
        Err(_) => None,
    };

    rows.push(validate::accepts(host, &credential, &mut evidence).await?);
    rows.push(validate::rejects_mangled(host, &mangled, &secret_keys, &mut evidence).await?);

    let read_rows = match (&catalog, &planned) {
        (Ok(catalog), Some(planned)) => {
            let reader = reads::Reader {
                host,
                credential: &credential,
                settings,
                catalog,
                validators: &checked.validators,
                bounds,
                clear: &clear,
            };
            reader.check(planned, &mut evidence).await?
        }
        (Err(e), _) => reads::Rows::skipped(&format!("the catalog could not be read ({e})")),
        (Ok(_), None) => reads::Rows::skipped("no stream to read"),
    };
    rows.extend([read_rows.read, read_rows.resume, read_rows.incremental]);
    rows.push(evidence.secrets_row());
    rows.push(evidence.requests_row());
    Ok((rows, vec![redactor, clear]))
}
