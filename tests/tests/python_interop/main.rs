//! The Python clients of [`conformance::python`] on hand-written input: the
//! pinned virtualenv is made from tests/python/requirements.txt and
//! constraints.txt, Airbyte's own models accept a valid message sequence
//! with the right summary and reject invalid lines, and the real
//! `target-jsonl` writes a valid Singer stream and refuses records that break
//! their SCHEMA. These prove the helpers before the harness's `airbyte` and
//! `singer` subcommands are checked with them: a client that accepted
//! anything would prove nothing.
//!
//! Python, PyPI or a script failing is a test failure, never a skip.

use anyhow::Result;
use conformance::python::{self, ScriptFailed};
use serde_json::{Value, json};

/// JSON lines, one per value, as a connector prints them.
fn lines(values: &[Value]) -> String {
    values.iter().map(|v| format!("{v}\n")).collect()
}

/// The script's rejection inside `result`; panics when it accepted the input
/// or failed for another reason (no Python, say).
fn rejection(result: Result<Value>) -> ScriptFailed {
    match result {
        Ok(summary) => panic!("the input was accepted: {summary:#}"),
        Err(err) => match err.downcast_ref::<ScriptFailed>() {
            Some(failed) => failed.clone(),
            None => panic!("expected the script to reject its input, got: {err:#}"),
        },
    }
}

fn spec() -> Value {
    json!({"type": "SPEC", "spec": {
        "documentationUrl": "https://circleci.com/docs/api/v2/",
        "connectionSpecification": {
            "type": "object",
            "required": ["token"],
            "properties": {"token": {"type": "string", "airbyte_secret": true}},
        },
    }})
}

fn log(message: &str) -> Value {
    json!({"type": "LOG", "log": {"level": "INFO", "message": message}})
}

fn stream_status(stream: &str, status: &str) -> Value {
    json!({"type": "TRACE", "trace": {
        "type": "STREAM_STATUS",
        "emitted_at": 1_700_000_000_000.0,
        "stream_status": {"stream_descriptor": {"name": stream}, "status": status},
    }})
}

fn record(stream: &str, id: &str, number: u64) -> Value {
    json!({"type": "RECORD", "record": {
        "stream": stream,
        "data": {"id": id, "number": number},
        "emitted_at": 1_700_000_000_000u64 + number,
    }})
}

fn stream_state(stream: &str, cursor: &str, count: f64) -> Value {
    json!({"type": "STATE", "state": {
        "type": "STREAM",
        "stream": {"stream_descriptor": {"name": stream}, "stream_state": {"updated_at": cursor}},
        "sourceStats": {"recordCount": count},
    }})
}

#[test]
fn venv_holds_the_pinned_packages() -> Result<()> {
    let venv = python::venv()?;
    assert!(venv.python.is_file(), "{}", venv.python.display());
    assert!(
        venv.dir.starts_with(python::target_dir()),
        "{} is not under the target dir {}",
        venv.dir.display(),
        python::target_dir().display()
    );
    // The same venv for every caller in this process.
    assert!(std::ptr::eq(venv, python::venv()?));

    // The versions installed are requirements.txt's pins.
    let requirements = std::fs::read_to_string(python::python_dir().join("requirements.txt"))?;
    let pins: Vec<(&str, &str)> = requirements
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.trim().split_once("=="))
        .collect();
    assert!(pins.len() >= 3, "{pins:?}");
    for (name, version) in pins {
        let out = std::process::Command::new(&venv.python)
            .args([
                "-c",
                "import importlib.metadata, sys; print(importlib.metadata.version(sys.argv[1]))",
            ])
            .arg(name)
            .output()?;
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            version,
            "{name}"
        );
    }

    // target-jsonl is the package's own console script, run by the venv's Python.
    let target = std::fs::read_to_string(venv.bin_dir.join("target-jsonl"))?;
    let shebang = target.lines().next().unwrap_or_default();
    assert_eq!(shebang, format!("#!{}", venv.python.display()), "{target}");
    assert!(target.contains("from target_jsonl import main"), "{target}");
    Ok(())
}

#[test]
fn airbyte_valid_sequence_is_summarised() -> Result<()> {
    let catalog = json!({"type": "CATALOG", "catalog": {"streams": [{
        "name": "pipelines",
        "json_schema": {"type": "object", "properties": {"id": {"type": "string"}}},
        "supported_sync_modes": ["full_refresh", "incremental"],
        "source_defined_cursor": true,
        "default_cursor_field": ["updated_at"],
        "source_defined_primary_key": [["id"]],
    }]}});
    let status = json!({"type": "CONNECTION_STATUS", "connectionStatus": {"status": "SUCCEEDED"}});
    let input = lines(&[
        spec(),
        status,
        catalog.clone(),
        log("sync starts"),
        stream_status("pipelines", "STARTED"),
        record("pipelines", "p1", 1),
        record("pipelines", "p2", 2),
        stream_state("pipelines", "2024-01-02T00:00:00Z", 2.0),
        stream_status("pipelines", "COMPLETE"),
    ]);
    let summary = python::airbyte_validate(&input)?;

    assert_eq!(summary["messages"], 9, "{summary:#}");
    assert_eq!(
        summary["counts"],
        json!({"SPEC": 1, "CONNECTION_STATUS": 1, "CATALOG": 1, "LOG": 1, "TRACE": 2, "RECORD": 2, "STATE": 1}),
        "{summary:#}"
    );
    assert_eq!(summary["records"], json!({"pipelines": 2}));
    assert_eq!(summary["record_lines"], json!({"pipelines": [6, 7]}));
    assert_eq!(summary["log_levels"], json!({"INFO": 1}));
    assert_eq!(
        summary["traces_per_stream"],
        json!({"pipelines": [
            {"type": "STREAM_STATUS", "status": "STARTED", "line": 5},
            {"type": "STREAM_STATUS", "status": "COMPLETE", "line": 9},
        ]})
    );
    assert_eq!(summary["traces_without_stream"], json!([]));
    let state = &summary["states"]["per_stream"]["pipelines"];
    assert_eq!(state["count"], 1, "{summary:#}");
    assert_eq!(state["lines"], json!([8]));
    assert_eq!(
        state["last_stream_state"],
        json!({"updated_at": "2024-01-02T00:00:00Z"})
    );
    assert_eq!(state["source_record_count"], 2.0);
    assert_eq!(summary["states"]["global"]["count"], 0);
    assert_eq!(summary["states"]["legacy"]["count"], 0);
    // SPEC, CATALOG and CONNECTION_STATUS come back as the models parsed them.
    assert_eq!(
        summary["spec"][0]["connectionSpecification"],
        spec()["spec"]["connectionSpecification"]
    );
    assert_eq!(
        summary["spec"][0]["documentationUrl"],
        "https://circleci.com/docs/api/v2/"
    );
    assert_eq!(summary["catalog"], json!([catalog["catalog"]]));
    assert_eq!(
        summary["connection_status"],
        json!([{"status": "SUCCEEDED"}])
    );
    assert_eq!(summary["unknown_fields"], json!({}));
    Ok(())
}

#[test]
fn airbyte_errors_and_estimates_are_listed_per_stream() -> Result<()> {
    let input = lines(&[
        json!({"type": "TRACE", "trace": {"type": "ESTIMATE", "emitted_at": 1.0,
            "estimate": {"name": "jobs", "type": "STREAM", "row_estimate": 10}}}),
        json!({"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": 2.0,
            "error": {"message": "403 from CircleCI", "failure_type": "config_error",
                "stream_descriptor": {"name": "jobs"}}}}),
        stream_status("jobs", "INCOMPLETE"),
        json!({"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": 3.0,
            "error": {"message": "sync failed", "failure_type": "system_error"}}}),
    ]);
    let summary = python::airbyte_validate(&input)?;
    assert_eq!(
        summary["traces_per_stream"]["jobs"],
        json!([
            {"type": "ESTIMATE", "line": 1,
             "estimate": {"name": "jobs", "type": "STREAM", "row_estimate": 10}},
            {"type": "ERROR", "line": 2,
             "error": {"message": "403 from CircleCI", "failure_type": "config_error"}},
            {"type": "STREAM_STATUS", "status": "INCOMPLETE", "line": 3},
        ]),
        "{summary:#}"
    );
    assert_eq!(
        summary["traces_without_stream"],
        json!([{"type": "ERROR", "line": 4,
                "error": {"message": "sync failed", "failure_type": "system_error"}}])
    );
    Ok(())
}

#[test]
fn airbyte_record_without_emitted_at_is_rejected() {
    let mut bad = record("pipelines", "p1", 1);
    bad["record"].as_object_mut().unwrap().remove("emitted_at");
    let failed = rejection(python::airbyte_validate(lines(&[spec(), bad])));
    assert_eq!(failed.code, Some(1), "{failed}");
    assert!(
        failed.stderr.contains("line 2: not a valid AirbyteMessage"),
        "{failed}"
    );
    assert!(failed.stderr.contains("record.emitted_at"), "{failed}");
    assert!(failed.stderr.contains("Field required"), "{failed}");
    assert!(!failed.stderr.contains("line 1"), "{failed}");
}

#[test]
fn airbyte_non_json_lines_are_rejected() {
    let mut input = lines(&[spec(), log("fine")]);
    input.push_str("Syncing pipelines...\n");
    input.push('\n');
    input.push_str(&lines(&[record("pipelines", "p1", 1)]));
    let failed = rejection(python::airbyte_validate(&input));
    assert_eq!(failed.code, Some(1), "{failed}");
    assert!(failed.stderr.contains("2 invalid line(s) of 5"), "{failed}");
    assert!(failed.stderr.contains("line 3: not JSON"), "{failed}");
    assert!(failed.stderr.contains("Syncing pipelines..."), "{failed}");
    // A blank line is not a message either.
    assert!(failed.stderr.contains("line 4: not JSON"), "{failed}");

    let failed = rejection(python::airbyte_validate(
        b"{\"type\":\"LOG\"\xff}\n".as_slice(),
    ));
    assert!(failed.stderr.contains("line 1: not UTF-8"), "{failed}");
}

#[test]
fn airbyte_type_without_its_payload_is_rejected() {
    let failed = rejection(python::airbyte_validate(lines(&[
        json!({"type": "RECORD", "log": {"level": "INFO", "message": "x"}}),
    ])));
    assert!(
        failed
            .stderr
            .contains("a message of type RECORD has no `record`"),
        "{failed}"
    );

    let failed = rejection(python::airbyte_validate(lines(&[
        json!({"type": "TRACE", "trace": {"type": "STREAM_STATUS", "emitted_at": 1.0}}),
    ])));
    assert!(
        failed
            .stderr
            .contains("a TRACE of type STREAM_STATUS has no `trace.stream_status`"),
        "{failed}"
    );

    let failed = rejection(python::airbyte_validate(lines(&[
        json!({"type": "STATE", "state": {"type": "STREAM", "data": {}}}),
    ])));
    assert!(
        failed
            .stderr
            .contains("a state of type STREAM has no `stream`"),
        "{failed}"
    );
}

#[test]
fn airbyte_values_accepted_only_by_coercion_are_rejected() {
    let mut bad = record("pipelines", "p1", 1);
    bad["record"]["emitted_at"] = json!("1700000000001");
    let failed = rejection(python::airbyte_validate(lines(&[bad])));
    assert!(failed.stderr.contains("only by coercing"), "{failed}");
    assert!(failed.stderr.contains("record.emitted_at"), "{failed}");

    let mut bad = stream_status("pipelines", "RUNNING");
    bad["trace"]["stream_status"]["status"] = json!("FINISHED");
    let failed = rejection(python::airbyte_validate(lines(&[bad])));
    assert!(
        failed.stderr.contains("trace.stream_status.status"),
        "{failed}"
    );
}

#[test]
fn airbyte_unknown_fields_are_counted() -> Result<()> {
    // The models allow extra fields everywhere, so a misspelt optional field
    // passes validation; the summary names it.
    let mut state = stream_state("pipelines", "2024-01-01T00:00:00Z", 1.0);
    let stats = state["state"]
        .as_object_mut()
        .unwrap()
        .remove("sourceStats")
        .unwrap();
    state["state"]["source_stats"] = stats;
    let summary = python::airbyte_validate(lines(&[
        state,
        stream_state("jobs", "2024-01-01T00:00:00Z", 0.0),
    ]))?;
    assert_eq!(
        summary["unknown_fields"],
        json!({"state.source_stats": 1}),
        "{summary:#}"
    );
    Ok(())
}

#[test]
fn airbyte_empty_output_is_valid_and_empty() -> Result<()> {
    let summary = python::airbyte_validate("")?;
    assert_eq!(summary["messages"], 0);
    assert_eq!(summary["counts"], json!({}));
    Ok(())
}

#[test]
fn configured_catalog_is_checked_against_the_model() -> Result<()> {
    let catalog = json!({"streams": [{
        "stream": {
            "name": "pipelines",
            "json_schema": {"type": "object"},
            "supported_sync_modes": ["full_refresh", "incremental"],
        },
        "sync_mode": "incremental",
        "cursor_field": ["updated_at"],
        "destination_sync_mode": "append_dedup",
        "primary_key": [["id"]],
    }]});
    let summary = python::airbyte_check_configured_catalog(catalog.to_string())?;
    assert_eq!(
        summary["streams"],
        json!([{"name": "pipelines", "sync_mode": "incremental",
                "destination_sync_mode": "append_dedup",
                "cursor_field": ["updated_at"], "primary_key": [["id"]]}]),
        "{summary:#}"
    );
    assert_eq!(summary["unknown_fields"], json!({}));

    let mut bad = catalog.clone();
    bad["streams"][0]
        .as_object_mut()
        .unwrap()
        .remove("destination_sync_mode");
    let failed = rejection(python::airbyte_check_configured_catalog(bad.to_string()));
    assert!(
        failed
            .stderr
            .contains("not a valid ConfiguredAirbyteCatalog"),
        "{failed}"
    );
    assert!(
        failed.stderr.contains("streams.0.destination_sync_mode"),
        "{failed}"
    );

    let mut bad = catalog;
    bad["streams"][0]["sync_mode"] = json!("sometimes");
    let failed = rejection(python::airbyte_check_configured_catalog(bad.to_string()));
    assert!(failed.stderr.contains("streams.0.sync_mode"), "{failed}");
    Ok(())
}

#[test]
fn state_file_is_checked_against_the_model() -> Result<()> {
    let states = json!([
        {"type": "STREAM", "stream": {
            "stream_descriptor": {"name": "pipelines"},
            "stream_state": {"updated_at": "2024-01-02T00:00:00Z"}}},
        {"type": "STREAM", "stream": {"stream_descriptor": {"name": "jobs"}}},
    ]);
    let summary = python::airbyte_check_state(states.to_string())?;
    assert_eq!(summary["count"], 2, "{summary:#}");
    assert_eq!(summary["types"], json!(["STREAM", "STREAM"]));
    assert_eq!(
        summary["streams"],
        json!({"pipelines": {"updated_at": "2024-01-02T00:00:00Z"}, "jobs": null})
    );

    // Airbyte passes a list; one message alone is not a state file.
    let failed = rejection(python::airbyte_check_state(states[0].to_string()));
    assert!(
        failed
            .stderr
            .contains("not a valid list of AirbyteStateMessage"),
        "{failed}"
    );

    let failed = rejection(python::airbyte_check_state(
        json!([{"type": "STREAM", "data": {"x": 1}}]).to_string(),
    ));
    assert!(
        failed
            .stderr
            .contains("state [0]: a state of type STREAM has no `stream`"),
        "{failed}"
    );

    let failed = rejection(python::airbyte_check_state(
        json!([{"type": "STREAM", "stream": {"stream_descriptor": {}}}]).to_string(),
    ));
    assert!(
        failed.stderr.contains("stream.stream_descriptor.name"),
        "{failed}"
    );
    Ok(())
}

fn singer_schema() -> Value {
    json!({"type": "SCHEMA", "stream": "pipelines", "key_properties": ["id"], "schema": {
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": {"type": "string"},
            "number": {"type": "integer"},
            "created_at": {"type": ["null", "string"], "format": "date-time"},
        },
    }})
}

fn singer_record(id: &str, number: Value) -> Value {
    json!({"type": "RECORD", "stream": "pipelines", "time_extracted": "2024-01-02T00:00:00Z",
           "record": {"id": id, "number": number, "created_at": "2024-01-01T00:00:00Z"}})
}

#[test]
fn singer_stream_is_written_by_target_jsonl() -> Result<()> {
    let jobs_schema = json!({"type": "SCHEMA", "stream": "jobs", "key_properties": ["id"],
        "schema": {"type": "object", "properties": {"id": {"type": "string"}}}});
    let input = lines(&[
        singer_schema(),
        singer_record("p1", json!(1)),
        singer_record("p2", json!(2)),
        jobs_schema,
        json!({"type": "RECORD", "stream": "jobs", "record": {"id": "j1"}}),
        singer_record("p3", json!(3)),
        json!({"type": "STATE", "value": {"bookmarks": {"pipelines": {"updated_at": "2024-01-02"}}}}),
    ]);
    let summary = python::singer_target(&input)?;
    assert_eq!(
        summary["rows"],
        json!({"pipelines": 3, "jobs": 1}),
        "{summary:#}"
    );
    assert_eq!(summary["files"], json!(["jobs.jsonl", "pipelines.jsonl"]));
    assert_eq!(
        summary["final_state"],
        json!({"bookmarks": {"pipelines": {"updated_at": "2024-01-02"}}})
    );
    assert_eq!(
        summary["input_counts"],
        json!({"SCHEMA": 2, "RECORD": 4, "STATE": 1})
    );
    Ok(())
}

#[test]
fn singer_record_violating_its_schema_fails_target_jsonl() {
    let failed = rejection(python::singer_target(lines(&[
        singer_schema(),
        singer_record("p1", json!(1)),
        singer_record("p2", json!("2")),
    ])));
    assert_eq!(failed.code, Some(1), "{failed}");
    assert!(
        failed
            .stderr
            .contains("jsonschema.exceptions.ValidationError"),
        "{failed}"
    );
    assert!(
        failed.stderr.contains("'2' is not of type 'integer'"),
        "{failed}"
    );
    assert!(failed.stderr.contains("target-jsonl failed"), "{failed}");

    let mut missing_id = singer_record("p1", json!(1));
    missing_id["record"].as_object_mut().unwrap().remove("id");
    let failed = rejection(python::singer_target(lines(&[singer_schema(), missing_id])));
    assert!(
        failed.stderr.contains("'id' is a required property"),
        "{failed}"
    );
}

#[test]
fn singer_record_before_its_schema_or_non_json_fails_target_jsonl() {
    let failed = rejection(python::singer_target(lines(&[singer_record(
        "p1",
        json!(1),
    )])));
    assert!(
        failed
            .stderr
            .contains("was encountered before a corresponding schema"),
        "{failed}"
    );

    let mut input = lines(&[singer_schema()]);
    input.push_str("INFO starting sync\n");
    let failed = rejection(python::singer_target(&input));
    assert!(failed.stderr.contains("Unable to parse"), "{failed}");
}

#[test]
fn target_jsonl_does_not_check_formats() -> Result<()> {
    // What target-jsonl validates is Draft 4 without a format checker: a
    // date-time that is not one passes. Tests relying on it for formats
    // would prove nothing; this pins that limit down.
    let mut record = singer_record("p1", json!(1));
    record["record"]["created_at"] = json!("not a date");
    let summary = python::singer_target(lines(&[singer_schema(), record]))?;
    assert_eq!(summary["rows"], json!({"pipelines": 1}), "{summary:#}");
    Ok(())
}
