//! Tests of the data over time: determinism, what an advance changes and what it never touches, and the
//! property that docs/streams.md's incremental rules find exactly the changed records.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::config::{SimConfig, TenantConfig};
use super::dataset::Dataset;
use super::details::JobAt;
use super::expected::{INCREMENTAL_STREAMS, STREAMS};
use super::observe::{TERMINAL_JOB_STATUSES, TERMINAL_WORKFLOW_STATUSES, job_json, workflow_json};
use super::time::epoch_time;
use super::world::pipeline_count;

fn dataset(projects: usize, pipelines: usize, seed: u64) -> Dataset {
    Dataset::generate(seed, 0, &TenantConfig::new("t", projects, pipelines))
}

/// Epochs `0..=n` of one tenant.
fn epochs(projects: usize, pipelines: usize, seed: u64, n: usize) -> Vec<Dataset> {
    let mut all = vec![dataset(projects, pipelines, seed)];
    for _ in 0..n {
        let next = all.last().unwrap().advanced();
        all.push(next);
    }
    all
}

fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 24 && b[4] == b'-' && b[10] == b'T' && b[19] == b'.' && b[23] == b'Z'
}

/// Every timestamp anywhere inside `value`.
fn timestamps<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) if is_timestamp(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| timestamps(v, out)),
        Value::Object(map) => map.values().for_each(|v| timestamps(v, out)),
        _ => {}
    }
}

fn max_timestamp(records: &[Value]) -> String {
    let mut all = Vec::new();
    for r in records {
        timestamps(r, &mut all);
    }
    all.into_iter().max().unwrap_or_default().to_owned()
}

fn s(v: &Value) -> Option<&str> {
    v.as_str()
}

/// What an incremental sync from `before` emits at `after`, applying docs/streams.md literally:
/// per project the window `created_at >= min(lwm, hwm)`, then the pipeline / workflow / job rules.
fn emitted(before: &Dataset, after: &Dataset, stream: &str, as_of: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let world = &after.world;
    let t = after.t();
    for p in 0..after.projects.len() {
        let slug = &world.projects[p].slug;
        // The cursor the sync of `before` left: hwm = newest pipeline, lwm = oldest non-terminal one.
        let old = &before.projects[p].pipelines;
        let hwm = old
            .first()
            .and_then(|v| s(&v["created_at"]))
            .map(str::to_owned);
        let lwm = (0..before.cores(p).len() as u32)
            .filter(|&o| !pipeline_terminal(before, p, o))
            .map(|o| before.cores(p)[o as usize].created)
            .min()
            .map(super::time::rfc3339_millis);
        let window = match (&hwm, &lwm) {
            (Some(h), Some(l)) => Some(h.min(l).clone()),
            (Some(h), None) => Some(h.clone()),
            _ => None,
        };
        for ordinal in (0..after.cores(p).len() as u32).rev() {
            let pipeline = after.pipeline_json(p, ordinal);
            let created = s(&pipeline["created_at"]).unwrap();
            if window.as_deref().is_some_and(|w| created < w) {
                break;
            }
            let new_pipeline = hwm.as_deref().is_none_or(|h| created > h);
            if (new_pipeline || s(&pipeline["updated_at"]).unwrap() > as_of)
                && stream == "pipelines"
            {
                keys.insert(s(&pipeline["id"]).unwrap().to_owned());
            }
            for wf in after.workflow_indexes(p, ordinal) {
                let plan = after.plan(p, ordinal, wf);
                let w = workflow_json(world, p, ordinal, &plan, t);
                let new_workflow = s(&w["created_at"]).unwrap() > as_of;
                let changed_workflow = s(&w["stopped_at"]).is_some_and(|x| x > as_of);
                if !(new_workflow || changed_workflow) {
                    continue; // its jobs are not read
                }
                if stream == "workflows" {
                    keys.insert(s(&w["id"]).unwrap().to_owned());
                }
                for j in 0..plan.jobs.len() {
                    let job = job_json(world, p, ordinal, &plan, j, t);
                    let later = |k: &str| s(&job[k]).is_some_and(|x| x > as_of);
                    let timeless = job["started_at"].is_null() && job["stopped_at"].is_null();
                    if !(new_workflow
                        || later("started_at")
                        || later("stopped_at")
                        || (timeless && changed_workflow))
                    {
                        continue;
                    }
                    let number = &job["job_number"];
                    let at = JobAt {
                        world,
                        p,
                        ordinal,
                        plan: &plan,
                        j,
                        t,
                    };
                    let terminal = TERMINAL_JOB_STATUSES.contains(&s(&job["status"]).unwrap());
                    match stream {
                        "jobs" => {
                            keys.insert(s(&job["id"]).unwrap().to_owned());
                        }
                        "job_details" if !number.is_null() => {
                            keys.insert(format!("{slug}|{number}"));
                        }
                        "tests" if terminal && !number.is_null() => {
                            keys.extend(
                                (0..at.tests_json().len()).map(|i| format!("{slug}|{number}|{i}")),
                            );
                        }
                        "artifacts" if terminal && !number.is_null() => {
                            keys.extend(at.artifacts_json().iter().map(|a| {
                                format!(
                                    "{slug}|{number}|{}|{}",
                                    a["node_index"],
                                    s(&a["path"]).unwrap()
                                )
                            }));
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    keys
}

/// Whether a pipeline is finished: not settling, every workflow and job terminal (docs/streams.md's
/// lwm rule).
fn pipeline_terminal(d: &Dataset, p: usize, ordinal: u32) -> bool {
    let state = d.pipeline_json(p, ordinal)["state"].clone();
    if ["setup-pending", "setup", "pending"].contains(&state.as_str().unwrap()) {
        return false;
    }
    d.workflow_indexes(p, ordinal).into_iter().all(|wf| {
        let plan = d.plan(p, ordinal, wf);
        let w = workflow_json(&d.world, p, ordinal, &plan, d.t());
        TERMINAL_WORKFLOW_STATUSES.contains(&s(&w["status"]).unwrap())
            && (0..plan.jobs.len()).all(|j| {
                let job = job_json(&d.world, p, ordinal, &plan, j, d.t());
                TERMINAL_JOB_STATUSES.contains(&s(&job["status"]).unwrap())
            })
    })
}

/// The `as_of` a sync of `stream` ends with: the latest timestamp among the records it reads.
fn as_of(d: &Dataset, stream: &str) -> String {
    let mut read = d.expected("pipelines");
    if stream != "pipelines" {
        read.extend(d.expected("workflows"));
    }
    if !matches!(stream, "pipelines" | "workflows") {
        read.extend(d.expected("jobs"));
    }
    if stream == "job_details" {
        read.extend(d.expected("job_details"));
    }
    max_timestamp(&read)
}

fn check_rules(before: &Dataset, after: &Dataset, label: &str) {
    let widest = {
        let mut all = Vec::new();
        for stream in ["pipelines", "workflows", "jobs", "job_details"] {
            all.extend(before.expected(stream));
        }
        max_timestamp(&all)
    };
    let quiet = super::time::rfc3339_millis(before.t() - super::time::QUIET);
    assert!(
        widest <= quiet,
        "{label}: nothing is stamped in the quiet minutes before now"
    );
    for stream in INCREMENTAL_STREAMS {
        let changed = Dataset::changed_keys(before, after, stream);
        for as_of in [as_of(before, stream), widest.clone()] {
            let got = emitted(before, after, stream, &as_of);
            let missed: Vec<_> = changed.difference(&got).collect();
            let extra: Vec<_> = got.difference(&changed).collect();
            assert!(
                missed.is_empty() && extra.is_empty(),
                "{label} {stream} (as_of {as_of}): the rules miss {missed:?} and wrongly pick {extra:?}"
            );
        }
    }
}

#[test]
fn incremental_rules_find_exactly_the_changes() {
    for (projects, pipelines, seed) in [(6, 14, 42), (6, 45, 42), (9, 8, 7), (4, 3, 1234)] {
        let all = epochs(projects, pipelines, seed, 4);
        for (a, b) in [(0, 1), (1, 2), (0, 2), (2, 3), (3, 4), (1, 4)] {
            check_rules(
                &all[a],
                &all[b],
                &format!("{projects}x{pipelines} seed {seed}, epoch {a}->{b}"),
            );
        }
    }
}

/// The same property over many seeds and unusual volumes (long; run with `--ignored`).
#[test]
#[ignore = "a long sweep: run with --ignored"]
fn incremental_rules_sweep() {
    use super::config::Count;
    for seed in 0..40u64 {
        let mut config = TenantConfig::new("t", 5, 6 + (seed as usize % 4) * 7);
        config.jobs_per_workflow = Count::new(1, 1 + (seed as usize % 12));
        config.workflows_per_pipeline = Count::new(seed as usize % 2, 1 + seed as usize % 5);
        config.approval_percent = (seed * 7 % 60) as u8;
        config.live_pipelines = seed as usize % 6;
        config.new_pipelines_per_epoch = Count::new(0, seed as usize % 5);
        let mut all = vec![Dataset::generate(seed, 0, &config)];
        for _ in 0..4 {
            let next = all.last().unwrap().advanced();
            all.push(next);
        }
        for (a, b) in [(0, 1), (1, 2), (2, 3), (3, 4), (0, 3)] {
            check_rules(
                &all[a],
                &all[b],
                &format!("seed {seed} {config:?}, epoch {a}->{b}"),
            );
        }
    }
}

#[test]
fn every_advance_changes_every_incremental_stream() {
    // The conformance suite's incremental test relies on this for a 6 × 14 tenant.
    let all = epochs(6, 14, 42, 4);
    for e in 0..4 {
        for stream in INCREMENTAL_STREAMS {
            let changed = Dataset::changed_keys(&all[e], &all[e + 1], stream);
            assert!(
                !changed.is_empty(),
                "epoch {e}->{}: {stream} changes",
                e + 1
            );
        }
    }
}

#[test]
fn epochs_are_deterministic() {
    let a = epochs(6, 14, 42, 2);
    let b = epochs(6, 14, 42, 2);
    for e in 0..=2 {
        for stream in STREAMS {
            assert_eq!(
                a[e].expected(stream),
                b[e].expected(stream),
                "epoch {e} {stream}"
            );
        }
    }
    let other = epochs(6, 14, 43, 0);
    assert_ne!(a[0].expected("jobs"), other[0].expected("jobs"));
}

#[test]
fn epoch_zero_has_live_work_and_complete_history() {
    let d = dataset(6, 45, 42);
    let jobs = d.expected("jobs");
    let workflows = d.expected("workflows");
    let job_statuses: BTreeSet<&str> = jobs.iter().filter_map(|j| s(&j["status"])).collect();
    for status in [
        "running",
        "on_hold",
        "blocked",
        "not_running",
        "success",
        "failed",
        "not_run",
    ] {
        assert!(
            job_statuses.contains(status),
            "a job is {status}: {job_statuses:?}"
        );
    }
    let workflow_statuses: BTreeSet<&str> =
        workflows.iter().filter_map(|w| s(&w["status"])).collect();
    for status in ["running", "on_hold", "success", "failed", "canceled"] {
        assert!(
            workflow_statuses.contains(status),
            "a workflow is {status}: {workflow_statuses:?}"
        );
    }
    let pipelines = d.expected("pipelines");
    let states: BTreeSet<&str> = pipelines.iter().filter_map(|p| s(&p["state"])).collect();
    assert!(
        states.contains("errored") && states.contains("created"),
        "{states:?}"
    );
    assert!(
        states
            .iter()
            .any(|s| ["setup-pending", "setup", "pending"].contains(s)),
        "a pipeline is still settling: {states:?}"
    );
    // Only the newest few pipelines of a project may be non-terminal.
    for p in 0..d.projects.len() {
        let n = d.cores(p).len() as u32;
        for ordinal in 0..n {
            if n - ordinal > d.world.config.live_pipelines as u32 {
                assert!(
                    pipeline_terminal(&d, p, ordinal),
                    "project {p} pipeline {ordinal} is old and complete"
                );
            }
        }
    }
    // The queue scenario is visible too.
    assert!(job_statuses.contains("queued") || job_statuses.contains("not_running"));
    // Approval jobs exist, have no number, and some wait on hold.
    let approvals: Vec<&Value> = jobs.iter().filter(|j| j["type"] == "approval").collect();
    assert!(!approvals.is_empty());
    assert!(
        approvals
            .iter()
            .all(|j| j.get("job_number").is_none() && j["approval_request_id"] == j["id"])
    );
}

#[test]
fn advancing_adds_newer_pipelines_and_ends_running_work() {
    let all = epochs(6, 45, 42, 3);
    for e in 0..3 {
        let (before, after) = (&all[e], &all[e + 1]);
        let mut everything = Vec::new();
        for stream in STREAMS {
            everything.extend(before.expected(stream));
        }
        let latest = max_timestamp(&everything);
        assert!(latest <= before.now(), "epoch {e}: nothing after now");
        let mut grew = false;
        for p in 0..before.projects.len() {
            let old = &before.projects[p].pipelines;
            let new = &after.projects[p].pipelines;
            let added = new.len() - old.len();
            grew |= added > 0;
            for pipeline in &new[..added] {
                assert!(
                    s(&pipeline["created_at"]).unwrap() > latest.as_str(),
                    "new pipelines are newer than anything"
                );
            }
            // Old pipelines keep their place, and change only if they were settling.
            for (o, n) in old.iter().zip(&new[added..]) {
                if o != n {
                    assert_ne!(
                        o["state"], n["state"],
                        "a pipeline changes only with its state"
                    );
                    assert!(s(&n["updated_at"]).unwrap() > latest.as_str());
                    assert_eq!(n["state"], "created");
                }
            }
        }
        assert!(grew, "epoch {e}->{}: some project got new pipelines", e + 1);
        // Whatever was not terminal has ended (approvals approved, their workflows finished).
        let old_workflows: BTreeMap<String, Value> = before
            .expected("workflows")
            .into_iter()
            .map(|w| (s(&w["id"]).unwrap().to_owned(), w))
            .collect();
        for w in after.expected("workflows") {
            let Some(old) = old_workflows.get(s(&w["id"]).unwrap()) else {
                continue;
            };
            if !TERMINAL_WORKFLOW_STATUSES.contains(&s(&old["status"]).unwrap()) {
                assert!(
                    TERMINAL_WORKFLOW_STATUSES.contains(&s(&w["status"]).unwrap()),
                    "{old} -> {w}"
                );
                assert!(s(&w["stopped_at"]).unwrap() > latest.as_str());
            }
        }
        // Tests and artifacts belong to terminal jobs only.
        let terminal: BTreeSet<String> = after
            .expected("jobs")
            .iter()
            .filter(|j| TERMINAL_JOB_STATUSES.contains(&s(&j["status"]).unwrap()))
            .filter_map(|j| j.get("job_number").map(|n| n.to_string()))
            .collect();
        for stream in ["tests", "artifacts"] {
            for record in after.expected(stream) {
                assert!(
                    terminal.contains(&record["job_number"].to_string()),
                    "{stream} {record}"
                );
            }
        }
    }
}

#[test]
fn old_pipelines_never_change() {
    let all = epochs(6, 45, 42, 3);
    let live = all[0].world.config.live_pipelines;
    for p in 0..all[0].projects.len() {
        let n = all[0].cores(p).len();
        for ordinal in 0..n.saturating_sub(live) as u32 {
            let render = |d: &Dataset| {
                let mut out = vec![d.pipeline_json(p, ordinal)];
                for wf in d.workflow_indexes(p, ordinal) {
                    let plan = d.plan(p, ordinal, wf);
                    out.push(workflow_json(&d.world, p, ordinal, &plan, d.t()));
                    for j in 0..plan.jobs.len() {
                        out.push(job_json(&d.world, p, ordinal, &plan, j, d.t()));
                        let at = JobAt {
                            world: &d.world,
                            p,
                            ordinal,
                            plan: &plan,
                            j,
                            t: d.t(),
                        };
                        if !plan.jobs[j].approval {
                            out.push(at.details_json());
                            out.extend(at.tests_json());
                            out.extend(at.artifacts_json());
                        }
                    }
                }
                out
            };
            let first = render(&all[0]);
            for d in &all[1..] {
                assert_eq!(
                    render(d),
                    first,
                    "project {p} pipeline {ordinal} at epoch {}",
                    d.epoch()
                );
            }
        }
    }
}

#[test]
fn epoch_times_step_an_hour() {
    let all = epochs(2, 3, 42, 2);
    assert_eq!(all[2].now(), super::time::rfc3339_millis(epoch_time(2)));
    assert_eq!(all[0].now(), "2026-05-01T12:00:00.000Z");
}

#[test]
fn counts_cover_paging_edge_cases() {
    let counts: Vec<usize> = (0..6).map(|i| pipeline_count(i, 45)).collect();
    assert_eq!(counts, [45, 40, 20, 21, 1, 0]);
    let d = dataset(8, 45, 42);
    let got: Vec<usize> = d.projects.iter().map(|p| p.pipelines.len()).collect();
    assert_eq!(got, [45, 40, 20, 21, 1, 0, 45, 45]);
    assert_eq!(pipeline_count(2, 1000), 500);
    assert_eq!(pipeline_count(3, 1000), 501);
    assert!((0..6).all(|i| pipeline_count(i, 0) == 0));
}

#[test]
fn tenants_and_records_are_distinct() {
    let config = SimConfig::default();
    let data: Vec<Dataset> = (0..15)
        .map(|i| Dataset::generate(config.seed, i, &TenantConfig::new(&format!("t{i}"), 6, 5)))
        .collect();
    let mut logins: Vec<&str> = data
        .iter()
        .map(|d| d.user["login"].as_str().unwrap())
        .collect();
    let mut slugs: Vec<&str> = data
        .iter()
        .flat_map(|d| &d.projects)
        .map(|p| p.slug.as_str())
        .collect();
    for list in [&mut logins, &mut slugs] {
        let n = list.len();
        list.sort();
        list.dedup();
        assert_eq!(list.len(), n);
    }
    // Keys are unique within every stream (the expected records of a sync never collide).
    let d = epochs(6, 45, 42, 1).pop().unwrap();
    for stream in STREAMS {
        let keys = d.expected_keys(stream);
        let unique: BTreeSet<&String> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len(), "{stream}");
        let from_records: Vec<String> = d
            .expected(stream)
            .iter()
            .map(|r| Dataset::primary_key(stream, r))
            .collect();
        assert_eq!(
            keys, from_records,
            "{stream}: expected_keys agrees with expected"
        );
    }
}

#[test]
fn org_listings_cover_at_most_250_followed_projects() {
    let d = dataset(262, 1, 42);
    let all = d.org_order(None);
    let projects: BTreeSet<u32> = all.iter().map(|&(p, _)| p).collect();
    assert_eq!(projects.len(), super::dataset::MAX_FOLLOWED_PROJECTS);
    // The most recently built ones: every dropped project's newest pipeline is older than all kept.
    let newest = |p: usize| d.cores(p).last().map(|c| c.created);
    let oldest_kept = projects.iter().map(|&p| newest(p as usize)).min().unwrap();
    for p in 0..d.projects.len() {
        if !projects.contains(&(p as u32)) {
            assert!(newest(p) <= oldest_kept, "project {p}");
        }
    }
    // Oldest first, strictly by creation time.
    for pair in all.windows(2) {
        let created = |(p, o): (u32, u32)| d.cores(p as usize)[o as usize].created;
        assert!(created(pair[0]) <= created(pair[1]));
    }
}
