//! `connector-harness airbyte spec|check|discover|read`: the loaded
//! component as an Airbyte source, speaking the Airbyte protocol's messages
//! (one JSON object per line on stdout; logs as LOG messages).
//!
//! - `spec`: one SPEC; its `connectionSpecification` is the credential form
//!   and the settings merged into one draft-07 object schema
//!   ([`super::merged_config_schema`]).
//! - `check --config F`: one CONNECTION_STATUS. A config the connector
//!   refuses (a wrong key, settings its schema does not admit) is FAILED with
//!   the reason, and the command succeeds: that is an answer, not a crash.
//!   What is nobody's config fault (the upstream down) is a TRACE ERROR and
//!   a non-zero exit.
//! - `discover --config F`: one CATALOG.
//! - `read --config F --catalog F [--state F]`: the configured catalog's
//!   streams, synced as `connector-harness fetch` would (walks, retries,
//!   skips, dedupe): per stream a TRACE STREAM_STATUS STARTED, RUNNING at
//!   its first record or state, then COMPLETE, or INCOMPLETE and a TRACE
//!   ERROR; RECORDs; and after every page one STATE per stream of the page's
//!   walk (`stream_state` as [`super::stream_state`] makes it,
//!   `sourceStats.recordCount` the stream's records since its last STATE),
//!   written through the host's checkpoint seam ([`CheckpointStore`]).
//!
//! Every failure also ends as a TRACE ERROR whose `failure_type` says whose
//! it is (`config_error`, `transient_error`, `system_error`), then the
//! process exits with the code `connector-harness` gives that kind.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Subcommand;
use host_harness::HarnessError;
use host_harness::bindings::{StreamSpec, SyncMode};
use host_harness::checkpoint::{CheckpointStore, Checkpointer, SyncState};
use host_harness::retry::Wait;
use host_harness::sync::{Observer, RecordSink, SyncOptions, SyncReport};
use serde::Deserialize;
use serde_json::{Value, json};

use super::emit::{Out, io_error};
use super::{
    Emitter, draft7, incremental, merged_config_schema, now_ms, read_json, settings_faults,
    stream_state,
};
use crate::Host;
use crate::exit::CliError;

/// The Airbyte protocol version the messages follow.
pub const PROTOCOL_VERSION: &str = "0.2.0";

/// The Airbyte commands.
#[derive(Subcommand)]
pub enum AirbyteCommand {
    /// Print the connector's specification: one SPEC message.
    Spec,
    /// Check the config's credential and settings: one CONNECTION_STATUS message.
    Check {
        /// The connection's config: credential and settings in one JSON object.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Print the stream catalog: one CATALOG message.
    Discover {
        /// The connection's config.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Sync the configured catalog's streams: RECORD, STATE, TRACE and LOG messages.
    Read {
        /// The connection's config.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The configured catalog: the streams to sync and their sync modes.
        #[arg(long, value_name = "FILE")]
        catalog: PathBuf,
        /// The state Airbyte kept: a list of per-stream STATE messages.
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
    },
}

/// Runs one Airbyte command; a failure is reported as a TRACE ERROR too.
pub async fn run(command: AirbyteCommand, host: &Host) -> Result<(), CliError> {
    let out = Emitter::stdout();
    let result = match command {
        AirbyteCommand::Spec => spec(host, &out).await,
        AirbyteCommand::Check { config } => check(host, &out, &config).await,
        AirbyteCommand::Discover { config } => discover(host, &out, &config).await,
        AirbyteCommand::Read {
            config,
            catalog,
            state,
        } => read(host, &out, &config, &catalog, state.as_deref()).await,
    };
    let mut o = out.lock();
    // A failed stream's TRACE ERROR is out already (`Reported`).
    if let Err(e) = &result
        && !matches!(e, CliError::Reported(_))
    {
        let message = o.redact(&e.to_string());
        let trace = error_trace(&message, failure_type(e), None);
        // The process fails either way; a closed stdout cannot be told.
        let _ = o.message(&trace);
    }
    o.flush()
        .map_err(|e| CliError::Host(io_error(e)))
        .and(result)
}

async fn spec(host: &Host, out: &Emitter) -> Result<(), CliError> {
    let (credential, settings) = host.schemas().await?;
    let credential_schema: Value =
        serde_json::from_str(&credential.json_schema).unwrap_or_else(|_| json!({}));
    let connection = merged_config_schema(&credential, &credential_schema, &settings)?;
    out.lock()
        .message(&json!({
            "type": "SPEC",
            "spec": {
                "connectionSpecification": connection,
                "supportsIncremental": true,
                "protocol_version": PROTOCOL_VERSION,
            }
        }))
        .map_err(io_error)?;
    Ok(())
}

async fn check(host: &Host, out: &Emitter, config: &std::path::Path) -> Result<(), CliError> {
    let (mut tenant, config) = host.configured_tenant(config).await?;
    let redactor = tenant.redactor().await?;
    out.lock().set_redactor(redactor);
    let failed = |o: &mut Out, why: String| {
        let message = o.redact(&why);
        o.message(&json!({
            "type": "CONNECTION_STATUS",
            "connectionStatus": { "status": "FAILED", "message": message }
        }))
    };
    let faults = settings_faults(&config.settings_schema, &config.settings);
    if !faults.is_empty() {
        let why = format!("invalid-settings: {}", faults.join("; "));
        return failed(&mut out.lock(), why).map_err(|e| io_error(e).into());
    }
    match tenant.validate().await {
        Ok(account) => {
            let mut o = out.lock();
            let name = o.redact(&account.name);
            o.message(&json!({
                "type": "CONNECTION_STATUS",
                "connectionStatus": {
                    "status": "SUCCEEDED",
                    "message": format!("the credential works: it is {name}'s"),
                }
            }))
            .map_err(io_error)?;
            Ok(())
        }
        Err(e) if failure_type(&CliError::Host(e.clone())) == "config_error" => {
            let why = CliError::Host(e).to_string();
            failed(&mut out.lock(), why).map_err(|e| io_error(e).into())
        }
        Err(e) => Err(e.into()),
    }
}

async fn discover(host: &Host, out: &Emitter, config: &std::path::Path) -> Result<(), CliError> {
    // The config is checked like any command's, though the catalog needs
    // none of it: a platform expects a bad config to fail here already.
    let (mut tenant, _) = host.configured_tenant(config).await?;
    let streams = tenant.streams().await?;
    let catalog: Vec<Value> = streams.iter().map(airbyte_stream).collect();
    out.lock()
        .message(&json!({ "type": "CATALOG", "catalog": { "streams": catalog } }))
        .map_err(io_error)?;
    Ok(())
}

/// A stream of the contract as an `AirbyteStream`.
fn airbyte_stream(s: &StreamSpec) -> Value {
    let mut stream = json!({
        "name": s.name,
        "json_schema": draft7(&s.json_schema),
        "supported_sync_modes": s.sync_modes.iter().map(mode_name).collect::<Vec<_>>(),
        "source_defined_primary_key": s.primary_key.iter().map(|k| vec![k]).collect::<Vec<_>>(),
        // Every page is checkpointed, so an interrupted sync resumes.
        "is_resumable": true,
    });
    if incremental(s) {
        // The connector keeps its own cursor in the state: Airbyte has no
        // cursor field to ask the user for.
        stream["source_defined_cursor"] = json!(true);
        if let Some(cursor) = &s.cursor_field {
            stream["default_cursor_field"] = json!([cursor]);
        }
    }
    stream
}

fn mode_name(mode: &SyncMode) -> &'static str {
    match mode {
        SyncMode::FullRefresh => "full_refresh",
        SyncMode::Incremental => "incremental",
    }
}

/// The configured catalog, as far as the source reads it.
#[derive(Deserialize)]
struct ConfiguredCatalog {
    streams: Vec<ConfiguredStream>,
}

#[derive(Deserialize)]
struct ConfiguredStream {
    stream: Descriptor,
    sync_mode: String,
}

#[derive(Deserialize)]
struct Descriptor {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
}

/// A state message as Airbyte hands it back, as far as the source reads it.
#[derive(Deserialize)]
struct StateMessage {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    stream: Option<StreamStateMessage>,
}

#[derive(Deserialize)]
struct StreamStateMessage {
    stream_descriptor: Descriptor,
    #[serde(default)]
    stream_state: Option<Value>,
}

/// What `read` syncs: the streams, each one's namespace (echoed on its
/// messages), and those read in full (`full_refresh`).
struct Selected {
    names: Vec<String>,
    namespaces: BTreeMap<String, Option<String>>,
    full_refresh: Vec<String>,
}

fn select(configured: &Value, catalog: &[StreamSpec]) -> Result<Selected, CliError> {
    let configured: ConfiguredCatalog =
        serde_json::from_value(configured.clone()).map_err(|e| {
            CliError::Input(format!(
                "the configured catalog is not one Airbyte writes ({e})"
            ))
        })?;
    let mut selected = Selected {
        names: Vec::new(),
        namespaces: BTreeMap::new(),
        full_refresh: Vec::new(),
    };
    for c in configured.streams {
        let name = &c.stream.name;
        let Some(spec) = catalog.iter().find(|s| &s.name == name) else {
            return Err(CliError::Input(format!(
                "the configured catalog asks for stream {}, which this source does not have; its streams are {}",
                shown(name),
                catalog
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        if selected.names.contains(name) {
            return Err(CliError::Input(format!(
                "the configured catalog lists stream {name} twice"
            )));
        }
        let in_full = match c.sync_mode.as_str() {
            "full_refresh" => true,
            "incremental" if incremental(spec) => false,
            "incremental" => {
                return Err(CliError::Input(format!(
                    "stream {name} is configured incremental, but it supports full_refresh only"
                )));
            }
            other => {
                return Err(CliError::Input(format!(
                    "stream {name} is configured with sync mode {}, which is neither full_refresh nor incremental",
                    shown(other)
                )));
            }
        };
        if in_full {
            selected.full_refresh.push(name.clone());
        }
        selected.names.push(name.clone());
        selected.namespaces.insert(name.clone(), c.stream.namespace);
    }
    Ok(selected)
}

/// The per-stream states of an Airbyte state file: a list of STATE
/// messages (an empty list, `{}` or `null`: no state).
fn stream_states(state: &Value) -> Result<BTreeMap<String, Value>, CliError> {
    let messages: Vec<StateMessage> = match state {
        Value::Null => Vec::new(),
        Value::Object(o) if o.is_empty() => Vec::new(),
        Value::Array(_) => serde_json::from_value(state.clone()).map_err(|e| {
            CliError::Input(format!(
                "the state is not a list of Airbyte state messages ({e})"
            ))
        })?,
        _ => {
            return Err(CliError::Input(
                "the state is not a list of per-stream Airbyte state messages (a legacy state object \
                 was not written by this source)"
                    .into(),
            ));
        }
    };
    let mut states = BTreeMap::new();
    for message in messages {
        match (message.kind.as_deref(), message.stream) {
            (Some("STREAM") | None, Some(s)) => {
                if let Some(value) = s.stream_state.filter(|v| !v.is_null()) {
                    states.insert(s.stream_descriptor.name, value);
                }
            }
            (kind, _) => {
                return Err(CliError::Input(format!(
                    "the state holds a {} state message; this source writes per-stream (STREAM) states only",
                    shown(kind.unwrap_or("typeless"))
                )));
            }
        }
    }
    Ok(states)
}

async fn read(
    host: &Host,
    out: &Emitter,
    config: &std::path::Path,
    catalog: &std::path::Path,
    state: Option<&std::path::Path>,
) -> Result<(), CliError> {
    let (mut tenant, config) = host.configured_tenant(config).await?;
    let redactor = tenant.redactor().await?;
    out.lock().set_redactor(redactor);
    {
        let mut o = out.lock();
        for key in &config.ignored {
            log(
                &mut o,
                "WARN",
                &format!("config key {key} is not the connector's: ignored"),
            )
            .map_err(io_error)?;
        }
    }
    let streams = tenant.streams().await?;
    let selected = select(&read_json(catalog, "catalog")?, &streams)?;
    let states = match state {
        Some(path) => stream_states(&read_json(path, "state")?)?,
        None => BTreeMap::new(),
    };
    let (initial, seq) =
        stream_state::import(&states, &selected.full_refresh).map_err(CliError::Input)?;
    if selected.names.is_empty() {
        let mut o = out.lock();
        log(&mut o, "INFO", "the configured catalog selects no stream").map_err(io_error)?;
        return Ok(());
    }
    let namespaces = selected.namespaces.clone();
    let mut checkpoints = Checkpointer::open(AirbyteState {
        out: out.clone(),
        initial: Some(initial),
        seq,
        namespaces: namespaces.clone(),
    })?;
    let sink_out = out.clone();
    let sink_namespaces = namespaces.clone();
    let mut sink_for = move |stream: &str| -> Box<dyn RecordSink> {
        Box::new(AirbyteRecords {
            out: sink_out.clone(),
            stream: stream.to_string(),
            namespace: sink_namespaces.get(stream).cloned().flatten(),
        })
    };
    let mut observer = AirbyteObserver {
        out: out.clone(),
        namespaces,
    };
    let outcomes = tenant
        .sync_streams(
            &selected.names,
            &config.settings,
            &mut checkpoints,
            &mut sink_for,
            &SyncOptions::default(),
            &mut observer,
        )
        .await?;
    match outcomes.into_iter().find_map(|(_, r)| r.err()) {
        // Each failed stream has its TRACE ERROR already; the process
        // exits with the first one's code.
        Some(e) => Err(CliError::Reported(Box::new(CliError::Host(e)))),
        None => Ok(()),
    }
}

/// `failure_type` of an error: whose fault it is.
fn failure_type(e: &CliError) -> &'static str {
    match e.kind() {
        "usage" | "input" | "credential-file" | "settings-file" | "state-file"
        | "invalid-credential" | "unauthorized" | "forbidden" | "not-found" | "denied"
        | "invalid-settings" | "invalid-state" => "config_error",
        "rate-limited" | "unavailable" => "transient_error",
        _ => "system_error",
    }
}

fn error_trace(message: &str, failure_type: &str, stream: Option<Value>) -> Value {
    let mut error = json!({
        "message": message,
        "failure_type": failure_type,
    });
    if let Some(descriptor) = stream {
        error["stream_descriptor"] = descriptor;
    }
    json!({
        "type": "TRACE",
        "trace": { "type": "ERROR", "emitted_at": now_ms() as f64, "error": error }
    })
}

fn descriptor(stream: &str, namespace: Option<&String>) -> Value {
    match namespace {
        Some(ns) => json!({ "name": stream, "namespace": ns }),
        None => json!({ "name": stream }),
    }
}

fn status(o: &mut Out, stream: Value, status: &str) -> std::io::Result<()> {
    o.message(&json!({
        "type": "TRACE",
        "trace": {
            "type": "STREAM_STATUS",
            "emitted_at": now_ms() as f64,
            "stream_status": { "stream_descriptor": stream, "status": status },
        }
    }))
}

/// RUNNING, the first time `stream` shows progress.
fn running(o: &mut Out, stream: &str, namespace: Option<&String>) -> std::io::Result<()> {
    if o.running.insert(stream.to_string()) {
        status(o, descriptor(stream, namespace), "RUNNING")?;
    }
    Ok(())
}

fn log(o: &mut Out, level: &str, message: &str) -> std::io::Result<()> {
    // The platform shows logs on terminals too: no control characters.
    let message = host_harness::error::printable(&o.redact(message)).into_owned();
    o.message(&json!({ "type": "LOG", "log": { "level": level, "message": message } }))
}

fn shown(text: &str) -> String {
    format!(
        "\"{}\"",
        host_harness::error::printable(&text.chars().take(64).collect::<String>())
    )
}

/// A stream's records as RECORD messages.
struct AirbyteRecords {
    out: Emitter,
    stream: String,
    namespace: Option<String>,
}

impl RecordSink for AirbyteRecords {
    fn begin(&mut self, _resuming: bool) -> std::io::Result<()> {
        Ok(())
    }

    fn write_page(&mut self, records: &[String]) -> std::io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut head = String::from("{\"type\":\"RECORD\",\"record\":{\"stream\":");
        head.push_str(&Value::from(self.stream.as_str()).to_string());
        if let Some(ns) = &self.namespace {
            head.push_str(",\"namespace\":");
            head.push_str(&Value::from(ns.as_str()).to_string());
        }
        head.push_str(&format!(",\"emitted_at\":{},\"data\":", now_ms()));
        let mut o = self.out.lock();
        running(&mut o, &self.stream, self.namespace.as_ref())?;
        o.records(&self.stream, head.as_bytes(), records, b"}}")
    }

    fn commit(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The checkpoint store: each save is a STATE message per stream it moves.
struct AirbyteState {
    out: Emitter,
    initial: Option<SyncState>,
    seq: u64,
    namespaces: BTreeMap<String, Option<String>>,
}

impl CheckpointStore for AirbyteState {
    fn load(&mut self) -> Result<SyncState, HarnessError> {
        Ok(self.initial.take().unwrap_or_default())
    }

    fn save(&mut self, state: &SyncState, changed: &[String]) -> Result<(), HarnessError> {
        if changed.is_empty() {
            // Only the run's bookkeeping moved: Airbyte keeps no run.
            return Ok(());
        }
        let seq = self.seq;
        self.seq += 1;
        let mut o = self.out.lock();
        for stream in changed {
            let Some(stream_state) = stream_state::export(state, stream, seq) else {
                continue;
            };
            let namespace = self.namespaces.get(stream).cloned().flatten();
            running(&mut o, stream, namespace.as_ref()).map_err(io_error)?;
            let count = o.take_count(stream);
            o.message(&json!({
                "type": "STATE",
                "state": {
                    "type": "STREAM",
                    "stream": {
                        "stream_descriptor": descriptor(stream, namespace.as_ref()),
                        "stream_state": stream_state,
                    },
                    "sourceStats": { "recordCount": count as f64 },
                }
            }))
            .map_err(io_error)?;
        }
        // A STATE not yet on the pipe has not happened for the platform.
        o.flush().map_err(io_error)
    }
}

/// Stream statuses, notices and waits as TRACE and LOG messages.
struct AirbyteObserver {
    out: Emitter,
    namespaces: BTreeMap<String, Option<String>>,
}

impl AirbyteObserver {
    fn descriptor(&self, stream: &str) -> Value {
        descriptor(stream, self.namespaces.get(stream).and_then(Option::as_ref))
    }
}

impl Observer for AirbyteObserver {
    fn walk_started(&mut self, streams: &[String]) {
        let mut o = self.out.lock();
        for stream in streams {
            let _ = status(&mut o, self.descriptor(stream), "STARTED");
        }
    }

    fn waiting(&mut self, streams: &[String], wait: &Wait) {
        let mut o = self.out.lock();
        let _ = log(
            &mut o,
            "INFO",
            &format!(
                "{}: retrying in {:.1}s after: {}",
                streams.join(","),
                wait.delay.as_secs_f64(),
                wait.error
            ),
        );
    }

    fn walk_finished(&mut self, streams: &[String], result: Result<&[SyncReport], &HarnessError>) {
        let mut o = self.out.lock();
        match result {
            Ok(reports) => {
                for (stream, report) in streams.iter().zip(reports) {
                    if report.leads_walk(stream) {
                        let walk = report.walk.join(",");
                        for kind in report.notices.kinds() {
                            let _ = log(&mut o, "WARN", &format!("{walk}: {kind}"));
                        }
                        for item in &report.skipped_items {
                            let _ = log(&mut o, "WARN", &format!("{walk}: skipped {item}"));
                        }
                    }
                    let _ = status(&mut o, self.descriptor(stream), "COMPLETE");
                }
            }
            Err(e) => {
                let error = CliError::Host(e.clone());
                let message = o.redact(&error.to_string());
                for stream in streams {
                    let _ = status(&mut o, self.descriptor(stream), "INCOMPLETE");
                    let trace = error_trace(
                        &message,
                        failure_type(&error),
                        Some(self.descriptor(stream)),
                    );
                    let _ = o.message(&trace);
                }
            }
        }
        let _ = o.flush();
    }
}
