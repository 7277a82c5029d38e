//! Fault injection over real sockets, read with a raw client that keeps every byte, how long the first
//! one took, and how the connection ended, so each fault can be checked as it is on the wire.

use std::collections::BTreeSet;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::faults::{FaultKind, FaultPlan, FaultRule, RateLimitBody, RetryHint};
use super::tests::{exchange, walk};
use super::time::{ANCHOR, QUIET, SECOND, parse_rfc3339};
use super::{DEFAULT_TOKEN, PAGE_SIZE, STREAMS, SimConfig, Simulator};

/// Everything that came back on one connection.
#[derive(Debug)]
struct Raw {
    bytes: Vec<u8>,
    /// How the read ended when not with an orderly EOF.
    error: Option<io::ErrorKind>,
    first_byte: Option<Duration>,
    elapsed: Duration,
}

impl Raw {
    fn head_end(&self) -> Option<usize> {
        self.bytes.windows(4).position(|w| w == b"\r\n\r\n")
    }

    fn status(&self) -> u16 {
        let head = String::from_utf8_lossy(&self.bytes[..self.head_end().expect("a head")]);
        head.split(' ').nth(1).unwrap().parse().unwrap()
    }

    fn header(&self, name: &str) -> Option<String> {
        let head = String::from_utf8_lossy(&self.bytes[..self.head_end()?]).into_owned();
        head.split("\r\n")
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
    }

    /// The header names, lowercased, in order.
    fn header_names(&self) -> Vec<String> {
        let head = String::from_utf8_lossy(&self.bytes[..self.head_end().unwrap()]).into_owned();
        head.split("\r\n")
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .map(|(n, _)| n.to_ascii_lowercase())
            .collect()
    }

    /// The bytes after the head, as sent (still chunk-encoded if chunked).
    fn body(&self) -> &[u8] {
        &self.bytes[self.head_end().unwrap() + 4..]
    }

    /// The body, if it arrived whole with a matching `Content-Length`.
    fn complete_body(&self) -> Option<&[u8]> {
        let length: usize = self.header("content-length")?.parse().ok()?;
        (self.error.is_none() && self.body().len() == length).then(|| self.body())
    }
}

/// One GET on a fresh connection (closed after it), read to the end.
async fn raw_get(addr: SocketAddr, target: &str) -> Raw {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET {target} HTTP/1.1\r\nhost: {addr}\r\ncircle-token: {DEFAULT_TOKEN}\r\nconnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut bytes = Vec::new();
    let mut first_byte = None;
    let mut buf = [0u8; 16 * 1024];
    let error = loop {
        match stream.read(&mut buf).await {
            Ok(0) => break None,
            Ok(n) => {
                first_byte.get_or_insert_with(|| started.elapsed());
                bytes.extend_from_slice(&buf[..n]);
            }
            Err(e) => break Some(e.kind()),
        }
    };
    Raw {
        bytes,
        error,
        first_byte,
        elapsed: started.elapsed(),
    }
}

/// A chunked body decoded: the data, and whether the final zero-size chunk came.
fn dechunk(mut body: &[u8]) -> (Vec<u8>, bool) {
    let mut data = Vec::new();
    loop {
        let Some(eol) = body.windows(2).position(|w| w == b"\r\n") else {
            return (data, false);
        };
        let size = usize::from_str_radix(std::str::from_utf8(&body[..eol]).unwrap(), 16).unwrap();
        if size == 0 {
            return (data, true);
        }
        let chunk = &body[eol + 2..];
        if chunk.len() < size {
            data.extend_from_slice(chunk);
            return (data, false);
        }
        data.extend_from_slice(&chunk[..size]);
        body = chunk.get(size + 2..).unwrap_or_default();
    }
}

/// A small single-tenant config with `plan`.
fn config(plan: FaultPlan) -> SimConfig {
    SimConfig {
        faults: plan,
        ..SimConfig::single(DEFAULT_TOKEN, 3, 45)
    }
}

/// A plan that always injects `kind` on the first attempt of a request and never on the second.
fn once(kind: FaultKind) -> FaultPlan {
    FaultPlan {
        max_consecutive: 1,
        ..FaultPlan::seeded(1).with(FaultRule::new(kind, 1.0))
    }
}

/// A project of the default tenant with at least three pages of pipelines.
fn long_project(sim: &Simulator) -> String {
    let data = sim.dataset(DEFAULT_TOKEN).unwrap();
    let project = data
        .projects
        .iter()
        .find(|p| p.pipelines.len() > 2 * PAGE_SIZE)
        .expect("a project with three pages");
    project.slug.clone()
}

/// A spread of requests: every kind of listing and lookup, a second page, errors.
async fn sample_targets(addr: SocketAddr, slug: &str) -> Vec<String> {
    let first = raw_get(addr, &format!("/api/v2/project/{slug}/pipeline")).await;
    let page: Value = serde_json::from_slice(first.complete_body().unwrap()).unwrap();
    let token = page["next_page_token"].as_str().unwrap();
    let pipeline = page["items"][5]["id"].as_str().unwrap();
    vec![
        "/api/v2/me".into(),
        "/api/v2/me/collaborations".into(),
        format!("/api/v2/project/{slug}"),
        format!("/api/v2/project/{slug}/pipeline"),
        format!("/api/v2/project/{slug}/pipeline?page-token={token}"),
        format!("/api/v2/pipeline/{pipeline}"),
        format!("/api/v2/pipeline/{pipeline}/workflow"),
        format!("/api/v2/project/{slug}/job/1"),
        format!("/api/v2/project/{slug}/2/tests"),
        format!("/api/v2/insights/{slug}/workflows?all-branches=true"),
        "/api/v2/context".into(),
        "/api/v2/nope".into(),
        "/api/v2/workflow//job".into(),
    ]
}

#[tokio::test]
async fn no_plan_and_rate_zero_serve_identical_bytes() {
    let plain = Simulator::start(config(FaultPlan::none())).await.unwrap();
    // Every kind at rate 0, and every kind at rate 1 but only where these requests never go.
    let mut zero = FaultPlan::seeded(9);
    for name in FaultKind::names() {
        zero.rules
            .push(FaultRule::new(FaultKind::parse(&name).unwrap(), 0.0));
    }
    let elsewhere = FaultPlan::seeded(9)
        .with(FaultRule::new(FaultKind::Reset, 0.5).on(&["insights-runs"]))
        .with(FaultRule::new(FaultKind::CutJson, 0.5).on(&["context-variables"]));
    let others = [
        Simulator::start(config(zero)).await.unwrap(),
        Simulator::start(config(elsewhere)).await.unwrap(),
    ];
    let slug = long_project(&plain);
    for target in sample_targets(plain.addr(), &slug).await {
        let expected = raw_get(plain.addr(), &target).await;
        assert!(expected.error.is_none());
        for sim in &others {
            let got = raw_get(sim.addr(), &target).await;
            assert_eq!(got.bytes, expected.bytes, "{target}");
            assert_eq!(got.error, None);
        }
    }
    for sim in &others {
        assert!(sim.faults_injected().is_empty());
        assert!(sim.requests().iter().all(|r| r.fault.is_none()));
    }
}

#[tokio::test]
async fn rate_limits_carry_each_body_and_hint() {
    let sim = Simulator::start(config(FaultPlan::none())).await.unwrap();
    let addr = sim.addr();
    let bodies = [
        (
            RateLimitBody::Json,
            "application/json",
            &br#"{"message":"Rate limit exceeded."}"#[..],
        ),
        (
            RateLimitBody::Text,
            "text/plain; charset=utf-8",
            &b"Rate limited."[..],
        ),
        (RateLimitBody::Empty, "application/json", &b""[..]),
        (RateLimitBody::EmptyObject, "application/json", &b"{}"[..]),
    ];
    let unix_now = ANCHOR / SECOND;
    let hints: [(RetryHint, &[(&str, String)]); 6] = [
        (RetryHint::RetryAfter, &[("retry-after", "1".into())]),
        (
            RetryHint::RetryAfterDate,
            &[("retry-after", "Fri, 01 May 2026 12:00:01 GMT".into())],
        ),
        (
            RetryHint::RateLimitReset,
            &[
                ("ratelimit-limit", "150".into()),
                ("ratelimit-remaining", "0".into()),
                ("ratelimit-reset", "1".into()),
            ],
        ),
        (
            RetryHint::XRateLimitReset,
            &[
                ("x-ratelimit-remaining", "0".into()),
                ("x-ratelimit-reset", "1".into()),
            ],
        ),
        (
            RetryHint::XRateLimitResetUnix,
            &[
                ("x-ratelimit-remaining", "0".into()),
                ("x-ratelimit-reset", (unix_now + 1).to_string()),
            ],
        ),
        (RetryHint::None, &[]),
    ];
    let hint_headers = [
        "retry-after",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    ];
    for (body, content_type, bytes) in bodies {
        for (hint, headers) in &hints {
            let kind = FaultKind::RateLimited(body, *hint);
            sim.set_faults(once(kind)).unwrap();
            let limited = raw_get(addr, "/api/v2/me").await;
            assert_eq!(limited.status(), 429, "{kind}");
            assert_eq!(limited.complete_body(), Some(bytes), "{kind}");
            assert_eq!(
                limited.header("content-type").as_deref(),
                Some(content_type)
            );
            assert_eq!(
                limited.header("date").as_deref(),
                Some("Fri, 01 May 2026 12:00:00 GMT")
            );
            let names = limited.header_names();
            for name in hint_headers {
                let want = headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v);
                assert_eq!(limited.header(name).as_ref(), want, "{kind} {name}");
                assert!(names.iter().filter(|n| *n == name).count() <= 1);
            }
            assert_eq!(raw_get(addr, "/api/v2/me").await.status(), 200, "{kind}");
            assert_eq!(sim.faults_injected(), [(kind.to_string(), 1)].into());
        }
    }
    // The HTTP-date hint follows the simulated clock.
    sim.advance();
    sim.set_faults(once(FaultKind::parse("429-text+retry-after-date").unwrap()))
        .unwrap();
    let later = raw_get(addr, "/api/v2/me").await;
    assert_eq!(
        later.header("date").as_deref(),
        Some("Fri, 01 May 2026 13:00:00 GMT")
    );
    assert_eq!(
        later.header("retry-after").as_deref(),
        Some("Fri, 01 May 2026 13:00:01 GMT")
    );
    let wait = FaultPlan {
        wait_secs: 7,
        ..once(FaultKind::parse("429+ratelimit-reset").unwrap())
    };
    sim.set_faults(wait).unwrap();
    let limited = raw_get(addr, "/api/v2/me").await;
    assert_eq!(limited.header("ratelimit-reset").as_deref(), Some("7"));
    sim.shutdown().await;
}

#[tokio::test]
async fn server_errors_are_json_or_proxy_pages() {
    let sim = Simulator::start(config(FaultPlan::none())).await.unwrap();
    let cases = [
        ("500", "Internal server error."),
        ("502", "Bad Gateway"),
        ("503", "Service Unavailable"),
        ("504", "Gateway Timeout"),
    ];
    for (name, message) in cases {
        sim.set_faults(once(FaultKind::parse(name).unwrap()))
            .unwrap();
        let failed = raw_get(sim.addr(), "/api/v2/me/collaborations").await;
        assert_eq!(failed.status().to_string(), name);
        assert_eq!(
            serde_json::from_slice::<Value>(failed.complete_body().unwrap()).unwrap(),
            json!({ "message": message })
        );
        assert!(failed.header("date").is_some());
    }
    for (name, status) in [("502-html", 502), ("504-html", 504)] {
        sim.set_faults(once(FaultKind::parse(name).unwrap()))
            .unwrap();
        let failed = raw_get(sim.addr(), "/api/v2/me").await;
        assert_eq!(failed.status(), status);
        assert_eq!(failed.header("content-type").as_deref(), Some("text/html"));
        let page = String::from_utf8(failed.complete_body().unwrap().to_vec()).unwrap();
        assert!(page.starts_with("<html>") && page.contains(&format!("<h1>{status} ")));
        assert_eq!(raw_get(sim.addr(), "/api/v2/me").await.status(), 200);
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn resets_send_no_response() {
    let sim = Simulator::start(config(once(FaultKind::Reset)))
        .await
        .unwrap();
    let reset = raw_get(sim.addr(), "/api/v2/me").await;
    assert!(
        reset.bytes.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&reset.bytes)
    );
    assert_eq!(reset.error, Some(io::ErrorKind::ConnectionReset));
    let retried = raw_get(sim.addr(), "/api/v2/me").await;
    assert_eq!(retried.status(), 200);
    let log = sim.requests();
    assert_eq!((log[0].status, log[0].fault.as_deref()), (0, Some("reset")));
    assert_eq!((log[1].status, log[1].fault.as_deref()), (200, None));
    sim.shutdown().await;
}

#[tokio::test]
async fn slow_first_bytes_and_broken_bodies() {
    let clean = Simulator::start(config(FaultPlan::none())).await.unwrap();
    let slug = long_project(&clean);
    let target = format!("/api/v2/project/{slug}/pipeline");
    let whole = raw_get(clean.addr(), &target).await;
    let whole = whole.complete_body().unwrap().to_vec();
    let delays = |kind| FaultPlan {
        first_byte_delay_ms: 300,
        stall_ms: 400,
        ..once(kind)
    };
    let sim = Simulator::start(config(FaultPlan::none())).await.unwrap();
    let addr = sim.addr();

    sim.set_faults(delays(FaultKind::SlowFirstByte)).unwrap();
    let slow = raw_get(addr, &target).await;
    assert!(slow.first_byte.unwrap() >= Duration::from_millis(300));
    assert_eq!(slow.complete_body(), Some(&whole[..]));
    let fast = raw_get(addr, &target).await;
    assert!(fast.first_byte.unwrap() < Duration::from_millis(300));

    sim.set_faults(delays(FaultKind::StalledBody)).unwrap();
    let stalled = raw_get(addr, &target).await;
    assert_eq!(stalled.status(), 200);
    assert_eq!(
        stalled.header("content-length"),
        Some(whole.len().to_string())
    );
    assert!(stalled.body().len() < whole.len() && whole.starts_with(stalled.body()));
    assert!(!stalled.body().is_empty());
    assert!(stalled.elapsed >= Duration::from_millis(400));

    sim.set_faults(delays(FaultKind::TruncatedLength)).unwrap();
    let truncated = raw_get(addr, &target).await;
    assert_eq!(
        truncated.header("content-length"),
        Some(whole.len().to_string())
    );
    assert_eq!(truncated.body(), &whole[..whole.len() / 2]);
    assert!(truncated.elapsed < Duration::from_millis(400));

    sim.set_faults(delays(FaultKind::TruncatedChunked)).unwrap();
    let chunked = raw_get(addr, &target).await;
    assert_eq!(
        chunked.header("transfer-encoding").as_deref(),
        Some("chunked")
    );
    assert_eq!(chunked.header("content-length"), None);
    let (data, finished) = dechunk(chunked.body());
    assert!(!finished, "the final chunk must be missing");
    assert_eq!(data, &whole[..whole.len() * 2 / 3]);
    // The next attempt of each is whole.
    assert_eq!(
        raw_get(addr, &target).await.complete_body(),
        Some(&whole[..])
    );

    sim.set_faults(delays(FaultKind::GarbageJson)).unwrap();
    let garbage = raw_get(addr, &target).await;
    assert_eq!(garbage.status(), 200);
    assert!(serde_json::from_slice::<Value>(garbage.complete_body().unwrap()).is_err());

    sim.set_faults(delays(FaultKind::CutJson)).unwrap();
    let cut = raw_get(addr, &target).await;
    assert_eq!(cut.status(), 200);
    let cut = cut.complete_body().unwrap();
    assert_eq!(cut, &whole[..whole.len() / 2]);
    assert!(serde_json::from_slice::<Value>(cut).is_err());

    let faults: Vec<Option<String>> = sim.requests().into_iter().map(|r| r.fault).collect();
    let named = |s: &str| Some(s.to_owned());
    assert_eq!(
        faults,
        [
            named("slow-first-byte"),
            None,
            named("stall-body"),
            named("truncate-length"),
            named("truncate-chunked"),
            None,
            named("garbage-json"),
            named("cut-json"),
        ]
    );
    clean.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn stale_page_tokens_answer_not_found_until_retried() {
    let plan = FaultPlan {
        max_consecutive: 2,
        ..FaultPlan::seeded(4).with(FaultRule::new(FaultKind::StalePageToken, 1.0))
    };
    let sim = Simulator::start(config(plan)).await.unwrap();
    let clean = Simulator::start(config(FaultPlan::none())).await.unwrap();
    let slug = long_project(&sim);
    let first = format!("/api/v2/project/{slug}/pipeline");
    let page = raw_get(sim.addr(), &first).await;
    assert_eq!(page.status(), 200, "a first page has no token to go stale");
    let page: Value = serde_json::from_slice(page.complete_body().unwrap()).unwrap();
    let second = format!(
        "{first}?page-token={}",
        page["next_page_token"].as_str().unwrap()
    );
    for _ in 0..2 {
        let stale = raw_get(sim.addr(), &second).await;
        assert_eq!(stale.status(), 404);
        assert_eq!(
            serde_json::from_slice::<Value>(stale.complete_body().unwrap()).unwrap(),
            json!({"message": "Not Found"})
        );
    }
    let served = raw_get(sim.addr(), &second).await;
    let expected = raw_get(clean.addr(), &second).await;
    assert_eq!(served.bytes, expected.bytes);
    assert_eq!(
        sim.faults_injected(),
        [("stale-page-token".into(), 2)].into()
    );
    sim.shutdown().await;
    clean.shutdown().await;
}

/// A careful client: retries every failed request (without waiting: these tests check the simulator,
/// not backoff) until a whole JSON answer comes, and follows every page. Returns the items.
async fn careful_walk(addr: SocketAddr, target: &str) -> Vec<Value> {
    let separator = if target.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let url = match &token {
            Some(t) => format!("{target}{separator}page-token={t}"),
            None => target.to_owned(),
        };
        let page = loop {
            let raw = raw_get(addr, &url).await;
            if raw.head_end().is_none() || raw.status() != 200 {
                continue;
            }
            if let Some(page) = raw
                .complete_body()
                .and_then(|b| serde_json::from_slice::<Value>(b).ok())
            {
                break page;
            }
        };
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_page_token"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => return items,
        }
    }
}

#[tokio::test]
async fn faults_are_deterministic_and_retries_get_through() {
    let plan = |seed| {
        let mut plan = FaultPlan::seeded(seed);
        for name in [
            "429-json",
            "429-text+no-hint",
            "503",
            "504-html",
            "reset",
            "truncate-length",
            "truncate-chunked",
            "garbage-json",
            "cut-json",
            "stale-page-token",
        ] {
            plan.rules
                .push(FaultRule::new(FaultKind::parse(name).unwrap(), 0.07));
        }
        plan
    };
    let run = |seed| async move {
        let sim = Simulator::start(config(plan(seed))).await.unwrap();
        let data = sim.dataset(DEFAULT_TOKEN).unwrap();
        let mut pipelines = Vec::new();
        for project in &data.projects {
            let target = format!("/api/v2/project/{}/pipeline", project.slug);
            pipelines.extend(careful_walk(sim.addr(), &target).await);
        }
        let mut workflows = Vec::new();
        for pipeline in pipelines.iter().take(30) {
            let id = pipeline["id"].as_str().unwrap();
            workflows
                .extend(careful_walk(sim.addr(), &format!("/api/v2/pipeline/{id}/workflow")).await);
        }
        let log: Vec<(String, Option<String>, u16, Option<String>)> = sim
            .requests()
            .into_iter()
            .map(|r| (r.path, r.query, r.status, r.fault))
            .collect();
        let injected = sim.faults_injected();
        sim.shutdown().await;
        (pipelines, workflows, log, injected, data)
    };
    let (pipelines, workflows, log, injected, data) = run(7).await;
    // Nothing lost, nothing repeated.
    assert_eq!(pipelines, data.expected("pipelines"));
    let ids: BTreeSet<&str> = workflows
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), workflows.len());
    // Faults happened, each counted once, and many kinds of them.
    let faulted = log.iter().filter(|r| r.3.is_some()).count();
    assert!(faulted > 20, "{faulted} faults in {} requests", log.len());
    assert_eq!(injected.values().sum::<u64>(), faulted as u64);
    assert!(injected.len() >= 8, "{injected:?}");
    // The same seed and requests give the same faults; another seed others.
    let again = run(7).await;
    assert_eq!(again.2, log);
    assert_eq!((again.0, again.1), (pipelines, workflows));
    let other = run(8).await;
    assert_ne!(other.2, log);
    assert_eq!(other.0, data.expected("pipelines"));
}

#[tokio::test]
async fn head_insertion_repeats_items_for_naive_pagers() {
    let plan = FaultPlan {
        head_insert_count: 3,
        head_insert_max: 4,
        ..FaultPlan::seeded(11).with(FaultRule::new(FaultKind::HeadInsert, 1.0).on(&["pipelines"]))
    };
    let sim = Simulator::start(config(plan.clone())).await.unwrap();
    let before = sim.dataset(DEFAULT_TOKEN).unwrap();
    let slug = long_project(&sim);
    let project = before.project(&slug).unwrap();
    let listed: Vec<&str> = project
        .pipelines
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();

    let (items, requests) = walk(sim.addr(), &format!("/api/v2/project/{slug}/pipeline")).await;
    let ids: Vec<&str> = items.iter().map(|p| p["id"].as_str().unwrap()).collect();
    // Every page after the first inserted three pipelines, which pushed three items already seen
    // onto it: a naive pager sees them twice, a deduping one exactly the listing it started.
    let insertions = requests - 1;
    assert!(insertions >= 2);
    assert_eq!(ids.len(), listed.len() + 3 * insertions);
    let mut deduped = Vec::new();
    for id in &ids {
        if !deduped.contains(id) {
            deduped.push(*id);
        }
    }
    assert_eq!(deduped, listed);

    let after = sim.dataset(DEFAULT_TOKEN).unwrap();
    let inserted = after.inserted_pipeline_ids();
    assert_eq!(inserted.len(), 3 * insertions);
    let log: Vec<String> = sim.inserted_pipelines().into_iter().map(|p| p.id).collect();
    assert_eq!(
        log.iter().collect::<BTreeSet<_>>(),
        inserted.iter().collect::<BTreeSet<_>>()
    );
    assert!(
        sim.inserted_pipelines()
            .iter()
            .all(|p| p.project_slug == slug && p.epoch == 0)
    );
    assert_eq!(
        sim.faults_injected(),
        [("head-insert".into(), insertions as u64)].into()
    );
    // The head of the listing now is the inserted pipelines, newest first, then the old head.
    let now: Vec<String> = after
        .project(&slug)
        .unwrap()
        .pipelines
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(now[..inserted.len()], inserted[..]);
    assert_eq!(
        now[inserted.len()..],
        listed.iter().map(|s| s.to_string()).collect::<Vec<_>>()[..]
    );
    // They are settling, newer than the old head and clear of the quiet minutes.
    let old_head = parse_rfc3339(project.pipelines[0]["created_at"].as_str().unwrap()).unwrap();
    for p in &after.project(&slug).unwrap().pipelines[..inserted.len()] {
        assert!(matches!(
            p["state"].as_str(),
            Some("setup-pending" | "setup" | "pending")
        ));
        let created = parse_rfc3339(p["created_at"].as_str().unwrap()).unwrap();
        let updated = parse_rfc3339(p["updated_at"].as_str().unwrap()).unwrap();
        assert!(old_head < created && updated <= ANCHOR - QUIET, "{p}");
    }
    // The right answers: only the pipelines stream changed.
    for stream in STREAMS {
        assert_eq!(
            after.expected_without_inserted(stream),
            before.expected(stream),
            "{stream}"
        );
    }
    assert_eq!(
        after.expected("pipelines").len(),
        before.expected("pipelines").len() + inserted.len()
    );

    // Deterministic: the same plan and walk insert the same pipelines.
    let twin = Simulator::start(config(plan)).await.unwrap();
    let (twin_items, _) = walk(twin.addr(), &format!("/api/v2/project/{slug}/pipeline")).await;
    assert_eq!(twin_items, items);
    assert_eq!(
        twin.dataset(DEFAULT_TOKEN).unwrap().inserted_pipeline_ids(),
        inserted
    );

    // At the next epoch they settle with workflows and are history like any other pipeline.
    sim.advance();
    let next = sim.dataset(DEFAULT_TOKEN).unwrap();
    assert!(next.inserted_pipeline_ids().is_empty());
    for id in &inserted {
        let pipeline = exchange(
            sim.addr(),
            &[(
                "GET",
                &format!("/api/v2/pipeline/{id}"),
                &[("Circle-Token", DEFAULT_TOKEN)],
            )],
        )
        .await
        .remove(0)
        .json();
        assert_eq!(pipeline["state"], "created");
    }
    let workflows: BTreeSet<String> = next
        .expected("workflows")
        .iter()
        .map(|w| w["pipeline_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(inserted.iter().all(|id| workflows.contains(id)));
    sim.shutdown().await;
    twin.shutdown().await;
}

#[tokio::test]
async fn head_insertion_stops_at_its_maximum_and_spares_first_pages() {
    let plan = FaultPlan {
        head_insert_count: 2,
        head_insert_max: 1,
        ..FaultPlan::seeded(3).with(FaultRule::new(FaultKind::HeadInsert, 1.0))
    };
    let sim = Simulator::start(config(plan)).await.unwrap();
    let slug = long_project(&sim);
    let target = format!("/api/v2/project/{slug}/pipeline");
    // First pages never insert.
    for _ in 0..3 {
        walk(sim.addr(), &format!("{target}?branch=nothing-is-on-this")).await;
        raw_get(sim.addr(), &target).await;
    }
    assert!(sim.inserted_pipelines().is_empty());
    let (items, requests) = walk(sim.addr(), &target).await;
    assert!(requests >= 3);
    assert_eq!(sim.inserted_pipelines().len(), 2, "one insertion of two");
    let ids: BTreeSet<&str> = items.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len() + 2, items.len());
    // Tokens of the stable mode are not accepted in the offset mode.
    sim.set_faults(FaultPlan::none()).unwrap();
    let stable = raw_get(sim.addr(), &target).await;
    let page: Value = serde_json::from_slice(stable.complete_body().unwrap()).unwrap();
    let token = page["next_page_token"].as_str().unwrap();
    sim.set_faults(FaultPlan::seeded(3).with(FaultRule::new(FaultKind::HeadInsert, 0.5)))
        .unwrap();
    let rejected = raw_get(sim.addr(), &format!("{target}?page-token={token}")).await;
    assert_eq!(rejected.status(), 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn plans_over_http_and_sim_paths_never_fault() {
    let all = FaultPlan::seeded(2).with(FaultRule::new(FaultKind::Reset, 1.0));
    let sim = Simulator::start(config(all)).await.unwrap();
    let addr = sim.addr();
    let post = |path: &'static str, body: String| async move {
        let length = body.len().to_string();
        let request = format!(
            "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
             content-length: {length}\r\nconnection: close\r\n\r\n{body}"
        );
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let text = String::from_utf8(raw).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, serde_json::from_str::<Value>(body).unwrap())
    };
    // The simulator's own paths answer whatever the plan.
    assert_eq!(raw_get(addr, "/_sim/stats").await.status(), 200);
    assert_eq!(post("/_sim/advance", String::new()).await.1["epoch"], 1);
    assert_eq!(
        raw_get(addr, "/api/v2/me").await.error,
        Some(io::ErrorKind::ConnectionReset)
    );

    let plan = json!({
        "seed": 5,
        "rules": [{"kind": "503", "rate": 1.0, "endpoints": ["me"]}],
        "max_consecutive": 1
    });
    let (status, report) = post("/_sim/faults", plan.to_string()).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["plan"]["rules"][0]["kind"], "503");
    assert_eq!(report["plan"]["wait_secs"], 1);
    assert_eq!(report["injected"], json!({}));
    assert_eq!(sim.faults().seed, 5);
    assert_eq!(raw_get(addr, "/api/v2/me").await.status(), 503);
    assert_eq!(raw_get(addr, "/api/v2/me").await.status(), 200);
    assert_eq!(
        raw_get(addr, "/api/v2/me/collaborations").await.status(),
        200
    );
    let shown: Value =
        serde_json::from_slice(raw_get(addr, "/_sim/faults").await.complete_body().unwrap())
            .unwrap();
    assert_eq!(shown["injected"], json!({"503": 1}));
    let stats: Value =
        serde_json::from_slice(raw_get(addr, "/_sim/stats").await.complete_body().unwrap())
            .unwrap();
    assert_eq!(stats["faults"], json!({"503": 1}));
    assert_eq!(stats["statuses"]["503"], 1);
    assert_eq!(stats["statuses"]["0"], 1, "the reset before the new plan");

    for bad in [
        "not json".to_owned(),
        json!({"rules": [{"kind": "teapot", "rate": 1}]}).to_string(),
        json!({"rules": [{"kind": "reset", "rate": 0.7}, {"kind": "503", "rate": 0.7}]})
            .to_string(),
        json!({"max_consecutive": 0}).to_string(),
    ] {
        let (status, answer) = post("/_sim/faults", bad.clone()).await;
        assert_eq!(status, 400, "{bad}");
        assert!(answer["message"].as_str().unwrap().len() > 5);
    }
    assert_eq!(sim.faults().seed, 5, "a rejected plan changes nothing");
    assert!(
        sim.set_faults(FaultPlan {
            max_consecutive: 0,
            ..FaultPlan::none()
        })
        .is_err()
    );
    let mut invalid = config(FaultPlan::none());
    invalid.faults.head_insert_count = 0;
    assert!(Simulator::start(invalid).await.is_err());
    sim.shutdown().await;
}
