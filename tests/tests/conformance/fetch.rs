//! `fetch` through the host's sync loop: every record exactly once across
//! pages, both slug forms, the key on every request, and a sync that resumes
//! from its state file.

use std::collections::HashMap;

use host_harness::HarnessError;
use host_harness::bindings::ConnectorError;
use host_harness::checkpoint::{Checkpointer, StateFile};
use host_harness::sync::{self, Quiet, SyncOptions};
use serde_json::json;

use crate::common::{MemorySink, TOKEN, all_slugs, credential, instance, simulator, sync_all};

/// Counts of each pipeline id in `records`.
fn id_counts(records: &[serde_json::Value]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for r in records {
        *counts
            .entry(r["id"].as_str().expect("pipelines have ids").to_string())
            .or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread")]
async fn every_pipeline_exactly_once_across_pages() {
    let sim = simulator(6, 45).await;
    let slugs = all_slugs(&sim);
    assert!(
        slugs
            .iter()
            .any(|s| s.starts_with("gh/") || s.starts_with("bb/")),
        "{slugs:?}"
    );
    assert!(
        slugs.iter().any(|s| s.starts_with("circleci/")),
        "{slugs:?}"
    );

    let mut inst = instance(&sim).await;
    let (report, sink) = sync_all(
        &mut inst,
        &credential(&sim, TOKEN),
        "pipelines",
        &json!({"project_slugs": slugs}),
    )
    .await
    .unwrap();
    let records = sink.records();
    let counts = id_counts(&records);
    let expected = sim.dataset(TOKEN).unwrap().all_pipeline_ids();
    assert!(
        expected.len() > 100,
        "the dataset spans several pages per project"
    );
    assert_eq!(
        records.len(),
        expected.len(),
        "no pipeline twice, none missing"
    );
    for id in &expected {
        assert_eq!(counts.get(id), Some(&1), "pipeline {id}");
    }
    let requests = sim.requests();
    assert_eq!(
        requests.len() as u64,
        report.requests,
        "the host counted every request"
    );
    assert!(
        report.requests as usize >= expected.len() / 20,
        "20 pipelines a page upstream: {report:?}"
    );
    assert!(
        sink.pages.iter().all(|p| p.len() <= 32 * 20),
        "a call reads at most 32 upstream pages"
    );
    assert!(
        sink.pages.iter().all(|p| p.len() <= 450 + 20),
        "a call starts no request once it holds 450 records"
    );
    for r in &requests {
        assert_eq!(
            r.header("circle-token"),
            Some(TOKEN),
            "{} lacked the key",
            r.path
        );
        assert_eq!(r.status, 200, "{}", r.path);
    }
    // Records are CircleCI's objects as returned, nulls kept.
    let project = &sim.dataset(TOKEN).unwrap().projects[0];
    assert_eq!(
        records
            .iter()
            .find(|r| r["id"] == project.pipelines[0]["id"]),
        Some(&project.pipelines[0])
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn slug_aliases_and_escaped_slugs_reach_the_same_project() {
    let sim = simulator(4, 25).await;
    let dataset = sim.dataset(TOKEN).unwrap();
    let vcs = dataset
        .projects
        .iter()
        .find(|p| p.slug.starts_with("gh/"))
        .expect("a GitHub project");
    let standalone = dataset
        .projects
        .iter()
        .find(|p| p.slug.starts_with("circleci/"))
        .expect("a standalone project");
    let alias = vcs.slug.replacen("gh/", "github/", 1);
    let escaped = standalone.slug.replace('/', "%2F");

    let mut inst = instance(&sim).await;
    let (_, sink) = sync_all(
        &mut inst,
        &credential(&sim, TOKEN),
        "pipelines",
        &json!({"project_slugs": [alias, escaped]}),
    )
    .await
    .unwrap();
    let got = id_counts(&sink.records());
    let want: Vec<&str> = vcs
        .pipelines
        .iter()
        .chain(&standalone.pipelines)
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(got.len(), want.len());
    assert!(want.iter().all(|id| got.get(*id) == Some(&1)));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn projects_and_me() {
    let sim = simulator(5, 1).await;
    let slugs = all_slugs(&sim);
    let cred = credential(&sim, TOKEN);
    let mut inst = instance(&sim).await;

    let (_, sink) = sync_all(
        &mut inst,
        &cred,
        "projects",
        &json!({"project_slugs": slugs}),
    )
    .await
    .unwrap();
    let got: Vec<String> = sink
        .records()
        .iter()
        .map(|p| p["slug"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, slugs);
    let dataset = sim.dataset(TOKEN).unwrap();
    assert_eq!(sink.records()[0], dataset.projects[0].json);

    let (report, sink) = sync_all(&mut inst, &cred, "me", &json!({})).await.unwrap();
    assert_eq!(report.pages, 1);
    assert_eq!(sink.records(), vec![dataset.user.clone()]);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_sync_resumes_from_its_state_file() {
    // Enough pipelines for more than two calls of up to 450 records each.
    let sim = simulator(6, 500).await;
    let slugs = all_slugs(&sim);
    let settings = json!({"project_slugs": slugs}).to_string();
    let cred = credential(&sim, TOKEN);
    let dir = conformance::scratch::scratch_dir("conformance-fetch");
    let state = StateFile::new(dir.join("sync.state.json"));

    // The first run stops after two calls, as a crash would.
    let mut first = MemorySink::default();
    let mut inst = instance(&sim).await;
    let mut checkpoints = Checkpointer::open(state.clone()).unwrap();
    let err = sync::run(
        &mut inst,
        &cred,
        "pipelines",
        &settings,
        &mut checkpoints,
        &mut first,
        &SyncOptions {
            max_pages: 2,
            ..SyncOptions::default()
        },
        &mut Quiet,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, HarnessError::Trap(_)), "{err:?}");
    assert_eq!(first.pages.len(), 2);
    assert!(state.load().unwrap().get("pipelines").unwrap().has_more);

    // A new process (a new instance) picks up where the state file says.
    let mut second = MemorySink::default();
    let mut inst = instance(&sim).await;
    let mut checkpoints = Checkpointer::open(state.clone()).unwrap();
    let report = sync::run(
        &mut inst,
        &cred,
        "pipelines",
        &settings,
        &mut checkpoints,
        &mut second,
        &SyncOptions::default(),
        &mut Quiet,
    )
    .await
    .unwrap();
    assert!(report.resumed);
    assert_eq!(second.begun_resuming, [true]);

    let mut all = first.records();
    all.extend(second.records());
    let counts = id_counts(&all);
    let expected = sim.dataset(TOKEN).unwrap().all_pipeline_ids();
    assert_eq!(all.len(), expected.len(), "nothing lost, nothing repeated");
    assert!(expected.iter().all(|id| counts.get(id) == Some(&1)));
    let done = state.load().unwrap().get("pipelines").cloned().unwrap();
    assert!(!done.has_more);
    let cursor: serde_json::Value = serde_json::from_str(
        done.state
            .as_deref()
            .expect("an incremental stream ends with its cursor"),
    )
    .unwrap();
    assert!(
        cursor.get("cursor").is_some() && cursor.get("run").is_none(),
        "{cursor}"
    );
    std::fs::remove_dir_all(dir).unwrap();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_settings_are_invalid_settings_naming_what_is_valid() {
    let sim = simulator(1, 1).await;
    let cred = credential(&sim, TOKEN);
    let mut inst = instance(&sim).await;
    let cases = [
        (
            "no_such_stream",
            json!({"project_slugs": ["gh/a/b"]}),
            "pipelines",
        ),
        (
            "pipelines",
            json!({"project_slugs": ["gh/only-two"]}),
            "gh/only-two",
        ),
        (
            "pipelines",
            json!({"project_slugs": ["svn/a/b"]}),
            "svn/a/b",
        ),
        (
            "pipelines",
            json!({"project_slugs": "gh/a/b"}),
            "project_slugs",
        ),
        (
            "pipelines",
            json!({"project_slug": ["gh/a/b"]}),
            "project_slugs",
        ),
    ];
    for (stream, settings, named) in cases {
        let err = sync_all(&mut inst, &cred, stream, &settings)
            .await
            .unwrap_err();
        match err {
            HarnessError::Connector(ConnectorError::InvalidSettings(m)) => {
                assert!(m.contains(named), "{m:?} should name {named}")
            }
            other => panic!("{stream} {settings}: expected invalid-settings, got {other:?}"),
        }
    }
    assert!(sim.requests().is_empty());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_project_is_not_found() {
    let sim = simulator(1, 1).await;
    let mut inst = instance(&sim).await;
    let err = sync_all(
        &mut inst,
        &credential(&sim, TOKEN),
        "projects",
        &json!({"project_slugs": ["gh/nobody/nothing"]}),
    )
    .await
    .unwrap_err();
    match err {
        HarnessError::Connector(ConnectorError::NotFound(m)) => {
            assert!(m.contains("gh/nobody/nothing"), "{m}")
        }
        other => panic!("expected not-found, got {other:?}"),
    }
    sim.shutdown().await;
}
