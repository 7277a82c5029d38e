//! The rate limit per token over real sockets ([`super::ratelimit`]): bursts beyond the bucket get the
//! 429 with every header, the bucket refills in real time (short real waits), the count is right,
//! `/_sim/*` is never limited, and without a limit nothing changes.
//!
//! Timing on a shared machine is loose, so the assertions only rely on what no delay can change: the
//! first `burst` requests after a pause always pass, a fast enough burst always meets an empty bucket,
//! and the counts agree with the answers.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::tests::{HttpResponse, exchange, get, get_with};
use super::{DEFAULT_TOKEN, RateLimit, SimConfig, Simulator, TenantConfig};

const OTHER: &str = "CCIPAT_sim_rate_limit_other";

const QUOTA_HEADERS: [&str; 6] = [
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
];

fn config(limit: Option<RateLimit>) -> SimConfig {
    SimConfig {
        tenants: vec![
            TenantConfig::new(DEFAULT_TOKEN, 2, 5),
            TenantConfig::new(OTHER, 1, 3),
        ],
        rate_limit: limit,
        ..SimConfig::default()
    }
}

/// `n` requests for `/api/v2/me` with `token`, sent at once on one connection.
async fn burst(sim: &Simulator, token: &str, n: usize) -> Vec<HttpResponse> {
    let headers = [("Circle-Token", token)];
    let requests: Vec<_> = (0..n)
        .map(|_| ("GET", "/api/v2/me", &headers[..]))
        .collect();
    exchange(sim.addr(), &requests).await
}

fn header<'a>(response: &'a HttpResponse, name: &str) -> &'a str {
    response
        .header(name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", response.headers))
}

/// A POST with a JSON body: `(status, JSON answer)`.
async fn post(sim: &Simulator, path: &str, body: &str) -> (u16, Value) {
    let addr = sim.addr();
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap())
}

#[tokio::test]
async fn off_by_default_nothing_changes() {
    assert_eq!(SimConfig::default().rate_limit, None);
    let sim = Simulator::start(config(None)).await.unwrap();
    let answers = burst(&sim, DEFAULT_TOKEN, 60).await;
    assert!(answers.iter().all(|r| r.status == 200));
    for name in QUOTA_HEADERS.iter().chain(&["retry-after"]) {
        assert!(answers.iter().all(|r| r.header(name).is_none()), "{name}");
    }
    assert_eq!(sim.rate_limited(), 0);
    assert_eq!(sim.rate_limit(), None);
    let stats = get(sim.addr(), "/_sim/stats").await.json();
    let fields: Vec<&str> = stats
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        fields,
        [
            "body_bytes",
            "connections",
            "epoch",
            "faults",
            "latency_ms",
            "requests",
            "statuses",
            "with_circle_token"
        ],
        "the report is as it was"
    );
    assert_eq!(
        get(sim.addr(), "/_sim/rate-limit").await.json(),
        json!({"rate_limit": null, "rate_limited": 0})
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_burst_beyond_the_bucket_gets_429s_then_passes_again() {
    let sim = Simulator::start(config(Some(RateLimit::new(5.0, 5))))
        .await
        .unwrap();
    let addr = sim.addr();
    let started = Instant::now();
    let answers = burst(&sim, DEFAULT_TOKEN, 25).await;
    let elapsed = started.elapsed().as_secs_f64();
    // The bucket starts full: the first five always pass, counting down.
    for (i, answer) in answers[..5].iter().enumerate() {
        assert_eq!(answer.status, 200);
        assert!(answer.json()["login"].is_string());
        assert_eq!(header(answer, "ratelimit-limit"), "5");
        assert_eq!(header(answer, "x-ratelimit-limit"), "5");
        if i == 0 {
            assert_eq!(header(answer, "ratelimit-remaining"), "4");
            assert_eq!(header(answer, "ratelimit-reset"), "1");
        }
        assert_eq!(
            header(answer, "ratelimit-remaining"),
            header(answer, "x-ratelimit-remaining")
        );
        assert!(answer.header("retry-after").is_none());
    }
    let limited: Vec<&HttpResponse> = answers.iter().filter(|r| r.status == 429).collect();
    assert!(
        limited.len() as f64 >= 20.0 - 5.0 * elapsed - 1.0,
        "{} 429s in {elapsed} s",
        limited.len()
    );
    assert!(!limited.is_empty());
    for answer in &limited {
        assert_eq!(answer.text(), r#"{"message":"Rate limit exceeded."}"#);
        assert_eq!(header(answer, "content-type"), "application/json");
        // A token comes back within 0.2 s: announced as one whole second.
        for (name, value) in [
            ("retry-after", "1"),
            ("ratelimit-limit", "5"),
            ("ratelimit-remaining", "0"),
            ("ratelimit-reset", "1"),
            ("x-ratelimit-limit", "5"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1"),
            ("date", "Fri, 01 May 2026 12:00:00 GMT"),
        ] {
            assert_eq!(header(answer, name), value, "{name}");
        }
    }
    assert!(answers.iter().all(|r| r.status == 200 || r.status == 429));
    // Counted, and recorded like any other answer.
    let n = limited.len() as u64;
    assert_eq!(sim.rate_limited(), n);
    let log = sim.requests();
    assert_eq!(log.len(), 25);
    assert_eq!(log.iter().filter(|r| r.status == 429).count() as u64, n);
    assert!(
        log.iter()
            .all(|r| r.fault.is_none() && r.path == "/api/v2/me")
    );
    // The simulator's own paths are never limited, and report the count.
    let stats = get(addr, "/_sim/stats").await;
    assert_eq!(stats.status, 200);
    let stats = stats.json();
    assert_eq!(stats["rate_limited"], n);
    assert_eq!(stats["statuses"]["429"], n);
    assert_eq!(stats["rate_limit"], json!({"per_second": 5.0, "burst": 5}));
    assert_eq!(
        get(addr, "/_sim/rate-limit").await.json(),
        json!({"rate_limit": {"per_second": 5.0, "burst": 5}, "rate_limited": n})
    );
    // Another token has its own bucket; an unknown or missing token is not limited (401).
    let other = burst(&sim, OTHER, 5).await;
    assert!(other.iter().all(|r| r.status == 200));
    for _ in 0..8 {
        assert_eq!(
            get_with(addr, "/api/v2/me", &[("Circle-Token", "nope")])
                .await
                .status,
            401
        );
        assert_eq!(get_with(addr, "/api/v2/me", &[]).await.status, 401);
    }

    // 50 a second, bursts of 10: after a real short wait the bucket is full again.
    sim.set_rate_limit(Some(RateLimit::new(50.0, 10))).unwrap();
    let before = sim.rate_limited();
    let answers = burst(&sim, DEFAULT_TOKEN, 40).await;
    assert!(
        answers[..10].iter().all(|r| r.status == 200),
        "a new limit starts full"
    );
    let more = answers.iter().filter(|r| r.status == 429).count() as u64;
    assert_eq!(sim.rate_limited(), before + more);
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let again = burst(&sim, DEFAULT_TOKEN, 10).await;
        assert!(
            again.iter().all(|r| r.status == 200),
            "refilled after 300 ms"
        );
        assert_eq!(sim.rate_limited(), before + more);
    }
    // Hammering it again meets an empty bucket; waiting what Retry-After says is enough.
    let started = Instant::now();
    let hammered = burst(&sim, DEFAULT_TOKEN, 200).await;
    let elapsed = started.elapsed().as_secs_f64();
    let refused: Vec<&HttpResponse> = hammered.iter().filter(|r| r.status == 429).collect();
    assert!(refused.len() as f64 >= 190.0 - 50.0 * elapsed - 1.0);
    if let Some(last) = refused.last() {
        let wait: u64 = header(last, "retry-after").parse().unwrap();
        assert_eq!(wait, 1);
        tokio::time::sleep(Duration::from_secs(wait)).await;
        assert_eq!(get(addr, "/api/v2/me").await.status, 200);
    }

    // Off again: answers as without a limit.
    sim.set_rate_limit(None).unwrap();
    let count = sim.rate_limited();
    let free = burst(&sim, DEFAULT_TOKEN, 30).await;
    assert!(
        free.iter()
            .all(|r| r.status == 200 && r.header("ratelimit-limit").is_none())
    );
    assert_eq!(sim.rate_limited(), count);
    assert!(sim.set_rate_limit(Some(RateLimit::new(0.0, 1))).is_err());
    assert!(sim.set_rate_limit(Some(RateLimit::new(1.0, 0))).is_err());
    assert_eq!(sim.rate_limit(), None);
    sim.shutdown().await;
}

#[tokio::test]
async fn set_over_http() {
    let sim = Simulator::start(config(None)).await.unwrap();
    let (status, body) = post(&sim, "/_sim/rate-limit", r#"{"per_second": 2, "burst": 3}"#).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"rate_limit": {"per_second": 2.0, "burst": 3}, "rate_limited": 0})
    );
    assert_eq!(sim.rate_limit(), Some(RateLimit::new(2.0, 3)));
    let answers = burst(&sim, DEFAULT_TOKEN, 12).await;
    let limited = answers.iter().filter(|r| r.status == 429).count() as u64;
    assert!(limited > 0 && answers[..3].iter().all(|r| r.status == 200));
    // The burst defaults to the rate.
    let (status, body) = post(&sim, "/_sim/rate-limit", r#"{"per_second": 7.5}"#).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"rate_limit": {"per_second": 7.5, "burst": 8}, "rate_limited": limited})
    );
    for bad in [
        r#"{"per_second": 0}"#,
        r#"{"per_second": -1, "burst": 2}"#,
        r#"{"per_second": 5, "burst": 0}"#,
        r#"{"rate": 5}"#,
        "nonsense",
    ] {
        let (status, body) = post(&sim, "/_sim/rate-limit", bad).await;
        assert_eq!(status, 400, "{bad}");
        assert!(body["message"].is_string());
    }
    assert_eq!(sim.rate_limit(), Some(RateLimit::new(7.5, 8)));
    let (status, body) = post(&sim, "/_sim/rate-limit", "null").await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"rate_limit": null, "rate_limited": limited}));
    assert_eq!(sim.rate_limit(), None);
    // Once set, the stats report it even when it is off again.
    let stats = get(sim.addr(), "/_sim/stats").await.json();
    assert_eq!(stats["rate_limit"], Value::Null);
    assert_eq!(stats["rate_limited"], limited);
    let put = exchange(
        sim.addr(),
        &[("PUT", "/_sim/rate-limit", &[("content-length", "0")])],
    )
    .await;
    assert_eq!(put[0].status, 405);
    sim.shutdown().await;
}

#[tokio::test]
async fn an_invalid_limit_is_refused_at_the_start() {
    for bad in [
        RateLimit::new(f64::NAN, 3),
        RateLimit::new(0.0, 3),
        RateLimit::new(3.0, 0),
    ] {
        assert!(
            Simulator::start(config(Some(bad))).await.is_err(),
            "{bad:?}"
        );
    }
}
