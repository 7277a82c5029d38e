//! Insights: workflow runs (`GET /insights/{slug}/workflows/{name}`) and per-workflow summary metrics
//! (`GET /insights/{slug}/workflows`), both derived from the workflows themselves.
//!
//! Only completed workflows count (statuses success, failed, error, canceled, unauthorized), going back
//! at most 90 days from the epoch's "now".

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::observe::{workflow_id, workflow_status};
use super::pipeline::branch_name;
use super::plan::{Fate, plan};
use super::time::{DAY, HOUR, MINUTE, Millis, rfc3339_millis};
use super::timeline::PipelineCore;
use super::words::RESOURCE_CLASSES;
use super::world::World;

/// How far back insights look.
pub const LOOKBACK: Millis = 90 * DAY;
/// Workflow statuses insights report.
const RUN_STATUSES: &[&str] = &["success", "failed", "error", "canceled", "unauthorized"];

/// One completed workflow, as insights see it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Run {
    pub id: String,
    pub name: String,
    /// Branch code of the pipeline (0 for tag pipelines, shown as an empty branch).
    pub branch: u8,
    pub created: Millis,
    pub stopped: Millis,
    pub credits: u64,
    pub status: &'static str,
    pub is_approval: bool,
}

impl Run {
    pub fn branch_name<'a>(&self, default_branch: &'a str) -> &'a str {
        branch_name(self.branch, default_branch).unwrap_or("")
    }

    pub fn duration_secs(&self) -> i64 {
        (self.stopped - self.created) / 1000
    }

    pub fn json(&self, default_branch: &str) -> Value {
        json!({
            "id": self.id,
            "branch": self.branch_name(default_branch),
            "duration": self.duration_secs(),
            "created_at": rfc3339_millis(self.created),
            "stopped_at": rfc3339_millis(self.stopped),
            "credits_used": self.credits,
            "status": self.status,
            "is_approval": self.is_approval,
        })
    }
}

/// Every run of project `p` created in `[now - 90 days, now)`, newest first.
pub(crate) fn runs(
    world: &World,
    p: usize,
    cores: &[PipelineCore],
    epoch: u64,
    now: Millis,
) -> Vec<Run> {
    let info = &world.projects[p];
    let since = now - LOOKBACK;
    let mut runs = Vec::new();
    for (ordinal, core) in cores.iter().enumerate().rev() {
        // Workflows start seconds after their pipeline (or its settling): an hour of slack is plenty.
        if core.created < since - HOUR {
            break;
        }
        if !core.has_workflows(epoch) {
            continue;
        }
        let ordinal = ordinal as u32;
        for wf in 0..core.workflows {
            let plan = plan(world, p, ordinal, core, wf);
            let (status, stopped) = workflow_status(&plan, now);
            let Some(stopped) = stopped else { continue };
            if !RUN_STATUSES.contains(&status) || plan.created < since || plan.created >= now {
                continue;
            }
            let credits = plan
                .jobs
                .iter()
                .filter(|j| j.ran())
                .map(|j| {
                    let end = match j.fate {
                        Fate::Halted { at, .. } => at,
                        _ => j.stop,
                    };
                    let minutes = ((end - j.start).max(0) + MINUTE - 1) / MINUTE;
                    let rate = RESOURCE_CLASSES[usize::from(j.resource)].2;
                    minutes as u64 * rate * u64::from(j.parallelism.max(1))
                })
                .sum();
            runs.push(Run {
                id: workflow_id(world, p, ordinal, wf),
                name: plan.name(info).to_owned(),
                branch: core.branch,
                created: plan.created,
                stopped,
                credits,
                status,
                is_approval: plan.has_approval(),
            });
        }
    }
    runs.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
    runs
}

/// Which runs a request selects by branch: `all-branches=true`, a `branch`, or else the default branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BranchFilter {
    All,
    Only(String),
}

impl BranchFilter {
    pub fn matches(&self, run: &Run, default_branch: &str) -> bool {
        match self {
            BranchFilter::All => true,
            BranchFilter::Only(b) => run.branch_name(default_branch) == b,
        }
    }
}

/// The items of `GET /insights/{slug}/workflows`: one per workflow name with a run in the window,
/// sorted by name.
pub(crate) fn summary(
    world: &World,
    p: usize,
    runs: &[Run],
    filter: &BranchFilter,
    window: Millis,
    now: Millis,
) -> Vec<Value> {
    let info = &world.projects[p];
    let mut by_name: BTreeMap<&str, Vec<&Run>> = BTreeMap::new();
    for run in runs {
        if run.created >= now - window && filter.matches(run, info.default_branch) {
            by_name.entry(run.name.as_str()).or_default().push(run);
        }
    }
    by_name
        .into_iter()
        .map(|(name, mut runs)| {
            runs.sort_by_key(|r| r.created); // oldest first, for recoveries
            let total = runs.len() as u64;
            let successful = runs.iter().filter(|r| r.status == "success").count() as u64;
            let failed = runs
                .iter()
                .filter(|r| matches!(r.status, "failed" | "error"))
                .count() as u64;
            // Mean time to recovery: from a failed run's end to the end of the next successful run.
            let mut recoveries = Vec::new();
            let mut failing_since: Option<Millis> = None;
            for run in &runs {
                match run.status {
                    "success" => {
                        if let Some(since) = failing_since.take() {
                            recoveries.push((run.stopped - since) / 1000);
                        }
                    }
                    "failed" | "error" if failing_since.is_none() => {
                        failing_since = Some(run.stopped)
                    }
                    _ => {}
                }
            }
            let mttr = if recoveries.is_empty() {
                0
            } else {
                recoveries.iter().sum::<i64>() / recoveries.len() as i64
            };
            let mut durations: Vec<i64> = runs.iter().map(|r| r.duration_secs()).collect();
            durations.sort_unstable();
            let n = durations.len();
            let mean = durations.iter().sum::<i64>() / n as i64;
            let median = durations[n / 2];
            let p95 = durations[((n * 95).div_ceil(100)).saturating_sub(1).min(n - 1)];
            let mean_f = durations.iter().sum::<i64>() as f64 / n as f64;
            let variance = durations
                .iter()
                .map(|&d| (d as f64 - mean_f).powi(2))
                .sum::<f64>()
                / n as f64;
            json!({
                "name": name,
                "metrics": {
                    "total_runs": total,
                    "successful_runs": successful,
                    "mttr": mttr,
                    "total_credits_used": runs.iter().map(|r| r.credits).sum::<u64>(),
                    "failed_runs": failed,
                    "success_rate": round_to(successful as f64 / total as f64, 10_000.0),
                    "duration_metrics": {
                        "min": durations[0],
                        "mean": mean,
                        "median": median,
                        "p95": p95,
                        "max": durations[n - 1],
                        "standard_deviation": round_to(variance.sqrt(), 100.0),
                    },
                    "total_recoveries": recoveries.len(),
                    "throughput": round_to(total as f64 / (window / DAY).max(1) as f64, 10_000.0),
                },
                "window_start": rfc3339_millis(runs[0].created),
                "window_end": rfc3339_millis(runs.iter().map(|r| r.stopped).max().unwrap_or(now)),
                "project_id": info.id,
            })
        })
        .collect()
}

/// `x` rounded to `1/scale`. Short decimals survive any JSON parser unchanged, while a full-precision
/// float like 0.48214285714285715 may come back as its neighbour from parsers that are not exact
/// (serde_json without `float_roundtrip`), which would make byte-identical comparisons flaky.
fn round_to(x: f64, scale: f64) -> f64 {
    (x * scale).round() / scale
}

/// `reporting-window` values and their lengths.
pub(crate) fn reporting_window(value: Option<&str>) -> Option<Millis> {
    match value {
        None | Some("last-90-days") => Some(90 * DAY),
        Some("last-60-days") => Some(60 * DAY),
        Some("last-30-days") => Some(30 * DAY),
        Some("last-7-days") => Some(7 * DAY),
        Some("last-24-hours") => Some(DAY),
        Some(_) => None,
    }
}
