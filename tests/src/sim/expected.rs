//! The right answers, for tests: every record a full sync of a stream must emit, each record's primary
//! key, and which records changed between two epochs (docs/streams.md).
//!
//! Records are the API objects exactly as served plus the keys the connector adds (only when the API
//! object lacks them). Project-rooted streams cover all the tenant's projects; `contexts` covers every
//! organisation of `/me/collaborations`. A workflow deleted after listing ([`super::deleted`]) stays in
//! `workflows`, but `jobs`, `job_details`, `tests` and `artifacts` leave out its jobs: a connector only
//! reaches them through its job listing, which answers 404.
//!
//! The anomalies: `pipelines` holds every pipeline, those past retention ([`super::retention`]) and
//! failing ones ([`super::failing`]) included, but `workflows`, `jobs`, `job_details`, `tests` and
//! `artifacts` leave out everything below them ([`super::unreachable`]; a workflow listed with a null
//! id is not a record). Reruns ([`super::reruns`]) are workflows like the others, listed first in
//! their pipeline, so [`Dataset::changed_keys`] lists them and their jobs at the epoch that adds them.
//! Abandoned holds ([`super::holds`]) are records like the others, which never change. `contexts` and
//! `context_environment_variables` leave out the organisations whose contexts answer 403
//! ([`super::contexts`]).
//!
//! [`super::minimum`] counts the requests that reading exactly these records takes, page by page.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::dataset::Dataset;
use super::details::JobAt;
use super::insights::{BranchFilter, LOOKBACK, summary};
use super::observe::{job_id, job_json, job_number, workflow_id, workflow_json};
use super::pipeline::pipeline_id;
use super::plan::Plan;
use super::unreachable::Reach;

/// Every stream of the connector's catalog, parents first.
pub const STREAMS: [&str; 13] = [
    "me",
    "collaborations",
    "projects",
    "pipelines",
    "workflows",
    "jobs",
    "job_details",
    "artifacts",
    "tests",
    "contexts",
    "context_environment_variables",
    "insights_workflows",
    "insights_workflow_runs",
];

/// The streams that sync incrementally.
pub const INCREMENTAL_STREAMS: [&str; 6] = [
    "pipelines",
    "workflows",
    "jobs",
    "job_details",
    "artifacts",
    "tests",
];

/// A stream's primary key columns (docs/streams.md).
pub fn primary_key_columns(stream: &str) -> &'static [&'static str] {
    match stream {
        "job_details" => &["project_slug", "number"],
        "artifacts" => &["project_slug", "job_number", "node_index", "path"],
        "tests" => &["project_slug", "job_number", "test_index"],
        "context_environment_variables" => &["context_id", "variable"],
        "insights_workflows" => &["project_slug", "name"],
        s if STREAMS.contains(&s) => &["id"],
        other => panic!("unknown stream {other:?}; streams are {STREAMS:?}"),
    }
}

/// Adds `key` at the end of `record` unless the API object already has it.
fn add(record: &mut Value, key: &str, value: Value) {
    if let Some(object) = record.as_object_mut() {
        object.entry(key).or_insert(value);
    }
}

/// One build or approval job somewhere in the tenant, with what its records need.
struct JobVisit<'a> {
    p: usize,
    ordinal: u32,
    plan: &'a Plan,
    j: usize,
}

impl Dataset {
    /// Every record a full sync of `stream` must return, in the order a sync reads them (projects in
    /// order, newest first within a listing). Panics on an unknown stream name. Renders everything:
    /// meant for small configs. Deleted workflows count as listed, their jobs as unreachable; nothing
    /// below an unreachable pipeline counts, nor the contexts of a forbidden organisation.
    pub fn expected(&self, stream: &str) -> Vec<Value> {
        let _ = primary_key_columns(stream);
        let world = &self.world;
        let t = self.t();
        let mut out = Vec::new();
        match stream {
            "me" => out.push(self.user.clone()),
            "collaborations" => out.extend(world.orgs.iter().map(|o| o.collaboration_json())),
            "projects" => out.extend(self.projects.iter().map(|p| p.json.clone())),
            "pipelines" => {
                for project in &self.projects {
                    out.extend(project.pipelines.iter().cloned());
                }
            }
            "workflows" => self.each_plan(|p, ordinal, plan| {
                out.push(workflow_json(world, p, ordinal, plan, t));
            }),
            "jobs" => self.each_job(|v| {
                let mut record = job_json(world, v.p, v.ordinal, v.plan, v.j, t);
                add(
                    &mut record,
                    "workflow_id",
                    json!(workflow_id(world, v.p, v.ordinal, v.plan.index)),
                );
                add(
                    &mut record,
                    "pipeline_id",
                    json!(pipeline_id(world, v.p, v.ordinal)),
                );
                add(&mut record, "project_slug", json!(world.projects[v.p].slug));
                out.push(record);
            }),
            "job_details" => self.each_job(|v| {
                if v.plan.jobs[v.j].approval {
                    return;
                }
                let mut record = self.job_at(&v).details_json();
                add(&mut record, "project_slug", json!(world.projects[v.p].slug));
                add(
                    &mut record,
                    "job_id",
                    json!(job_id(world, v.p, v.ordinal, v.plan.index, v.j as u8)),
                );
                add(
                    &mut record,
                    "workflow_id",
                    json!(workflow_id(world, v.p, v.ordinal, v.plan.index)),
                );
                add(
                    &mut record,
                    "pipeline_id",
                    json!(pipeline_id(world, v.p, v.ordinal)),
                );
                out.push(record);
            }),
            "artifacts" | "tests" => self.each_job(|v| {
                if v.plan.jobs[v.j].approval {
                    return;
                }
                let job = self.job_at(&v);
                let items = if stream == "tests" {
                    job.tests_json()
                } else {
                    job.artifacts_json()
                };
                for (index, mut record) in items.into_iter().enumerate() {
                    add(&mut record, "project_slug", json!(world.projects[v.p].slug));
                    add(
                        &mut record,
                        "job_number",
                        json!(job_number(world, v.p, v.plan, v.j)),
                    );
                    add(
                        &mut record,
                        "job_id",
                        json!(job_id(world, v.p, v.ordinal, v.plan.index, v.j as u8)),
                    );
                    if stream == "tests" {
                        add(&mut record, "test_index", json!(index));
                    }
                    out.push(record);
                }
            }),
            "contexts" => {
                for (o, org) in world.orgs.iter().enumerate() {
                    if !self.contexts_readable(o) {
                        continue;
                    }
                    for context in world.contexts.iter().filter(|c| c.org == o) {
                        let mut record = context.json();
                        add(&mut record, "owner_slug", json!(org.slug));
                        out.push(record);
                    }
                }
            }
            "context_environment_variables" => {
                for (o, _) in world.orgs.iter().enumerate() {
                    if !self.contexts_readable(o) {
                        continue;
                    }
                    for context in world.contexts.iter().filter(|c| c.org == o) {
                        out.extend(context.variables.iter().map(|v| context.variable_json(v)));
                    }
                }
            }
            "insights_workflows" => {
                for (p, info) in world.projects.iter().enumerate() {
                    for mut record in self.insights_summary(p) {
                        add(&mut record, "project_slug", json!(info.slug));
                        out.push(record);
                    }
                }
            }
            "insights_workflow_runs" => {
                for (p, info) in world.projects.iter().enumerate() {
                    let runs = self.runs(p);
                    for item in self.insights_summary(p) {
                        let name = item["name"].as_str().unwrap_or_default();
                        for run in runs.iter().filter(|r| r.name == name) {
                            let mut record = run.json(info.default_branch);
                            add(&mut record, "project_slug", json!(info.slug));
                            add(&mut record, "workflow_name", json!(name));
                            out.push(record);
                        }
                    }
                }
            }
            _ => unreachable!("checked by primary_key_columns"),
        }
        out
    }

    /// The primary key of a record of `stream` (docs/streams.md): its key columns' values joined with
    /// `|` (strings as they are, numbers in JSON form). Panics on an unknown stream name.
    pub fn primary_key(stream: &str, record: &Value) -> String {
        primary_key_columns(stream)
            .iter()
            .map(|column| match &record[*column] {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join("|")
    }

    /// The primary keys of [`Dataset::expected`], in the same order, computed without rendering JSON
    /// where the keys allow: cheap for `pipelines`, `workflows`, `jobs` and `job_details` even on a
    /// config with 100,000 pipelines; the others generate plans (and artifacts their paths).
    pub fn expected_keys(&self, stream: &str) -> Vec<String> {
        let _ = primary_key_columns(stream);
        let world = &self.world;
        let mut out = Vec::new();
        match stream {
            "pipelines" => out = self.all_pipeline_ids(),
            "workflows" | "jobs" | "job_details" => {
                for (p, info) in world.projects.iter().enumerate() {
                    for ordinal in (0..self.cores(p).len() as u32).rev() {
                        if self.reach(p, ordinal) != Reach::Readable {
                            continue;
                        }
                        for (wf, s, first) in self.listed_shapes(p, ordinal) {
                            // Still listed, but its job listing answers 404.
                            if stream != "workflows" && self.workflow_deleted(p, ordinal, wf) {
                                continue;
                            }
                            match stream {
                                "workflows" => out.push(workflow_id(world, p, ordinal, wf)),
                                "jobs" => out.extend(
                                    (0..s.slots()).map(|j| job_id(world, p, ordinal, wf, j as u8)),
                                ),
                                _ => out.extend(
                                    (0..s.slots()).filter(|&j| s.approval != Some(j as u8)).map(
                                        |j| {
                                            let n = info.first_job + u64::from(first + j);
                                            format!("{}|{n}", info.slug)
                                        },
                                    ),
                                ),
                            }
                        }
                    }
                }
            }
            "tests" => self.each_job(|v| {
                if v.plan.jobs[v.j].approval {
                    return;
                }
                let slug = &world.projects[v.p].slug;
                let n = job_number(world, v.p, v.plan, v.j);
                let count = self.job_at(&v).test_count();
                out.extend((0..count).map(|i| format!("{slug}|{n}|{i}")));
            }),
            _ => {
                out = self
                    .expected(stream)
                    .iter()
                    .map(|r| Dataset::primary_key(stream, r))
                    .collect();
            }
        }
        out
    }

    /// Keys of the records of `stream` that are new in `after` or whose JSON differs from `before`:
    /// exactly what an incremental sync from `before` to `after` must emit. Renders both epochs.
    pub fn changed_keys(before: &Dataset, after: &Dataset, stream: &str) -> BTreeSet<String> {
        let old: BTreeMap<String, Value> = before
            .expected(stream)
            .into_iter()
            .map(|r| (Dataset::primary_key(stream, &r), r))
            .collect();
        after
            .expected(stream)
            .into_iter()
            .filter_map(|r| {
                let key = Dataset::primary_key(stream, &r);
                (old.get(&key) != Some(&r)).then_some(key)
            })
            .collect()
    }

    /// Project `p`'s insights summary as a sync reads it (all branches, the last 90 days).
    pub(crate) fn insights_summary(&self, p: usize) -> Vec<Value> {
        let runs = self.runs(p);
        summary(
            &self.world,
            p,
            &runs,
            &BranchFilter::All,
            LOOKBACK,
            self.t(),
        )
    }

    fn job_at<'a>(&'a self, v: &JobVisit<'a>) -> JobAt<'a> {
        JobAt {
            world: &self.world,
            p: v.p,
            ordinal: v.ordinal,
            plan: v.plan,
            j: v.j,
            t: self.t(),
        }
    }

    /// Every workflow plan a sync can reach, in listing order: not those of an unreachable pipeline.
    fn each_plan(&self, mut f: impl FnMut(usize, u32, &Plan)) {
        for p in 0..self.projects.len() {
            for ordinal in (0..self.cores(p).len() as u32).rev() {
                if self.reach(p, ordinal) != Reach::Readable {
                    continue;
                }
                for wf in self.workflow_indexes(p, ordinal) {
                    f(p, ordinal, &self.plan(p, ordinal, wf));
                }
            }
        }
    }

    /// Every job a sync can reach, in listing order: not those of a deleted workflow, whose job listing
    /// answers 404.
    fn each_job(&self, mut f: impl FnMut(JobVisit<'_>)) {
        self.each_plan(|p, ordinal, plan| {
            if self.workflow_deleted(p, ordinal, plan.index) {
                return;
            }
            for j in 0..plan.jobs.len() {
                f(JobVisit {
                    p,
                    ordinal,
                    plan,
                    j,
                });
            }
        });
    }
}
