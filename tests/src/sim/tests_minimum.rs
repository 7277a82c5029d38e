//! [`Dataset::minimum_requests`] against a brute-force count: a tiny crawler walks the simulator's own
//! HTTP answers page by page, stream by stream, as a connector that reads everything exactly once
//! would, and the distinct requests it needed are the minimum. Shared listings count once because the
//! crawler remembers every target it fetched (page tokens are deterministic, so a page has one target).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;

use serde_json::Value;

use super::faults::endpoint_of;
use super::tests::{HttpResponse, escape_query, get};
use super::{Count, DEFAULT_TOKEN, Dataset, STREAMS, SimConfig, Simulator, TenantConfig};

/// Every anomaly that changes what a sync can read, and volumes that take several pages.
fn tenant() -> TenantConfig {
    let mut t = TenantConfig::new(DEFAULT_TOKEN, 6, 45);
    t.tests_per_job = Count::new(0, 45);
    t.artifacts_per_job = Count::new(0, 25);
    t.contexts_per_org = Count::new(0, 25);
    t.env_vars_per_context = Count::new(0, 25);
    t.history_days = Some(120);
    t.retention_days = Some(90);
    t.failing_pipelines = 2;
    t.abandoned_holds = 1;
    t.forbidden_context_orgs = vec![1];
    t.personal_owner_slug_not_found = true;
    t
}

/// Fetches each target once; remembers which targets a walk touched.
struct Crawler {
    addr: SocketAddr,
    fetched: HashMap<String, HttpResponse>,
    touched: BTreeSet<String>,
}

impl Crawler {
    async fn get(&mut self, target: &str) -> HttpResponse {
        self.touched.insert(target.to_owned());
        if let Some(response) = self.fetched.get(target) {
            return response.clone();
        }
        let response = get(self.addr, target).await;
        self.fetched.insert(target.to_owned(), response.clone());
        response
    }

    /// Every item of a listing, page by page; nothing when a page fails (that request still counts).
    async fn walk(&mut self, target: &str) -> Vec<Value> {
        let separator = if target.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut url = target.to_owned();
        loop {
            let page = self.get(&url).await;
            if page.status != 200 {
                assert!(items.is_empty(), "{url} failed mid-walk: {}", page.status);
                return items;
            }
            let page = page.json();
            items.extend(page["items"].as_array().expect("items").iter().cloned());
            match page["next_page_token"].as_str() {
                Some(next) => url = format!("{target}{separator}page-token={next}"),
                None => return items,
            }
        }
    }

    /// The targets a full sync of `stream` reads (projects from the settings: `slugs`).
    async fn sync(&mut self, stream: &str, slugs: &[String]) -> BTreeSet<String> {
        self.touched.clear();
        let api = "/api/v2";
        match stream {
            "me" => drop(self.get(&format!("{api}/me")).await),
            "collaborations" => drop(self.get(&format!("{api}/me/collaborations")).await),
            "projects" => {
                for slug in slugs {
                    self.get(&format!("{api}/project/{slug}")).await;
                }
            }
            "pipelines" | "workflows" | "jobs" | "job_details" | "tests" | "artifacts" => {
                for slug in slugs {
                    let pipelines = self.walk(&format!("{api}/project/{slug}/pipeline")).await;
                    if stream == "pipelines" {
                        continue;
                    }
                    for pipeline in pipelines {
                        let id = pipeline["id"].as_str().unwrap();
                        let workflows = self.walk(&format!("{api}/pipeline/{id}/workflow")).await;
                        if stream == "workflows" {
                            continue;
                        }
                        for workflow in workflows {
                            let Some(id) = workflow["id"].as_str() else {
                                continue;
                            };
                            let jobs = self.walk(&format!("{api}/workflow/{id}/job")).await;
                            if stream == "jobs" {
                                continue;
                            }
                            for job in jobs {
                                if job["type"] == "approval" {
                                    continue;
                                }
                                let n = job["job_number"].as_u64().unwrap();
                                match stream {
                                    "job_details" => {
                                        let target = format!("{api}/project/{slug}/job/{n}");
                                        assert_eq!(self.get(&target).await.status, 200);
                                    }
                                    _ => {
                                        let target = format!("{api}/project/{slug}/{n}/{stream}");
                                        self.walk(&target).await;
                                    }
                                }
                            }
                        }
                    }
                }
            }
            "contexts" | "context_environment_variables" => {
                let orgs = self.get(&format!("{api}/me/collaborations")).await.json();
                for org in orgs.as_array().unwrap() {
                    let id = org["id"].as_str().unwrap();
                    let contexts = self.walk(&format!("{api}/context?owner-id={id}")).await;
                    if stream == "contexts" {
                        continue;
                    }
                    for context in contexts {
                        let id = context["id"].as_str().unwrap();
                        self.walk(&format!("{api}/context/{id}/environment-variable"))
                            .await;
                    }
                }
            }
            "insights_workflows" | "insights_workflow_runs" => {
                for slug in slugs {
                    let base = format!("{api}/insights/{slug}/workflows");
                    let summary = self.walk(&format!("{base}?all-branches=true")).await;
                    if stream == "insights_workflows" {
                        continue;
                    }
                    for item in summary {
                        let name = escape_query(item["name"].as_str().unwrap());
                        self.walk(&format!("{base}/{name}?all-branches=true")).await;
                    }
                }
            }
            other => panic!("unknown stream {other}"),
        }
        std::mem::take(&mut self.touched)
    }
}

/// Targets per endpoint name.
fn by_endpoint(targets: &BTreeSet<String>) -> BTreeMap<&'static str, u64> {
    let mut out = BTreeMap::new();
    for target in targets {
        let path = target.split('?').next().unwrap();
        *out.entry(endpoint_of(path).unwrap()).or_default() += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimum_requests_match_a_brute_force_crawl() {
    let config = SimConfig {
        tenants: vec![tenant()],
        ..SimConfig::default()
    };
    let sim = Simulator::start(config).await.unwrap();
    // Reruns, then a deleted workflow (a rerun's job listing may be the one to 404).
    let d = sim.dataset(DEFAULT_TOKEN).unwrap();
    for id in d.some_finished_workflow_ids(3) {
        assert!(sim.rerun_at_next_advance(&id));
    }
    sim.advance();
    let d = sim.dataset(DEFAULT_TOKEN).unwrap();
    assert_eq!(d.reruns().len(), 3);
    for id in d.some_workflow_ids(3) {
        assert!(sim.delete_workflow_after_listing(&id));
    }
    let d: std::sync::Arc<Dataset> = sim.dataset(DEFAULT_TOKEN).unwrap();
    assert!(!d.unreachable_pipelines().is_empty());
    let slugs: Vec<String> = d.projects.iter().map(|p| p.slug.clone()).collect();

    let mut crawler = Crawler {
        addr: sim.addr(),
        fetched: HashMap::new(),
        touched: BTreeSet::new(),
    };
    let mut per_stream = BTreeMap::new();
    for stream in STREAMS {
        per_stream.insert(stream, crawler.sync(stream, &slugs).await);
    }
    assert_eq!(
        sim.request_count(),
        crawler.fetched.len() as u64,
        "one request per target"
    );
    let sets: Vec<Vec<&str>> = STREAMS
        .iter()
        .map(|s| vec![*s])
        .chain([
            vec!["jobs", "tests"],
            vec!["job_details", "tests", "artifacts"],
            vec!["collaborations", "contexts"],
            vec!["context_environment_variables", "me"],
            vec!["workflows", "insights_workflow_runs"],
            STREAMS.to_vec(),
        ])
        .collect();
    for streams in sets {
        let targets: BTreeSet<String> = streams
            .iter()
            .flat_map(|s| per_stream[s].iter().cloned())
            .collect();
        let want = by_endpoint(&targets);
        let mut got = d.minimum_requests_by_endpoint(&streams);
        got.retain(|_, n| *n > 0);
        assert_eq!(got, want, "{streams:?}");
        assert_eq!(
            d.minimum_requests(&streams),
            targets.len() as u64,
            "{streams:?}"
        );
    }
    // What the crawl met: several pages, failures that still count.
    let statuses: BTreeSet<u16> = crawler.fetched.values().map(|r| r.status).collect();
    assert_eq!(statuses, BTreeSet::from([200, 403, 404, 500]));
    // Listings that took a second page, per endpoint.
    let paged = by_endpoint(
        &crawler
            .fetched
            .keys()
            .filter(|t| t.contains("page-token="))
            .cloned()
            .collect(),
    );
    for endpoint in [
        "project-pipelines",
        "tests",
        "artifacts",
        "contexts",
        "context-variables",
        "insights-runs",
    ] {
        assert!(paged.contains_key(endpoint), "{endpoint}: {paged:?}");
    }
    let total = d.minimum_requests(&STREAMS);
    eprintln!("minimum requests, all 13 streams: {total} ({statuses:?} met)");
    sim.shutdown().await;
}

#[test]
fn a_default_dataset_counts_quickly() {
    let d = Dataset::generate(42, 0, &TenantConfig::new(DEFAULT_TOKEN, 20, 1000));
    let started = std::time::Instant::now();
    let all = d.minimum_requests(&STREAMS);
    let by = d.minimum_requests_by_endpoint(&STREAMS);
    eprintln!(
        "minimum requests, all 13 streams, 20 projects x 1000 pipelines: {all} ({by:?}) in {:?}",
        started.elapsed() / 2
    );
    assert_eq!(by.values().sum::<u64>(), all);
    assert!(by["project-pipelines"] >= 20 && by["job-details"] > by["pipeline-workflows"]);
}
