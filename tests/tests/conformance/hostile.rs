//! Hostile components (test-programs/hostile, built from source like the
//! connector) in the same host as a well-behaved tenant: each is stopped or
//! refused with the right typed error, soon, and the tenant beside it syncs
//! its data exactly as if it were alone.
//!
//! One engine (with the pooling allocator) runs them all, the way a
//! platform's process would. Times are printed (`--nocapture`): they are
//! figures for the notes, not assertions.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use conformance::sim::{Dataset, Simulator};
use host_harness::checkpoint::Checkpointer;
use host_harness::sync::{MemorySink, Quiet, SyncOptions};
use host_harness::{
    Connector, HarnessError, HostConfig, LimitKind, Limits, Loader, Pooling, TenantSpec,
};
use serde_json::json;

use crate::common::{TOKEN, all_slugs, credential, policy_for, simulator};

/// The token the hostile tenants hold (the simulator does not know it).
pub const HOSTILE_TOKEN: &str = "CCIPAT_hostile_feedfacecafe0123";

/// One engine for every component of this module.
fn loader() -> &'static Loader {
    static LOADER: OnceLock<Loader> = OnceLock::new();
    LOADER.get_or_init(|| {
        Loader::new(HostConfig {
            pooling: Some(Pooling::for_instances(64)),
            ..HostConfig::default()
        })
        .expect("engine")
    })
}

fn load(bytes: &[u8]) -> Result<Connector, HarnessError> {
    let started = Instant::now();
    let result = loader().load(bytes);
    if let Err(e) = &result {
        eprintln!("refused at load after {:.2?}: {e}", started.elapsed());
    }
    result
}

fn good_connector() -> &'static Connector {
    static GOOD: OnceLock<Connector> = OnceLock::new();
    GOOD.get_or_init(|| load(connector_artifacts::CIRCLECI_CONNECTOR).expect("connector loads"))
}

fn hostile_spec(sim: &Simulator, limits: Option<Limits>) -> TenantSpec {
    TenantSpec {
        id: "hostile".into(),
        credential: credential(sim, HOSTILE_TOKEN),
        policy: policy_for(sim),
        limits,
        concurrency: None,
    }
}

/// Syncs `pipelines` for the well-behaved tenant and checks it got exactly
/// its dataset's pipelines.
async fn good_tenant_syncs(sim: &Simulator) {
    let settings = json!({ "project_slugs": all_slugs(sim) }).to_string();
    let mut tenant = good_connector()
        .tenant(TenantSpec {
            id: "good".into(),
            credential: credential(sim, TOKEN),
            policy: policy_for(sim),
            limits: None,
            concurrency: None,
        })
        .await
        .expect("good tenant");
    tenant.validate().await.expect("the good tenant validates");
    let mut sink = MemorySink::default();
    tenant
        .sync(
            "pipelines",
            &settings,
            &mut Checkpointer::in_memory(),
            &mut sink,
            &SyncOptions::default(),
            &mut Quiet,
        )
        .await
        .expect("the good tenant's sync");
    let got: Vec<String> = sink
        .records()
        .iter()
        .map(|r| Dataset::primary_key("pipelines", r))
        .collect();
    let want: BTreeSet<String> = sim
        .dataset(TOKEN)
        .unwrap()
        .expected_keys("pipelines")
        .into_iter()
        .collect();
    assert_eq!(got.len(), want.len(), "no duplicate, nothing missing");
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), want);
}

/// Runs `hostile` while a well-behaved tenant syncs beside it; returns the
/// hostile outcome and the time it took.
async fn beside_a_good_tenant<T: Send + 'static>(
    sim: &Simulator,
    hostile: impl Future<Output = T> + Send + 'static,
) -> (T, Duration) {
    let started = Instant::now();
    let hostile = tokio::spawn(async move {
        let value = hostile.await;
        (value, started.elapsed())
    });
    good_tenant_syncs(sim).await;
    hostile.await.expect("the hostile task itself never panics")
}

/// Fetches one page of `stream` from a hostile component as a tenant.
async fn hostile_fetch(
    sim: &Simulator,
    bytes: &'static [u8],
    limits: Option<Limits>,
    settings: serde_json::Value,
) -> (Result<MemorySink, HarnessError>, Duration) {
    hostile_fetch_with(sim, bytes, hostile_spec(sim, limits), settings).await
}

/// [`hostile_fetch`], with the hostile tenant's whole spec given.
async fn hostile_fetch_with(
    sim: &Simulator,
    bytes: &'static [u8],
    spec: TenantSpec,
    settings: serde_json::Value,
) -> (Result<MemorySink, HarnessError>, Duration) {
    let connector = load(bytes).expect("the hostile component loads");
    let mut tenant = connector.tenant(spec).await.expect("hostile tenant");
    beside_a_good_tenant(sim, async move {
        let mut sink = MemorySink::default();
        tenant
            .sync(
                "items",
                &settings.to_string(),
                &mut Checkpointer::in_memory(),
                &mut sink,
                &SyncOptions::default(),
                &mut Quiet,
            )
            .await
            .map(|_| sink)
    })
    .await
}

fn expect_limit(name: &str, outcome: Result<MemorySink, HarnessError>, limit: LimitKind) {
    match outcome {
        Err(HarnessError::Limit {
            limit: hit, detail, ..
        }) if hit == limit => eprintln!("hostile {name}: {limit} exceeded: {detail}"),
        Err(other) => panic!("{name}: expected {limit} exceeded, got {other}"),
        Ok(_) => panic!("{name}: the call succeeded"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_that_loops_forever_is_stopped_at_its_cpu_budget() {
    let sim = simulator(3, 10).await;
    let limits = Limits {
        cpu_time_per_call: Duration::from_secs(1),
        ..Limits::default()
    };
    let (outcome, took) =
        hostile_fetch(&sim, hostile_artifacts::SPIN, Some(limits), json!({})).await;
    eprintln!("hostile spin: stopped after {took:.2?} (budget 1 s)");
    expect_limit("spin", outcome, LimitKind::CpuTime);
    assert!(took >= Duration::from_secs(1), "not before its budget");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_that_allocates_without_bound_is_stopped_at_its_memory_limit() {
    let sim = simulator(3, 10).await;
    let (outcome, took) = hostile_fetch(&sim, hostile_artifacts::HOG, None, json!({})).await;
    eprintln!("hostile hog: stopped after {took:.2?} (limit 128 MiB)");
    expect_limit("hog", outcome, LimitKind::Memory);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_that_requests_without_end_is_stopped_at_its_request_limit() {
    let sim = simulator(3, 10).await;
    sim.clear_requests();
    let (outcome, took) = hostile_fetch(&sim, hostile_artifacts::FLOOD, None, json!({})).await;
    eprintln!("hostile flood: stopped after {took:.2?} (limit 64 requests per call)");
    expect_limit("flood", outcome, LimitKind::RequestsPerCall);
    let hostile_requests = sim
        .requests()
        .iter()
        .filter(|r| r.header("circle-token") == Some(HOSTILE_TOKEN))
        .count();
    assert_eq!(
        hostile_requests, 64,
        "exactly the limit reached the upstream"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_that_returns_a_huge_page_is_refused_whole() {
    let sim = simulator(3, 10).await;
    // The default: a million records, over the 10,000 per page.
    let (outcome, took) = hostile_fetch(&sim, hostile_artifacts::HUGE_PAGE, None, json!({})).await;
    eprintln!("hostile huge-page (1,000,000 records): refused after {took:.2?}");
    expect_limit("huge-page", outcome, LimitKind::RecordsPerPage);

    // Few records, many bytes: 64 records of 128 KiB against a 4 MiB page.
    let limits = Limits {
        bytes_per_page: 4 << 20,
        ..Limits::default()
    };
    let (outcome, took) = hostile_fetch(
        &sim,
        hostile_artifacts::HUGE_PAGE,
        Some(limits),
        json!({"records": 64, "record_bytes": 128 * 1024}),
    )
    .await;
    eprintln!("hostile huge-page (8 MiB of records): refused after {took:.2?}");
    expect_limit("huge-page", outcome, LimitKind::BytesPerPage);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_that_sends_the_credential_elsewhere_reaches_nothing() {
    let sim = simulator(3, 10).await;
    // A listener standing for every host the guest must not reach: it
    // counts connections, and must see none.
    let trap = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = trap.local_addr().unwrap().port();
    let connections = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let seen = connections.clone();
    tokio::spawn(async move {
        while let Ok((_socket, _)) = trap.accept().await {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let targets = [
        format!("http://127.0.0.1:{port}/steal"),
        format!("http://localhost:{port}/steal"),
        format!("http://[::ffff:127.0.0.1]:{port}/steal"),
        format!("http://2130706433:{port}/steal"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "https://evil.example/steal".to_string(),
        // The key as a host name: refused, and never shown.
        format!(
            "https://{}.evil.example/",
            HOSTILE_TOKEN.to_ascii_lowercase()
        ),
        // The allowed host, but another port.
        format!("http://{}:{}/steal", sim.addr().ip(), port),
    ];
    let (outcome, took) = hostile_fetch(
        &sim,
        hostile_artifacts::STRAY,
        None,
        json!({ "targets": targets }),
    )
    .await;
    eprintln!("hostile stray: refused after {took:.2?}");
    match outcome {
        Err(HarnessError::Connector(host_harness::bindings::ConnectorError::Denied(m))) => {
            assert!(m.contains("allow-list") || m.contains("refused"), "{m}");
            assert!(!m.contains(HOSTILE_TOKEN), "{m}");
        }
        Err(other) => panic!("stray: expected denied, got {other}"),
        Ok(sink) => panic!("stray reached a target: {:?}", sink.records()),
    }
    assert_eq!(
        connections.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing connected to the forbidden listener"
    );

    // validate with the built-in targets: the same.
    let connector = load(hostile_artifacts::STRAY).unwrap();
    let mut tenant = connector.tenant(hostile_spec(&sim, None)).await.unwrap();
    let err = tenant.validate().await.unwrap_err();
    assert_eq!(err.kind(), "denied", "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_that_leaks_the_credential_has_it_redacted_everywhere() {
    let sim = simulator(3, 10).await;
    let connector = load(hostile_artifacts::LEAKY).unwrap();
    let mut tenant = connector.tenant(hostile_spec(&sim, None)).await.unwrap();

    let err = tenant.validate().await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("[REDACTED]") && !text.contains(HOSTILE_TOKEN),
        "{text}"
    );

    // The first page carries the key in a record, the state and a notice;
    // the second call fails with it in the message.
    let mut sink = MemorySink::default();
    let mut checkpoints = Checkpointer::in_memory();
    let err = tenant
        .sync(
            "items",
            "{}",
            &mut checkpoints,
            &mut sink,
            &SyncOptions::default(),
            &mut Quiet,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "bad-response");
    let mut seen = vec![err.to_string()];
    seen.extend(sink.records().iter().map(|r| r.to_string()));
    let saved = checkpoints
        .get("items")
        .cloned()
        .expect("the page was checkpointed");
    seen.push(saved.state.clone().unwrap_or_default());
    assert!(seen.iter().all(|s| !s.contains(HOSTILE_TOKEN)), "{seen:#?}");
    assert_eq!(sink.records()[0]["token"], "[REDACTED]");

    // The page's notices say the host redacted something.
    let instance = tenant.instance().await.unwrap();
    let page = instance
        .fetch(
            &credential(&sim, HOSTILE_TOKEN),
            &host_harness::bindings::FetchRequest {
                streams: vec!["items".into()],
                settings: "{}".into(),
                state: None,
                cursors: Vec::new(),
                concurrency: 1,
                skip_failing: None,
            },
        )
        .await
        .unwrap();
    let notices = page.notices.join("\n");
    assert!(!notices.contains(HOSTILE_TOKEN), "{notices}");
    assert!(notices.contains("replaced a secret"), "{notices}");
    // So does what it says it skipped.
    assert!(
        !page.skipped.is_empty() && page.skipped.iter().all(|s| !s.contains(HOSTILE_TOKEN)),
        "{:?}",
        page.skipped
    );

    // A panic carrying the key: a trap whose message does not.
    let err = instance
        .fetch(
            &credential(&sim, HOSTILE_TOKEN),
            &host_harness::bindings::FetchRequest {
                streams: vec!["items".into()],
                settings: json!({"panic": true}).to_string(),
                state: None,
                cursors: Vec::new(),
                concurrency: 1,
                skip_failing: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "trap", "{err}");
    assert!(!err.to_string().contains(HOSTILE_TOKEN));
    // The tenant goes on with a fresh instance.
    let err = tenant.validate().await.unwrap_err();
    assert_eq!(err.kind(), "invalid-credential");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_that_floods_the_host_with_handles_is_stopped_at_its_limits() {
    let sim = simulator(3, 10).await;
    // Clones of a 100-value map, each mutated (a full copy in the host) and
    // kept: the resource table fills.
    let (outcome, took) = hostile_fetch(
        &sim,
        hostile_artifacts::ATTACK,
        None,
        json!({"mode": "fields-clone"}),
    )
    .await;
    eprintln!("hostile fields-clone: stopped after {took:.2?} (1,024 handles)");
    expect_limit("fields-clone", outcome, LimitKind::HostResources);
    // Header maps of 120 KB each, kept: the first is over the size limit.
    let (outcome, took) = hostile_fetch(
        &sim,
        hostile_artifacts::ATTACK,
        None,
        json!({"mode": "fields-big"}),
    )
    .await;
    eprintln!("hostile fields-big: stopped after {took:.2?} (16 KiB per header map)");
    expect_limit("fields-big", outcome, LimitKind::HeaderBytes);
    // Smaller maps that fit: many of them, kept, until the table is full.
    let (outcome, took) = hostile_fetch(
        &sim,
        hostile_artifacts::ATTACK,
        None,
        json!({"mode": "fields-big", "value_bytes": 12_000}),
    )
    .await;
    eprintln!("hostile fields-big 12 KB: stopped after {took:.2?}");
    expect_limit("fields-big 12 KB", outcome, LimitKind::HostResources);
}

/// Limits with a short wall-clock deadline per call.
fn deadline(secs: u64) -> Option<Limits> {
    Some(Limits {
        call_time: Duration::from_secs(secs),
        ..Limits::default()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_blocked_on_a_request_it_never_sends_is_stopped_at_its_deadline() {
    let sim = simulator(3, 10).await;
    let (outcome, took) = hostile_fetch(
        &sim,
        hostile_artifacts::ATTACK,
        deadline(2),
        json!({"mode": "unsent-body"}),
    )
    .await;
    eprintln!("hostile unsent-body: stopped after {took:.2?} (deadline 2 s)");
    expect_limit("unsent-body", outcome, LimitKind::CallTime);
    assert!(took >= Duration::from_secs(2), "not before its deadline");
}

/// A server on 127.0.0.1 that answers every request with a 200 whose body
/// comes one byte every `every`, without end.
async fn trickling_server(every: Duration) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let head = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n";
                if socket.write_all(head).await.is_err() {
                    return;
                }
                // Bounded: an hour of trickling at most, then the task ends.
                for _ in 0..(3600 * 1000 / every.as_millis().max(1)) {
                    tokio::time::sleep(every).await;
                    if socket.write_all(b"1\r\nx\r\n").await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upstream_that_trickles_holds_a_call_no_longer_than_its_deadline() {
    let sim = simulator(3, 10).await;
    let slow = trickling_server(Duration::from_millis(200)).await;
    let mut spec = hostile_spec(&sim, deadline(2));
    spec.policy = Arc::new(host_harness::OutboundPolicy {
        allow: host_harness::AllowList::parse(&[
            format!("http://{}", sim.addr()),
            format!("http://{slow}"),
        ])
        .unwrap(),
        // Every byte comes well within these: only the deadline can stop it.
        timeouts: host_harness::Timeouts {
            connect: Duration::from_secs(1),
            first_byte: Duration::from_secs(1),
            between_bytes: Duration::from_secs(1),
        },
        ..host_harness::OutboundPolicy::default()
    });
    let (outcome, took) = hostile_fetch_with(
        &sim,
        hostile_artifacts::ATTACK,
        spec,
        json!({"mode": "slow-read", "target": format!("http://{slow}/slow")}),
    )
    .await;
    eprintln!("hostile slow-read: stopped after {took:.2?} (deadline 2 s)");
    expect_limit("slow-read", outcome, LimitKind::CallTime);
}

/// A server on 127.0.0.1 that reads every request to its end (or until the
/// client stops sending), counting body bytes, then answers 200.
async fn sink_server() -> (std::net::SocketAddr, Arc<std::sync::atomic::AtomicU64>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = received.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut head_done = false;
                let mut head = Vec::new();
                loop {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) if head_done => {
                            counter.fetch_add(n as u64, std::sync::atomic::Ordering::SeqCst);
                        }
                        Ok(n) => {
                            head.extend_from_slice(&buf[..n]);
                            if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                                head_done = true;
                                let body = (head.len() - end - 4) as u64;
                                counter.fetch_add(body, std::sync::atomic::Ordering::SeqCst);
                            }
                        }
                    }
                }
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .await;
            });
        }
    });
    (addr, received)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_that_sends_a_huge_body_is_stopped_at_the_request_body_limits() {
    let sim = simulator(3, 10).await;
    for (limits, limit) in [
        (Limits::default(), LimitKind::RequestBody),
        (
            Limits {
                request_body_bytes: 64 << 20,
                request_bytes_per_call: 2 << 20,
                ..Limits::default()
            },
            LimitKind::RequestBytesPerCall,
        ),
    ] {
        let (sink, received) = sink_server().await;
        let mut spec = hostile_spec(&sim, Some(limits.clone()));
        spec.policy = Arc::new(host_harness::OutboundPolicy {
            allow: host_harness::AllowList::parse(&[
                format!("http://{}", sim.addr()),
                format!("http://{sink}"),
            ])
            .unwrap(),
            ..host_harness::OutboundPolicy::default()
        });
        let (outcome, took) = hostile_fetch_with(
            &sim,
            hostile_artifacts::ATTACK,
            spec,
            json!({"mode": "big-body", "target": format!("http://{sink}/upload")}),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let got = received.load(std::sync::atomic::Ordering::SeqCst);
        eprintln!(
            "hostile big-body (512 MiB): stopped after {took:.2?}; the server got {got} bytes"
        );
        expect_limit("big-body", outcome, limit);
        let bound = limits.request_body_bytes.min(limits.request_bytes_per_call);
        assert!(
            got <= bound + (256 << 10),
            "{got} bytes went out (limit {bound})"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_that_returns_a_state_too_large_to_keep_is_refused() {
    let sim = simulator(3, 10).await;
    let (outcome, took) = hostile_fetch(
        &sim,
        hostile_artifacts::ATTACK,
        None,
        json!({"mode": "big-state"}),
    )
    .await;
    eprintln!("hostile big-state (5 MiB): refused after {took:.2?}");
    expect_limit("big-state", outcome, LimitKind::StateBytes);
}

/// The stream index of a record and the count of cursors are the guest's
/// word: a record of a stream the request did not name, or cursors that do
/// not match its streams, are refused whole (a trap: a guest bug), nothing
/// of the page written; the good tenant beside it is untouched.
#[tokio::test(flavor = "multi_thread")]
async fn records_of_streams_not_asked_for_and_wrong_cursors_are_refused() {
    let sim = simulator(3, 10).await;
    for (mode, why) in [
        (
            "stream-index",
            "stream index 1 for a request of 1 stream(s)",
        ),
        ("cursor-count", "2 cursor(s) for 1 stream(s)"),
    ] {
        let (outcome, _) = hostile_fetch(
            &sim,
            hostile_artifacts::ATTACK,
            None,
            json!({ "mode": mode }),
        )
        .await;
        match outcome {
            Err(e) => {
                assert_eq!(e.kind(), "trap", "{mode}: {e}");
                assert!(e.to_string().contains(why), "{mode}: {e}");
            }
            Ok(sink) => panic!("{mode}: the page was kept: {:?}", sink.pages),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn json_escaped_secrets_and_an_unmarked_key_are_redacted_everywhere() {
    let sim = simulator(3, 10).await;
    let lowered = HOSTILE_TOKEN.to_ascii_lowercase();
    let holds_key = |text: &str| text.to_ascii_lowercase().contains(&lowered);
    // Escaped: records (one of them re-serialised by the host), notices,
    // and the account's details and name.
    let (outcome, _) = hostile_fetch(
        &sim,
        hostile_artifacts::ATTACK,
        None,
        json!({"mode": "escaped-key"}),
    )
    .await;
    let sink = outcome.expect("the page is kept, redacted");
    assert_eq!(sink.records().len(), 2);
    for record in sink.records() {
        assert_eq!(record["token"], "[REDACTED]", "{record}");
    }
    for line in sink.pages.iter().flatten() {
        assert!(!holds_key(line) && !line.contains("\\u0043"), "{line}");
    }
    let connector = load(hostile_artifacts::ATTACK).unwrap();
    let mut tenant = connector.tenant(hostile_spec(&sim, None)).await.unwrap();
    let account = tenant.validate().await.unwrap();
    let details: serde_json::Value = serde_json::from_str(&account.details).unwrap();
    assert_eq!(details["token"], "[REDACTED]");
    assert!(
        !holds_key(&details.to_string()) && !holds_key(&account.name),
        "{account:?}"
    );
    assert_eq!(account.name, "attack [REDACTED]");

    // A schema that calls the key plain text does not turn redaction off.
    let (outcome, _) = hostile_fetch(&sim, hostile_artifacts::UNMARKED, None, json!({})).await;
    let err = outcome.unwrap_err();
    assert_eq!(err.kind(), "bad-response");
    assert!(!holds_key(&err.to_string()), "{err}");
    let connector = load(hostile_artifacts::UNMARKED).unwrap();
    let mut tenant = connector.tenant(hostile_spec(&sim, None)).await.unwrap();
    let err = tenant.validate().await.unwrap_err();
    assert!(
        !holds_key(&err.to_string()) && err.to_string().contains("[REDACTED]"),
        "{err}"
    );
    let instance = tenant.instance().await.unwrap();
    let page = instance
        .fetch(
            &credential(&sim, HOSTILE_TOKEN),
            &host_harness::bindings::FetchRequest {
                streams: vec!["items".into()],
                settings: "{}".into(),
                state: None,
                cursors: Vec::new(),
                concurrency: 1,
                skip_failing: None,
            },
        )
        .await
        .unwrap();
    for text in page
        .records
        .iter()
        .map(|r| &r.data)
        .chain(&page.notices)
        .chain(&page.skipped)
        .chain(page.state.iter())
    {
        assert!(!holds_key(text), "{text}");
    }
}

#[test]
fn a_catalog_naming_streams_like_paths_is_refused_at_first_use() {
    let connector = load(hostile_artifacts::BAD_NAMES).expect("it loads: the catalog is data");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let err = runtime
        .block_on(async {
            let mut instance = connector
                .instantiate(Arc::new(host_harness::OutboundPolicy::default()))
                .await
                .unwrap();
            instance.streams().await
        })
        .unwrap_err();
    assert_eq!(err.kind(), "load");
    assert!(err.to_string().contains("\"../escaped\""), "{err}");
}

#[test]
fn components_importing_more_than_wasi_http_are_refused_at_load() {
    let err = load(hostile_artifacts::SNOOP).err().expect("refused");
    let text = err.to_string();
    assert_eq!(err.kind(), "load");
    assert!(text.contains("wasi:filesystem/"), "{text}");
    assert!(text.contains("wasi:cli/environment"), "{text}");
    assert!(text.contains("does not provide"), "{text}");
}

#[test]
fn components_of_another_contract_version_or_world_are_refused_at_load() {
    let err = load(hostile_artifacts::OTHER_VERSION)
        .err()
        .expect("refused");
    let text = err.to_string();
    assert!(
        text.contains("ingest:connector/source@0.1.0") && text.contains("does not run"),
        "{text}"
    );
    let err = load(hostile_artifacts::OTHER_WORLD).err().expect("refused");
    let text = err.to_string();
    assert!(
        text.contains("does not export ingest:connector/source@0.3.0")
            && text.contains("hostile:unrelated/greeter"),
        "{text}"
    );
    // And the well-behaved control component of the same build loads.
    load(hostile_artifacts::BENIGN).expect("benign loads");
}

#[test]
fn components_over_the_size_limit_are_refused_before_parsing() {
    // The real connector, padded with a custom section past the limit.
    let mut padded = connector_artifacts::CIRCLECI_CONNECTOR.to_vec();
    let limit = 1 << 20;
    let payload = vec![0u8; limit];
    let name = b"padding";
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.extend_from_slice(&payload);
    padded.push(0); // custom section id
    let mut size = section.len();
    loop {
        let byte = (size & 0x7f) as u8;
        size >>= 7;
        padded.push(if size == 0 { byte } else { byte | 0x80 });
        if size == 0 {
            break;
        }
    }
    padded.extend_from_slice(&section);
    let loader = Loader::new(HostConfig {
        max_component_bytes: limit,
        ..HostConfig::default()
    })
    .unwrap();
    let err = loader.load(&padded).err().expect("refused");
    assert_eq!(err.kind(), "load");
    assert!(
        err.to_string().contains("over the 1048576-byte limit"),
        "{err}"
    );
    // The same bytes under a larger limit are a valid component: it was the
    // size that was refused.
    let loader = Loader::new(HostConfig {
        max_component_bytes: 4 << 20,
        ..HostConfig::default()
    })
    .unwrap();
    loader
        .load(&padded)
        .expect("a padded component is still valid");
}
