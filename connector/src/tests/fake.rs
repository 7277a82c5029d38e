//! A stateful fake of CircleCI API v2 for traversal tests: routes requests
//! by URL, pages every list (20 items a page, opaque tokens), serves both
//! slug forms and escaped slashes, and lets a test change the data between
//! (or during) syncs and make chosen requests fail.

use crate::time::{Ts, format_ts, parse_ts};
use crate::{HttpClient, HttpResponse, TransportError};
use std::collections::HashMap;

pub const BASE: &str = "https://circleci.com/api/v2";

#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    /// `None` for approval jobs.
    pub number: Option<u64>,
    pub approval: bool,
    pub status: String,
    pub started: Option<Ts>,
    pub stopped: Option<Ts>,
    pub tests: usize,
    pub artifacts: usize,
    /// Job details answer 404.
    pub details_gone: bool,
}

#[derive(Debug, Clone)]
pub struct Workflow {
    pub id: String,
    pub name: String,
    pub status: String,
    pub created: Ts,
    pub stopped: Option<Ts>,
    pub jobs: Vec<Job>,
    /// Its job list answers 404.
    pub deleted: bool,
    /// Listed with `"id": null`, as CircleCI lists workflows past its
    /// retention.
    pub null_id: bool,
}

#[derive(Debug, Clone)]
pub struct Pipeline {
    pub id: String,
    pub number: u64,
    pub state: String,
    pub created: Ts,
    pub updated: Ts,
    pub workflows: Vec<Workflow>,
}

#[derive(Debug, Clone)]
pub struct Project {
    /// Canonical slug.
    pub slug: String,
    pub org: String,
    /// Newest first.
    pub pipelines: Vec<Pipeline>,
}

#[derive(Debug, Clone)]
pub struct Context {
    pub id: String,
    pub org: String,
    pub vars: Vec<String>,
}

/// A failure to answer instead of the real thing.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Fails requests whose URL contains this.
    pub url_part: String,
    pub status: u16,
    /// How many more times; `usize::MAX` for always.
    pub times: usize,
}

#[derive(Default, Clone)]
pub struct FakeCi {
    pub orgs: Vec<String>,
    pub projects: Vec<Project>,
    pub contexts: Vec<Context>,
    pub failures: Vec<Failure>,
    /// Every URL requested, in order.
    pub log: Vec<String>,
    /// `Date` header sent with every answer.
    pub date: Option<Ts>,
    pub page_size: usize,
    /// Organisations whose contexts answer 403.
    pub forbidden_orgs: Vec<String>,
    /// The size of every batch of requests sent together, in order.
    pub batches: Vec<usize>,
    next_id: u64,
    /// Item counter for numbers.
    next_number: u64,
}

/// Minutes after 2026-05-01T00:00:00Z.
pub fn t(minutes: i64) -> Ts {
    parse_ts("2026-05-01T00:00:00Z").unwrap() + minutes * 60 * crate::time::NANOS
}

fn opt_ts(ts: Option<Ts>) -> String {
    match ts {
        Some(ts) => format!("\"{}\"", format_ts(ts)),
        None => "null".into(),
    }
}

fn q(s: &str) -> String {
    crate::json::string(s)
}

impl FakeCi {
    pub fn new() -> FakeCi {
        FakeCi {
            page_size: 20,
            ..FakeCi::default()
        }
    }

    pub fn id(&mut self, kind: &str) -> String {
        self.next_id += 1;
        format!("{kind}-{:04}", self.next_id)
    }

    pub fn add_project(&mut self, slug: &str) -> usize {
        let org = slug.rsplit_once('/').unwrap().0.to_string();
        if !self.orgs.contains(&org) {
            self.orgs.push(org.clone());
        }
        self.projects.push(Project {
            slug: slug.into(),
            org,
            pipelines: Vec::new(),
        });
        self.projects.len() - 1
    }

    /// A finished job (or approval) stamped from `start` to `end`.
    pub fn job(&mut self, status: &str, started: Option<Ts>, stopped: Option<Ts>) -> Job {
        self.next_number += 1;
        Job {
            id: self.id("job"),
            number: Some(self.next_number),
            approval: false,
            status: status.into(),
            started,
            stopped,
            tests: 0,
            artifacts: 0,
            details_gone: false,
        }
    }

    pub fn approval(&mut self, status: &str) -> Job {
        Job {
            id: self.id("approval"),
            number: None,
            approval: true,
            status: status.into(),
            started: None,
            stopped: None,
            tests: 0,
            artifacts: 0,
            details_gone: false,
        }
    }

    pub fn workflow(
        &mut self,
        status: &str,
        created: Ts,
        stopped: Option<Ts>,
        jobs: Vec<Job>,
    ) -> Workflow {
        Workflow {
            id: self.id("wf"),
            name: "build-and-test".into(),
            status: status.into(),
            created,
            stopped,
            jobs,
            deleted: false,
            null_id: false,
        }
    }

    /// Adds a pipeline as the project's newest.
    pub fn push_pipeline(
        &mut self,
        project: usize,
        state: &str,
        created: Ts,
        workflows: Vec<Workflow>,
    ) -> String {
        let id = self.id("pl");
        let number = self.projects[project].pipelines.len() as u64 + 1;
        self.projects[project].pipelines.insert(
            0,
            Pipeline {
                id: id.clone(),
                number,
                state: state.into(),
                created,
                updated: created,
                workflows,
            },
        );
        id
    }

    /// A typical finished pipeline created at `created`: one workflow with
    /// two build jobs (with `tests` tests and one artifact each) and an
    /// approval in between.
    pub fn push_finished(&mut self, project: usize, created: Ts, tests: usize) -> String {
        let mut a = self.job(
            "success",
            Some(created + 60_000_000_000),
            Some(created + 120_000_000_000),
        );
        a.tests = tests;
        a.artifacts = 1;
        let approval = self.approval("success");
        let mut b = self.job(
            "failed",
            Some(created + 180_000_000_000),
            Some(created + 240_000_000_000),
        );
        b.tests = tests;
        b.artifacts = 1;
        let wf = self.workflow(
            "failed",
            created,
            Some(created + 240_000_000_000),
            vec![a, approval, b],
        );
        self.push_pipeline(project, "created", created, vec![wf])
    }

    pub fn fail(&mut self, url_part: &str, status: u16, times: usize) {
        self.failures.push(Failure {
            url_part: url_part.into(),
            status,
            times,
        });
    }

    pub fn count(&self, part: &str) -> usize {
        self.log.iter().filter(|u| u.contains(part)).count()
    }

    // ---- JSON of each kind of object ----

    fn pipeline_json(p: &Pipeline, slug: &str) -> String {
        format!(
            r#"{{"id":{},"errors":[],"project_slug":{},"updated_at":{},"number":{},"trigger_parameters":{{"git":{{"big":123456789012345678901234567890}}}},"state":{},"created_at":{},"trigger":{{"received_at":{},"type":"webhook","actor":{{"login":"octo","avatar_url":null}}}},"vcs":{{"branch":"main","revision":"abc"}}}}"#,
            q(&p.id),
            q(slug),
            opt_ts(Some(p.updated)),
            p.number,
            q(&p.state),
            opt_ts(Some(p.created)),
            opt_ts(Some(p.created)),
        )
    }

    fn workflow_json(w: &Workflow, p: &Pipeline, slug: &str) -> String {
        format!(
            r#"{{"pipeline_id":{},"canceled_by":null,"id":{},"name":{},"project_slug":{},"errored_by":null,"tag":null,"status":{},"started_by":"u-1","pipeline_number":{},"created_at":{},"stopped_at":{}}}"#,
            q(&p.id),
            if w.null_id {
                "null".to_string()
            } else {
                q(&w.id)
            },
            q(&w.name),
            q(slug),
            q(&w.status),
            p.number,
            opt_ts(Some(w.created)),
            opt_ts(w.stopped),
        )
    }

    fn job_json(j: &Job, slug: &str) -> String {
        let number = match j.number {
            Some(n) => format!(r#""job_number":{n},"#),
            None => String::new(),
        };
        let kind = if j.approval { "approval" } else { "build" };
        format!(
            r#"{{"dependencies":[],{number}"id":{},"started_at":{},"name":"step","project_slug":{},"status":{},"type":"{kind}","stopped_at":{}}}"#,
            q(&j.id),
            opt_ts(j.started),
            q(slug),
            q(&j.status),
            opt_ts(j.stopped),
        )
    }

    fn details_json(j: &Job, slug: &str, p: &Pipeline, w: &Workflow) -> String {
        format!(
            r#"{{"web_url":"https://app.circleci.com/x","project":{{"slug":{},"name":"r"}},"parallel_runs":[{{"index":0,"status":{}}}],"started_at":{},"latest_workflow":{{"id":{},"name":{}}},"name":"step","executor":{{"resource_class":"medium","type":"docker"}},"parallelism":1,"status":{},"number":{},"pipeline":{{"id":{}}},"duration":null,"created_at":{},"queued_at":{},"stopped_at":{},"messages":[],"contexts":[],"organization":{{"name":"acme"}}}}"#,
            q(slug),
            q(&j.status),
            opt_ts(j.started),
            q(&w.id),
            q(&w.name),
            q(&j.status),
            j.number.unwrap(),
            q(&p.id),
            opt_ts(j.started),
            opt_ts(j.started),
            opt_ts(j.stopped),
        )
    }

    // ---- routing ----

    fn page(&self, items: Vec<String>, query: &HashMap<String, String>) -> Result<String, u16> {
        let start = match query.get("page-token") {
            None => 0,
            Some(t) => t
                .strip_prefix("opaque:")
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or(404u16)?,
        };
        if start > items.len() {
            return Err(404);
        }
        let end = (start + self.page_size).min(items.len());
        let next = if end < items.len() {
            q(&format!("opaque:{end}"))
        } else {
            "null".into()
        };
        Ok(format!(
            r#"{{"next_page_token":{next},"items":[{}]}}"#,
            items[start..end].join(",")
        ))
    }

    fn project(&self, vcs: &str, org: &str, repo: &str) -> Option<&Project> {
        let vcs = match vcs {
            "github" => "gh",
            "bitbucket" => "bb",
            v => v,
        };
        let slug = format!("{vcs}/{org}/{repo}");
        self.projects.iter().find(|p| p.slug == slug)
    }

    fn find_workflow(&self, id: &str) -> Option<(&Project, &Pipeline, &Workflow)> {
        for pr in &self.projects {
            for p in &pr.pipelines {
                for w in &p.workflows {
                    if w.id == id {
                        return Some((pr, p, w));
                    }
                }
            }
        }
        None
    }

    fn find_job(pr: &Project, number: u64) -> Option<(&Pipeline, &Workflow, &Job)> {
        for p in &pr.pipelines {
            for w in &p.workflows {
                for j in &w.jobs {
                    if j.number == Some(number) {
                        return Some((p, w, j));
                    }
                }
            }
        }
        None
    }

    fn route(&self, segs: &[String], query: &HashMap<String, String>) -> Result<String, u16> {
        let s: Vec<&str> = segs.iter().map(String::as_str).collect();
        match s.as_slice() {
            ["me"] => Ok(r#"{"id":"u-1","login":"octo","name":"Octo","avatar_url":null}"#.into()),
            ["me", "collaborations"] => Ok(format!(
                "[{}]",
                self.orgs
                    .iter()
                    .enumerate()
                    .map(|(i, o)| format!(
                        r#"{{"id":"org-{i}","vcs-type":"github","name":{},"avatar_url":null,"slug":{}}}"#,
                        q(o.rsplit('/').next().unwrap()),
                        q(o)
                    ))
                    .collect::<Vec<_>>()
                    .join(",")
            )),
            ["pipeline"] => {
                let org = query.get("org-slug").ok_or(400u16)?;
                let mut all: Vec<(Ts, String)> = Vec::new();
                for pr in self.projects.iter().filter(|p| &p.org == org) {
                    // Pipelines in the org listing say the project in the gh form.
                    for p in &pr.pipelines {
                        all.push((p.created, Self::pipeline_json(p, &pr.slug)));
                    }
                }
                all.sort_by_key(|b| std::cmp::Reverse(b.0));
                self.page(all.into_iter().map(|x| x.1).collect(), query)
            }
            ["project", v, o, r] => {
                let pr = self.project(v, o, r).ok_or(404u16)?;
                Ok(format!(
                    r#"{{"slug":{},"name":{},"id":{},"organization_name":"acme","vcs_info":{{"vcs_url":null,"provider":"GitHub","default_branch":"main"}}}}"#,
                    q(&pr.slug),
                    q(r),
                    q(&format!("id-{}", pr.slug))
                ))
            }
            ["project", v, o, r, "pipeline"] => {
                let pr = self.project(v, o, r).ok_or(404u16)?;
                let items = pr
                    .pipelines
                    .iter()
                    .map(|p| Self::pipeline_json(p, &pr.slug))
                    .collect();
                self.page(items, query)
            }
            ["pipeline", id, "workflow"] => {
                let (pr, p) = self
                    .projects
                    .iter()
                    .flat_map(|pr| pr.pipelines.iter().map(move |p| (pr, p)))
                    .find(|(_, p)| p.id == *id)
                    .ok_or(404u16)?;
                let items = p
                    .workflows
                    .iter()
                    .map(|w| Self::workflow_json(w, p, &pr.slug))
                    .collect();
                self.page(items, query)
            }
            ["workflow", id, "job"] => {
                let (pr, _, w) = self.find_workflow(id).ok_or(404u16)?;
                if w.deleted {
                    return Err(404);
                }
                let items = w.jobs.iter().map(|j| Self::job_json(j, &pr.slug)).collect();
                self.page(items, query)
            }
            ["project", v, o, r, "job", n] => {
                let pr = self.project(v, o, r).ok_or(404u16)?;
                let n: u64 = n.parse().map_err(|_| 404u16)?;
                let (p, w, j) = Self::find_job(pr, n).ok_or(404u16)?;
                if j.details_gone {
                    return Err(404);
                }
                Ok(Self::details_json(j, &pr.slug, p, w))
            }
            ["project", v, o, r, n, kind @ ("tests" | "artifacts")] => {
                let pr = self.project(v, o, r).ok_or(404u16)?;
                let n: u64 = n.parse().map_err(|_| 404u16)?;
                let (_, _, j) = Self::find_job(pr, n).ok_or(404u16)?;
                let items = if *kind == "tests" {
                    (0..j.tests)
                        .map(|i| {
                            format!(
                                r#"{{"message":null,"source":"junit","run_time":0.25,"file":"t.py","result":"success","name":"test_{i}","classname":"T"}}"#
                            )
                        })
                        .collect()
                } else {
                    (0..j.artifacts)
                        .map(|i| {
                            format!(
                                r#"{{"path":"out/{i}.txt","node_index":0,"url":"https://output.circle-artifacts.com/{n}/{i}"}}"#
                            )
                        })
                        .collect()
                };
                self.page(items, query)
            }
            ["context"] => {
                // By slug, or by the id /me/collaborations gives (`org-<i>`).
                let org = match (query.get("owner-slug"), query.get("owner-id")) {
                    (Some(slug), None) => slug,
                    (None, Some(id)) => id
                        .strip_prefix("org-")
                        .and_then(|i| i.parse::<usize>().ok())
                        .and_then(|i| self.orgs.get(i))
                        .ok_or(404u16)?,
                    _ => return Err(400),
                };
                if self.forbidden_orgs.contains(org) {
                    return Err(403);
                }
                if query.get("owner-type").map(String::as_str) != Some("organization") {
                    return Err(400);
                }
                let items = self
                    .contexts
                    .iter()
                    .filter(|c| &c.org == org)
                    .map(|c| {
                        format!(
                            r#"{{"id":{},"name":"deploy","created_at":"2026-01-01T00:00:00Z"}}"#,
                            q(&c.id)
                        )
                    })
                    .collect();
                self.page(items, query)
            }
            ["context", id, "environment-variable"] => {
                let c = self.contexts.iter().find(|c| c.id == *id).ok_or(404u16)?;
                let items = c
                    .vars
                    .iter()
                    .map(|v| {
                        format!(
                            r#"{{"variable":{},"created_at":"2026-01-01T00:00:00Z","updated_at":null,"context_id":{}}}"#,
                            q(v),
                            q(&c.id)
                        )
                    })
                    .collect();
                self.page(items, query)
            }
            ["insights", v, o, r, "workflows"] => {
                if query.get("all-branches").map(String::as_str) != Some("true") {
                    return Err(400);
                }
                let pr = self.project(v, o, r).ok_or(404u16)?;
                let mut names: Vec<&str> = Vec::new();
                for p in &pr.pipelines {
                    for w in &p.workflows {
                        if !names.contains(&w.name.as_str()) {
                            names.push(&w.name);
                        }
                    }
                }
                let items = names
                    .iter()
                    .map(|n| {
                        format!(
                            r#"{{"project_id":"x","name":{},"metrics":{{"total_runs":3,"success_rate":0.5}},"window_start":"2026-04-01T00:00:00Z","window_end":"2026-05-01T00:00:00Z"}}"#,
                            q(n)
                        )
                    })
                    .collect();
                self.page(items, query)
            }
            ["insights", v, o, r, "workflows", name] => {
                if query.get("all-branches").map(String::as_str) != Some("true") {
                    return Err(400);
                }
                let pr = self.project(v, o, r).ok_or(404u16)?;
                let items = pr
                    .pipelines
                    .iter()
                    .flat_map(|p| p.workflows.iter())
                    .filter(|w| w.name == *name && w.stopped.is_some())
                    .map(|w| {
                        format!(
                            r#"{{"id":{},"branch":"main","duration":60,"created_at":{},"stopped_at":{},"credits_used":5,"status":{},"is_approval":false}}"#,
                            q(&w.id),
                            opt_ts(Some(w.created)),
                            opt_ts(w.stopped),
                            q(&w.status)
                        )
                    })
                    .collect();
                self.page(items, query)
            }
            _ => Err(404),
        }
    }
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let h = u8::from_str_radix(&s[i + 1..i + 3], 16).expect("valid escape");
            out.push(h);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

impl HttpClient for FakeCi {
    fn get_all(
        &mut self,
        batch: &[crate::http::Get<'_>],
    ) -> Vec<Result<HttpResponse, TransportError>> {
        self.batches.push(batch.len());
        batch.iter().map(|g| self.get(g.url, g.headers)).collect()
    }

    fn get(&mut self, url: &str, headers: &[(&str, &str)]) -> Result<HttpResponse, TransportError> {
        assert!(headers.iter().any(|(k, _)| *k == "Circle-Token"));
        self.log.push(url.to_string());
        let rest = url.strip_prefix(BASE).expect("under the API base");
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        // An escaped `/` inside a slug splits like a real one (as CircleCI does).
        let segs: Vec<String> = path
            .split('/')
            .skip(1)
            .map(decode)
            .flat_map(|s| s.split('/').map(str::to_string).collect::<Vec<_>>())
            .collect();
        assert!(
            segs.iter().all(|s| !s.is_empty()),
            "empty path segment in {url}"
        );
        let query: HashMap<String, String> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap();
                (decode(k), decode(v))
            })
            .collect();
        let mut headers = vec![];
        if let Some(d) = self.date {
            headers.push(("Date".to_string(), http_date(d)));
        }
        for f in &mut self.failures {
            if f.times > 0 && url.contains(&f.url_part) {
                f.times = f.times.saturating_sub(1);
                return Ok(HttpResponse {
                    status: f.status,
                    headers,
                    body: br#"{"message":"Internal server error."}"#.to_vec(),
                });
            }
        }
        let (status, body) = match self.route(&segs, &query) {
            Ok(body) => (200, body),
            Err(404) => (404, r#"{"message":"Not Found"}"#.to_string()),
            Err(s) => (s, r#"{"message":"bad request"}"#.to_string()),
        };
        Ok(HttpResponse {
            status,
            headers,
            body: body.into_bytes(),
        })
    }
}

/// An IMF-fixdate for a `Date` header.
pub fn http_date(ts: Ts) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let iso = format_ts(ts - ts.rem_euclid(crate::time::NANOS));
    let (y, m, d) = (&iso[0..4], &iso[5..7], &iso[8..10]);
    let days = ts.div_euclid(crate::time::NANOS).div_euclid(86_400);
    format!(
        "{}, {d} {} {y} {} GMT",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[m.parse::<usize>().unwrap() - 1],
        &iso[11..19]
    )
}
