//! A [`Plan`] as seen at one instant: statuses, the timestamps known by then, and the workflow and
//! job JSON CircleCI serves (`GET /workflow/{id}`, `GET /pipeline/{id}/workflow`,
//! `GET /workflow/{id}/job`).

use serde_json::{Map, Value, json};

use super::ids::{Kind, Locator};
use super::pipeline::pipeline_id;
use super::plan::{Fate, Job, Outcome, Plan};
use super::time::{Millis, rfc3339_millis};
use super::world::World;

/// A job at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JobView {
    pub status: &'static str,
    pub queued: Option<Millis>,
    pub started: Option<Millis>,
    pub stopped: Option<Millis>,
}

/// Job statuses after which nothing about the job changes.
pub const TERMINAL_JOB_STATUSES: &[&str] = &[
    "success",
    "failed",
    "canceled",
    "unauthorized",
    "not_run",
    "infrastructure_fail",
    "timedout",
    "terminated-unknown",
];
/// Workflow statuses after which nothing about the workflow changes.
pub const TERMINAL_WORKFLOW_STATUSES: &[&str] = &[
    "success",
    "failed",
    "error",
    "canceled",
    "unauthorized",
    "not_run",
];

impl JobView {
    pub fn terminal(&self) -> bool {
        TERMINAL_JOB_STATUSES.contains(&self.status)
    }
}

/// Job `job` at time `t`.
pub(crate) fn view(job: &Job, t: Millis) -> JobView {
    let waiting = |job: &Job| -> JobView {
        let queued = (job.ready <= t).then_some(job.ready);
        let status = if job.ready > t {
            "blocked"
        } else if job.approval {
            "on_hold"
        } else if job.deps.is_empty() {
            // Root jobs waiting for capacity show "not running"; jobs whose dependencies are done, "queued".
            "not_running"
        } else {
            "queued"
        };
        let started = (job.approval && job.ready <= t).then_some(job.ready);
        JobView {
            status,
            queued,
            started,
            stopped: None,
        }
    };
    let ran = |job: &Job, outcome: Outcome| -> JobView {
        if t < job.start || (job.approval && t < job.stop) {
            return waiting(job);
        }
        let queued = Some(job.ready);
        if t < job.stop {
            JobView {
                status: "running",
                queued,
                started: Some(job.start),
                stopped: None,
            }
        } else {
            JobView {
                status: outcome.status(),
                queued,
                started: Some(job.start),
                stopped: Some(job.stop),
            }
        }
    };
    match job.fate {
        Fate::Ran(outcome) => ran(job, outcome),
        Fate::NotRun { since } => JobView {
            status: if t < since { "blocked" } else { "not_run" },
            queued: None,
            started: None,
            stopped: None,
        },
        Fate::Halted { at, status } => {
            if t < at {
                ran(job, Outcome::Success)
            } else {
                JobView {
                    status,
                    queued: Some(job.ready),
                    started: Some(job.start),
                    stopped: Some(at),
                }
            }
        }
        Fate::Never { at, status } => {
            if t < at {
                waiting(job)
            } else {
                JobView {
                    status,
                    queued: None,
                    started: None,
                    stopped: None,
                }
            }
        }
    }
}

/// The workflow's status at `t` and its `stopped_at` (once terminal).
pub(crate) fn workflow_status(plan: &Plan, t: Millis) -> (&'static str, Option<Millis>) {
    if t >= plan.end {
        return (plan.final_status(), Some(plan.end));
    }
    let failed = plan
        .jobs
        .iter()
        .any(|j| matches!(j.fate, Fate::Ran(o) if o != Outcome::Success) && j.stop <= t);
    let on_hold = plan
        .jobs
        .iter()
        .any(|j| j.approval && j.ready <= t && t < j.stop);
    let status = if failed {
        "failing"
    } else if on_hold {
        "on_hold"
    } else {
        "running"
    };
    (status, None)
}

pub(crate) fn workflow_id(world: &World, p: usize, ordinal: u32, wf: u8) -> String {
    world.ids.encode(Locator {
        kind: Kind::Workflow,
        tenant: world.tenant as u32,
        project: p as u32,
        ordinal,
        workflow: wf,
        job: 0,
    })
}

pub(crate) fn job_id(world: &World, p: usize, ordinal: u32, wf: u8, job: u8) -> String {
    world.ids.encode(Locator {
        kind: Kind::Job,
        tenant: world.tenant as u32,
        project: p as u32,
        ordinal,
        workflow: wf,
        job,
    })
}

/// The number of job `j` of a plan (approval jobs have a slot but show no number).
pub(crate) fn job_number(world: &World, p: usize, plan: &Plan, j: usize) -> u64 {
    world.projects[p].first_job + u64::from(plan.first_slot) + j as u64
}

/// `GET /workflow/{id}` and the items of `GET /pipeline/{id}/workflow`.
pub(crate) fn workflow_json(
    world: &World,
    p: usize,
    ordinal: u32,
    plan: &Plan,
    t: Millis,
) -> Value {
    let info = &world.projects[p];
    let (status, stopped) = workflow_status(plan, t);
    let mut object = Map::new();
    object.insert("pipeline_id".into(), json!(pipeline_id(world, p, ordinal)));
    object.insert(
        "id".into(),
        json!(workflow_id(world, p, ordinal, plan.index)),
    );
    object.insert("name".into(), json!(plan.name(info)));
    object.insert("project_slug".into(), json!(info.slug));
    object.insert("status".into(), json!(status));
    object.insert(
        "started_by".into(),
        json!(world.people[usize::from(plan.started_by)].id),
    );
    object.insert(
        "pipeline_number".into(),
        json!(info.first_number + u64::from(ordinal)),
    );
    object.insert("created_at".into(), json!(rfc3339_millis(plan.created)));
    object.insert("stopped_at".into(), json!(stopped.map(rfc3339_millis)));
    // Optional keys appear only when they apply, as on CircleCI.
    if stopped.is_some() {
        if let Some(super::plan::Event::Canceled { .. }) = plan.event {
            object.insert(
                "canceled_by".into(),
                json!(world.people[usize::from(plan.canceled_by)].id),
            );
        }
        if let Some(super::plan::Event::Errored { .. }) = plan.event {
            // CircleCI's own system user errors workflows.
            object.insert(
                "errored_by".into(),
                json!("00000000-0000-0000-0000-000000000000"),
            );
        }
    }
    if plan.setup {
        object.insert("tag".into(), json!("setup"));
    }
    if let Some(max) = plan.max_auto_reruns {
        object.insert("auto_rerun_number".into(), json!(0));
        object.insert("max_auto_reruns".into(), json!(max));
    }
    Value::Object(object)
}

/// The items of `GET /workflow/{id}/job`, in workflow order.
pub(crate) fn jobs_json(
    world: &World,
    p: usize,
    ordinal: u32,
    plan: &Plan,
    t: Millis,
) -> Vec<Value> {
    (0..plan.jobs.len())
        .map(|j| job_json(world, p, ordinal, plan, j, t))
        .collect()
}

pub(crate) fn job_json(
    world: &World,
    p: usize,
    ordinal: u32,
    plan: &Plan,
    j: usize,
    t: Millis,
) -> Value {
    let info = &world.projects[p];
    let job = &plan.jobs[j];
    let v = view(job, t);
    let id = job_id(world, p, ordinal, plan.index, j as u8);
    let dependencies: Vec<String> = job
        .deps
        .iter()
        .map(|&d| job_id(world, p, ordinal, plan.index, d))
        .collect();
    let mut object = Map::new();
    object.insert("dependencies".into(), json!(dependencies));
    if !job.approval {
        object.insert("job_number".into(), json!(job_number(world, p, plan, j)));
    }
    object.insert("id".into(), json!(id));
    object.insert("started_at".into(), json!(v.started.map(rfc3339_millis)));
    object.insert("name".into(), json!(job.name));
    object.insert("project_slug".into(), json!(info.slug));
    object.insert("status".into(), json!(v.status));
    object.insert(
        "type".into(),
        json!(if job.approval { "approval" } else { "build" }),
    );
    object.insert("stopped_at".into(), json!(v.stopped.map(rfc3339_millis)));
    if !job.deps.is_empty() {
        // What each dependency must end as for this job to run: always success here.
        let requires: Map<String, Value> = job
            .deps
            .iter()
            .map(|&d| {
                (
                    plan.jobs[usize::from(d)].name.to_owned(),
                    json!(["success"]),
                )
            })
            .collect();
        object.insert("requires".into(), Value::Object(requires));
    }
    if job.approval {
        // The approval request is the approval job itself.
        object.insert("approval_request_id".into(), json!(id));
        if v.status == "success" {
            object.insert(
                "approved_by".into(),
                json!(world.people[usize::from(job.person)].id),
            );
        }
    }
    if v.status == "canceled" {
        object.insert(
            "canceled_by".into(),
            json!(world.people[usize::from(plan.canceled_by)].id),
        );
    }
    Value::Object(object)
}
