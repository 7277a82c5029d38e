//! The address policy after DNS, through [`PolicyHooks`] and the host's own
//! sender against real TCP servers on 127.0.0.1: an allowed host *name*
//! that resolves to a loopback, private, link-local or otherwise special
//! address is refused before anything connects, unless the operator allowed
//! that address (`--allow-network`, the IP literal on the allow-list, or
//! `localhost` named exactly). Redirects go back to the guest untouched.
//!
//! The requests are built the way wasmtime-wasi-http builds a guest's
//! (absolute URI, Host header from the authority); the component-level
//! path is covered elsewhere.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::net::AddressClass;
use crate::outbound::{OutboundLog, PolicyHooks};
use crate::policy::{Denial, DenialReason};
use crate::{AllowList, IpNetwork, OutboundPolicy, Resolver, Timeouts};
use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wasmtime_wasi_http::{Error as HttpError, WasiHttpHooks};

/// A tiny HTTP/1.1 server on 127.0.0.1 that counts the connections it
/// accepts, keeps each request head it reads, and answers every request
/// with the same canned response (or never answers, if it is empty).
struct Server {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    heads: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(response: &str) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let response = response.to_string();
        let task = tokio::spawn({
            let (connections, heads) = (connections.clone(), heads.clone());
            async move {
                loop {
                    let Ok((mut socket, _)) = listener.accept().await else {
                        return;
                    };
                    connections.fetch_add(1, Ordering::SeqCst);
                    let (heads, response) = (heads.clone(), response.clone());
                    tokio::spawn(async move {
                        let mut head = Vec::new();
                        let mut buf = [0u8; 1024];
                        while !head.ends_with(b"\r\n\r\n") {
                            match socket.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => head.extend_from_slice(&buf[..n]),
                            }
                        }
                        heads
                            .lock()
                            .unwrap()
                            .push(String::from_utf8_lossy(&head).into_owned());
                        if response.is_empty() {
                            // Hold the connection open and say nothing.
                            tokio::time::sleep(Duration::from_secs(60)).await;
                            return;
                        }
                        let _ = socket.write_all(response.as_bytes()).await;
                        let _ = socket.shutdown().await;
                    });
                }
            }
        });
        Server {
            addr,
            connections,
            heads,
            task,
        }
    }

    /// Answers `200 OK` with body `ok`.
    async fn ok() -> Server {
        Server::start("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far, after giving a connection that was
    /// about to arrive the time to show up.
    async fn connections(&self) -> usize {
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.connections.load(Ordering::SeqCst)
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A policy allowing `hosts` (over either scheme, on any port: these tests
/// are about addresses) and `networks`, resolving only what `pins` says
/// (`(host, port, addresses)`): nothing here touches real DNS.
fn policy(hosts: &[&str], networks: &[&str], pins: &[(&str, u16, &[&str])]) -> OutboundPolicy {
    let mut resolver = Resolver::pinned_only();
    for (host, port, addrs) in pins {
        resolver = resolver.pin(host, *port, addrs.iter().map(|a| ip(a)));
    }
    let rules: Vec<String> = hosts
        .iter()
        .map(|h| match h.parse::<SocketAddr>() {
            Ok(addr) => format!("*://{addr}"),
            Err(_) => format!("*://{h}:*"),
        })
        .collect();
    OutboundPolicy {
        allow: AllowList::parse(&rules).unwrap(),
        networks: networks
            .iter()
            .map(|n| IpNetwork::parse(n).unwrap())
            .collect(),
        resolver,
        ..OutboundPolicy::default()
    }
}

/// What a request came back with: status, headers and body, or the error.
struct Reply {
    status: u16,
    headers: http::HeaderMap,
    body: Bytes,
}

/// Sends `GET uri` through the hooks, as wasmtime-wasi-http would hand it
/// over (absolute URI, Host header set from the authority), and reads the
/// whole response.
async fn get(hooks: &mut PolicyHooks, uri: &str) -> Result<Reply, HttpError> {
    let uri: http::Uri = uri.parse().unwrap();
    let host = uri.authority().unwrap().as_str().to_string();
    let request = http::Request::builder()
        .uri(uri)
        .header(http::header::HOST, host)
        .header("x-guest", "1")
        .body(
            http_body_util::Empty::new()
                .map_err(|e| match e {})
                .boxed_unsync(),
        )
        .unwrap();
    let future = hooks.send_request(request, None, Box::new(async { Ok(()) }));
    let (response, io) = Box::into_pin(future).await?;
    // wasmtime-wasi-http spawns the connection's future; so do we.
    tokio::spawn(Box::into_pin(io));
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Reply {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    })
}

fn log(hooks: &PolicyHooks) -> OutboundLog {
    hooks.log().lock().unwrap().clone()
}

/// The request was refused for resolving to `address` of `class`.
fn assert_refused_for(hooks: &PolicyHooks, address: &str, class: AddressClass) -> Denial {
    let log = log(hooks);
    assert_eq!((log.sent, log.denied), (0, 1), "{log:?}");
    let denial = log.last_denial.expect("a denial is recorded");
    // A report names it too.
    assert_eq!(log.denials, std::slice::from_ref(&denial));
    assert_eq!(
        denial.reason,
        DenialReason::ResolvesToSpecial {
            address: ip(address),
            class
        }
    );
    denial
}

#[tokio::test]
async fn an_allowed_name_resolving_to_loopback_is_refused_and_nothing_connects() {
    let server = Server::ok().await;
    let name = "api.example.test";
    let mut hooks = PolicyHooks::new(Arc::new(policy(
        &[name],
        &[],
        &[(name, server.port(), &["127.0.0.1"])],
    )));
    let err = get(&mut hooks, &format!("http://{name}:{}/", server.port()))
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, HttpError::HttpRequestDenied), "{err:?}");
    let denial = assert_refused_for(&hooks, "127.0.0.1", AddressClass::Loopback);
    assert_eq!(
        denial.to_string(),
        format!(
            "{name}:{} resolves to 127.0.0.1, a loopback address, refused unless allowed \
             with --allow-network or named with --allow-host",
            server.port()
        )
    );
    assert_eq!(
        server.connections().await,
        0,
        "the server saw no connection"
    );
}

#[tokio::test]
async fn an_allowed_network_lets_the_name_through_with_its_host_header() {
    let server = Server::ok().await;
    let name = "api.example.test";
    let mut hooks = PolicyHooks::new(Arc::new(policy(
        &[name],
        &["127.0.0.0/8"],
        &[(name, server.port(), &["127.0.0.1"])],
    )));
    let authority = format!("{name}:{}", server.port());
    let reply = get(&mut hooks, &format!("http://{authority}/api/v2/me?page=2"))
        .await
        .unwrap();
    assert_eq!((reply.status, &reply.body[..]), (200, &b"ok"[..]));
    let log = log(&hooks);
    assert_eq!((log.sent, log.denied), (1, 0));
    assert_eq!(server.connections().await, 1);
    let heads = server.heads();
    let head = heads[0].to_ascii_lowercase();
    assert!(
        head.starts_with("get /api/v2/me?page=2 http/1.1\r\n"),
        "origin-form request line: {head}"
    );
    assert!(
        head.contains(&format!("\r\nhost: {authority}\r\n")),
        "the guest's Host header: {head}"
    );
    assert_eq!(
        head.matches("\r\nhost:").count(),
        1,
        "one Host header: {head}"
    );
    assert!(head.contains("\r\nx-guest: 1\r\n"), "{head}");
}

#[tokio::test]
async fn an_ipv4_mapped_loopback_answer_is_refused() {
    let server = Server::ok().await;
    let name = "api.example.test";
    for answer in ["::ffff:127.0.0.1", "::127.0.0.1", "::1"] {
        let mut hooks = PolicyHooks::new(Arc::new(policy(
            &[name],
            &[],
            &[(name, server.port(), &[answer])],
        )));
        let err = get(&mut hooks, &format!("http://{name}:{}/", server.port()))
            .await
            .err()
            .expect("refused");
        assert!(
            matches!(err, HttpError::HttpRequestDenied),
            "{answer}: {err:?}"
        );
        assert_refused_for(&hooks, answer, AddressClass::Loopback);
    }
    assert_eq!(server.connections().await, 0);
}

#[tokio::test]
async fn the_metadata_address_is_refused_before_any_connect() {
    let name = "metadata.example.test";
    let policy = OutboundPolicy {
        // A connect to 169.254.169.254 would hang for all of this.
        timeouts: Timeouts {
            connect: Duration::from_secs(30),
            ..Timeouts::default()
        },
        ..policy(
            &[name, "*.example.org"],
            &["127.0.0.0/8"],
            &[(name, 80, &["169.254.169.254"])],
        )
    };
    let mut hooks = PolicyHooks::new(Arc::new(policy));
    let started = Instant::now();
    let err = get(&mut hooks, &format!("http://{name}/latest/meta-data/"))
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, HttpError::HttpRequestDenied), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused at once, without trying to connect ({:?})",
        started.elapsed()
    );
    let denial = assert_refused_for(&hooks, "169.254.169.254", AddressClass::LinkLocal);
    assert!(
        denial
            .to_string()
            .contains("169.254.169.254, a link-local address"),
        "{denial}"
    );

    // The literal itself is refused by name, before anything is resolved.
    let err = get(&mut hooks, "http://169.254.169.254/latest/meta-data/")
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, HttpError::HttpRequestDenied), "{err:?}");
    assert_eq!(
        log(&hooks).last_denial.unwrap().reason,
        DenialReason::NotAllowed
    );
}

#[tokio::test]
async fn one_special_answer_refuses_the_whole_request() {
    let server = Server::ok().await;
    let name = "api.example.test";
    // 127.0.0.1 would be allowed (and answers), but the name also resolves
    // to the metadata address: a name is refused as a whole, not filtered
    // down to its acceptable addresses, whichever comes first.
    for answers in [
        &["169.254.169.254", "127.0.0.1"][..],
        &["127.0.0.1", "10.1.2.3"][..],
    ] {
        let mut hooks = PolicyHooks::new(Arc::new(policy(
            &[name],
            &["127.0.0.0/8"],
            &[(name, server.port(), answers)],
        )));
        let err = get(&mut hooks, &format!("http://{name}:{}/", server.port()))
            .await
            .err()
            .expect("refused");
        assert!(
            matches!(err, HttpError::HttpRequestDenied),
            "{answers:?}: {err:?}"
        );
        let refused = answers.iter().find(|a| !a.starts_with("127.")).unwrap();
        let class = if refused.starts_with("169.") {
            AddressClass::LinkLocal
        } else {
            AddressClass::Private
        };
        assert_refused_for(&hooks, refused, class);
    }
    assert_eq!(server.connections().await, 0, "nothing connected");
}

#[tokio::test]
async fn the_addresses_are_tried_in_order() {
    let server = Server::ok().await;
    // Nothing listens on this port at 127.0.0.2 (the server is bound to
    // 127.0.0.1 only): the first address is refused, the second answers.
    let name = "api.example.test";
    let mut hooks = PolicyHooks::new(Arc::new(policy(
        &[name],
        &["127.0.0.0/8"],
        &[(name, server.port(), &["127.0.0.2", "127.0.0.1"])],
    )));
    let reply = get(&mut hooks, &format!("http://{name}:{}/", server.port()))
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(server.connections().await, 1);
}

#[tokio::test]
async fn a_redirect_to_another_host_is_handed_back_untouched() {
    let elsewhere = Server::ok().await;
    let location = format!("http://elsewhere.example.test:{}/stolen", elsewhere.port());
    let redirecting = Server::start(&format!(
        "HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 5\r\nconnection: close\r\n\r\nmoved"
    ))
    .await;
    // Both hosts allowed and reachable: only the host's refusal to follow
    // keeps the second one from being asked.
    let mut hooks = PolicyHooks::new(Arc::new(policy(
        &["api.example.test", "elsewhere.example.test"],
        &["127.0.0.0/8"],
        &[
            ("api.example.test", redirecting.port(), &["127.0.0.1"]),
            ("elsewhere.example.test", elsewhere.port(), &["127.0.0.1"]),
        ],
    )));
    let reply = get(
        &mut hooks,
        &format!("http://api.example.test:{}/me", redirecting.port()),
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 302);
    assert_eq!(reply.headers[http::header::LOCATION], location.as_str());
    assert_eq!(&reply.body[..], b"moved");
    assert_eq!(redirecting.connections().await, 1);
    assert_eq!(
        elsewhere.connections().await,
        0,
        "nothing connected to the Location"
    );
    assert_eq!(log(&hooks).sent, 1, "one request, not two");
}

#[tokio::test]
async fn localhost_named_exactly_reaches_loopback_through_the_system_resolver() {
    let server = Server::ok().await;
    let mut hooks = PolicyHooks::new(Arc::new(OutboundPolicy {
        allow: AllowList::parse(&["http://localhost:*"]).unwrap(),
        resolver: Resolver::system(),
        ..OutboundPolicy::default()
    }));
    let reply = get(&mut hooks, &format!("http://localhost:{}/x", server.port()))
        .await
        .unwrap();
    assert_eq!((reply.status, &reply.body[..]), (200, &b"ok"[..]));
    let head = server.heads()[0].to_ascii_lowercase();
    assert!(
        head.contains(&format!("\r\nhost: localhost:{}\r\n", server.port())),
        "{head}"
    );

    // A wildcard is not naming it: refused by name, nothing resolved.
    let mut hooks = PolicyHooks::new(Arc::new(OutboundPolicy {
        allow: AllowList::parse(&["http://*.localhost:*"]).unwrap(),
        ..OutboundPolicy::default()
    }));
    let err = get(
        &mut hooks,
        &format!("http://api.localhost:{}/", server.port()),
    )
    .await
    .err()
    .expect("refused");
    assert!(matches!(err, HttpError::HttpRequestDenied), "{err:?}");
    assert_eq!(server.connections().await, 1);
}

#[tokio::test]
async fn an_ip_literal_on_the_allow_list_is_reached_as_before() {
    let server = Server::ok().await;
    let mut hooks = PolicyHooks::new(Arc::new(policy(&[&server.addr.to_string()], &[], &[])));
    let reply = get(&mut hooks, &format!("http://{}/", server.addr))
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    let head = server.heads()[0].to_ascii_lowercase();
    assert!(
        head.contains(&format!("\r\nhost: {}\r\n", server.addr)),
        "{head}"
    );
}

#[tokio::test]
async fn network_failures_are_the_wasi_http_errors() {
    let name = "api.example.test";
    // Not resolvable: the default sender's DnsError.
    let mut hooks = PolicyHooks::new(Arc::new(policy(&[name], &[], &[])));
    let err = get(&mut hooks, &format!("http://{name}/"))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, HttpError::DnsError { .. }), "{err:?}");

    // Nothing listening: ConnectionRefused.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let mut hooks = PolicyHooks::new(Arc::new(policy(
        &[name],
        &["127.0.0.0/8"],
        &[(name, closed, &["127.0.0.1"])],
    )));
    let err = get(&mut hooks, &format!("http://{name}:{closed}/"))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, HttpError::ConnectionRefused), "{err:?}");

    // A server that never answers: the host's first-byte timeout.
    let silent = Server::start("").await;
    let mut hooks = PolicyHooks::new(Arc::new(OutboundPolicy {
        timeouts: Timeouts {
            first_byte: Duration::from_millis(300),
            ..Timeouts::default()
        },
        ..policy(
            &[name],
            &["127.0.0.0/8"],
            &[(name, silent.port(), &["127.0.0.1"])],
        )
    }));
    let err = get(&mut hooks, &format!("http://{name}:{}/", silent.port()))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, HttpError::ConnectionReadTimeout), "{err:?}");
}

/// A self-signed certificate for api.example.test, and its key: a throwaway
/// made for this test, trusted by nothing.
const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBqTCCAVCgAwIBAgIUM8f/ENdewL7/ZSgX/ZT+UKYU184wCgYIKoZIzj0EAwIw
GzEZMBcGA1UEAwwQYXBpLmV4YW1wbGUudGVzdDAgFw0yNjExMjkxMTUyMzlaGA8y
MTI2MTEwNTExNTIzOVowGzEZMBcGA1UEAwwQYXBpLmV4YW1wbGUudGVzdDBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABHOelmwydF5sh8OT4HEn17xuTPIPyjlAKp1Z
+HyV+uxHn2DEdNda/LUC019SxTpOS4avVxbELoDSU0kp6782gfajcDBuMB0GA1Ud
DgQWBBT2hGocJUl8dvqr5SYi114FF/yNvzAfBgNVHSMEGDAWgBT2hGocJUl8dvqr
5SYi114FF/yNvzAPBgNVHRMBAf8EBTADAQH/MBsGA1UdEQQUMBKCEGFwaS5leGFt
cGxlLnRlc3QwCgYIKoZIzj0EAwIDRwAwRAIgb2A136TZhlwf2bA0liXnggj9ieml
T75eL8qReZ5iOWcCIDtpSgjYX0BjhpZ2yVy0n7IL4lbKfywTjO7M17kQn9nP
-----END CERTIFICATE-----
";
const KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgsRZWmymTpAVLEO16
7AD/Gj1GvObMxZdLWSX0C/4SgM6hRANCAARznpZsMnRebIfDk+BxJ9e8bkzyD8o5
QCqdWfh8lfrsR59gxHTXWvy1AtNfUsU6TkuGr1cWxC6A0lNJKeu/NoH2
-----END PRIVATE KEY-----
";

#[tokio::test]
async fn https_sends_the_name_as_sni_and_verifies_the_certificate() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from_pem_slice(CERT.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(KEY.as_bytes()).unwrap(),
            )
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sni_tx, sni_rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let start = tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp)
            .await
            .unwrap();
        let _ = sni_tx.send(start.client_hello().server_name().map(str::to_string));
        // The client must refuse this certificate: nothing vouches for it.
        let _ = start.into_stream(config).await;
    });

    let name = "api.example.test";
    let mut hooks = PolicyHooks::new(Arc::new(policy(
        &[name],
        &["127.0.0.0/8"],
        &[(name, port, &["127.0.0.1"])],
    )));
    let err = get(&mut hooks, &format!("https://{name}:{port}/"))
        .await
        .err()
        .expect("an untrusted certificate fails");
    assert!(matches!(err, HttpError::TlsCertificateError), "{err:?}");
    assert_eq!(
        sni_rx.await.unwrap().as_deref(),
        Some(name),
        "SNI is the request's host name"
    );
    server.await.unwrap();
}
