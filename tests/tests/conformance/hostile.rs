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
    let connector = load(bytes).expect("the hostile component loads");
    let mut tenant = connector
        .tenant(hostile_spec(sim, limits))
        .await
        .expect("hostile tenant");
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
                stream: "items".into(),
                settings: "{}".into(),
                state: None,
            },
        )
        .await
        .unwrap();
    let notices = page.notices.join("\n");
    assert!(!notices.contains(HOSTILE_TOKEN), "{notices}");
    assert!(notices.contains("replaced a secret"), "{notices}");

    // A panic carrying the key: a trap whose message does not.
    let err = instance
        .fetch(
            &credential(&sim, HOSTILE_TOKEN),
            &host_harness::bindings::FetchRequest {
                stream: "items".into(),
                settings: json!({"panic": true}).to_string(),
                state: None,
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
        text.contains("ingest:connector/source@0.2.0") && text.contains("does not run"),
        "{text}"
    );
    let err = load(hostile_artifacts::OTHER_WORLD).err().expect("refused");
    let text = err.to_string();
    assert!(
        text.contains("does not export ingest:connector/source@0.1.0")
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
