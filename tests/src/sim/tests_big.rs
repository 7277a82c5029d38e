//! The big config (50 projects × 2,000 nominal pipelines) starts in seconds and serves deep pages fast,
//! plus an opt-in throughput measurement (`cargo test --release -- --ignored --nocapture throughput`).

use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue, Method};

use super::handlers::{self, Request};
use super::state::SimState;
use super::tests::{get, walk};
use super::{DEFAULT_TOKEN, PAGE_SIZE, SimConfig, Simulator};

fn big() -> SimConfig {
    SimConfig::single(DEFAULT_TOKEN, 50, 2_000)
}

#[tokio::test(flavor = "multi_thread")]
async fn big_config_starts_fast_and_serves_deep_pages() {
    let started = Instant::now();
    let sim = Simulator::start(big()).await.unwrap();
    let start_time = started.elapsed();
    assert!(
        start_time < Duration::from_secs(10),
        "started in {start_time:?}"
    );
    let addr = sim.addr();
    let d = sim.dataset(DEFAULT_TOKEN).unwrap();
    let total = d.pipeline_total();
    assert!(total > 90_000, "{total} pipelines");

    let keys_started = Instant::now();
    let ids = d.expected_keys("pipelines");
    assert_eq!(ids.len(), total);
    let workflows = d.expected_keys("workflows");
    assert!(workflows.len() > total, "{} workflows", workflows.len());
    let jobs = d.expected_keys("job_details");
    assert!(jobs.len() > 500_000, "{} build jobs", jobs.len());
    let keys_time = keys_started.elapsed();

    // A deep walk: the oldest pages of a big project, then its oldest pipeline's workflows and jobs.
    let project = &d.projects[6];
    let first = get(addr, &format!("/api/v2/project/{}/pipeline", project.slug))
        .await
        .json();
    assert_eq!(first["items"].as_array().unwrap().len(), PAGE_SIZE);
    let org = d.collaborations()[0]["slug"].as_str().unwrap().to_owned();
    let page = get(addr, &format!("/api/v2/pipeline?org-slug={org}"))
        .await
        .json();
    assert_eq!(page["items"].as_array().unwrap().len(), PAGE_SIZE);
    let oldest = project.pipelines.len() - 1;
    let pipeline_id = ids[ids
        .iter()
        .position(|i| *i == first["items"][0]["id"])
        .unwrap()
        + oldest]
        .clone();
    let (workflows, _) = walk(addr, &format!("/api/v2/pipeline/{pipeline_id}/workflow")).await;
    for w in &workflows {
        let (jobs, _) = walk(
            addr,
            &format!("/api/v2/workflow/{}/job", w["id"].as_str().unwrap()),
        )
        .await;
        for job in jobs.iter().filter(|j| j.get("job_number").is_some()) {
            let number = &job["job_number"];
            let details = get(
                addr,
                &format!("/api/v2/project/{}/job/{number}", project.slug),
            )
            .await;
            assert_eq!(details.status, 200);
            assert_eq!(details.json()["number"], *number);
        }
    }
    let insights = get(
        addr,
        &format!(
            "/api/v2/insights/{}/workflows?all-branches=true",
            project.slug
        ),
    )
    .await;
    assert_eq!(insights.status, 200);
    assert!(!insights.json()["items"].as_array().unwrap().is_empty());

    let advance_started = Instant::now();
    sim.advance();
    let advance_time = advance_started.elapsed();
    assert!(sim.dataset(DEFAULT_TOKEN).unwrap().pipeline_total() > total);
    assert!(sim.request_count() > 5);
    eprintln!(
        "big config: {total} pipelines, started in {start_time:?}, expected_keys(pipelines, workflows, \
         job_details) in {keys_time:?}, advance in {advance_time:?}"
    );
    sim.shutdown().await;
}

/// Calls the handler directly (no sockets) `n` times; returns requests per second.
fn handler_rate(state: &SimState, target: &str, n: u32) -> f64 {
    let mut headers = HeaderMap::new();
    headers.insert("circle-token", HeaderValue::from_static(DEFAULT_TOKEN));
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let started = Instant::now();
    for _ in 0..n {
        let reply = handlers::handle(
            state,
            Request {
                method: &Method::GET,
                path,
                query,
                headers: &headers,
            },
        );
        assert_eq!(reply.status, 200, "{target}");
    }
    f64::from(n) / started.elapsed().as_secs_f64()
}

#[test]
#[ignore = "a measurement, not a check: run with --ignored --nocapture"]
fn throughput() {
    let state = SimState::new(&big()).unwrap();
    let d = state.current(DEFAULT_TOKEN).unwrap();
    let slug = d.projects[6].slug.clone();
    let pipeline = d.projects[6].pipelines[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let plan_items = {
        let p = state.current(DEFAULT_TOKEN).unwrap();
        let workflows = p.expected_keys("workflows");
        workflows[0].clone()
    };
    let details: Vec<String> = d.expected_keys("job_details").into_iter().take(1).collect();
    let number = details[0].rsplit('|').next().unwrap().to_owned();
    let first_slug = details[0].rsplit_once('|').unwrap().0.to_owned();
    let org = d.collaborations()[0]["slug"].as_str().unwrap().to_owned();
    let targets = [
        "/api/v2/me".to_owned(),
        format!("/api/v2/project/{slug}"),
        format!("/api/v2/project/{slug}/pipeline"),
        format!("/api/v2/pipeline?org-slug={org}"),
        format!("/api/v2/pipeline/{pipeline}"),
        format!("/api/v2/pipeline/{pipeline}/workflow"),
        format!("/api/v2/workflow/{plan_items}/job"),
        format!("/api/v2/project/{first_slug}/job/{number}"),
        format!("/api/v2/project/{first_slug}/{number}/tests"),
        format!("/api/v2/insights/{slug}/workflows?all-branches=true"),
    ];
    for target in &targets {
        let rate = handler_rate(&state, target, 2_000);
        eprintln!("{rate:>10.0} req/s  {target}");
    }
}

#[test]
#[ignore = "a measurement"]
fn render_costs() {
    let d = super::Dataset::generate(42, 0, &super::TenantConfig::new(DEFAULT_TOKEN, 8, 2_000));
    let n = 20_000u32;
    let t = Instant::now();
    for i in 0..n {
        std::hint::black_box(super::pipeline::PipelineAttrs::draw(&d.world, 6, i % 2000));
    }
    eprintln!("attrs {:?}", t.elapsed() / n);
    let t = Instant::now();
    for i in 0..n {
        std::hint::black_box(super::pipeline::pipeline_id(&d.world, 6, i % 2000));
    }
    eprintln!("id {:?}", t.elapsed() / n);
    let t = Instant::now();
    for i in 0..n {
        std::hint::black_box(super::time::rfc3339_millis(i as i64 * 1_000_000));
    }
    eprintln!("ts {:?}", t.elapsed() / n);
    let t = Instant::now();
    let mut values = Vec::new();
    for i in 0..n {
        values.push(d.pipeline_json(6, i % 2000));
    }
    eprintln!("pipeline_json {:?}", t.elapsed() / n);
    let t = Instant::now();
    for v in &values {
        std::hint::black_box(serde_json::to_vec(v).unwrap());
    }
    eprintln!("serialize {:?}", t.elapsed() / n);
}

/// Requests per second over HTTP/1.1 keep-alive: `connections` clients each send `per_connection`
/// GETs of `target` back to back. Against `SIM_ADDR` (e.g. a `circleci-sim` pinned to one core with
/// `taskset -c 0`) when set, else an in-process simulator.
#[tokio::test(flavor = "current_thread")]
#[ignore = "a measurement, not a check: run with --ignored --nocapture"]
async fn http_throughput() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let local;
    let addr: std::net::SocketAddr = match std::env::var("SIM_ADDR") {
        Ok(addr) => addr.parse().unwrap(),
        Err(_) => {
            local = Simulator::start(big()).await.unwrap();
            local.addr()
        }
    };
    let me = get(addr, "/api/v2/project/gh/tyrell-corp/infra-terraform").await;
    let slug = me.json()["slug"]
        .as_str()
        .unwrap_or("gh/tyrell-corp/infra-terraform")
        .to_owned();
    let workflow = {
        let page = get(addr, &format!("/api/v2/project/{slug}/pipeline"))
            .await
            .json();
        let pipeline = page["items"][5]["id"].as_str().unwrap().to_owned();
        let workflows = get(addr, &format!("/api/v2/pipeline/{pipeline}/workflow"))
            .await
            .json();
        workflows["items"][0]["id"].as_str().unwrap().to_owned()
    };
    for target in [
        "/api/v2/me".to_owned(),
        format!("/api/v2/workflow/{workflow}/job"),
        format!("/api/v2/project/{slug}/pipeline"),
    ] {
        let (connections, per_connection) = (8, 2_000);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let target = target.clone();
            tasks.push(tokio::spawn(async move {
                let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
                let request = format!(
                    "GET {target} HTTP/1.1\r\nhost: sim\r\ncircle-token: {DEFAULT_TOKEN}\r\n\r\n"
                );
                let mut buffer = vec![0u8; 1 << 16];
                let mut pending = Vec::new();
                for _ in 0..per_connection {
                    stream.write_all(request.as_bytes()).await.unwrap();
                    // Read one whole response (headers + content-length bytes).
                    loop {
                        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head =
                                String::from_utf8_lossy(&pending[..end]).to_ascii_lowercase();
                            let length: usize = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse().ok())
                                .unwrap();
                            if pending.len() >= end + 4 + length {
                                pending.drain(..end + 4 + length);
                                break;
                            }
                        }
                        let n = stream.read(&mut buffer).await.unwrap();
                        assert!(n > 0, "connection closed");
                        pending.extend_from_slice(&buffer[..n]);
                    }
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let rate = f64::from(connections * per_connection) / started.elapsed().as_secs_f64();
        eprintln!("{rate:>10.0} req/s over HTTP  {target}");
    }
}
