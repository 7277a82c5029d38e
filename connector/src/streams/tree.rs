//! The CI tree shared by `pipelines`, `workflows`, `jobs`, `job_details`,
//! `tests` and `artifacts`: project → pipelines (`/project/{slug}/pipeline`)
//! → workflows (`/pipeline/{id}/workflow`) → jobs (`/workflow/{id}/job`) →
//! job details (`/project/{slug}/job/{number}`), tests
//! (`/project/{slug}/{number}/tests`) or artifacts
//! (`/project/{slug}/{number}/artifacts`). Each stream walks it down to its
//! own level and emits that level's records; the levels above only steer.
//!
//! # Incremental rules
//!
//! A project the last sync read has marks `hwm`, `lwm` and the sync's
//! `as_of` (see [`crate::engine`]). For such a project:
//!
//! - its pipelines are read newest first, and the listing stops at the
//!   first pipeline created before `min(lwm, hwm)` (or before `start_date`);
//! - a pipeline is emitted when `created_at > hwm` or `updated_at > as_of`;
//! - a workflow is *new* when `created_at > as_of`, *changed* when
//!   `stopped_at > as_of`, and emitted when either; a finished workflow that
//!   is neither has finished jobs stamped no later than its `stopped_at`,
//!   so its jobs are not read;
//! - a job is emitted when its workflow is new, or `started_at > as_of`, or
//!   `stopped_at > as_of`, or it has neither timestamp (an approval job, a
//!   job that never ran) and its workflow is emitted;
//! - job details are read for every emitted job that is not an approval
//!   job; tests and artifacts for every emitted job that is finished.
//!
//! A project without marks (first sync, or new to this sync) is read in
//! full, down to `start_date`, and everything is emitted.
//!
//! The listing of a project with marks stops at the first pipeline created
//! before the lookback window (`hwm - lookback_days`, see
//! [`crate::engine`]): within it, every pipeline's workflows are listed
//! again, which is how a rerun (a new workflow, `created_at > as_of`, on an
//! old pipeline) and a late approval (`stopped_at > as_of`) are found.
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
//! listed with a null id, are skipped (see [`crate::engine`]). Approval jobs
//! are recognised by their `type` (some carry a `job_number`): they have no
//! details, tests or artifacts. Artifacts of a job that stopped more than
//! `artifact_retention_days` before the newest data seen are not asked for:
//! CircleCI deleted them.

use crate::engine::{At, Cx, On404, PROJECT_404_HINT, Req, Root, Tree, seg, ts};
use crate::error::ConnectorError;
use crate::json::{self, string};
use crate::state::Item;

/// How deep a stream reads the tree, and what it emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Pipelines,
    Workflows,
    Jobs,
    JobDetails,
    Tests,
    Artifacts,
}

/// The CI tree read down to `target`.
pub struct CiTree(pub Target);

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

fn after(t: Option<crate::time::Ts>, bound: crate::time::Ts) -> bool {
    t.is_some_and(|t| t > bound)
}

impl Tree for CiTree {
    fn projects(&self) -> bool {
        true
    }

    fn depth(&self) -> usize {
        match self.0 {
            Target::Pipelines => 1,
            Target::Workflows => 2,
            Target::Jobs => 3,
            Target::JobDetails | Target::Tests | Target::Artifacts => 4,
        }
    }

    fn incremental(&self) -> bool {
        true
    }

    fn request(&self, level: usize, root: &Root, heads: &[Item]) -> Req {
        let project = &root.name;
        match level {
            1 => Req {
                on_404: On404::Hint(PROJECT_404_HINT),
                ..Req::list(
                    format!("/project/{}/pipeline", root.path),
                    format!("pipelines of project {project}"),
                )
            },
            2 => {
                let p = &heads[0].id;
                Req {
                    on_404: On404::Skip(
                        "the pipeline is older than CircleCI keeps workflows, or was deleted",
                    ),
                    ..Req::list(
                        format!("/pipeline/{}/workflow", seg(p)),
                        format!("workflows of pipeline {p} of project {project}"),
                    )
                }
            }
            3 => {
                let w = &heads[1].id;
                Req {
                    on_404: On404::Skip("the workflow was deleted after it was listed"),
                    ..Req::list(
                        format!("/workflow/{}/job", seg(w)),
                        format!("jobs of workflow {w} of project {project}"),
                    )
                }
            }
            _ => {
                let n = heads[2].n.unwrap_or_default();
                let path = &root.path;
                let gone = On404::Skip("CircleCI keeps a job's data for a limited time");
                match self.0 {
                    Target::Tests => Req {
                        on_404: gone,
                        ..Req::list(
                            format!("/project/{path}/{n}/tests"),
                            format!("tests of job {n} of project {project}"),
                        )
                    },
                    Target::Artifacts => Req {
                        on_404: gone,
                        ..Req::list(
                            format!("/project/{path}/{n}/artifacts"),
                            format!("artifacts of job {n} of project {project}"),
                        )
                    },
                    _ => Req {
                        object: true,
                        on_404: gone,
                        ..Req::list(
                            format!("/project/{path}/job/{n}"),
                            format!("details of job {n} of project {project}"),
                        )
                    },
                }
            }
        }
    }

    fn page(&self, at: &At<'_>, items: &[String], cx: &mut Cx<'_>) -> Result<(), ConnectorError> {
        let &At {
            level,
            root,
            heads,
            offset,
            what,
        } = at;
        let target = self.0;
        let leaf = level == self.depth();
        let slug = string(&root.key);
        match level {
            1 => {
                let start = cx.settings.start_ts();
                for item in items {
                    let f = json::fields(item, what)?;
                    let created = ts(&f, "created_at").ok_or_else(|| {
                        ConnectorError::BadResponse(format!(
                            "a pipeline in the answer for {what} has no valid created_at"
                        ))
                    })?;
                    let before_start = start.is_some_and(|s| created < s);
                    let before_window = cx.last.is_some_and(|l| created < l.window_start());
                    if before_start || before_window {
                        if let Some(l) = cx.last.filter(|_| before_window)
                            && let Some(oldest) = l.unfinished_before_window()
                        {
                            cx.notices.push(format!(
                                "project {}: work unfinished at the last sync, from pipelines created \
                                 since {}, is older than the lookback window ({} days): treated as final",
                                root.name,
                                crate::time::format_ts(oldest),
                                cx.settings.lookback_days
                            ));
                        }
                        cx.stop = true;
                        break;
                    }
                    let updated = ts(&f, "updated_at");
                    cx.see(Some(created));
                    cx.see(updated);
                    cx.pipeline(created);
                    let state = json::string_field(&f, "state");
                    if !pipeline_finished(state.as_deref()) {
                        cx.unfinished(Some(created));
                    }
                    let Some(id) = cx.usable_id(&f, "id") else {
                        continue;
                    };
                    if leaf {
                        let emit = cx
                            .last
                            .is_none_or(|l| created > l.hwm || after(updated, l.as_of));
                        if emit {
                            cx.records.push(item.clone());
                        }
                    } else {
                        cx.children.push(Item {
                            id,
                            at: Some(created),
                            ..Item::default()
                        });
                    }
                }
            }
            2 => {
                let pipeline = &heads[0];
                for item in items {
                    let f = json::fields(item, what)?;
                    // Past CircleCI's retention, workflows are listed with a
                    // null id: not a record, nothing to read under.
                    let Some(id) = cx.usable_id(&f, "id") else {
                        continue;
                    };
                    let created = ts(&f, "created_at");
                    let stopped = ts(&f, "stopped_at");
                    cx.see(created);
                    cx.see(stopped);
                    let status = json::string_field(&f, "status");
                    let finished = workflow_finished(status.as_deref(), stopped.is_some());
                    if !finished {
                        cx.unfinished(pipeline.at);
                    }
                    let (new, changed) = match cx.last {
                        None => (true, true),
                        Some(l) => (
                            created.is_none() || after(created, l.as_of),
                            after(stopped, l.as_of),
                        ),
                    };
                    if leaf {
                        if new || changed {
                            cx.records.push(item.clone());
                        }
                    } else if new || changed || !finished || stopped.is_none() {
                        cx.children.push(Item {
                            id,
                            e: if new { 2 } else { u8::from(changed) },
                            ..Item::default()
                        });
                    }
                }
            }
            3 => {
                let (pipeline, workflow) = (&heads[0], &heads[1]);
                for item in items {
                    let f = json::fields(item, what)?;
                    let Some(id) = cx.usable_id(&f, "id") else {
                        continue;
                    };
                    let started = ts(&f, "started_at");
                    let stopped = ts(&f, "stopped_at");
                    cx.see(started);
                    cx.see(stopped);
                    let status = json::string_field(&f, "status");
                    let finished = job_finished(status.as_deref(), stopped.is_some());
                    if !finished {
                        cx.unfinished(pipeline.at);
                    }
                    let emitted = match cx.last {
                        None => true,
                        Some(l) => {
                            workflow.e == 2
                                || after(started, l.as_of)
                                || after(stopped, l.as_of)
                                || (started.is_none() && stopped.is_none() && workflow.e == 1)
                        }
                    };
                    if !emitted {
                        continue;
                    }
                    if leaf {
                        cx.records.push(json::with_keys(
                            item,
                            &f,
                            &[
                                ("workflow_id", string(&workflow.id)),
                                ("pipeline_id", string(&pipeline.id)),
                                ("project_slug", slug.clone()),
                            ],
                        ));
                        continue;
                    }
                    let wanted = cx.last.is_none() || target == Target::JobDetails || finished;
                    if !wanted {
                        continue;
                    }
                    let number = json::u64_field(&f, "job_number");
                    // By type, not by a missing number: some approval jobs
                    // carry a job_number, and have no details all the same.
                    let approval = json::string_field(&f, "type").as_deref() == Some("approval");
                    let expired = target == Target::Artifacts
                        && cx.settings.artifact_retention().is_some_and(|keep| {
                            stopped.is_some_and(|stop| {
                                cx.seen()
                                    .is_some_and(|seen| stop < seen.saturating_sub(keep))
                            })
                        });
                    match number {
                        Some(_) if expired && !approval => cx.expired_artifacts += 1,
                        Some(n) if !approval => cx.children.push(Item {
                            id,
                            n: Some(n),
                            ..Item::default()
                        }),
                        _ => cx.approvals += 1,
                    }
                }
            }
            _ => {
                let (pipeline, workflow, job) = (&heads[0], &heads[1], &heads[2]);
                let number = job.n.unwrap_or_default().to_string();
                for (k, item) in items.iter().enumerate() {
                    let f = json::fields(item, what)?;
                    let keys = match target {
                        Target::Tests => vec![
                            ("project_slug", slug.clone()),
                            ("job_number", number.clone()),
                            ("job_id", string(&job.id)),
                            ("test_index", offset.saturating_add(k as u64).to_string()),
                        ],
                        Target::Artifacts => vec![
                            ("project_slug", slug.clone()),
                            ("job_number", number.clone()),
                            ("job_id", string(&job.id)),
                        ],
                        _ => {
                            for name in ["created_at", "queued_at", "started_at", "stopped_at"] {
                                cx.see(ts(&f, name));
                            }
                            vec![
                                ("project_slug", slug.clone()),
                                ("job_id", string(&job.id)),
                                ("workflow_id", string(&workflow.id)),
                                ("pipeline_id", string(&pipeline.id)),
                            ]
                        }
                    };
                    cx.records.push(json::with_keys(item, &f, &keys));
                }
            }
        }
        Ok(())
    }
}
