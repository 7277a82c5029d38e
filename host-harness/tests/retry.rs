//! Retries and dedupe through real components: the CircleCI connector
//! against the simulator and against a scripted upstream (a few canned
//! answers on loopback), and a hostile test program that repeats records.
//!
//! The policy's arithmetic (delays, caps, jitter, bounds) is unit-tested
//! on paused time in `src/retry.rs`; here the point is the wiring: which
//! answers the host asks again, how many requests reach the upstream, what
//! the observer and the report are told, and what the CLI does.
//! TODO(lead): fault injection in the simulator (429/503 with Retry-After,
//! truncated bodies, items shifting between pages) for the same checks on
//! paged streams, and resuming a sync whose retries ran out.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use conformance::sim::{SimConfig, Simulator};
use host_harness::checkpoint::Checkpointer;
use host_harness::credential::Credential;
use host_harness::retry::{Jitter, RetryPolicy, Wait};
use host_harness::sync::{self, MemorySink, Observer, SyncOptions, SyncReport};
use host_harness::{AllowList, Connector, HarnessError, HostConfig, Loader, OutboundPolicy};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const TOKEN: &str = "CCIPAT_retry_test_token_0f1e2d3c4b5a";

fn loader() -> &'static Loader {
    static LOADER: OnceLock<Loader> = OnceLock::new();
    LOADER.get_or_init(|| Loader::new(HostConfig::default()).expect("engine"))
}

fn circleci() -> &'static Connector {
    static CONNECTOR: OnceLock<Connector> = OnceLock::new();
    CONNECTOR.get_or_init(|| {
        loader()
            .load(connector_artifacts::CIRCLECI_CONNECTOR)
            .expect("the built connector loads")
    })
}

fn policy(addr: SocketAddr) -> Arc<OutboundPolicy> {
    Arc::new(OutboundPolicy {
        allow: AllowList::parse(&[format!("http://{addr}")]).unwrap(),
        ..OutboundPolicy::default()
    })
}

fn credential(token: &str, addr: SocketAddr) -> Credential {
    Credential::from_pairs([
        ("api_key", token.to_string()),
        ("base_url", format!("http://{addr}")),
    ])
}

/// Fast, exact delays: base 20 ms, no jitter.
fn quick(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(20),
        jitter: Jitter::None,
        ..RetryPolicy::default()
    }
}

/// Remembers every wait it is told about.
#[derive(Default)]
struct Waits(Vec<(String, u32, u32, &'static str, Duration, bool)>);

impl Observer for Waits {
    fn waiting(&mut self, streams: &[String], wait: &Wait) {
        self.0.push((
            streams.join(","),
            wait.attempt,
            wait.max_attempts,
            wait.error.kind(),
            wait.delay,
            wait.hinted,
        ));
    }
}

/// Syncs `stream` of the CircleCI connector with `retry`.
async fn sync_circleci(
    addr: SocketAddr,
    token: &str,
    stream: &str,
    retry: RetryPolicy,
) -> (Result<SyncReport, HarnessError>, MemorySink, Waits) {
    let mut instance = circleci().instantiate(policy(addr)).await.unwrap();
    let mut sink = MemorySink::default();
    let mut waits = Waits::default();
    let result = sync::run(
        &mut instance,
        &credential(token, addr),
        stream,
        "{}",
        &mut Checkpointer::in_memory(),
        &mut sink,
        &SyncOptions {
            retry,
            ..SyncOptions::default()
        },
        &mut waits,
    )
    .await;
    (result, sink, waits)
}

/// An upstream that answers requests with a script of canned responses,
/// in order, the last one forever; it counts the requests.
struct Scripted {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

/// Status, extra headers, body.
type Reply = (u16, &'static [(&'static str, &'static str)], &'static str);

const ME: Reply = (
    200,
    &[],
    r#"{"id":"5b1f0c3e-0000-4000-8000-00000000beef","login":"octo","name":"Octo"}"#,
);
const DOWN: Reply = (503, &[], "<html>down for maintenance</html>");

impl Scripted {
    async fn start(script: Vec<Reply>) -> Scripted {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let script = Arc::new(script);
        let counter = hits.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (script, hits) = (script.clone(), counter.clone());
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut read = BufReader::new(read);
                    // Requests are GETs without a body: a head, then the next.
                    loop {
                        let mut line = String::new();
                        let mut head = 0;
                        loop {
                            line.clear();
                            match read.read_line(&mut line).await {
                                Ok(0) | Err(_) => return,
                                Ok(_) if line == "\r\n" || line == "\n" => break,
                                Ok(_) => head += 1,
                            }
                        }
                        if head == 0 {
                            continue;
                        }
                        let n = hits.fetch_add(1, Ordering::SeqCst);
                        let (status, headers, body) = script[n.min(script.len() - 1)];
                        let mut reply = format!(
                            "HTTP/1.1 {status} Scripted\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
                            body.len()
                        );
                        for (name, value) in headers {
                            reply.push_str(&format!("{name}: {value}\r\n"));
                        }
                        reply.push_str("\r\n");
                        reply.push_str(body);
                        if write.write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Scripted { addr, hits, task }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unauthorized_is_not_retried() {
    let sim = Simulator::start(SimConfig::single(TOKEN, 1, 1))
        .await
        .unwrap();
    let (result, sink, waits) = sync_circleci(
        sim.addr(),
        "CCIPAT_unknown_to_the_simulator_000",
        "me",
        RetryPolicy::default(),
    )
    .await;
    let err = result.unwrap_err();
    assert_eq!(err.kind(), "unauthorized", "{err}");
    assert!(!err.to_string().contains("gave up"), "{err}");
    assert_eq!(sim.requests().len(), 1, "one request, no retry");
    assert!(waits.0.is_empty());
    assert!(sink.pages.is_empty());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_page_is_asked_again_honouring_the_hint() {
    let upstream = Scripted::start(vec![
        (
            429,
            &[("retry-after", "1")],
            r#"{"message":"Rate limit exceeded"}"#,
        ),
        DOWN,
        ME,
    ])
    .await;
    let started = Instant::now();
    let (result, sink, waits) = sync_circleci(upstream.addr, TOKEN, "me", quick(8)).await;
    let report = result.expect("the third attempt succeeds");
    assert!(started.elapsed() >= Duration::from_millis(1020));
    assert_eq!(upstream.hits(), 3);
    assert_eq!(
        waits.0,
        [
            (
                "me".to_string(),
                2,
                8,
                "rate-limited",
                Duration::from_secs(1),
                true
            ),
            (
                "me".to_string(),
                3,
                8,
                "unavailable",
                Duration::from_millis(40),
                false
            ),
        ],
        "the hint as given; then backoff (20 ms doubled: the second failure)"
    );
    assert_eq!(report.retries, 2);
    assert_eq!(report.retry_wait, Duration::from_millis(1040));
    assert_eq!(report.requests, 3, "failed attempts' requests count too");
    assert_eq!((report.pages, report.records), (1, 1));
    assert_eq!(
        sink.records()[0]["id"],
        "5b1f0c3e-0000-4000-8000-00000000beef"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn when_retries_run_out_the_last_error_is_returned() {
    let upstream = Scripted::start(vec![DOWN]).await;
    let (result, sink, waits) = sync_circleci(upstream.addr, TOKEN, "me", quick(3)).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind(), "unavailable");
    assert_eq!(err.kind(), "unavailable");
    assert!(
        err.to_string()
            .starts_with("unavailable: gave up after 3 attempts and 0.1 s of waiting: "),
        "{err}"
    );
    assert_eq!(upstream.hits(), 3);
    assert_eq!(waits.0.len(), 2);
    assert!(sink.pages.is_empty());

    // No retry at all: one request.
    let upstream = Scripted::start(vec![DOWN]).await;
    let (result, _, waits) = sync_circleci(upstream.addr, TOKEN, "me", RetryPolicy::none()).await;
    assert_eq!(result.unwrap_err().kind(), "unavailable");
    assert_eq!((upstream.hits(), waits.0.len()), (1, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_response_is_retried_a_few_times_only() {
    let upstream = Scripted::start(vec![(200, &[], r#"{"id": "cut"#)]).await;
    let (result, _, waits) = sync_circleci(upstream.addr, TOKEN, "me", quick(8)).await;
    assert_eq!(result.unwrap_err().kind(), "bad-response");
    assert_eq!(upstream.hits(), 3);
    assert!(waits.0.iter().all(|w| w.2 == 3 && w.3 == "bad-response"));

    // A cut body that comes whole on the next attempt.
    let upstream = Scripted::start(vec![(200, &[], r#"{"id": "cut"#), ME]).await;
    let (result, sink, _) = sync_circleci(upstream.addr, TOKEN, "me", quick(8)).await;
    assert_eq!(result.unwrap().retries, 1);
    assert_eq!(sink.records().len(), 1);
}

/// The hostile `huge-page` program repeats records `{"i":0..n}` on every
/// page (its catalog's primary key is `i`): only the first page's are written.
#[tokio::test(flavor = "multi_thread")]
async fn records_repeated_by_primary_key_are_written_once_per_run() {
    let connector = loader().load(hostile_artifacts::HUGE_PAGE).unwrap();
    let settings = json!({"records": 3, "record_bytes": 20, "has_more": true}).to_string();
    let run = |dedupe_capacity| {
        let connector = connector.clone();
        let settings = settings.clone();
        async move {
            let mut instance = connector
                .instantiate(Arc::new(OutboundPolicy::default()))
                .await
                .unwrap();
            let mut sink = MemorySink::default();
            let result = sync::run(
                &mut instance,
                &Credential::from_pairs([("api_key", "k".to_string())]),
                "items",
                &settings,
                &mut Checkpointer::in_memory(),
                &mut sink,
                &SyncOptions {
                    max_pages: 3,
                    dedupe_capacity,
                    ..SyncOptions::default()
                },
                &mut sync::Quiet,
            )
            .await;
            // The program never finishes: the page limit ends the sync.
            assert!(result.unwrap_err().to_string().contains("page limit"));
            sink.pages.iter().map(Vec::len).collect::<Vec<_>>()
        }
    };
    assert_eq!(run(1 << 20).await, [3, 0, 0]);
    assert_eq!(run(0).await, [3, 3, 3], "capacity 0 turns dedupe off");
}

// ---- the CLI ----

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

async fn harness(dir: &Path, addr: SocketAddr, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_connector-harness"))
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(["--allow-host", &format!("http://{addr}")])
        .args(args)
        .output()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_flags_bound_the_retries() {
    let upstream = Scripted::start(vec![DOWN]).await;
    let dir = conformance::scratch::scratch_dir("harness-retry-cli");
    let cred = dir.join("credential.json");
    std::fs::write(
        &cred,
        json!({"api_key": TOKEN, "base_url": format!("http://{}", upstream.addr)}).to_string(),
    )
    .unwrap();
    let fetch = ["fetch", "--credential", p(&cred), "--stream", "me"];
    let stderr = |out: &std::process::Output| String::from_utf8_lossy(&out.stderr).into_owned();

    let out = harness(
        &dir,
        upstream.addr,
        &[&fetch[..], &["--max-retries", "1"]].concat(),
    )
    .await;
    assert_eq!(out.status.code(), Some(15), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("error: unavailable: gave up after 2 attempts"),
        "{}",
        stderr(&out)
    );
    assert_eq!(upstream.hits(), 2);

    let out = harness(&dir, upstream.addr, &[&fetch[..], &["--no-retry"]].concat()).await;
    assert_eq!(out.status.code(), Some(15), "{}", stderr(&out));
    assert_eq!(upstream.hits(), 3, "one more request");

    // No time to wait at all: a hint of a second is too long.
    let limited = Scripted::start(vec![(429, &[("retry-after", "1")], "{}")]).await;
    let cred_limited = dir.join("credential-limited.json");
    std::fs::write(
        &cred_limited,
        json!({"api_key": TOKEN, "base_url": format!("http://{}", limited.addr)}).to_string(),
    )
    .unwrap();
    let out = harness(
        &dir,
        limited.addr,
        &[
            "fetch",
            "--credential",
            p(&cred_limited),
            "--stream",
            "me",
            "--max-retry-wait",
            "0",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(14), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("waiting 1.0 s more would pass the 0.0 s allowed"),
        "{}",
        stderr(&out)
    );
    assert_eq!(limited.hits(), 1);

    for bad in [
        &["--max-retry-wait", "-1"][..],
        &["--max-retry-wait", "NaN"][..],
        &["--no-retry", "--max-retries", "2"][..],
    ] {
        let out = harness(&dir, upstream.addr, &[&fetch[..], bad].concat()).await;
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
    }
    assert_eq!(upstream.hits(), 3, "refused flags send nothing");

    let help = harness(&dir, upstream.addr, &["fetch", "--help"]).await;
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--max-retries") && help.contains("[default: 7]"),
        "{help}"
    );
    assert!(help.contains("[default: 300]"), "{help}");
    let _ = std::fs::remove_dir_all(&dir);
}
