//! `connector-harness airbyte …` and `connector-harness singer` against the
//! simulator, proved with the other side's own code: every Airbyte message
//! validated by Airbyte's pydantic models (`airbyte-protocol-models-pdv2`),
//! every Singer message piped into the real `target-jsonl` (which validates
//! each record against its SCHEMA), both pinned and installed by
//! `conformance::python`. Counts are compared with the CLI's own `fetch`
//! of the same data.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use conformance::python;
use conformance::sim::{SimConfig, Simulator};
use serde_json::{Value, json};

const TOKEN: &str = "CCIPAT_protocols_test_token_9e8d7c6b";

/// Streams read in the tests: a full-refresh one, and one walk of three
/// incremental ones (so per-page STATE covers several streams at once).
const STREAMS: [&str; 4] = ["projects", "pipelines", "workflows", "jobs"];

struct Env {
    sim: Simulator,
    dir: PathBuf,
}

impl Env {
    async fn new() -> Env {
        // Enough pipelines that a walk takes many pages.
        let sim = Simulator::start(SimConfig::single(TOKEN, 3, 40))
            .await
            .unwrap();
        let dir = conformance::scratch::scratch_dir("harness-protocols");
        Env { sim, dir }
    }

    fn file(&self, name: &str, contents: &Value) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, contents.to_string()).unwrap();
        path
    }

    fn config(&self, name: &str, token: &str, extra: Value) -> PathBuf {
        let mut config = json!({ "api_key": token, "base_url": self.sim.base_url() });
        for (k, v) in extra.as_object().unwrap() {
            config[k] = v.clone();
        }
        self.file(name, &config)
    }

    async fn harness(&self, args: &[&str]) -> Output {
        let allow = format!("http://{}", self.sim.addr());
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_connector-harness"))
            .arg("--cache-dir")
            .arg(self.dir.join("cache"))
            .args(["--allow-host", &allow])
            .args(args)
            .output()
            .await
            .unwrap();
        for stream in [&out.stdout, &out.stderr] {
            assert!(
                !String::from_utf8_lossy(stream).contains(TOKEN),
                "the key leaked: {}",
                String::from_utf8_lossy(stream)
            );
        }
        out
    }

    /// The CATALOG message `airbyte discover` prints for `config`.
    async fn discovered(&self, config: &Path) -> Value {
        let out = self
            .harness(&["airbyte", "discover", "--config", p(config)])
            .await;
        assert!(out.status.success(), "{}", stderr(&out));
        lines(&out).remove(0)
    }

    /// `airbyte read` of `catalog` with `config`, from `state` if given.
    async fn airbyte_read(&self, config: &Path, catalog: &Path, state: Option<&Path>) -> Output {
        let mut args = vec![
            "airbyte",
            "read",
            "--config",
            p(config),
            "--catalog",
            p(catalog),
        ];
        if let Some(state) = state {
            args.extend(["--state", p(state)]);
        }
        self.harness(&args).await
    }

    /// Records per stream of the CLI's own sync of `STREAMS`, for reference.
    async fn fetched(&self) -> BTreeMap<String, usize> {
        let credential = self.file(
            "credential.json",
            &json!({ "api_key": TOKEN, "base_url": self.sim.base_url() }),
        );
        let out_dir = self.dir.join("fetch");
        let out = self
            .harness(&[
                "fetch",
                "--credential",
                p(&credential),
                "--stream",
                &STREAMS.join(","),
                "--out",
                p(&out_dir),
            ])
            .await;
        assert!(out.status.success(), "{}", stderr(&out));
        STREAMS
            .iter()
            .map(|s| {
                let text = std::fs::read_to_string(out_dir.join(format!("{s}.jsonl"))).unwrap();
                (s.to_string(), text.lines().count())
            })
            .collect()
    }

    async fn finish(self) {
        self.sim.shutdown().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// Every line of `out` is an Airbyte message by Airbyte's own models.
fn validated(out: &Output) -> Value {
    python::airbyte_validate(&out.stdout)
        .unwrap_or_else(|e| panic!("Airbyte's models refuse the output: {e:#}"))
}

/// Every key named `key` anywhere in `value`.
fn has_key(value: &Value, key: &str) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(k, v)| k == key || has_key(v, key)),
        Value::Array(items) => items.iter().any(|v| has_key(v, key)),
        _ => false,
    }
}

/// The primary key of a record of `stream` (each of `STREAMS` is keyed by
/// `id`).
fn key_of(stream: &str, data: &Value) -> String {
    format!("{stream}:{}", data["id"])
}

/// The primary keys of the Airbyte RECORDs among `messages`, in order.
fn airbyte_keys(messages: &[Value]) -> impl Iterator<Item = String> + '_ {
    messages.iter().filter(|m| m["type"] == "RECORD").map(|m| {
        key_of(
            m["record"]["stream"].as_str().unwrap(),
            &m["record"]["data"],
        )
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn airbyte_spec_check_and_discover_are_what_airbyte_reads() {
    let env = Env::new().await;

    let spec = env.harness(&["airbyte", "spec"]).await;
    assert!(spec.status.success(), "{}", stderr(&spec));
    let summary = validated(&spec);
    assert_eq!(summary["counts"], json!({ "SPEC": 1 }));
    let connection = &summary["spec"][0]["connectionSpecification"];
    assert_eq!(connection["properties"]["api_key"]["airbyte_secret"], true);
    assert_eq!(connection["required"], json!(["api_key"]));
    assert_eq!(connection["additionalProperties"], true);
    for setting in ["project_slugs", "org_slug", "start_date", "lookback_days"] {
        assert!(connection["properties"].get(setting).is_some(), "{setting}");
    }
    for combinator in ["anyOf", "allOf", "oneOf", "not"] {
        assert!(!has_key(connection, combinator), "{combinator}");
    }
    // A form Airbyte renders is a draft-07 schema that validates a config.
    let draft7 = jsonschema::draft7::new(connection).expect("a draft-07 schema");
    let good = json!({ "api_key": "k", "project_slugs": ["gh/a/b"], "lookback_days": 7 });
    assert!(draft7.is_valid(&good));
    assert!(
        !draft7.is_valid(&json!({ "lookback_days": 7 })),
        "api_key is required"
    );

    let config = env.config("config.json", TOKEN, json!({ "platform_key": 1 }));
    let check = env
        .harness(&["airbyte", "check", "--config", p(&config)])
        .await;
    assert!(check.status.success(), "{}", stderr(&check));
    let status = &validated(&check)["connection_status"][0];
    assert_eq!(status["status"], "SUCCEEDED", "{status}");

    // A wrong key is an answer, not a crash: FAILED, exit 0, no trace.
    let wrong = env.config("wrong.json", "CCIPAT_wrong_key_000000", json!({}));
    let check = env
        .harness(&["airbyte", "check", "--config", p(&wrong)])
        .await;
    assert!(check.status.success(), "{}", stderr(&check));
    let summary = validated(&check);
    assert_eq!(summary["counts"], json!({ "CONNECTION_STATUS": 1 }));
    let status = &summary["connection_status"][0];
    assert_eq!(status["status"], "FAILED");
    let message = status["message"].as_str().unwrap();
    assert!(message.starts_with("unauthorized: "), "{message}");
    assert!(
        message.contains("Personal API Tokens"),
        "actionable: {message}"
    );
    assert!(!message.contains("CCIPAT_wrong_key"), "{message}");

    // Settings the connector's schema does not admit fail the check too.
    let bad = env.config("bad.json", TOKEN, json!({ "lookback_days": 0 }));
    let check = env
        .harness(&["airbyte", "check", "--config", p(&bad)])
        .await;
    let status = &validated(&check)["connection_status"][0];
    assert_eq!(status["status"], "FAILED");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("lookback_days"),
        "{status}"
    );

    let discover = env
        .harness(&["airbyte", "discover", "--config", p(&config)])
        .await;
    assert!(discover.status.success(), "{}", stderr(&discover));
    let summary = validated(&discover);
    let streams = summary["catalog"][0]["streams"].as_array().unwrap();
    let names: BTreeSet<&str> = streams
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), streams.len(), "unique names");
    assert_eq!(names.len(), 13);
    for stream in streams {
        let name = stream["name"].as_str().unwrap();
        let schema = &stream["json_schema"];
        assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
        jsonschema::draft7::new(schema).unwrap_or_else(|e| panic!("{name}: {e}"));
        for key in stream["source_defined_primary_key"].as_array().unwrap() {
            let field = key[0].as_str().unwrap();
            assert!(schema["properties"].get(field).is_some(), "{name}.{field}");
        }
        let modes = stream["supported_sync_modes"].as_array().unwrap();
        if modes.contains(&json!("incremental")) {
            assert_eq!(stream["source_defined_cursor"], true, "{name}");
        }
        if let Some(cursor) = stream["default_cursor_field"][0].as_str() {
            assert!(
                schema["properties"].get(cursor).is_some(),
                "{name}.{cursor}"
            );
        }
    }
    env.finish().await;
}

/// The configured catalog Airbyte would write for `STREAMS`, incremental
/// where the stream supports it.
fn configured(discovered: &Value, names: &[&str]) -> Value {
    let streams: Vec<Value> = discovered["catalog"]["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| names.contains(&s["name"].as_str().unwrap()))
        .map(|s| {
            let incremental = s["supported_sync_modes"]
                .as_array()
                .unwrap()
                .contains(&json!("incremental"));
            json!({
                "stream": s,
                "sync_mode": if incremental { "incremental" } else { "full_refresh" },
                "destination_sync_mode": "append",
            })
        })
        .collect();
    json!({ "streams": streams })
}

/// The state array Airbyte keeps after a read: each stream's last STATE,
/// as Airbyte writes it back (with a null namespace and a key of its own).
fn kept_state(messages: &[Value]) -> Value {
    let mut last: BTreeMap<String, Value> = BTreeMap::new();
    for m in messages.iter().filter(|m| m["type"] == "STATE") {
        let mut state = m["state"].clone();
        let name = state["stream"]["stream_descriptor"]["name"]
            .as_str()
            .unwrap()
            .to_string();
        state["stream"]["stream_descriptor"]["namespace"] = Value::Null;
        state["id"] = json!(42);
        last.insert(name, state);
    }
    Value::Array(last.into_values().collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn airbyte_read_emits_statuses_records_and_a_state_per_page_and_resumes_incrementally() {
    let env = Env::new().await;
    let config = env.config("config.json", TOKEN, json!({}));
    let discovered = env.discovered(&config).await;
    let catalog = env.file("catalog.json", &configured(&discovered, &STREAMS));
    python::airbyte_check_configured_catalog(std::fs::read(&catalog).unwrap())
        .expect("Airbyte's models take the configured catalog");
    let expected = env.fetched().await;

    let read = env.airbyte_read(&config, &catalog, None).await;
    assert!(read.status.success(), "{}", stderr(&read));
    let summary = validated(&read);
    let messages = lines(&read);
    for stream in STREAMS {
        assert_eq!(summary["records"][stream], expected[stream], "{stream}");
        let statuses: Vec<&str> = summary["traces_per_stream"][stream]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, ["STARTED", "RUNNING", "COMPLETE"], "{stream}");
        let states = &summary["states"]["per_stream"][stream];
        // Every record is counted by the STATE that follows it, and the
        // stream's last message before COMPLETE is a STATE.
        assert_eq!(
            states["source_record_count"],
            json!(expected[stream] as f64)
        );
        let last_record = summary["record_lines"][stream][1].as_u64().unwrap();
        let last_state = states["lines"].as_array().unwrap().last().unwrap();
        assert!(last_state.as_u64().unwrap() > last_record, "{stream}");
    }
    // A state after every page: the walk of three streams saved once a page,
    // each save one STATE per stream of the walk.
    let walk_states = summary["states"]["per_stream"]["jobs"]["count"]
        .as_u64()
        .unwrap();
    assert!(walk_states > 3, "jobs has {walk_states} states");
    for stream in ["pipelines", "workflows"] {
        assert_eq!(
            summary["states"]["per_stream"][stream]["count"],
            walk_states
        );
    }
    for m in messages.iter().filter(|m| m["type"] == "RECORD") {
        assert!(m["record"]["emitted_at"].as_u64().unwrap() > 1_600_000_000_000);
    }
    eprintln!(
        "airbyte read: {} messages validated, {}, records {}, {walk_states} STATEs per stream of the walk",
        summary["messages"], summary["counts"], summary["records"]
    );

    // Airbyte's kept state reads back; a second read after the upstream
    // moved on returns what is new, and the full-refresh stream again.
    let state = env.file("state.json", &kept_state(&messages));
    python::airbyte_check_state(std::fs::read(&state).unwrap())
        .expect("Airbyte's models take the state array");
    let first: BTreeMap<String, Value> = messages
        .iter()
        .filter(|m| m["type"] == "RECORD")
        .map(|m| {
            let stream = m["record"]["stream"].as_str().unwrap();
            (
                key_of(stream, &m["record"]["data"]),
                m["record"]["data"].clone(),
            )
        })
        .collect();
    env.sim.advance();
    let read = env.airbyte_read(&config, &catalog, Some(&state)).await;
    assert!(read.status.success(), "{}", stderr(&read));
    let summary = validated(&read);
    assert_eq!(summary["records"]["projects"], expected["projects"]);
    let mut new = 0;
    for m in lines(&read).iter().filter(|m| m["type"] == "RECORD") {
        let stream = m["record"]["stream"].as_str().unwrap();
        if stream == "projects" {
            continue;
        }
        let key = key_of(stream, &m["record"]["data"]);
        match first.get(&key) {
            Some(before) => assert_ne!(before, &m["record"]["data"], "{key} unchanged, again"),
            None => new += 1,
        }
    }
    assert!(new > 0, "the advance added pipelines");
    eprintln!(
        "airbyte read from the kept state after an advance: records {}, {new} new or changed",
        summary["records"]
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn airbyte_read_from_an_intermediate_state_loses_nothing() {
    let env = Env::new().await;
    let config = env.config("config.json", TOKEN, json!({}));
    let catalog = env.file(
        "catalog.json",
        &configured(&env.discovered(&config).await, &STREAMS),
    );
    let read = env.airbyte_read(&config, &catalog, None).await;
    let messages = lines(&read);
    let all: BTreeSet<String> = airbyte_keys(&messages).collect();
    // The most records one page gave: those between two saves.
    let mut largest_page = 0;
    let mut since_save = 0;
    for m in &messages {
        match m["type"].as_str() {
            Some("RECORD") => since_save += 1,
            Some("STATE") => {
                largest_page = largest_page.max(since_save);
                since_save = 0;
            }
            _ => {}
        }
    }
    assert!(largest_page < all.len() / 3, "the read took several pages");
    let state_at: Vec<usize> = (0..messages.len())
        .filter(|&i| messages[i]["type"] == "STATE")
        .collect();
    // Interrupted at a third and at two thirds of the run: the platform
    // kept the states up to there, and the records before them.
    for cut in [
        state_at[state_at.len() / 3],
        state_at[2 * state_at.len() / 3],
    ] {
        let kept = &messages[..=cut];
        let before: BTreeSet<String> = airbyte_keys(kept).collect();
        let state = env.file(&format!("state-{cut}.json"), &kept_state(kept));
        let resumed = env.airbyte_read(&config, &catalog, Some(&state)).await;
        assert!(resumed.status.success(), "{}", stderr(&resumed));
        validated(&resumed);
        let after: Vec<String> = airbyte_keys(&lines(&resumed)).collect();
        let union: BTreeSet<String> = before
            .iter()
            .cloned()
            .chain(after.iter().cloned())
            .collect();
        let missing: Vec<&String> = all.difference(&union).collect();
        assert!(missing.is_empty(), "lost after a cut at {cut}: {missing:?}");
        // What the incremental walk reads twice is at most the page in
        // flight (the full-refresh stream is read in full again, by design).
        let twice = after
            .iter()
            .filter(|k| !k.starts_with("projects:") && before.contains(*k))
            .count();
        assert!(
            twice <= largest_page,
            "{twice} records read again, more than a page ({largest_page})"
        );
    }
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn airbyte_read_refuses_what_the_source_does_not_have_and_reports_a_failed_stream() {
    let env = Env::new().await;
    let config = env.config("config.json", TOKEN, json!({}));
    let discovered = env.discovered(&config).await;

    let mut unknown = configured(&discovered, &["projects"]);
    unknown["streams"][0]["stream"]["name"] = json!("builds");
    let mut wrong_mode = configured(&discovered, &["projects"]);
    wrong_mode["streams"][0]["sync_mode"] = json!("incremental");
    for (name, catalog) in [("unknown", unknown), ("mode", wrong_mode)] {
        let catalog = env.file(&format!("{name}.json"), &catalog);
        let read = env.airbyte_read(&config, &catalog, None).await;
        assert_eq!(read.status.code(), Some(27), "{name}: {}", stderr(&read));
        let summary = validated(&read);
        let error = &summary["traces_without_stream"][0]["error"];
        assert_eq!(error["failure_type"], "config_error", "{name}");
        assert_eq!(summary["counts"].get("RECORD"), None, "{name}");
    }

    // A project the key cannot see: its streams end INCOMPLETE with an
    // error, the others complete, and the exit code is the error's.
    let config = env.config(
        "missing.json",
        TOKEN,
        json!({ "project_slugs": ["gh/nobody/nothing"] }),
    );
    let catalog = env.file(
        "catalog.json",
        &configured(&discovered, &["me", "pipelines"]),
    );
    let read = env.airbyte_read(&config, &catalog, None).await;
    assert_eq!(read.status.code(), Some(13), "{}", stderr(&read));
    let summary = validated(&read);
    let me: Vec<&str> = summary["traces_per_stream"]["me"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["status"].as_str())
        .collect();
    assert_eq!(me, ["STARTED", "RUNNING", "COMPLETE"]);
    let pipelines = summary["traces_per_stream"]["pipelines"]
        .as_array()
        .unwrap();
    let statuses: Vec<&str> = pipelines
        .iter()
        .filter_map(|t| t["status"].as_str())
        .collect();
    assert_eq!(statuses.last(), Some(&"INCOMPLETE"));
    let error = pipelines.iter().find(|t| t["type"] == "ERROR").unwrap();
    assert_eq!(error["error"]["failure_type"], "config_error");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("not-found: ")
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_singer_sync_goes_into_target_jsonl_and_resumes_from_its_state() {
    let env = Env::new().await;
    let config = env.config("config.json", TOKEN, json!({}));
    let expected = env.fetched().await;

    let discover = env
        .harness(&["singer", "--config", p(&config), "--discover"])
        .await;
    assert!(discover.status.success(), "{}", stderr(&discover));
    let mut catalog = lines(&discover).remove(0);
    let mut ids = BTreeSet::new();
    for entry in catalog["streams"].as_array_mut().unwrap() {
        let id = entry["tap_stream_id"].as_str().unwrap().to_string();
        assert!(ids.insert(id.clone()), "{id} twice");
        assert!(entry["schema"]["properties"].is_object(), "{id}");
        assert!(
            !entry["key_properties"].as_array().unwrap().is_empty(),
            "{id}"
        );
        let top = &mut entry["metadata"][0];
        assert_eq!(top["breadcrumb"], json!([]));
        assert_eq!(top["metadata"]["selected"], true, "{id}");
        // The user selects the four streams (as Meltano's `select` does).
        top["metadata"]["selected"] = json!(STREAMS.contains(&id.as_str()));
    }
    let catalog_file = env.file("catalog.json", &catalog);
    let state_file = env.file("empty-state.json", &json!({}));
    // Meltano passes --state with --discover: accepted.
    let again = env
        .harness(&[
            "singer",
            "--config",
            p(&config),
            "--discover",
            "--state",
            p(&state_file),
        ])
        .await;
    assert!(again.status.success(), "{}", stderr(&again));

    let sync = env
        .harness(&[
            "singer",
            "--config",
            p(&config),
            "--catalog",
            p(&catalog_file),
        ])
        .await;
    assert!(sync.status.success(), "{}", stderr(&sync));
    let target = python::singer_target(&sync.stdout)
        .unwrap_or_else(|e| panic!("target-jsonl refused the tap's output: {e:#}"));
    let messages = lines(&sync);
    let mut schema_seen = BTreeSet::new();
    for m in &messages {
        match m["type"].as_str().unwrap() {
            "SCHEMA" => {
                schema_seen.insert(m["stream"].as_str().unwrap().to_string());
            }
            "RECORD" => assert!(schema_seen.contains(m["stream"].as_str().unwrap())),
            "STATE" => assert!(m["value"]["bookmarks"].is_object()),
            other => panic!("unexpected message {other}"),
        }
    }
    for stream in STREAMS {
        assert_eq!(target["rows"][stream], expected[stream], "{stream}");
    }
    assert_eq!(target["rows"].as_object().unwrap().len(), STREAMS.len());
    let states = messages.iter().filter(|m| m["type"] == "STATE").count();
    assert!(states > 2, "a STATE after every page: {states}");
    let last_state = messages
        .iter()
        .rev()
        .find(|m| m["type"] == "STATE")
        .unwrap()["value"]
        .clone();
    for stream in STREAMS {
        assert!(last_state["bookmarks"].get(stream).is_some(), "{stream}");
    }

    // The older --properties form, from the state target-jsonl printed,
    // after the upstream moved on: only what is new, and the full table.
    let state_file = env.file("state.json", &target["final_state"]);
    env.sim.advance();
    let resumed = env
        .harness(&[
            "singer",
            "--config",
            p(&config),
            "--properties",
            p(&catalog_file),
            "--state",
            p(&state_file),
        ])
        .await;
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let second = python::singer_target(&resumed.stdout).unwrap();
    assert_eq!(second["rows"]["projects"], expected["projects"]);
    let first_records: BTreeMap<String, Value> = messages
        .iter()
        .filter(|m| m["type"] == "RECORD")
        .map(|m| {
            (
                key_of(m["stream"].as_str().unwrap(), &m["record"]),
                m["record"].clone(),
            )
        })
        .collect();
    let mut new = 0;
    for m in lines(&resumed).iter().filter(|m| m["type"] == "RECORD") {
        let stream = m["stream"].as_str().unwrap();
        if stream == "projects" {
            continue;
        }
        match first_records.get(&key_of(stream, &m["record"])) {
            Some(before) => assert_ne!(before, &m["record"], "unchanged, again"),
            None => new += 1,
        }
    }
    assert!(new > 0 && new < first_records.len() / 2, "{new} new");
    eprintln!(
        "singer: target-jsonl rows {} from {} messages ({states} STATEs); after an advance from its state: rows {}, {new} new or changed",
        target["rows"],
        messages.len(),
        second["rows"]
    );
    env.finish().await;
}
