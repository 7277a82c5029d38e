//! `connector-harness singer`: the loaded component as a Singer tap.
//!
//! - `--config F --discover` prints the catalog: per stream its
//!   `tap_stream_id`, `schema`, `key_properties` and `metadata` (the
//!   stream's breadcrumb says `selected`, its replication methods and keys).
//!   `--state` is accepted with it and not read (Meltano passes it).
//! - `--config F --catalog F` (or the older `--properties F`) `[--state F]`
//!   syncs the selected streams: a SCHEMA before each stream's records,
//!   RECORDs, and after every page a STATE whose `value` is the whole tap
//!   state, `{"bookmarks": {stream: …}}` (each bookmark as
//!   [`super::stream_state`] makes it), written through the host's
//!   checkpoint seam.
//!
//! A stream is selected when its breadcrumb's metadata says `selected:
//! true` (or, in the older properties format, its schema does), or, saying
//! nothing, when discovery marked it `selected-by-default`. Its
//! `replication-method` is `INCREMENTAL` or `FULL_TABLE` (default: the
//! former where the stream supports it); a full-table sync reads
//! everything. Errors go to stderr, one line, and the process exits with
//! the code `connector-harness` gives the kind, as taps do.

use std::collections::BTreeMap;
use std::path::PathBuf;

use host_harness::HarnessError;
use host_harness::bindings::StreamSpec;
use host_harness::checkpoint::{CheckpointStore, Checkpointer, SyncState};
use host_harness::sync::{Observer, RecordSink, SyncOptions, SyncReport};
use serde_json::{Map, Value, json};

use super::emit::io_error;
use super::{Emitter, draft7, incremental, now_ms, read_json, rfc3339, stream_state};
use crate::Host;
use crate::exit::CliError;

/// The tap's command line, Singer's own.
#[derive(clap::Args)]
pub struct SingerArgs {
    /// The tap's config: credential and settings in one JSON object.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Print the catalog instead of syncing.
    #[arg(long)]
    discover: bool,
    /// The catalog whose selected streams to sync.
    #[arg(long, value_name = "FILE", conflicts_with = "properties")]
    catalog: Option<PathBuf>,
    /// The catalog, in the older properties form.
    #[arg(long, value_name = "FILE")]
    properties: Option<PathBuf>,
    /// The tap state of the last sync (the last STATE's value).
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
}

/// Runs the tap.
pub async fn run(args: SingerArgs, host: &Host) -> Result<(), CliError> {
    let out = Emitter::stdout();
    let result = if args.discover {
        discover(host, &out, &args).await
    } else {
        sync(host, &out, &args).await
    };
    out.lock()
        .flush()
        .map_err(|e| CliError::Host(io_error(e)))
        .and(result)
}

async fn discover(host: &Host, out: &Emitter, args: &SingerArgs) -> Result<(), CliError> {
    let (mut tenant, _) = host.configured_tenant(&args.config).await?;
    let streams = tenant.streams().await?;
    let catalog = json!({ "streams": streams.iter().map(singer_stream).collect::<Vec<_>>() });
    out.lock().message(&catalog).map_err(io_error)?;
    Ok(())
}

/// A stream of the contract as a Singer catalog entry.
fn singer_stream(s: &StreamSpec) -> Value {
    let schema = singer_schema(s);
    let replication_keys: Vec<&String> = s.cursor_field.iter().filter(|_| incremental(s)).collect();
    let mut stream_metadata = json!({
        "inclusion": "available",
        "selected": true,
        "selected-by-default": true,
        "table-key-properties": s.primary_key,
        "valid-replication-keys": replication_keys,
    });
    if !incremental(s) {
        stream_metadata["forced-replication-method"] = json!("FULL_TABLE");
    }
    if let Some(key) = replication_keys.first() {
        stream_metadata["replication-key"] = json!(key);
    }
    let mut metadata = vec![json!({ "breadcrumb": [], "metadata": stream_metadata })];
    for property in schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|p| p.keys())
    {
        let automatic = s.primary_key.contains(property) || replication_keys.contains(&property);
        metadata.push(json!({
            "breadcrumb": ["properties", property],
            "metadata": { "inclusion": if automatic { "automatic" } else { "available" } },
        }));
    }
    let mut entry = json!({
        "tap_stream_id": s.name,
        "stream": s.name,
        "schema": schema,
        "key_properties": s.primary_key,
        "metadata": metadata,
    });
    if let Some(key) = replication_keys.first() {
        entry["replication_key"] = json!(key);
        entry["replication_method"] = json!("INCREMENTAL");
    } else {
        entry["replication_method"] = json!("FULL_TABLE");
    }
    entry
}

/// A stream's record schema as Singer targets read it.
fn singer_schema(s: &StreamSpec) -> Value {
    let mut schema = draft7(&s.json_schema);
    // Targets validate with the draft they know; the keywords used are
    // common to all of them.
    if let Value::Object(map) = &mut schema {
        map.remove("$schema");
    }
    schema
}

/// What the catalog asks for one stream.
struct Wanted {
    selected: bool,
    full_table: bool,
}

fn wanted(entry: &Value, spec: &StreamSpec) -> Result<Wanted, CliError> {
    let name = &spec.name;
    let top = entry
        .get("metadata")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|m| {
            m.get("breadcrumb")
                .and_then(Value::as_array)
                .is_some_and(|b| b.is_empty())
        })
        .and_then(|m| m.get("metadata"))
        .cloned()
        .unwrap_or(Value::Null);
    let selected = top
        .get("selected")
        .and_then(Value::as_bool)
        .or_else(|| entry.pointer("/schema/selected").and_then(Value::as_bool))
        .or_else(|| top.get("selected-by-default").and_then(Value::as_bool))
        .unwrap_or(false);
    let method = top
        .get("replication-method")
        .or_else(|| entry.get("replication_method"))
        .and_then(Value::as_str)
        .map(str::to_ascii_uppercase);
    let full_table = match method.as_deref() {
        None => !incremental(spec),
        Some("FULL_TABLE") => true,
        Some("INCREMENTAL") if incremental(spec) => false,
        Some("INCREMENTAL") => {
            return Err(CliError::Input(format!(
                "stream {name} is asked INCREMENTAL, but it supports FULL_TABLE only"
            )));
        }
        Some(other) => {
            return Err(CliError::Input(format!(
                "stream {name} is asked replication method {}, which is neither INCREMENTAL nor FULL_TABLE",
                host_harness::error::printable(&other.chars().take(32).collect::<String>())
            )));
        }
    };
    Ok(Wanted {
        selected,
        full_table,
    })
}

async fn sync(host: &Host, out: &Emitter, args: &SingerArgs) -> Result<(), CliError> {
    let Some(catalog_path) = args.catalog.as_ref().or(args.properties.as_ref()) else {
        return Err(CliError::Usage(
            "give --discover, or --catalog FILE (or --properties FILE) to sync".into(),
        ));
    };
    let (mut tenant, config) = host.configured_tenant(&args.config).await?;
    let redactor = tenant.redactor().await?;
    out.lock().set_redactor(redactor);
    for key in &config.ignored {
        eprintln!("warning: config key {key} is not the connector's: ignored");
    }
    let streams = tenant.streams().await?;
    let catalog = read_json(catalog_path, "catalog")?;
    let entries = catalog
        .get("streams")
        .and_then(Value::as_array)
        .ok_or_else(|| CliError::Input("the catalog has no \"streams\" list".into()))?;
    let mut selected = Vec::new();
    let mut full_table = Vec::new();
    for entry in entries {
        let name = entry
            .get("tap_stream_id")
            .or_else(|| entry.get("stream"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(spec) = streams.iter().find(|s| s.name == name) else {
            return Err(CliError::Input(format!(
                "the catalog lists stream \"{}\", which this tap does not have; its streams are {}",
                host_harness::error::printable(&name.chars().take(64).collect::<String>()),
                streams
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let w = wanted(entry, spec)?;
        if w.selected && !selected.contains(&spec.name) {
            selected.push(spec.name.clone());
            if w.full_table {
                full_table.push(spec.name.clone());
            }
        }
    }
    let bookmarks = match &args.state {
        Some(path) => bookmarks_of(&read_json(path, "state")?)?,
        None => BTreeMap::new(),
    };
    let (initial, seq) = stream_state::import(&bookmarks, &full_table).map_err(CliError::Input)?;
    if selected.is_empty() {
        eprintln!("warning: the catalog selects no stream");
        return Ok(());
    }
    let schemas: BTreeMap<String, (Value, Vec<String>, Option<String>)> = streams
        .iter()
        .filter(|s| selected.contains(&s.name))
        .map(|s| {
            let key = s.cursor_field.clone().filter(|_| incremental(s));
            (
                s.name.clone(),
                (singer_schema(s), s.primary_key.clone(), key),
            )
        })
        .collect();
    let mut checkpoints = Checkpointer::open(SingerState {
        out: out.clone(),
        initial: Some(initial),
        seq,
        bookmarks,
    })?;
    let sink_out = out.clone();
    let mut sink_for = move |stream: &str| -> Box<dyn RecordSink> {
        Box::new(SingerRecords {
            out: sink_out.clone(),
            stream: stream.to_string(),
        })
    };
    let mut observer = SingerObserver {
        out: out.clone(),
        schemas,
    };
    let outcomes = tenant
        .sync_streams(
            &selected,
            &config.settings,
            &mut checkpoints,
            &mut sink_for,
            &SyncOptions::default(),
            &mut observer,
        )
        .await?;
    let mut first = None;
    for (stream, outcome) in outcomes {
        if let Err(e) = outcome {
            if selected.len() > 1 {
                eprintln!("error: {stream}: {}", CliError::Host(e.clone()));
            }
            first.get_or_insert(e);
        }
    }
    match first {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// The bookmarks of a tap state: `{"bookmarks": {stream: …}}`; `{}` or
/// `null` is none.
fn bookmarks_of(state: &Value) -> Result<BTreeMap<String, Value>, CliError> {
    let bookmarks = match state {
        Value::Null => return Ok(BTreeMap::new()),
        Value::Object(o) => match o.get("bookmarks") {
            None | Some(Value::Null) => return Ok(BTreeMap::new()),
            Some(Value::Object(b)) => b,
            Some(_) => {
                return Err(CliError::Input(
                    "the state's \"bookmarks\" is not an object".into(),
                ));
            }
        },
        _ => return Err(CliError::Input("the state is not a JSON object".into())),
    };
    Ok(bookmarks
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect())
}

/// A stream's records as RECORD messages.
struct SingerRecords {
    out: Emitter,
    stream: String,
}

impl RecordSink for SingerRecords {
    fn begin(&mut self, _resuming: bool) -> std::io::Result<()> {
        Ok(())
    }

    fn write_page(&mut self, records: &[String]) -> std::io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let head = format!(
            "{{\"type\":\"RECORD\",\"stream\":{},\"time_extracted\":\"{}\",\"record\":",
            Value::from(self.stream.as_str()),
            rfc3339(now_ms())
        );
        self.out
            .lock()
            .records(&self.stream, head.as_bytes(), records, b"}")
    }

    fn commit(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The checkpoint store: each save is a STATE of the whole tap state.
struct SingerState {
    out: Emitter,
    initial: Option<SyncState>,
    seq: u64,
    /// Every stream's bookmark, those of streams not synced now included:
    /// the tap state is one document.
    bookmarks: BTreeMap<String, Value>,
}

impl CheckpointStore for SingerState {
    fn load(&mut self) -> Result<SyncState, HarnessError> {
        Ok(self.initial.take().unwrap_or_default())
    }

    fn save(&mut self, state: &SyncState, changed: &[String]) -> Result<(), HarnessError> {
        if changed.is_empty() {
            return Ok(());
        }
        let seq = self.seq;
        self.seq += 1;
        for stream in changed {
            if let Some(bookmark) = stream_state::export(state, stream, seq) {
                self.bookmarks.insert(stream.clone(), bookmark);
            }
        }
        let bookmarks: Map<String, Value> = self
            .bookmarks
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut o = self.out.lock();
        o.message(&json!({ "type": "STATE", "value": { "bookmarks": bookmarks } }))
            .map_err(io_error)?;
        o.flush().map_err(io_error)
    }
}

/// SCHEMA messages as each walk starts.
struct SingerObserver {
    out: Emitter,
    schemas: BTreeMap<String, (Value, Vec<String>, Option<String>)>,
}

impl Observer for SingerObserver {
    fn walk_started(&mut self, streams: &[String]) {
        let mut o = self.out.lock();
        for stream in streams {
            let Some((schema, key, bookmark)) = self.schemas.get(stream) else {
                continue;
            };
            let mut message = json!({
                "type": "SCHEMA",
                "stream": stream,
                "schema": schema,
                "key_properties": key,
            });
            if let Some(bookmark) = bookmark {
                message["bookmark_properties"] = json!([bookmark]);
            }
            // A write error shows at the next record or state.
            let _ = o.message(&message);
        }
    }

    fn walk_finished(&mut self, streams: &[String], result: Result<&[SyncReport], &HarnessError>) {
        if let Ok(reports) = result {
            for (stream, report) in streams.iter().zip(reports) {
                if report.leads_walk(stream) {
                    for kind in report.notices.kinds() {
                        let line = format!("{}: {kind}", report.walk.join(","));
                        eprintln!("notice: {}", host_harness::error::printable(&line));
                    }
                }
            }
        }
    }
}
