//! Keep-alive in the host's own sender, through the real CircleCI connector
//! and the real host wherever the connector can show it: a sync goes over
//! one connection, an idle connection times out, servers that close
//! connections (politely or not) still get every request answered, two
//! tenants never share a connection, and the policy still refuses what it
//! refused. Where the connector cannot show it (it sends one request at a
//! time, to one host), [`PolicyHooks`] is driven directly: the connection
//! limit with concurrent requests and the closing of an idle connection to
//! free a permit for another host.
//!
//! The upstreams are the simulator behind a [`Proxy`] that sees every TCP
//! connection the host opens, and small scripted servers on loopback.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::checkpoint::Checkpointer;
use crate::credential::Credential;
use crate::net::IoFuture;
use crate::outbound::PolicyHooks;
use crate::sync::{self, MemorySink, Quiet, SyncOptions, SyncReport};
use crate::{
    AllowList, Connector, ConnectorInstance, HarnessError, HostConfig, KeepAlive, Limits, Loader,
    OutboundPolicy,
};
use conformance::sim::{SimConfig, Simulator, TenantConfig};
use http_body_util::BodyExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wasmtime_wasi_http::{Error as HttpError, WasiBody, WasiHttpHooks};

const TOKEN: &str = "CCIPAT_keep_alive_token_0a1b2c3d4e5f";
const OTHER_TOKEN: &str = "CCIPAT_keep_alive_other_9f8e7d6c5b4a";

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

fn policy(addr: SocketAddr, keep_alive: KeepAlive) -> Arc<OutboundPolicy> {
    Arc::new(OutboundPolicy {
        allow: AllowList::parse(&[format!("http://{addr}")]).unwrap(),
        keep_alive,
        ..OutboundPolicy::default()
    })
}

fn credential(token: &str, addr: SocketAddr) -> Credential {
    Credential::from_pairs([
        ("api_key", token.to_string()),
        ("base_url", format!("http://{addr}")),
    ])
}

/// What went over one TCP connection the host opened.
#[derive(Debug, Default)]
struct Seen {
    requests: usize,
    tokens: BTreeSet<String>,
}

impl Seen {
    /// Notes one line the host sent (a request line or a header).
    fn line(&mut self, line: &str) {
        if line.starts_with("GET ") {
            self.requests += 1;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("circle-token")
        {
            self.tokens.insert(value.trim().to_string());
        }
    }
}

/// A TCP proxy in front of `upstream` that keeps what went over each
/// connection the host opened (requests, `Circle-Token` values).
struct Proxy {
    addr: SocketAddr,
    connections: Arc<Mutex<Vec<Arc<Mutex<Seen>>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(Mutex::new(Vec::new()));
        let all = connections.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let seen = Arc::new(Mutex::new(Seen::default()));
                all.lock().unwrap().push(seen.clone());
                tokio::spawn(relay(client, upstream, seen));
            }
        });
        Proxy {
            addr,
            connections,
            task,
        }
    }

    /// What went over each connection so far, in the order they opened.
    fn connections(&self) -> Vec<(usize, BTreeSet<String>)> {
        let all = self.connections.lock().unwrap();
        all.iter()
            .map(|seen| {
                let seen = seen.lock().unwrap();
                (seen.requests, seen.tokens.clone())
            })
            .collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies one connection both ways, reading the host's side line by line.
async fn relay(client: TcpStream, upstream: SocketAddr, seen: Arc<Mutex<Seen>>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut from_server, mut to_server) = server.into_split();
    let (mut from_client, mut to_client) = client.into_split();
    let down = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
        let _ = to_client.shutdown().await;
    });
    let mut buf = [0u8; 8192];
    let mut pending = Vec::new();
    loop {
        let n = match from_client.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        while let Some(at) = pending.windows(2).position(|w| w == b"\r\n") {
            let line: Vec<u8> = pending.drain(..at + 2).collect();
            seen.lock()
                .unwrap()
                .line(String::from_utf8_lossy(&line).trim_end());
        }
        if to_server.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to_server.shutdown().await;
    let _ = down.await;
}

/// How a scripted upstream treats a connection after each response.
#[derive(Clone, Copy, PartialEq, Eq)]
enum After {
    /// Keeps it open for the next request.
    KeepOpen,
    /// Says `Connection: close` in the response, and closes it.
    SayClose,
    /// Closes it without a word, as a server whose keep-alive timeout is
    /// shorter than the host's does: the host finds out later.
    HangUp,
}

/// An upstream that answers every `GET` with the account (`/me`), counting
/// connections and requests.
struct Scripted {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

const ME: &str = r#"{"id":"5b1f0c3e-0000-4000-8000-00000000beef","login":"octo","name":"Octo"}"#;

impl Scripted {
    async fn start(after: After, delay: Duration) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let counters = (connections.clone(), requests.clone());
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                counters.0.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(socket, after, delay, counters.1.clone()));
            }
        });
        Scripted {
            addr,
            connections,
            requests,
            task,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Answers the requests of one connection, each after `delay`.
async fn serve(mut socket: TcpStream, after: After, delay: Duration, requests: Arc<AtomicUsize>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // Requests are GETs without a body: a head, then the next.
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let end = head.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0) + 4;
        head.drain(..end);
        requests.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(delay).await;
        let close = if after == After::SayClose {
            "connection: close\r\n"
        } else {
            ""
        };
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{close}content-length: {}\r\n\r\n{ME}",
            ME.len()
        );
        if socket.write_all(reply.as_bytes()).await.is_err() || after != After::KeepOpen {
            let _ = socket.shutdown().await;
            return;
        }
    }
}

/// Syncs `stream` of the CircleCI connector on `instance` to its end.
async fn sync_stream(
    instance: &mut ConnectorInstance,
    credential: &Credential,
    stream: &str,
    settings: &str,
) -> (Result<SyncReport, HarnessError>, MemorySink) {
    let mut sink = MemorySink::default();
    let result = sync::run(
        instance,
        credential,
        stream,
        settings,
        &mut Checkpointer::in_memory(),
        &mut sink,
        &SyncOptions::default(),
        &mut Quiet,
    )
    .await;
    (result, sink)
}

/// The simulator's settings naming every project of `token`.
fn settings(sim: &Simulator, token: &str) -> String {
    let slugs: Vec<String> = sim
        .dataset(token)
        .unwrap()
        .projects
        .iter()
        .map(|p| p.slug.clone())
        .collect();
    json!({ "project_slugs": slugs }).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_multi_page_sync_goes_over_one_connection() {
    // Enough pipelines for more than one call (a call stops at 450 records).
    let sim = Simulator::start(SimConfig::single(TOKEN, 1, 700))
        .await
        .unwrap();
    let proxy = Proxy::start(sim.addr()).await;
    let mut instance = circleci()
        .instantiate(policy(proxy.addr, KeepAlive::default()))
        .await
        .unwrap();
    let credential = credential(TOKEN, proxy.addr);
    let started = Instant::now();
    let (result, sink) = sync_stream(
        &mut instance,
        &credential,
        "pipelines",
        &settings(&sim, TOKEN),
    )
    .await;
    let wall = started.elapsed();
    let report = result.unwrap();
    let served = sim.requests().len() as u64;
    assert!(report.pages > 1, "{report:?}");
    assert!(report.requests > 1, "{report:?}");
    assert_eq!(report.requests, served, "{report:?}");
    assert_eq!(report.connections, 1, "{report:?}");
    assert_eq!(
        sink.records().len(),
        sim.dataset(TOKEN).unwrap().all_pipeline_ids().len()
    );
    let log = instance.outbound_log();
    assert_eq!(log.connections_opened, 1);
    assert_eq!(log.reused, report.requests - 1, "{log:?}");
    assert_eq!(
        proxy.connections(),
        [(served as usize, BTreeSet::from([TOKEN.to_string()]))],
        "one TCP connection carried every request"
    );
    assert!(report.upstream_wait > Duration::ZERO, "{report:?}");
    assert!(report.upstream_wait < wall, "{report:?} in {wall:?}");

    // Keep-alive off: every request opens its own connection, as before.
    let before = sim.requests().len();
    let mut instance = circleci()
        .instantiate(policy(proxy.addr, KeepAlive::OFF))
        .await
        .unwrap();
    let (result, _) = sync_stream(
        &mut instance,
        &credential,
        "pipelines",
        &settings(&sim, TOKEN),
    )
    .await;
    let report = result.unwrap();
    let served = sim.requests().len() - before;
    assert_eq!(report.connections, served as u64, "{report:?}");
    assert_eq!(instance.outbound_log().reused, 0);
    assert_eq!(proxy.connections().len(), 1 + served);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_connection_closes_after_the_idle_timeout() {
    let upstream = Scripted::start(After::KeepOpen, Duration::ZERO).await;
    let keep_alive = KeepAlive {
        idle_timeout: Duration::from_millis(400),
        ..KeepAlive::default()
    };
    let mut instance = circleci()
        .instantiate(policy(upstream.addr, keep_alive))
        .await
        .unwrap();
    let credential = credential(TOKEN, upstream.addr);
    // Two calls in a row share the connection...
    for _ in 0..2 {
        instance.validate(&credential).await.unwrap();
    }
    assert_eq!(upstream.connections(), 1);
    // ...a pause longer than the idle timeout closes it...
    tokio::time::sleep(Duration::from_secs(1)).await;
    instance.validate(&credential).await.unwrap();
    assert_eq!(
        upstream.connections(),
        2,
        "a new connection after the pause"
    );
    let log = instance.outbound_log();
    assert_eq!(
        (log.sent, log.reused, log.connections_opened),
        (3, 1, 2),
        "{log:?}"
    );
    assert_eq!(upstream.requests(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn servers_that_close_connections_get_every_request_on_a_new_one() {
    for after in [After::SayClose, After::HangUp] {
        let upstream = Scripted::start(after, Duration::ZERO).await;
        let mut instance = circleci()
            .instantiate(policy(upstream.addr, KeepAlive::default()))
            .await
            .unwrap();
        let credential = credential(TOKEN, upstream.addr);
        for _ in 0..4 {
            instance.validate(&credential).await.unwrap();
            // The next request follows at once, as a sync's would; a
            // server that hung up may not have been noticed yet.
        }
        let (result, _) = sync_stream(&mut instance, &credential, "me", "{}").await;
        assert_eq!(result.unwrap().records, 1);
        assert_eq!(upstream.requests(), 5, "each request went out once");
        assert_eq!(upstream.connections(), 5, "each on its own connection");
        let log = instance.outbound_log();
        assert_eq!((log.sent, log.connections_opened), (5, 5), "{log:?}");
        assert_eq!(log.denied, 0);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_tenants_never_share_a_connection() {
    let sim = Simulator::start(SimConfig {
        tenants: vec![
            TenantConfig::new(TOKEN, 1, 100),
            TenantConfig::new(OTHER_TOKEN, 1, 100),
        ],
        ..SimConfig::single(TOKEN, 1, 100)
    })
    .await
    .unwrap();
    let proxy = Proxy::start(sim.addr()).await;
    let tenant = |token: &'static str| {
        let (addr, settings) = (proxy.addr, settings(&sim, token));
        async move {
            let mut instance = circleci()
                .instantiate(policy(addr, KeepAlive::default()))
                .await
                .unwrap();
            let credential = credential(token, addr);
            let mut total = 0;
            // Two streams each, interleaved with the other tenant's.
            for stream in ["pipelines", "me", "pipelines"] {
                let (result, _) = sync_stream(&mut instance, &credential, stream, &settings).await;
                total += result.unwrap().requests;
            }
            (total, instance.outbound_log().connections_opened)
        }
    };
    let (a, b) = tokio::join!(
        tokio::spawn(tenant(TOKEN)),
        tokio::spawn(tenant(OTHER_TOKEN))
    );
    let ((a_requests, a_connections), (b_requests, b_connections)) = (a.unwrap(), b.unwrap());
    assert_eq!((a_connections, b_connections), (1, 1));
    let connections = proxy.connections();
    assert_eq!(connections.len(), 2, "{connections:?}");
    for (_, tokens) in &connections {
        assert_eq!(
            tokens.len(),
            1,
            "one tenant's key per connection: {tokens:?}"
        );
    }
    let by_token = |token: &str| {
        connections
            .iter()
            .filter(|(_, tokens)| tokens.contains(token))
            .map(|(requests, _)| *requests as u64)
            .sum::<u64>()
    };
    assert_eq!(by_token(TOKEN), a_requests);
    assert_eq!(by_token(OTHER_TOKEN), b_requests);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denied_destination_stays_denied_beside_a_kept_connection() {
    let allowed = Scripted::start(After::KeepOpen, Duration::ZERO).await;
    let elsewhere = Scripted::start(After::KeepOpen, Duration::ZERO).await;
    let mut instance = circleci()
        .instantiate(policy(allowed.addr, KeepAlive::default()))
        .await
        .unwrap();
    instance
        .validate(&credential(TOKEN, allowed.addr))
        .await
        .unwrap();
    // Same address, another port: not on the allow-list.
    let err = instance
        .validate(&credential(TOKEN, elsewhere.addr))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "denied", "{err}");
    assert!(err.to_string().contains("not on the allow-list"), "{err}");
    assert_eq!(elsewhere.connections(), 0);
    // The kept connection still serves the allowed host.
    instance
        .validate(&credential(TOKEN, allowed.addr))
        .await
        .unwrap();
    assert_eq!(allowed.connections(), 1);
    let log = instance.outbound_log();
    assert_eq!((log.sent, log.denied, log.reused), (2, 1, 1), "{log:?}");

    // A name on the allow-list that resolves to the very address and port a
    // kept connection goes to (`localhost`, named exactly, may reach
    // loopback) is still refused after resolving: a kept connection to
    // 127.0.0.1 is no reason to let another name reach it.
    let port = allowed.addr.port();
    let ip = allowed.addr.ip();
    let pinned = Arc::new(OutboundPolicy {
        allow: AllowList::parse(&[
            format!("http://localhost:{port}"),
            format!("http://api.example.test:{port}"),
        ])
        .unwrap(),
        resolver: crate::Resolver::pinned_only()
            .pin("localhost", port, [ip])
            .pin("api.example.test", port, [ip]),
        ..OutboundPolicy::default()
    });
    let mut hooks = PolicyHooks::new(pinned);
    get(&mut hooks, &format!("http://localhost:{port}/me"))
        .await
        .unwrap();
    assert_eq!(hooks.idle_connections(), 1);
    let err = get(&mut hooks, &format!("http://api.example.test:{port}/me"))
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::HttpRequestDenied), "{err:?}");
    let log = hooks.log().lock().unwrap().snapshot();
    assert_eq!((log.sent, log.denied), (1, 1), "{log:?}");
    assert_eq!(allowed.requests(), 3, "nothing more reached the server");
}

/// Sends `GET uri` through the hooks as wasmtime-wasi-http would hand it
/// over, and reads the whole body.
async fn get(hooks: &mut PolicyHooks, uri: &str) -> Result<bytes::Bytes, HttpError> {
    let (response, io) = Box::into_pin(request(hooks, uri)).await?;
    // wasmtime-wasi-http runs the returned future beside the body.
    tokio::spawn(Box::into_pin(io));
    Ok(response.into_body().collect().await?.to_bytes())
}

/// What [`WasiHttpHooks::send_request`] returns.
type Sending =
    Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send>;

/// `GET uri` through the hooks, built the way wasmtime-wasi-http builds a
/// guest's request (absolute URI, Host header from the authority).
fn request(hooks: &mut PolicyHooks, uri: &str) -> Sending {
    let uri: http::Uri = uri.parse().unwrap();
    let host = uri.authority().unwrap().as_str().to_string();
    let request = http::Request::builder()
        .uri(uri)
        .header(http::header::HOST, host)
        .body(
            http_body_util::Empty::new()
                .map_err(|e| match e {})
                .boxed_unsync(),
        )
        .unwrap();
    hooks.send_request(request, None, Box::new(async { Ok(()) }))
}

/// Hooks allowing `hosts`, with `limits`.
fn hooks(hosts: &[SocketAddr], limits: &Limits) -> PolicyHooks {
    let allow: Vec<String> = hosts.iter().map(|a| format!("http://{a}")).collect();
    PolicyHooks::with_limits(
        Arc::new(OutboundPolicy {
            allow: AllowList::parse(&allow).unwrap(),
            ..OutboundPolicy::default()
        }),
        limits,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_requests_share_at_most_the_limit_of_connections() {
    let upstream = Scripted::start(After::KeepOpen, Duration::from_millis(30)).await;
    let limits = Limits {
        concurrent_connections: 2,
        ..Limits::default()
    };
    let mut hooks = hooks(&[upstream.addr], &limits);
    let uri = format!("http://{}/me", upstream.addr);
    let started = Instant::now();
    let requests: Vec<_> = (0..8)
        .map(|_| {
            let future = request(&mut hooks, &uri);
            tokio::spawn(async move {
                let (response, _io) = Box::into_pin(future).await?;
                Ok::<_, HttpError>(response.into_body().collect().await?.to_bytes())
            })
        })
        .collect();
    for request in requests {
        assert_eq!(request.await.unwrap().unwrap().as_ref(), ME.as_bytes());
    }
    assert_eq!(upstream.requests(), 8);
    assert_eq!(
        upstream.connections(),
        2,
        "two connections, each used again as its response ended"
    );
    let log = hooks.log().lock().unwrap().snapshot();
    assert_eq!(
        (log.sent, log.reused, log.connections_opened),
        (8, 6, 2),
        "{log:?}"
    );
    // Eight 30 ms answers on two connections: one of them waited for four
    // answers in turn (at least 120 ms); the two waited side by side, and
    // that counts once (their sum, 240 ms or more, would exceed the time
    // it all took).
    let elapsed = started.elapsed();
    assert!(log.upstream_wait >= Duration::from_millis(120), "{log:?}");
    assert!(log.upstream_wait <= elapsed, "{log:?} in {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_connection_is_closed_to_free_a_permit_for_another_host() {
    let (a, b) = (
        Scripted::start(After::KeepOpen, Duration::ZERO).await,
        Scripted::start(After::KeepOpen, Duration::ZERO).await,
    );
    let limits = Limits {
        concurrent_connections: 1,
        ..Limits::default()
    };
    let mut hooks = hooks(&[a.addr, b.addr], &limits);
    let started = Instant::now();
    for (server, expected) in [(&a, 1), (&b, 1), (&a, 2), (&a, 2)] {
        let body = get(&mut hooks, &format!("http://{}/me", server.addr)).await;
        assert_eq!(body.unwrap().as_ref(), ME.as_bytes());
        assert_eq!(server.connections(), expected);
        assert_eq!(hooks.idle_connections(), 1);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "nobody waited out the connect timeout for a permit"
    );
    let log = hooks.log().lock().unwrap().snapshot();
    assert_eq!(
        (log.sent, log.reused, log.connections_opened),
        (4, 1, 3),
        "{log:?}"
    );
}
