//! The whole catalog against the simulator: every stream returns each record
//! of the dataset exactly once, every record validates against its stream's
//! schema, project discovery works without slugs, and the catalog says what
//! docs/streams.md says.

use std::collections::{BTreeMap, BTreeSet};

use conformance::sim::{Dataset, STREAMS};
use host_harness::bindings::{StreamSpec, SyncMode};
use serde_json::{Value, json};

use crate::common::{TOKEN, all_slugs, credential, instance, simulator, sync_all};

/// Records keyed by primary key, failing on a duplicate key.
pub fn by_key(stream: &str, records: Vec<Value>) -> BTreeMap<String, Value> {
    let mut map = BTreeMap::new();
    for record in records {
        let key = Dataset::primary_key(stream, &record);
        if let Some(previous) = map.insert(key.clone(), record) {
            panic!("{stream}: record {key} returned twice (first: {previous})");
        }
    }
    map
}

#[tokio::test(flavor = "multi_thread")]
async fn the_catalog_matches_the_documented_table() {
    let sim = simulator(1, 1).await;
    let streams: Vec<StreamSpec> = instance(&sim).await.streams().await.unwrap();
    let names: Vec<&str> = streams.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names.iter().copied().collect::<BTreeSet<_>>(),
        STREAMS.into_iter().collect::<BTreeSet<_>>()
    );
    let spec = |name: &str| streams.iter().find(|s| s.name == name).unwrap();
    let incremental = |name: &str| {
        spec(name)
            .sync_modes
            .iter()
            .any(|m| matches!(m, SyncMode::Incremental))
    };
    assert_eq!(spec("jobs").parent.as_deref(), Some("workflows"));
    assert_eq!(spec("job_details").primary_key, ["project_slug", "number"]);
    assert_eq!(
        spec("tests").primary_key,
        ["project_slug", "job_number", "test_index"]
    );
    assert_eq!(
        spec("pipelines").cursor_field.as_deref(),
        Some("updated_at")
    );
    for name in [
        "pipelines",
        "workflows",
        "jobs",
        "job_details",
        "artifacts",
        "tests",
    ] {
        assert!(incremental(name), "{name} syncs incrementally");
    }
    for name in ["me", "collaborations", "projects", "contexts"] {
        assert!(!incremental(name), "{name} is full refresh");
    }
    for s in &streams {
        assert!(
            !s.description.is_empty() && !s.primary_key.is_empty(),
            "{}",
            s.name
        );
        let schema: Value = serde_json::from_str(&s.json_schema).unwrap();
        assert_eq!(
            schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{}",
            s.name
        );
        jsonschema::draft202012::new(&schema).unwrap_or_else(|e| panic!("{}: {e}", s.name));
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_stream_returns_each_record_exactly_once_and_valid() {
    let sim = simulator(6, 14).await;
    let dataset = sim.dataset(TOKEN).unwrap();
    let cred = credential(&sim, TOKEN);
    let settings = json!({"project_slugs": all_slugs(&sim)});
    let mut inst = instance(&sim).await;
    let catalog = inst.streams().await.unwrap();
    for stream in STREAMS {
        let (report, sink) = sync_all(&mut inst, &cred, stream, &settings)
            .await
            .unwrap_or_else(|e| panic!("{stream}: {e}"));
        let got = by_key(stream, sink.records());
        let want = by_key(stream, dataset.expected(stream));
        assert!(!want.is_empty(), "{stream}: the dataset has records");
        let missing: Vec<&String> = want.keys().filter(|k| !got.contains_key(*k)).collect();
        let extra: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{stream}: missing {missing:?}, unexpected {extra:?}"
        );
        for (key, record) in &want {
            assert_eq!(
                &got[key], record,
                "{stream} {key}: the API object plus its parent keys"
            );
        }

        let spec = catalog.iter().find(|s| s.name == stream).unwrap();
        let schema: Value = serde_json::from_str(&spec.json_schema).unwrap();
        let validator = jsonschema::draft202012::new(&schema).unwrap();
        for record in got.values() {
            if let Err(e) = validator.validate(record) {
                panic!("{stream}: {record} does not match its schema: {e}");
            }
        }
        assert!(
            report.max_state_bytes < 8 * 1024,
            "{stream}: state of {} bytes",
            report.max_state_bytes
        );
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn approval_jobs_are_skipped_with_a_notice() {
    let sim = simulator(6, 14).await;
    let cred = credential(&sim, TOKEN);
    let settings = json!({"project_slugs": all_slugs(&sim)});
    let mut inst = instance(&sim).await;
    let (_, jobs) = sync_all(&mut inst, &cred, "jobs", &settings).await.unwrap();
    let approvals = jobs
        .records()
        .iter()
        .filter(|j| j["type"] == "approval")
        .count();
    assert!(approvals > 0, "the dataset has approval jobs");
    sim.clear_requests();
    let (report, _) = sync_all(&mut inst, &cred, "job_details", &settings)
        .await
        .unwrap();
    assert!(
        report.notices.examples().any(|n| n.contains("approval")),
        "notices say why approval jobs were skipped: {:?}",
        report.notices
    );
    assert!(
        sim.requests().iter().all(|r| r.status != 404),
        "no request for an approval job's details"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn projects_are_discovered_without_slugs() {
    let sim = simulator(6, 14).await;
    let dataset = sim.dataset(TOKEN).unwrap();
    let cred = credential(&sim, TOKEN);
    let mut inst = instance(&sim).await;
    let (_, sink) = sync_all(&mut inst, &cred, "projects", &json!({}))
        .await
        .unwrap();
    let got: BTreeSet<String> = sink
        .records()
        .iter()
        .map(|p| p["slug"].as_str().unwrap().to_string())
        .collect();
    // Discovery sees the projects that have pipelines.
    let want: BTreeSet<String> = dataset
        .projects
        .iter()
        .filter(|p| !p.pipelines.is_empty())
        .map(|p| p.slug.clone())
        .collect();
    assert_eq!(got, want);
    let (_, sink) = sync_all(&mut inst, &cred, "pipelines", &json!({}))
        .await
        .unwrap();
    assert_eq!(sink.records().len(), dataset.all_pipeline_ids().len());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workflow_deleted_after_listing_is_skipped_and_named() {
    let sim = simulator(6, 14).await;
    let victims = sim.dataset(TOKEN).unwrap().some_workflow_ids(3);
    assert_eq!(victims.len(), 3);
    for id in &victims {
        assert!(sim.delete_workflow_after_listing(id));
    }
    let dataset = sim.dataset(TOKEN).unwrap();
    let cred = credential(&sim, TOKEN);
    let settings = json!({"project_slugs": all_slugs(&sim)});
    let mut inst = instance(&sim).await;
    for stream in ["workflows", "jobs", "job_details", "tests", "artifacts"] {
        let (report, sink) = sync_all(&mut inst, &cred, stream, &settings)
            .await
            .unwrap_or_else(|e| panic!("{stream}: {e}"));
        let got: BTreeSet<String> = by_key(stream, sink.records()).into_keys().collect();
        let want: BTreeSet<String> = dataset.expected_keys(stream).into_iter().collect();
        assert_eq!(
            got, want,
            "{stream}: everything but what only the deleted workflows' job lists reach"
        );
        if stream != "workflows" {
            let deleted: Vec<&String> = report
                .skipped_items
                .iter()
                .filter(|n| n.contains("deleted"))
                .collect();
            assert_eq!(
                deleted.len(),
                victims.len(),
                "{stream}: each deleted workflow is named as skipped: {:?}",
                report.skipped_items
            );
            for id in &victims {
                assert!(deleted.iter().any(|n| n.contains(id.as_str())), "{id}");
            }
        }
    }
    sim.shutdown().await;
}
