//! The project tree: every stream rooted at projects, read in one walk.
//!
//! ```text
//! project ─┬─ /project/{slug}                          projects
//!          ├─ /project/{slug}/pipeline                  pipelines
//!          │    └─ /pipeline/{id}/workflow              workflows
//!          │         └─ /workflow/{id}/job              jobs
//!          │              ├─ /project/{slug}/job/{n}    job_details
//!          │              ├─ /project/{slug}/{n}/artifacts  artifacts
//!          │              └─ /project/{slug}/{n}/tests  tests
//!          └─ /insights/{slug}/workflows                insights_workflows
//!               └─ /insights/{slug}/workflows/{name}    insights_workflow_runs
//! ```
//!
//! A listing is read when a stream asked for needs it: its own records, or
//! those of a stream under it. Each stream's slot is also the kind of the
//! listing its records come from.
//!
//! # Incremental rules
//!
//! `pipelines`, `workflows`, `jobs`, `job_details`, `artifacts` and `tests`
//! keep cursors. A stream's cursor gives a project it read before the marks
//! `hwm`, `lwm` and `as_of` (see [`crate::walk`]); what a stream emits is
//! decided by its own marks, whatever other streams the walk reads:
//!
//! - the project's pipelines are read newest first, and the listing stops
//!   at the first pipeline created before `start_date`, or before the
//!   lookback window (`hwm - lookback_days`) of every stream asked that
//!   has marks; a stream without marks for the project reads it in full;
//! - a pipeline is emitted when `created_at > hwm` or `updated_at > as_of`,
//!   and its workflows are listed when a stream under it has no marks or
//!   the pipeline is within that stream's window;
//! - a workflow is *new* when `created_at > as_of`, *changed* when
//!   `stopped_at > as_of`, and emitted when either; its jobs are listed for
//!   a stream under it when it is new, changed or unfinished (a finished
//!   workflow that is neither has finished jobs stamped no later than its
//!   `stopped_at`);
//! - a job is emitted when its workflow is new, or `started_at > as_of`, or
//!   `stopped_at > as_of`, or it has neither timestamp (an approval job, a
//!   job that never ran) and its workflow is changed;
//! - job details are read for every job `job_details` would emit that is
//!   not an approval job; tests and artifacts for every job `tests` or
//!   `artifacts` would emit that is finished.
//!
//! Within the window, every pipeline's workflows are listed again, which is
//! how a rerun (a new workflow, `created_at > as_of`, on an old pipeline)
//! and a late approval (`stopped_at > as_of`) are found.
//!
//! The new marks: `hwm` the newest pipeline seen; `lwm` the oldest pipeline
//! that has something unfinished among what the stream reads: the pipeline
//! itself (state `setup-pending`, `setup` or `pending`: its workflows may
//! not exist yet), a workflow (`running`, `on_hold`, `failing`) or a job
//! (`running`, `queued`, `not_running`, `blocked`, `on_hold`). Statuses
//! CircleCI adds later count as finished when `stopped_at` is set.
//!
//! Items that cannot be read: a pipeline whose workflows answer 404 (past
//! CircleCI's retention) or keep failing, a workflow deleted after it was
//! listed, a job whose details, tests or artifacts are gone, and anything
//! listed with a null id, are skipped (see [`crate::walk`]). Approval jobs
//! are recognised by their `type` (some carry a `job_number`): they have no
//! details, tests or artifacts. Artifacts of a job that stopped more than
//! `artifact_retention_days` before the newest data seen are not asked for:
//! CircleCI deleted them.

use connector_sdk::engine::{COUNTS, On404, Req};

use crate::error::ConnectorError;
use crate::json::{self, string};
use crate::settings::Settings;
use crate::state::Item;
use crate::time::Ts;
use crate::walk::{
    APPROVALS, At, CiTree, Cx, EXPIRED_ARTIFACTS, Last, NULL_IDS, PROJECT_404_HINT, Root, Tree,
    list, object, seg, ts,
};

/// The project tree's streams by slot; a slot is also the kind of the
/// listing the stream's records come from.
pub const PROJECTS: usize = 0;
pub const PIPELINES: usize = 1;
pub const WORKFLOWS: usize = 2;
pub const JOBS: usize = 3;
pub const JOB_DETAILS: usize = 4;
pub const ARTIFACTS: usize = 5;
pub const TESTS: usize = 6;
pub const INSIGHTS_WORKFLOWS: usize = 7;
pub const INSIGHTS_RUNS: usize = 8;

const STREAMS: &[&str] = &[
    "projects",
    "pipelines",
    "workflows",
    "jobs",
    "job_details",
    "artifacts",
    "tests",
    "insights_workflows",
    "insights_workflow_runs",
];

/// The slots whose records each kind of listing leads to.
const FEEDS: [&[usize]; 9] = [
    &[PROJECTS],
    &[PIPELINES, WORKFLOWS, JOBS, JOB_DETAILS, ARTIFACTS, TESTS],
    &[WORKFLOWS, JOBS, JOB_DETAILS, ARTIFACTS, TESTS],
    &[JOBS, JOB_DETAILS, ARTIFACTS, TESTS],
    &[JOB_DETAILS],
    &[ARTIFACTS],
    &[TESTS],
    &[INSIGHTS_WORKFLOWS, INSIGHTS_RUNS],
    &[INSIGHTS_RUNS],
];

/// The walk of everything rooted at projects.
pub static TREE: ProjectTree = ProjectTree;

pub struct ProjectTree;

/// Whether a pipeline's `state` is final (`created`, `errored`, or any
/// state not known to be transient).
pub fn pipeline_finished(state: Option<&str>) -> bool {
    !matches!(state, Some("setup-pending" | "setup" | "pending"))
}

/// Whether a workflow is finished: `success`, `failed`, `error`,
/// `canceled`, `unauthorized`, `not_run`; not `running`, `on_hold`,
/// `failing`; any other status by whether it has stopped.
pub fn workflow_finished(status: Option<&str>, stopped: bool) -> bool {
    match status {
        Some("success" | "failed" | "error" | "canceled" | "unauthorized" | "not_run") => true,
        Some("running" | "on_hold" | "failing") => false,
        _ => stopped,
    }
}

/// Whether a job is finished: `success`, `failed`, `canceled`,
/// `unauthorized`, `not_run`, `infrastructure_fail`, `timedout`,
/// `terminated-unknown`; not `running`, `queued`, `not_running`, `blocked`,
/// `on_hold`; any other status by whether it has stopped.
pub fn job_finished(status: Option<&str>, stopped: bool) -> bool {
    match status {
        Some(
            "success"
            | "failed"
            | "canceled"
            | "unauthorized"
            | "not_run"
            | "infrastructure_fail"
            | "timedout"
            | "terminated-unknown",
        ) => true,
        Some("running" | "queued" | "not_running" | "blocked" | "on_hold") => false,
        _ => stopped,
    }
}

fn after(t: Option<Ts>, bound: Ts) -> bool {
    t.is_some_and(|t| t > bound)
}

/// A workflow as a stream with marks `l` sees it: (new, changed).
fn workflow_news(l: &Last, created: Option<Ts>, stopped: Option<Ts>) -> (bool, bool) {
    (created.is_none_or(|c| c > l.as_of), after(stopped, l.as_of))
}

impl CiTree for ProjectTree {
    fn projects(&self) -> bool {
        true
    }
}

impl Tree for ProjectTree {
    type Item = Item;
    type Settings = Settings;

    fn streams(&self) -> &'static [&'static str] {
        STREAMS
    }

    fn incremental(&self, slot: usize) -> bool {
        (PIPELINES..=TESTS).contains(&slot)
    }

    fn level(&self, slot: usize) -> usize {
        match slot {
            WORKFLOWS | INSIGHTS_RUNS => 2,
            JOBS => 3,
            JOB_DETAILS | ARTIFACTS | TESTS => 4,
            _ => 1,
        }
    }

    fn kind_level(&self, kind: u8) -> usize {
        if usize::from(kind) < STREAMS.len() {
            self.level(kind.into())
        } else {
            0
        }
    }

    fn feeds(&self, kind: u8) -> &'static [usize] {
        FEEDS.get(usize::from(kind)).copied().unwrap_or_default()
    }

    fn root_kinds(&self, wants: &dyn Fn(usize) -> bool) -> Vec<u8> {
        [PROJECTS, PIPELINES, INSIGHTS_WORKFLOWS]
            .into_iter()
            .filter(|&k| FEEDS[k].iter().any(|&s| wants(s)))
            .map(|k| k as u8)
            .collect()
    }

    fn request(&self, kind: u8, root: &Root, heads: &[Item]) -> Req<'_> {
        let project = &root.name;
        let path = &root.path;
        let gone = On404::Skip("CircleCI keeps a job's data for a limited time");
        let number = || heads.get(2).and_then(|j| j.n).unwrap_or_default();
        let head = |i: usize| heads.get(i).map_or("", |h| h.id.as_str());
        match usize::from(kind) {
            PROJECTS => Req {
                on_404: On404::Hint(PROJECT_404_HINT),
                ..object(format!("/project/{path}"), format!("project {project}"))
            },
            PIPELINES => Req {
                on_404: On404::Hint(PROJECT_404_HINT),
                ..list(
                    format!("/project/{path}/pipeline"),
                    format!("pipelines of project {project}"),
                )
            },
            WORKFLOWS => Req {
                on_404: On404::Skip(
                    "the pipeline is older than CircleCI keeps workflows, or was deleted",
                ),
                ..list(
                    format!("/pipeline/{}/workflow", seg(head(0))),
                    format!("workflows of pipeline {} of project {project}", head(0)),
                )
            },
            JOBS => Req {
                on_404: On404::Skip("the workflow was deleted after it was listed"),
                ..list(
                    format!("/workflow/{}/job", seg(head(1))),
                    format!("jobs of workflow {} of project {project}", head(1)),
                )
            },
            JOB_DETAILS => Req {
                on_404: gone,
                ..object(
                    format!("/project/{path}/job/{}", number()),
                    format!("details of job {} of project {project}", number()),
                )
            },
            ARTIFACTS => Req {
                on_404: gone,
                ..list(
                    format!("/project/{path}/{}/artifacts", number()),
                    format!("artifacts of job {} of project {project}", number()),
                )
            },
            TESTS => Req {
                on_404: gone,
                ..list(
                    format!("/project/{path}/{}/tests", number()),
                    format!("tests of job {} of project {project}", number()),
                )
            },
            INSIGHTS_WORKFLOWS => Req {
                on_404: On404::Hint(PROJECT_404_HINT),
                query: vec![("all-branches", "true".into())],
                ..list(
                    format!("/insights/{path}/workflows"),
                    format!("insights workflows of project {project}"),
                )
            },
            _ => Req {
                query: vec![("all-branches", "true".into())],
                ..list(
                    format!("/insights/{path}/workflows/{}", seg(head(0))),
                    format!("insights runs of workflow {} of project {project}", head(0)),
                )
            },
        }
    }

    fn page(
        &self,
        at: &At<'_>,
        items: &[json::Record<'_>],
        cx: &mut Cx<'_>,
    ) -> Result<(), ConnectorError> {
        let slug = string(&at.root.key);
        match usize::from(at.kind) {
            PROJECTS => {
                for item in items {
                    cx.emit(PROJECTS, item.text.clone());
                }
                Ok(())
            }
            PIPELINES => pipelines(at, items, cx),
            WORKFLOWS => workflows(at, items, cx),
            JOBS => jobs(at, items, cx, &slug),
            INSIGHTS_WORKFLOWS => {
                let child = cx
                    .wants(INSIGHTS_RUNS)
                    .then_some((INSIGHTS_RUNS as u8, "name"));
                cx.emit_and_open(items, INSIGHTS_WORKFLOWS, &[("project_slug", slug)], child)
            }
            INSIGHTS_RUNS => {
                let keys = [
                    ("project_slug", slug),
                    ("workflow_name", string(&at.heads[0].id)),
                ];
                cx.emit_and_open(items, INSIGHTS_RUNS, &keys, None)
            }
            kind => job_data(kind, at, items, cx, &slug),
        }
    }

    fn unusable_why(&self) -> Option<&'static str> {
        Some(NULL_IDS)
    }

    fn notices(&self, settings: &Settings, counts: &[usize; COUNTS], notices: &mut Vec<String>) {
        if counts[APPROVALS] > 0 {
            notices.push(format!(
                "skipped {} approval job(s): CircleCI has no details, tests or artifacts for approval \
                 jobs (it answers 404)",
                counts[APPROVALS]
            ));
        }
        if counts[EXPIRED_ARTIFACTS] > 0 {
            notices.push(format!(
                "did not ask for the artifacts of {} job(s) that stopped more than {} days before the \
                 newest data seen: CircleCI deletes artifacts after at most 30 days \
                 (artifact_retention_days: 0 asks anyway)",
                counts[EXPIRED_ARTIFACTS], settings.artifact_retention_days
            ));
        }
    }
}

/// The CI streams under pipelines that are asked for.
fn under(cx: &Cx<'_>, from: usize) -> impl Iterator<Item = usize> {
    (from..=TESTS).filter(|&s| cx.wants(s))
}

fn pipelines(
    at: &At<'_>,
    items: &[json::Record<'_>],
    cx: &mut Cx<'_>,
) -> Result<(), ConnectorError> {
    let what = at.what;
    let start = cx.settings.start_ts();
    // The listing stops where no stream needs more: before the earliest
    // window of the streams asked, or never when one has no marks.
    let windows: Vec<Option<Last>> = under(cx, PIPELINES).map(|s| cx.last(s)).collect();
    let window = windows
        .iter()
        .try_fold(Ts::MAX, |w, l| l.map(|l| w.min(l.window_start())));
    for item in items {
        let f = &item.fields;
        let created = ts(f, "created_at").ok_or_else(|| {
            ConnectorError::BadResponse(format!(
                "a pipeline in the answer for {what} has no valid created_at"
            ))
        })?;
        let before_start = start.is_some_and(|s| created < s);
        let before_window = window.is_some_and(|w| created < w);
        if before_start || before_window {
            let oldest = windows
                .iter()
                .flatten()
                .filter_map(Last::unfinished_before_window)
                .min();
            if let (true, Some(oldest)) = (before_window, oldest) {
                cx.notices.push(format!(
                    "project {}: work unfinished at the last sync, from pipelines created since {}, is \
                     older than the lookback window ({} days): treated as final",
                    at.root.name,
                    crate::time::format_ts(oldest),
                    cx.settings.lookback_days
                ));
            }
            cx.stop = true;
            break;
        }
        let updated = ts(f, "updated_at");
        cx.see(1, Some(created));
        cx.see(1, updated);
        cx.newest(created);
        if !pipeline_finished(json::string_field(f, "state").as_deref()) {
            cx.unfinished(1, Some(created));
        }
        let Some(id) = cx.usable_id(f, "id") else {
            continue;
        };
        let emit = cx
            .last(PIPELINES)
            .is_none_or(|l| created > l.hwm || after(updated, l.as_of));
        if emit {
            cx.emit(PIPELINES, item.text.clone());
        }
        let below =
            under(cx, WORKFLOWS).any(|s| cx.last(s).is_none_or(|l| created >= l.window_start()));
        if below {
            cx.open(
                WORKFLOWS as u8,
                Item {
                    id,
                    at: Some(crate::state::Stamp(created)),
                    ..Item::default()
                },
            );
        }
    }
    Ok(())
}

fn workflows(
    at: &At<'_>,
    items: &[json::Record<'_>],
    cx: &mut Cx<'_>,
) -> Result<(), ConnectorError> {
    let pipeline_at = at.heads[0].at.map(|s| s.0);
    for item in items {
        let f = &item.fields;
        // Past CircleCI's retention, workflows are listed with a null id:
        // not a record, nothing to read under.
        let Some(id) = cx.usable_id(f, "id") else {
            continue;
        };
        let created = ts(f, "created_at");
        let stopped = ts(f, "stopped_at");
        cx.see(2, created);
        cx.see(2, stopped);
        let status = json::string_field(f, "status");
        let finished = workflow_finished(status.as_deref(), stopped.is_some());
        if !finished {
            cx.unfinished(2, pipeline_at);
        }
        let news = |l: Option<Last>| {
            l.is_none_or(|l| {
                let (new, changed) = workflow_news(&l, created, stopped);
                new || changed
            })
        };
        if news(cx.last(WORKFLOWS)) {
            cx.emit(WORKFLOWS, item.text.clone());
        }
        let jobs = !finished || stopped.is_none() || under(cx, JOBS).any(|s| news(cx.last(s)));
        if jobs && under(cx, JOBS).next().is_some() {
            cx.open(
                JOBS as u8,
                Item {
                    id,
                    c: created.map(crate::state::Stamp),
                    x: stopped.map(crate::state::Stamp),
                    ..Item::default()
                },
            );
        }
    }
    Ok(())
}

fn jobs(
    at: &At<'_>,
    items: &[json::Record<'_>],
    cx: &mut Cx<'_>,
    slug: &str,
) -> Result<(), ConnectorError> {
    let (pipeline, workflow) = (&at.heads[0], &at.heads[1]);
    let (wc, wx) = (workflow.c.map(|s| s.0), workflow.x.map(|s| s.0));
    for item in items {
        let f = &item.fields;
        let Some(id) = cx.usable_id(f, "id") else {
            continue;
        };
        let started = ts(f, "started_at");
        let stopped = ts(f, "stopped_at");
        cx.see(3, started);
        cx.see(3, stopped);
        let status = json::string_field(f, "status");
        let finished = job_finished(status.as_deref(), stopped.is_some());
        if !finished {
            cx.unfinished(3, pipeline.at.map(|s| s.0));
        }
        // Whether the stream in `slot` emits this job (or what is under it).
        let emitted = |slot: usize| {
            cx.wants(slot)
                && cx.last(slot).is_none_or(|l| {
                    let (new, changed) = workflow_news(&l, wc, wx);
                    new || after(started, l.as_of)
                        || after(stopped, l.as_of)
                        || (started.is_none() && stopped.is_none() && changed)
                })
        };
        let details = emitted(JOB_DETAILS);
        // A running job's tests and artifacts are read once it ends.
        let done = |slot: usize| emitted(slot) && (cx.last(slot).is_none() || finished);
        let (artifacts, tests) = (done(ARTIFACTS), done(TESTS));
        if emitted(JOBS) {
            let keys = [
                ("workflow_id", string(&workflow.id)),
                ("pipeline_id", string(&pipeline.id)),
                ("project_slug", slug.to_string()),
            ];
            let record = json::with_keys(&item.text, f, &keys);
            cx.emit(JOBS, record);
        }
        if !(details || artifacts || tests) {
            continue;
        }
        // By type, not by a missing number: some approval jobs carry a
        // job_number, and have no details all the same.
        let approval = json::string_field(f, "type").as_deref() == Some("approval");
        let Some(n) = json::u64_field(f, "job_number").filter(|_| !approval) else {
            cx.counts[APPROVALS] += 1;
            continue;
        };
        let job = || Item {
            id: id.clone(),
            n: Some(n),
            ..Item::default()
        };
        if details {
            cx.open(JOB_DETAILS as u8, job());
        }
        if artifacts {
            let expired = cx.settings.artifact_retention().is_some_and(|keep| {
                stopped.is_some_and(|stop| {
                    cx.seen()
                        .is_some_and(|seen| stop < seen.saturating_sub(keep))
                })
            });
            if expired {
                cx.counts[EXPIRED_ARTIFACTS] += 1;
            } else {
                cx.open(ARTIFACTS as u8, job());
            }
        }
        if tests {
            cx.open(TESTS as u8, job());
        }
    }
    Ok(())
}

/// A job's details, artifacts or tests (`kind`).
fn job_data(
    kind: usize,
    at: &At<'_>,
    items: &[json::Record<'_>],
    cx: &mut Cx<'_>,
    slug: &str,
) -> Result<(), ConnectorError> {
    let (pipeline, workflow, job) = (&at.heads[0], &at.heads[1], &at.heads[2]);
    let number = job.n.unwrap_or_default().to_string();
    for (k, item) in items.iter().enumerate() {
        let f = &item.fields;
        let slug = slug.to_string();
        let keys = match kind {
            TESTS => vec![
                ("project_slug", slug),
                ("job_number", number.clone()),
                ("job_id", string(&job.id)),
                ("test_index", at.offset.saturating_add(k as u64).to_string()),
            ],
            ARTIFACTS => vec![
                ("project_slug", slug),
                ("job_number", number.clone()),
                ("job_id", string(&job.id)),
            ],
            _ => {
                for name in ["created_at", "queued_at", "started_at", "stopped_at"] {
                    cx.see(4, ts(f, name));
                }
                vec![
                    ("project_slug", slug),
                    ("job_id", string(&job.id)),
                    ("workflow_id", string(&workflow.id)),
                    ("pipeline_id", string(&pipeline.id)),
                ]
            }
        };
        let record = json::with_keys(&item.text, f, &keys);
        cx.emit(kind, record);
    }
    Ok(())
}
