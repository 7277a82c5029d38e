//! The fewest requests a full sync needs: [`Dataset::minimum_requests`], so a benchmark can say how
//! close a connector comes to what the data itself demands.
//!
//! The count is that of a connector that reads every listing page and every item's own request exactly
//! once, for all the asked streams together: a listing several streams hang from counts once (asking
//! `jobs` and `tests` reads the pipelines, workflows and jobs listings once). A listing of `n` items
//! takes `max(1, ceil(n / PAGE_SIZE))` pages (an empty listing is still one request). The projects come
//! from the settings, so no discovery request counts. Per stream, on top of what its parents need:
//!
//! | stream | requests |
//! | --- | --- |
//! | `me` | `/me` (1) |
//! | `collaborations` | `/me/collaborations` (1, not paged) |
//! | `projects` | `/project/{slug}` per project |
//! | `pipelines` | the pages of `/project/{slug}/pipeline` per project |
//! | `workflows` | + the pages of `/pipeline/{id}/workflow` per pipeline (also one with no workflow) |
//! | `jobs` | + the pages of `/workflow/{id}/job` per listed workflow |
//! | `job_details` | + `/project/{slug}/job/{number}` per job that is not an approval |
//! | `tests` | + the pages of `/project/{slug}/{number}/tests` per job that is not an approval |
//! | `artifacts` | + the pages of `/project/{slug}/{number}/artifacts` per job that is not an approval |
//! | `contexts` | `/me/collaborations` (1, shared) + the pages of `/context?owner-id=…` per organisation |
//! | `context_environment_variables` | + the pages of `/context/{id}/environment-variable` per context |
//! | `insights_workflows` | the pages of `/insights/{slug}/workflows` per project |
//! | `insights_workflow_runs` | + the pages of `/insights/{slug}/workflows/{name}` per summary name |
//!
//! The anomalies ([`super::unreachable`], [`super::deleted`], [`super::contexts`]): a request that fails
//! (a pipeline's workflow listing answering 404 or 500, a deleted workflow's job listing, a forbidden
//! organisation's contexts) still counts once, and nothing under it counts; a workflow listed with a
//! null id has no job listing to read. Everything else is what [`Dataset::expected`] holds: every
//! record comes from exactly one of the counted pages.
//!
//! Rate limits and faults are the connector's business: a retry is a request above the minimum.

use std::collections::BTreeMap;

use super::dataset::Dataset;
use super::details::JobAt;
use super::expected::{STREAMS, primary_key_columns};
use super::paging::PAGE_SIZE;
use super::retention::Expiry;
use super::unreachable::Reach;

/// Pages a listing of `items` items takes: at least one, even for an empty listing.
pub fn pages(items: usize) -> u64 {
    items.div_ceil(PAGE_SIZE).max(1) as u64
}

/// Which levels of the request tree the asked streams reach.
#[derive(Debug, Default, Clone, Copy)]
struct Needs {
    me: bool,
    collaborations: bool,
    projects: bool,
    pipelines: bool,
    workflows: bool,
    jobs: bool,
    job_details: bool,
    tests: bool,
    artifacts: bool,
    contexts: bool,
    context_variables: bool,
    insights: bool,
    insights_runs: bool,
}

impl Needs {
    /// Panics on an unknown stream name, as [`Dataset::expected`] does.
    fn of(streams: &[&str]) -> Needs {
        let mut n = Needs::default();
        for &stream in streams {
            let _ = primary_key_columns(stream);
            match stream {
                "me" => n.me = true,
                "collaborations" => n.collaborations = true,
                "projects" => n.projects = true,
                "pipelines" => n.pipelines = true,
                "workflows" => n.workflows = true,
                "jobs" => n.jobs = true,
                "job_details" => n.job_details = true,
                "tests" => n.tests = true,
                "artifacts" => n.artifacts = true,
                "contexts" => n.contexts = true,
                "context_environment_variables" => n.context_variables = true,
                "insights_workflows" => n.insights = true,
                "insights_workflow_runs" => n.insights_runs = true,
                other => unreachable!("{other} is in STREAMS: {STREAMS:?}"),
            }
        }
        // Each level needs its parents.
        n.jobs |= n.job_details || n.tests || n.artifacts;
        n.workflows |= n.jobs;
        n.pipelines |= n.workflows;
        n.contexts |= n.context_variables;
        n.collaborations |= n.contexts;
        n.insights |= n.insights_runs;
        n
    }
}

impl Dataset {
    /// The fewest requests a full sync of `streams` together needs at this epoch (see the module docs
    /// for what each stream counts). Panics on an unknown stream name; repeated names count once.
    /// Generates every workflow's plan when `tests` or `artifacts` is asked (to know which jobs have
    /// results), its shape only otherwise, so it stays cheap beside the sync it counts.
    pub fn minimum_requests(&self, streams: &[&str]) -> u64 {
        self.minimum_requests_by_endpoint(streams).values().sum()
    }

    /// [`Dataset::minimum_requests`] per endpoint, by the names of
    /// [`crate::sim::faults::ENDPOINTS`] (`me`, `collaborations`, `project`, `project-pipelines`,
    /// `pipeline-workflows`, `workflow-jobs`, `job-details`, `tests`, `artifacts`, `contexts`,
    /// `context-variables`, `insights-workflows`, `insights-runs`); only endpoints the streams use
    /// appear, each with its count (which may be 0, e.g. no job to read details of).
    pub fn minimum_requests_by_endpoint(&self, streams: &[&str]) -> BTreeMap<&'static str, u64> {
        let needs = Needs::of(streams);
        let mut out: BTreeMap<&'static str, u64> = BTreeMap::new();
        let mut add = |endpoint: &'static str, n: u64| *out.entry(endpoint).or_default() += n;
        if needs.me {
            add("me", 1);
        }
        if needs.collaborations {
            add("collaborations", 1);
        }
        if needs.projects {
            add("project", self.projects.len() as u64);
        }
        if needs.pipelines {
            self.minimum_below_projects(needs, &mut add);
        }
        if needs.contexts {
            let world = &self.world;
            add("contexts", 0);
            if needs.context_variables {
                add("context-variables", 0);
            }
            for o in 0..world.orgs.len() {
                if !self.contexts_readable(o) {
                    // 403 on the first page; nothing under it.
                    add("contexts", 1);
                    continue;
                }
                let contexts: Vec<_> = world.contexts.iter().filter(|c| c.org == o).collect();
                add("contexts", pages(contexts.len()));
                if needs.context_variables {
                    for context in contexts {
                        add("context-variables", pages(context.variables.len()));
                    }
                }
            }
        }
        if needs.insights {
            add("insights-workflows", 0);
            if needs.insights_runs {
                add("insights-runs", 0);
            }
            for p in 0..self.projects.len() {
                let summary = self.insights_summary(p);
                add("insights-workflows", pages(summary.len()));
                if needs.insights_runs {
                    let runs = self.runs(p);
                    for item in &summary {
                        let name = item["name"].as_str().unwrap_or_default();
                        add(
                            "insights-runs",
                            pages(runs.iter().filter(|r| r.name == name).count()),
                        );
                    }
                }
            }
        }
        out
    }

    /// The project-rooted tree: pipelines, workflows, jobs and what hangs off a job number.
    fn minimum_below_projects(&self, needs: Needs, add: &mut impl FnMut(&'static str, u64)) {
        let world = &self.world;
        let t = self.t();
        add("project-pipelines", 0);
        for (endpoint, needed) in [
            ("pipeline-workflows", needs.workflows),
            ("workflow-jobs", needs.jobs),
            ("job-details", needs.job_details),
            ("tests", needs.tests),
            ("artifacts", needs.artifacts),
        ] {
            if needed {
                add(endpoint, 0);
            }
        }
        for p in 0..self.projects.len() {
            let cores = self.cores(p).len();
            add("project-pipelines", pages(cores));
            if !needs.workflows {
                continue;
            }
            for ordinal in (0..cores as u32).rev() {
                let reach = self.reach(p, ordinal);
                match reach {
                    // One failing request, nothing under it.
                    Reach::Failing | Reach::Expired(Expiry::NotFound) => {
                        add("pipeline-workflows", 1);
                        continue;
                    }
                    Reach::Expired(Expiry::NullIds) | Reach::Readable => {}
                }
                let listed = self.listed_shapes(p, ordinal);
                add("pipeline-workflows", pages(listed.len()));
                // Null ids: no job listing to read.
                if !needs.jobs || reach != Reach::Readable {
                    continue;
                }
                for (wf, shape, _) in listed {
                    // A deleted workflow's job listing: one 404, no job number to follow.
                    if self.workflow_deleted(p, ordinal, wf) {
                        add("workflow-jobs", 1);
                        continue;
                    }
                    add("workflow-jobs", pages(shape.slots() as usize));
                    let builds = u64::from(shape.builds);
                    if needs.job_details {
                        add("job-details", builds);
                    }
                    if !(needs.tests || needs.artifacts) {
                        continue;
                    }
                    let plan = self.plan(p, ordinal, wf);
                    for j in 0..plan.jobs.len() {
                        if plan.jobs[j].approval {
                            continue;
                        }
                        let job = JobAt {
                            world,
                            p,
                            ordinal,
                            plan: &plan,
                            j,
                            t,
                        };
                        if needs.tests {
                            add("tests", pages(job.test_count()));
                        }
                        if needs.artifacts {
                            add("artifacts", pages(job.artifact_count()));
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::TenantConfig;

    #[test]
    fn pages_round_up_and_never_reach_zero() {
        assert_eq!([0, 1, 19, 20, 21, 40, 41].map(pages), [1, 1, 1, 1, 2, 2, 3]);
    }

    #[test]
    fn shared_parents_count_once() {
        let d = Dataset::generate(42, 0, &TenantConfig::new("t", 3, 25));
        let m = |streams: &[&str]| d.minimum_requests(streams);
        assert_eq!(m(&[]), 0);
        assert_eq!(m(&["me"]), 1);
        assert_eq!(m(&["collaborations"]), 1);
        assert_eq!(m(&["projects"]), 3);
        assert_eq!(m(&["collaborations", "contexts"]), m(&["contexts"]));
        assert_eq!(m(&["jobs", "jobs"]), m(&["jobs"]));
        let jobs = m(&["jobs"]);
        let (details, tests) = (m(&["job_details"]), m(&["tests"]));
        assert!(details > jobs && tests > jobs);
        assert_eq!(m(&["job_details", "tests"]), details + tests - jobs);
        assert_eq!(
            m(&STREAMS),
            STREAMS
                .iter()
                .map(|s| d.minimum_requests_by_endpoint(&[s]))
                .fold(BTreeMap::new(), |mut all, one| {
                    // The union of the streams' requests: per endpoint, the most any stream needs.
                    for (endpoint, n) in one {
                        let e = all.entry(endpoint).or_insert(0);
                        *e = (*e).max(n);
                    }
                    all
                })
                .values()
                .sum::<u64>()
        );
    }

    #[test]
    #[should_panic(expected = "unknown stream")]
    fn unknown_streams_panic() {
        Dataset::generate(42, 0, &TenantConfig::new("t", 1, 1)).minimum_requests(&["nope"]);
    }
}
