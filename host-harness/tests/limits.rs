//! Per-instance limits, through the real CircleCI component and the
//! simulator: each limit ends the call that exceeds it with a typed error
//! naming it, writes nothing of that call, and leaves the host, the
//! connector and other instances working.
//!
//! The CPU limit is exercised here only through its plumbing (a zero budget
//! stops the first call deterministically): the CircleCI component never
//! loops long enough to hit a real budget. A guest that spins forever is
//! stopped in `src/limits.rs`'s unit test `a_spinning_guest_is_stopped_by_its_cpu_budget`,
//! and the hostile `spin` component beside a well-behaved tenant in the
//! conformance suite (`hostile.rs`).

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use conformance::sim::{SimConfig, Simulator};
use host_harness::checkpoint::Checkpointer;
use host_harness::credential::Credential;
use host_harness::sync::{self, MemorySink, Quiet, SyncOptions, SyncReport};
use host_harness::{
    AllowList, Connector, ConnectorInstance, HarnessError, HostConfig, LimitKind, Limits, Loader,
    OutboundPolicy, Timeouts,
};
use serde_json::{Value, json};

const TOKEN: &str = "CCIPAT_limits_test_token_9a8b7c6d5e4f";

/// The connector under the default limits, compiled once per test binary.
fn connector() -> &'static Connector {
    static CONNECTOR: OnceLock<Connector> = OnceLock::new();
    CONNECTOR.get_or_init(|| {
        Loader::new(HostConfig::default())
            .expect("engine")
            .load(connector_artifacts::CIRCLECI_CONNECTOR)
            .expect("the built connector loads")
    })
}

async fn simulator(projects: usize, pipelines: usize) -> Simulator {
    Simulator::start(SimConfig::single(TOKEN, projects, pipelines))
        .await
        .expect("simulator starts")
}

fn policy(sim: &Simulator) -> Arc<OutboundPolicy> {
    Arc::new(OutboundPolicy {
        allow: AllowList::parse(&[format!("http://{}", sim.addr())]).unwrap(),
        ..OutboundPolicy::default()
    })
}

fn credential(sim: &Simulator) -> Credential {
    Credential::from_pairs([("api_key", TOKEN.to_string()), ("base_url", sim.base_url())])
}

fn settings(sim: &Simulator) -> String {
    let slugs: Vec<String> = sim
        .dataset(TOKEN)
        .unwrap()
        .projects
        .iter()
        .map(|p| p.slug.clone())
        .collect();
    json!({ "project_slugs": slugs }).to_string()
}

async fn instance(sim: &Simulator, limits: Limits) -> ConnectorInstance {
    connector()
        .instantiate_with_limits(policy(sim), limits)
        .await
        .expect("instantiate")
}

/// The sorted ids of every record in `sink`.
fn ids(sink: &MemorySink) -> Vec<String> {
    {
        let mut ids: Vec<String> = sink
            .pages
            .iter()
            .flatten()
            .map(|r| {
                serde_json::from_str::<Value>(r).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        ids.sort();
        ids
    }
}

struct Outcome {
    result: Result<SyncReport, HarnessError>,
    sink: MemorySink,
    checkpoints: Checkpointer,
}

async fn sync_stream(instance: &mut ConnectorInstance, sim: &Simulator, stream: &str) -> Outcome {
    let mut sink = MemorySink::default();
    let mut checkpoints = Checkpointer::in_memory();
    let result = sync::run(
        instance,
        &credential(sim),
        stream,
        &settings(sim),
        &mut checkpoints,
        &mut sink,
        &SyncOptions::default(),
        &mut Quiet,
    )
    .await;
    Outcome {
        result,
        sink,
        checkpoints,
    }
}

/// The error is the typed limit error naming `kind`, with its exit code.
fn assert_limit<T: std::fmt::Debug>(
    result: Result<T, HarnessError>,
    kind: LimitKind,
) -> HarnessError {
    let err = result.expect_err("the limit ends the call");
    assert_eq!(err.limit(), Some(kind), "{err}");
    assert_eq!(err.kind(), "limit-exceeded");
    assert_eq!(err.kind(), "limit-exceeded");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("limit-exceeded: {} limit of ", kind.name())),
        "{text}"
    );
    assert!(!text.contains('\n'));
    err
}

/// A limit error wrote nothing and checkpointed nothing.
fn assert_nothing_written(outcome: &Outcome, stream: &str) {
    assert!(
        outcome.sink.pages.is_empty(),
        "no page of the failed call was written"
    );
    assert!(
        outcome.checkpoints.get(stream).is_none(),
        "no state was saved"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn defaults_let_a_normal_sync_through_unchanged() {
    assert_eq!(connector().limits(), &Limits::default());
    assert!(connector().enforces_cpu_time());
    let sim = simulator(6, 45).await;
    let expected = {
        let mut ids = sim.dataset(TOKEN).unwrap().all_pipeline_ids();
        ids.sort();
        ids
    };

    let mut inst = connector().instantiate(policy(&sim)).await.unwrap();
    let initial_memory = inst.memory_in_use();
    let limited = sync_stream(&mut inst, &sim, "pipelines").await;
    let report = limited.result.as_ref().expect("the sync succeeds");
    assert_eq!(ids(&limited.sink), expected);
    eprintln!(
        "default limits: {} pages, {} requests, linear memory {} KiB at start, {} KiB after; last call ran {:?}",
        report.pages,
        report.requests,
        initial_memory / 1024,
        inst.memory_in_use() / 1024,
        inst.cpu_time_of_last_call()
    );
    assert!(inst.memory_in_use() as u64 <= Limits::default().memory_bytes);

    // Without CPU enforcement and with every other limit far away, the
    // output is the same, page for page.
    let unlimited = Limits {
        memory_bytes: 4 << 30,
        table_elements: u64::MAX,
        instances: 10_000,
        cpu_time_per_call: Duration::from_secs(3600),
        requests_per_call: u32::MAX,
        response_body_bytes: u64::MAX,
        records_per_page: u64::MAX,
        bytes_per_page: u64::MAX,
        concurrent_connections: 1000,
        host_resources: 1 << 20,
        header_bytes: 1 << 20,
        request_body_bytes: u64::MAX,
        request_bytes_per_call: u64::MAX,
        state_bytes: u64::MAX,
        call_time: Duration::from_secs(3600),
    };
    let plain = Loader::new(HostConfig {
        limits: unlimited,
        enforce_cpu_time: false,
        ..HostConfig::default()
    })
    .unwrap()
    .load(connector_artifacts::CIRCLECI_CONNECTOR)
    .unwrap();
    assert!(!plain.enforces_cpu_time());
    let mut inst = plain.instantiate(policy(&sim)).await.unwrap();
    let free = sync_stream(&mut inst, &sim, "pipelines").await;
    free.result.as_ref().expect("the sync succeeds");
    assert_eq!(free.sink.pages, limited.sink.pages);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_too_small_to_instantiate_is_a_limit_error() {
    let sim = simulator(1, 1).await;
    let result = connector()
        .instantiate_with_limits(
            policy(&sim),
            Limits {
                memory_bytes: 64 * 1024,
                ..Limits::default()
            },
        )
        .await;
    let err = assert_limit(result.map(|_| ()), LimitKind::Memory);
    let text = err.to_string();
    assert!(
        text.contains("64 KiB")
            && text.contains("to instantiate")
            // The library names no CLI flag; the CLI adds its own hint.
            && !text.contains("--max-memory-mb"),
        "{text}"
    );
    // The connector goes on.
    let mut inst = instance(&sim, Limits::default()).await;
    assert!(!inst.streams().await.unwrap().is_empty());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_too_small_to_run_traps_the_call_and_retires_the_instance() {
    let sim = simulator(6, 45).await;
    // Exactly the memory the instance starts with: the first allocation
    // that needs more traps.
    let initial = instance(&sim, Limits::default()).await.memory_in_use() as u64;
    let mut inst = instance(
        &sim,
        Limits {
            memory_bytes: initial,
            ..Limits::default()
        },
    )
    .await;
    let outcome = sync_stream(&mut inst, &sim, "pipelines").await;
    let err = assert_limit(outcome.result, LimitKind::Memory);
    assert!(err.to_string().contains("while running"), "{err}");
    assert!(outcome.sink.pages.is_empty());

    // The trapped instance refuses further calls, clearly.
    assert!(inst.unusable().is_some());
    let again = inst.streams().await.unwrap_err();
    assert_eq!(again.kind(), "trap");
    assert!(
        again.to_string().contains("cannot be used again"),
        "{again}"
    );

    // A fresh instance of the same connector works.
    let mut fresh = instance(&sim, Limits::default()).await;
    let ok = sync_stream(&mut fresh, &sim, "pipelines").await;
    assert_eq!(
        ok.result.unwrap().records as usize,
        sim.dataset(TOKEN).unwrap().all_pipeline_ids().len()
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_per_call_limit_ends_the_call_not_the_instance() {
    // 6 projects of 45 pipelines: 18 pages, and a call reads up to 32.
    let sim = simulator(6, 45).await;
    let mut inst = instance(
        &sim,
        Limits {
            requests_per_call: 1,
            ..Limits::default()
        },
    )
    .await;
    let outcome = sync_stream(&mut inst, &sim, "pipelines").await;
    let err = assert_limit(
        outcome.result.as_ref().map(|_| ()).map_err(clone_err),
        LimitKind::RequestsPerCall,
    );
    let text = err.to_string();
    assert!(
        text.contains("limit of 1 exceeded") && text.contains("request 2"),
        "{text}"
    );
    assert_nothing_written(&outcome, "pipelines");
    // The refused requests (the rest of the batch sent together) never
    // left the process.
    assert_eq!(inst.outbound_log().sent, 1);
    assert!(inst.outbound_log().denied >= 1);
    assert!(
        inst.outbound_log().last_denial.is_none(),
        "a limit is not a policy denial"
    );

    // No trap: the instance still answers, and a call within the limit works.
    assert!(inst.unusable().is_none());
    let account = inst
        .validate(&credential(&sim))
        .await
        .expect("validate makes one request");
    assert_eq!(
        account.id,
        sim.dataset(TOKEN).unwrap().user["id"].as_str().unwrap()
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn response_body_limit_ends_the_call() {
    let sim = simulator(6, 45).await;
    let mut inst = instance(
        &sim,
        Limits {
            response_body_bytes: 1024,
            ..Limits::default()
        },
    )
    .await;
    let outcome = sync_stream(&mut inst, &sim, "pipelines").await;
    let err = assert_limit(
        outcome.result.as_ref().map(|_| ()).map_err(clone_err),
        LimitKind::ResponseBody,
    );
    assert!(
        err.to_string().contains("1 KiB") && !err.to_string().contains("--max-response-mb"),
        "{err}"
    );
    assert_nothing_written(&outcome, "pipelines");
    assert!(inst.unusable().is_none());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn records_and_bytes_per_page_are_checked_before_anything_is_written() {
    let sim = simulator(6, 45).await;
    let mut inst = instance(
        &sim,
        Limits {
            records_per_page: 5,
            ..Limits::default()
        },
    )
    .await;
    let outcome = sync_stream(&mut inst, &sim, "pipelines").await;
    let err = assert_limit(
        outcome.result.as_ref().map(|_| ()).map_err(clone_err),
        LimitKind::RecordsPerPage,
    );
    assert!(err.to_string().contains("limit of 5 exceeded"), "{err}");
    assert_nothing_written(&outcome, "pipelines");

    let mut inst = instance(
        &sim,
        Limits {
            bytes_per_page: 4096,
            ..Limits::default()
        },
    )
    .await;
    let outcome = sync_stream(&mut inst, &sim, "pipelines").await;
    let err = assert_limit(
        outcome.result.as_ref().map(|_| ()).map_err(clone_err),
        LimitKind::BytesPerPage,
    );
    assert!(err.to_string().contains("4 KiB"), "{err}");
    assert_nothing_written(&outcome, "pipelines");

    // The instance is fine: a stream with small pages goes through.
    let me = sync_stream(&mut inst, &sim, "me").await;
    assert_eq!(me.result.unwrap().records, 1);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_are_released_after_each_body_and_waiting_is_bounded() {
    let sim = simulator(6, 45).await;
    let short = Arc::new(OutboundPolicy {
        allow: AllowList::parse(&[format!("http://{}", sim.addr())]).unwrap(),
        timeouts: Timeouts {
            connect: Duration::from_millis(200),
            ..Timeouts::default()
        },
        ..OutboundPolicy::default()
    });
    // One connection at a time is enough for a connector that reads one
    // response after another: each request gives its permit back.
    let mut inst = connector()
        .instantiate_with_limits(
            short.clone(),
            Limits {
                concurrent_connections: 1,
                ..Limits::default()
            },
        )
        .await
        .unwrap();
    let outcome = sync_stream(&mut inst, &sim, "pipelines").await;
    let report = outcome.result.expect("one connection suffices");
    assert!(report.requests > 1, "{report:?}");
    assert_eq!(
        report.records as usize,
        sim.dataset(TOKEN).unwrap().all_pipeline_ids().len()
    );

    // None at all: the request waits for the connect timeout, then the call
    // ends with the limit.
    let mut inst = connector()
        .instantiate_with_limits(
            short,
            Limits {
                concurrent_connections: 0,
                ..Limits::default()
            },
        )
        .await
        .unwrap();
    let err = inst.validate(&credential(&sim)).await;
    let err = assert_limit(err, LimitKind::Connections);
    assert!(err.to_string().contains("waited 200 ms"), "{err}");
    assert_eq!(
        sim.requests()
            .iter()
            .filter(|r| r.path.ends_with("/me"))
            .count(),
        0,
        "nothing reached the upstream"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_limit_ends_one_tenants_call_while_another_tenant_goes_on() {
    let sim = simulator(6, 45).await;
    let (mut greedy, mut fine) = tokio::join!(
        instance(
            &sim,
            Limits {
                requests_per_call: 1,
                memory_bytes: 64 << 20,
                ..Limits::default()
            }
        ),
        instance(&sim, Limits::default()),
    );
    let (a, b) = tokio::join!(
        sync_stream(&mut greedy, &sim, "pipelines"),
        sync_stream(&mut fine, &sim, "pipelines")
    );
    assert_limit(a.result, LimitKind::RequestsPerCall);
    let expected = sim.dataset(TOKEN).unwrap().all_pipeline_ids().len();
    assert_eq!(b.result.unwrap().records as usize, expected);
    assert_eq!(ids(&b.sink).len(), expected);

    // The same tenant, given a fresh instance with room, syncs.
    let mut again = instance(&sim, Limits::default()).await;
    assert_eq!(
        sync_stream(&mut again, &sim, "pipelines")
            .await
            .result
            .unwrap()
            .records as usize,
        expected
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_zero_cpu_budget_stops_the_first_guest_code_with_the_limit() {
    // With no CPU time at all, the deadline is already due when the guest
    // starts, so its first epoch check (a function entry) ends the call:
    // deterministic, whatever the machine's speed.
    let sim = simulator(1, 1).await;
    let zero = Limits {
        cpu_time_per_call: Duration::ZERO,
        ..Limits::default()
    };
    let err = match connector()
        .instantiate_with_limits(policy(&sim), zero)
        .await
    {
        // Instantiation ran no guest code; the first call does.
        Ok(mut inst) => {
            let err = assert_limit(inst.streams().await, LimitKind::CpuTime);
            assert!(inst.unusable().is_some(), "a CPU trap retires the instance");
            assert!(
                inst.streams()
                    .await
                    .unwrap_err()
                    .to_string()
                    .contains("cannot be used again")
            );
            err
        }
        Err(err) => assert_limit(Err::<(), _>(err), LimitKind::CpuTime),
    };
    assert!(
        err.to_string().contains("cpu-time limit of 0ns exceeded")
            && !err.to_string().contains("--max-cpu-secs"),
        "{err}"
    );
    // The engine, its ticker and the connector go on.
    let mut inst = instance(&sim, Limits::default()).await;
    assert!(!inst.streams().await.unwrap().is_empty());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_reports_a_limit_with_its_exit_code() {
    let sim = simulator(6, 45).await;
    let dir = conformance::scratch::scratch_dir("harness-limits-cli");
    let cred = dir.join("cred.json");
    std::fs::write(
        &cred,
        json!({"api_key": TOKEN, "base_url": sim.base_url()}).to_string(),
    )
    .unwrap();
    let settings_file = dir.join("settings.json");
    std::fs::write(&settings_file, settings(&sim)).unwrap();
    let run = |extra: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_connector-harness"));
        cmd.arg("--cache-dir")
            .arg(dir.join("cache"))
            .args(["--allow-host", &format!("http://{}", sim.addr())]);
        cmd.args(extra)
            .args([
                "fetch",
                "--credential",
                p(&cred),
                "--settings",
                p(&settings_file),
                "--stream",
                "pipelines",
            ])
            .output()
            .unwrap()
    };
    let out = tokio::task::block_in_place(|| run(&["--max-requests-per-call", "1"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(26), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: limit-exceeded: requests-per-call limit of 1 exceeded: ")
            && stderr.contains("(raise it with --max-requests-per-call)"),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "nothing of the failed call is written"
    );
    assert!(!stderr.contains(TOKEN));

    let out = tokio::task::block_in_place(|| run(&["--max-cpu-secs", "0"]));
    assert_eq!(out.status.code(), Some(2));
    let out = tokio::task::block_in_place(|| run(&["--max-records-per-page", "3"]));
    assert_eq!(
        out.status.code(),
        Some(26),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = tokio::task::block_in_place(|| run(&[]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.stdout.iter().filter(|b| **b == b'\n').count(),
        sim.dataset(TOKEN).unwrap().all_pipeline_ids().len()
    );
    let _ = std::fs::remove_dir_all(&dir);
    sim.shutdown().await;
}

/// What epoch interruption (checks compiled into the guest, the ticker, the
/// deadline callback) costs on a real sync: the same `pipelines` sync with it
/// on and off, interleaved (alternating which goes first), best and median
/// of several rounds, as wall time of the whole sync and as the time the
/// calls spent running (guest code plus the host code it calls, excluding
/// I/O waits: [`ConnectorInstance::cpu_time_of_last_call`], metered in both
/// configurations). Prints; asserts nothing about time. Run with
/// `cargo test --release -p host-harness --test limits -- --ignored --nocapture epoch_overhead`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement, not a test"]
async fn epoch_overhead() {
    let sim = simulator(20, 300).await;
    let expected = sim.dataset(TOKEN).unwrap().all_pipeline_ids().len();
    let cred = credential(&sim);
    let settings = settings(&sim);
    let on = connector();
    let off = Loader::new(HostConfig {
        enforce_cpu_time: false,
        ..HostConfig::default()
    })
    .unwrap()
    .load(connector_artifacts::CIRCLECI_CONNECTOR)
    .unwrap();
    let rounds = 11;
    // [enforced] -> (wall, running) per round
    let mut samples: [Vec<(Duration, Duration)>; 2] = [vec![], vec![]];
    for round in 0..=rounds {
        let order: [(usize, &Connector); 2] = if round % 2 == 0 {
            [(1, on), (0, &off)]
        } else {
            [(0, &off), (1, on)]
        };
        for (enforced, connector) in order {
            let mut inst = connector.instantiate(policy(&sim)).await.unwrap();
            let (mut state, mut records, mut running) = (None, 0, Duration::ZERO);
            let started = Instant::now();
            loop {
                let request = host_harness::bindings::FetchRequest {
                    streams: vec!["pipelines".into()],
                    settings: settings.clone(),
                    state: state.clone(),
                    cursors: Vec::new(),
                    concurrency: 1,
                    skip_failing: None,
                };
                let page = inst.fetch(&cred, &request).await.unwrap();
                running += inst.cpu_time_of_last_call();
                records += page.records.len();
                state = page.state;
                if !page.has_more {
                    break;
                }
            }
            let wall = started.elapsed();
            assert_eq!(records, expected);
            if round > 0 {
                samples[enforced].push((wall, running)); // round 0 warms up
            }
        }
    }
    let stats = |v: Vec<Duration>| {
        let mut v = v;
        v.sort();
        (v[0], v[v.len() / 2])
    };
    let pct = |on: Duration, off: Duration| (on.as_secs_f64() / off.as_secs_f64() - 1.0) * 100.0;
    for (what, pick) in [("wall time of the sync", 0usize), ("time the calls ran", 1)] {
        let get = |i: usize| {
            stats(
                samples[i]
                    .iter()
                    .map(|s| if pick == 0 { s.0 } else { s.1 })
                    .collect(),
            )
        };
        let ((on_best, on_median), (off_best, off_median)) = (get(1), get(0));
        eprintln!(
            "{what} ({expected} pipelines, {rounds} rounds): epoch on best {on_best:.1?} median {on_median:.1?}; off best {off_best:.1?} median {off_median:.1?}; overhead best {:+.1}% median {:+.1}%",
            pct(on_best, off_best),
            pct(on_median, off_median)
        );
    }
    sim.shutdown().await;
}

fn clone_err(e: &HarnessError) -> HarnessError {
    match e.limit() {
        Some(limit) => match e {
            HarnessError::Limit { value, detail, .. } => HarnessError::Limit {
                limit,
                value: value.clone(),
                detail: detail.clone(),
            },
            _ => unreachable!(),
        },
        None => HarnessError::Trap(e.to_string()),
    }
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}
