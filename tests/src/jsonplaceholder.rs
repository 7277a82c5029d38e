//! A small JSONPlaceholder-shaped API on loopback for the example
//! connector's tests (its sync in `tests/tests/jsonplaceholder`, its
//! `connector-harness conform` run in the host's tests): `GET /users?_page=N&_limit=L` (a JSON array, the
//! `_limit` users of page `N`) and `GET /users/{id}/posts`, behind a bearer
//! token; every request recorded. Served by hyper 1 as the CircleCI
//! simulator is (`conformance::sim`), with none of its faults.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The data served: each user's record text and its posts' record texts,
/// compact JSON exactly as the connector must pass them on.
pub struct Dataset {
    pub users: Vec<(String, Vec<String>)>,
}

impl Dataset {
    /// `n` users, user `u` with `u % 4` posts. Nested objects, a number
    /// beyond `u64` and an escaped string check that records pass through
    /// untouched.
    pub fn new(n: u64) -> Dataset {
        let users = (1..=n)
            .map(|u| {
                let user = format!(
                    r#"{{"id":{u},"name":"User {u}","address":{{"city":"Town \"{u}\"","geo":{{"lat":"-37.{u}"}}}},"big":123456789012345678901234567890}}"#
                );
                let posts = (0..u % 4)
                    .map(|p| {
                        format!(
                            r#"{{"userId":{u},"id":{},"title":"post {p} of {u}","body":"line\nbreak"}}"#,
                            u * 100 + p
                        )
                    })
                    .collect();
                (user, posts)
            })
            .collect();
        Dataset { users }
    }
}

/// A running server; dropping it stops it.
pub struct Server {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl Server {
    /// Binds `127.0.0.1` on a free port and serves `data` to `token`.
    pub async fn start(data: Dataset, token: &str) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let data = Arc::new(data);
        let bearer = Arc::new(format!("Bearer {token}"));
        let log = requests.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (data, bearer, log) = (data.clone(), bearer.clone(), log.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let answer = answer(&data, &bearer, &log, &req);
                        async move { Ok::<_, std::convert::Infallible>(answer) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Server {
            addr,
            requests,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `127.0.0.1:PORT`.
    pub fn authority(&self) -> String {
        self.addr.to_string()
    }

    /// The path and query of every request so far, in order of arrival.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn answer(
    data: &Dataset,
    bearer: &str,
    log: &Mutex<Vec<String>>,
    req: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    let target = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    log.lock().unwrap().push(target.clone());
    let json = |status: StatusCode, body: String| {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    };
    let authorised = req
        .headers()
        .get("authorization")
        .is_some_and(|v| v.as_bytes() == bearer.as_bytes());
    if !authorised {
        return json(
            StatusCode::UNAUTHORIZED,
            r#"{"message":"Invalid token"}"#.into(),
        );
    }
    let not_found = || json(StatusCode::NOT_FOUND, r#"{"message":"Not found"}"#.into());
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    if path == "/users" {
        let arg = |key: &str| {
            query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == key)
                .and_then(|(_, v)| v.parse::<usize>().ok())
        };
        let (Some(page), Some(limit)) = (arg("_page"), arg("_limit")) else {
            return json(StatusCode::BAD_REQUEST, r#"{"message":"paging"}"#.into());
        };
        let page: Vec<&str> = data
            .users
            .iter()
            .skip(page.saturating_sub(1).saturating_mul(limit))
            .take(limit)
            .map(|(u, _)| u.as_str())
            .collect();
        return json(StatusCode::OK, format!("[{}]", page.join(",")));
    }
    let Some(id) = path
        .strip_prefix("/users/")
        .and_then(|p| p.strip_suffix("/posts"))
        .and_then(|id| id.parse::<usize>().ok())
    else {
        return not_found();
    };
    match data.users.get(id.wrapping_sub(1)) {
        Some((_, posts)) => json(StatusCode::OK, format!("[{}]", posts.join(","))),
        None => not_found(),
    }
}
