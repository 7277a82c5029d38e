//! What hangs off a build job: its details (`GET /project/{slug}/job/{number}`), its test results
//! (`…/{number}/tests`) and its artifacts (`…/{number}/artifacts`).
//!
//! Details change only together with the job (same status and timestamps). Tests and artifacts exist
//! only once the job is terminal and then never change; they are drawn from the job's own streams.

use serde_json::{Value, json};

use super::observe::{JobView, view, workflow_id};
use super::pipeline::pipeline_id;
use super::plan::{Fate, Outcome, Plan};
use super::rng::Rng;
use super::time::{Millis, rfc3339_millis};
use super::words::{ARTIFACTS, RESOURCE_CLASSES, TEST_FAILURES, TEST_MODULES, TEST_SUBJECTS};
use super::world::{World, streams};

/// Everything needed to render one job of one workflow.
pub(crate) struct JobAt<'a> {
    pub world: &'a World,
    pub p: usize,
    pub ordinal: u32,
    pub plan: &'a Plan,
    pub j: usize,
    pub t: Millis,
}

impl JobAt<'_> {
    fn view(&self) -> JobView {
        view(&self.plan.jobs[self.j], self.t)
    }

    fn number(&self) -> u64 {
        super::observe::job_number(self.world, self.p, self.plan, self.j)
    }

    fn stream(&self, tag: u64) -> Rng {
        Rng::derive(
            self.world.seed,
            &[
                tag,
                self.world.tenant as u64,
                self.p as u64,
                u64::from(self.ordinal),
                u64::from(self.plan.index),
                self.j as u64,
            ],
        )
    }

    /// Whether the job has tests and artifacts to show: it ran, and it is over.
    pub fn has_results(&self) -> bool {
        self.plan.jobs[self.j].ran() && self.view().terminal()
    }

    /// `GET /project/{slug}/job/{number}`.
    pub fn details_json(&self) -> Value {
        let world = self.world;
        let info = &world.projects[self.p];
        let job = &self.plan.jobs[self.j];
        let v = self.view();
        let number = self.number();
        let (resource_class, executor, _) = RESOURCE_CLASSES[usize::from(job.resource)];
        let parallel_runs: Vec<Value> = (0..job.parallelism.max(1))
            .map(|index| {
                // A failed job fails on its last node; the other nodes pass.
                let failed = v.status != "success" && v.stopped.is_some();
                let status = if failed && index + 1 < job.parallelism {
                    "success"
                } else {
                    v.status
                };
                json!({"index": index, "status": status})
            })
            .collect();
        let contexts: Vec<Value> = world
            .contexts
            .iter()
            .filter(|c| c.org == info.org)
            .take(8)
            .enumerate()
            .filter(|(i, _)| job.contexts & (1 << i) != 0)
            .map(|(_, c)| json!({"name": c.name}))
            .collect();
        let messages = match job.fate {
            Fate::Ran(Outcome::InfraFail)
            | Fate::Halted {
                status: "infrastructure_fail",
                ..
            } if v.stopped.is_some() => {
                json!([{
                    "type": "warning",
                    "message": "There was an issue with the underlying infrastructure; the job was not completed.",
                    "reason": "infrastructure_fail",
                }])
            }
            _ => json!([]),
        };
        json!({
            "web_url": format!(
                "https://app.circleci.com/pipelines/{}/{}/workflows/{}/jobs/{}",
                info.web_path,
                info.first_number + u64::from(self.ordinal),
                workflow_id(world, self.p, self.ordinal, self.plan.index),
                number
            ),
            "project": {
                "id": info.id,
                "slug": info.slug,
                "name": info.repo,
                "external_url": info.repo_url,
            },
            "parallel_runs": parallel_runs,
            "started_at": v.started.map(rfc3339_millis),
            "latest_workflow": {
                "id": workflow_id(world, self.p, self.ordinal, self.plan.index),
                "name": self.plan.name(info),
            },
            "name": job.name,
            "executor": {"resource_class": resource_class, "type": executor},
            "parallelism": job.parallelism.max(1),
            "status": v.status,
            "number": number,
            "pipeline": {"id": pipeline_id(world, self.p, self.ordinal)},
            "duration": v.started.zip(v.stopped).map(|(a, b)| b - a),
            "created_at": rfc3339_millis(self.plan.created),
            "messages": messages,
            "contexts": contexts,
            "organization": {"name": world.orgs[info.org].name},
            "queued_at": v.queued.map(rfc3339_millis),
            "stopped_at": v.stopped.map(rfc3339_millis),
        })
    }

    /// How many test results the job shows now.
    pub fn test_count(&self) -> usize {
        if self.has_results() {
            usize::from(self.plan.jobs[self.j].tests)
        } else {
            0
        }
    }

    /// How many artifacts the job shows now.
    pub fn artifact_count(&self) -> usize {
        if self.has_results() {
            usize::from(self.plan.jobs[self.j].artifacts)
        } else {
            0
        }
    }

    /// The items of `GET /project/{slug}/{number}/tests`, in the order CircleCI stores them.
    pub fn tests_json(&self) -> Vec<Value> {
        let n = self.test_count();
        if n == 0 {
            return Vec::new();
        }
        let job = &self.plan.jobs[self.j];
        let failed = !matches!(job.fate, Fate::Ran(Outcome::Success));
        let mut rng = self.stream(streams::TESTS);
        let language = (self.world.projects[self.p].first_number % 4) as usize;
        // A failed job has at least one failed test; which one is drawn.
        let must_fail = rng.below(n as u64) as usize;
        (0..n)
            .map(|i| {
                let module = TEST_MODULES[rng.below(TEST_MODULES.len() as u64) as usize];
                let subject = TEST_SUBJECTS[rng.below(TEST_SUBJECTS.len() as u64) as usize];
                let roll = rng.below(100);
                let result = if failed && (i == must_fail || roll < 8) {
                    "failure"
                } else if roll >= 96 {
                    "skipped"
                } else {
                    "success"
                };
                let message = match result {
                    "failure" => {
                        json!(TEST_FAILURES[rng.below(TEST_FAILURES.len() as u64) as usize])
                    }
                    "skipped" => json!("skipped: flaky on CI, see #1234"),
                    _ => Value::Null,
                };
                let run_time = rng.range(1, 20_000) as f64 / 1000.0;
                let (source, file, classname) = match language {
                    0 => (
                        "jest",
                        format!("src/{module}/{module}.test.ts"),
                        format!("{module} {subject}"),
                    ),
                    1 => (
                        "pytest",
                        format!("tests/test_{module}.py"),
                        format!("tests.test_{module}.Test{}", capitalise(module)),
                    ),
                    2 => (
                        "go-test",
                        format!("internal/{module}/{module}_test.go"),
                        format!("example.com/app/internal/{module}"),
                    ),
                    _ => (
                        "rspec",
                        format!("spec/{module}_spec.rb"),
                        format!("spec.{module}_spec"),
                    ),
                };
                json!({
                    "message": message,
                    "source": source,
                    "run_time": run_time,
                    "file": file,
                    "result": result,
                    "name": format!("{subject} ({i})"),
                    "classname": classname,
                })
            })
            .collect()
    }

    /// The items of `GET /project/{slug}/{number}/artifacts`; `url` points at CircleCI's artifact host.
    pub fn artifacts_json(&self) -> Vec<Value> {
        let n = self.artifact_count();
        if n == 0 {
            return Vec::new();
        }
        let job = &self.plan.jobs[self.j];
        let mut rng = self.stream(streams::ARTIFACTS);
        let job_id = super::observe::job_id(
            self.world,
            self.p,
            self.ordinal,
            self.plan.index,
            self.j as u8,
        );
        let offset = rng.below(ARTIFACTS.len() as u64) as usize;
        (0..n)
            .map(|i| {
                let node_index = rng.below(u64::from(job.parallelism.max(1)));
                // Unique per (node, path): the list of paths repeats with a round suffix.
                let base = ARTIFACTS[(offset + i) % ARTIFACTS.len()];
                let path = match i / ARTIFACTS.len() {
                    0 => base.to_owned(),
                    round => format!("round-{round}/{base}"),
                };
                let escaped = path.replace(' ', "%20");
                json!({
                    "path": path,
                    "node_index": node_index,
                    "url": format!(
                        "https://output.circle-artifacts.com/output/job/{job_id}/artifacts/{node_index}/{escaped}"
                    ),
                })
            })
            .collect()
    }
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}
