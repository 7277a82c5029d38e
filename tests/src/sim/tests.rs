//! End-to-end tests of the simulator over real sockets, with a deliberately tiny HTTP/1.1 client so
//! that what goes on the wire (raw paths, escapes, headers) is exactly what the test wrote.

use std::net::SocketAddr;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::codec::base64url_encode;
use super::{DEFAULT_TOKEN, PAGE_SIZE, SimConfig, Simulator, TenantConfig};

/// One parsed HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HttpResponse {
    pub(super) status: u16,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

impl HttpResponse {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }

    pub(super) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// (method, target, headers) of one request to send.
pub(super) type RawRequest<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

/// Sends `requests` on one connection, the last with `Connection: close`,
/// and parses every response.
pub(super) async fn exchange(addr: SocketAddr, requests: &[RawRequest<'_>]) -> Vec<HttpResponse> {
    let mut wire = String::new();
    for (i, (method, target, headers)) in requests.iter().enumerate() {
        wire += &format!("{method} {target} HTTP/1.1\r\nhost: {addr}\r\n");
        for (name, value) in *headers {
            wire += &format!("{name}: {value}\r\n");
        }
        if i + 1 == requests.len() {
            wire += "connection: close\r\n";
        }
        wire += "\r\n";
    }
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(wire.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");

    let mut responses = Vec::new();
    let mut rest = raw.as_slice();
    while !rest.is_empty() {
        let head_end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("end of headers");
        let head = std::str::from_utf8(&rest[..head_end]).expect("UTF-8 head");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().expect("status line");
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status code");
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .expect("content-length");
        let body_start = head_end + 4;
        responses.push(HttpResponse {
            status,
            headers,
            body: rest[body_start..body_start + length].to_vec(),
        });
        rest = &rest[body_start + length..];
    }
    assert_eq!(responses.len(), requests.len());
    responses
}

pub(super) async fn get_with(
    addr: SocketAddr,
    target: &str,
    headers: &[(&str, &str)],
) -> HttpResponse {
    exchange(addr, &[("GET", target, headers)]).await.remove(0)
}

/// A GET with the default tenant's token.
pub(super) async fn get(addr: SocketAddr, target: &str) -> HttpResponse {
    get_with(addr, target, &[("Circle-Token", DEFAULT_TOKEN)]).await
}

pub(super) fn assert_error(response: &HttpResponse, status: u16, message: &str) {
    assert_eq!(response.status, status, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.json(), json!({ "message": message }));
}

/// Reads every page of a listing; returns the items and the number of requests it took.
pub(super) async fn walk(addr: SocketAddr, target: &str) -> (Vec<Value>, usize) {
    let separator = if target.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    for requests in 1.. {
        let url = match &token {
            Some(t) => format!("{target}{separator}page-token={t}"),
            None => target.to_owned(),
        };
        let page = get(addr, &url).await;
        assert_eq!(page.status, 200, "{url}: {}", page.text());
        let page = page.json();
        let page_items = page["items"].as_array().expect("items array");
        assert!(page_items.len() <= PAGE_SIZE);
        items.extend(page_items.iter().cloned());
        match &page["next_page_token"] {
            Value::Null => return (items, requests),
            Value::String(next) => {
                assert_eq!(
                    page_items.len(),
                    PAGE_SIZE,
                    "only a full page has a next page"
                );
                token = Some(next.clone());
            }
            other => panic!("next_page_token must be a string or null, got {other}"),
        }
    }
    unreachable!()
}

pub(super) fn escape_query(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn rejects_missing_wrong_and_query_tokens() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let addr = sim.addr();
    assert_error(
        &get_with(addr, "/api/v2/me", &[]).await,
        401,
        "Invalid token provided.",
    );
    assert_error(
        &get_with(addr, "/api/v2/me", &[("Circle-Token", "CCIPAT_wrong")]).await,
        401,
        "Invalid token provided.",
    );
    assert_error(
        &get_with(
            addr,
            &format!("/api/v2/me?circle-token={DEFAULT_TOKEN}"),
            &[("Circle-Token", DEFAULT_TOKEN)],
        )
        .await,
        401,
        "Invalid token provided.",
    );
    // Authentication comes before routing: an unknown endpoint without a token is a 401, not a 404.
    assert_error(
        &get_with(addr, "/api/v2/nope", &[]).await,
        401,
        "Invalid token provided.",
    );

    let bearer = format!("Bearer {DEFAULT_TOKEN}");
    assert_eq!(
        get_with(addr, "/api/v2/me", &[("Authorization", &bearer)])
            .await
            .status,
        200
    );
    let basic = format!(
        "Basic {}",
        base64url_encode(format!("{DEFAULT_TOKEN}:").as_bytes())
    );
    assert_eq!(
        get_with(addr, "/api/v2/me", &[("Authorization", &basic)])
            .await
            .status,
        200
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn me_returns_the_tenant_user() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let response = get(sim.addr(), "/api/v2/me").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let me = response.json();
    assert_eq!(me, sim.dataset(DEFAULT_TOKEN).unwrap().user);
    for key in ["id", "login", "name", "avatar_url"] {
        assert!(me[key].is_string(), "{key} in {me}");
    }
    assert_eq!(me.as_object().unwrap().len(), 4);
    sim.shutdown().await;
}

#[tokio::test]
async fn projects_resolve_by_every_slug_form() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let addr = sim.addr();
    let data = sim.dataset(DEFAULT_TOKEN).unwrap();
    for project in &data.projects {
        let mut forms = vec![
            project.slug.clone(),
            project.slug.replace('/', "%2F"),
            project.slug.replacen('/', "%2f", 1),
        ];
        if let Some(rest) = project.slug.strip_prefix("gh/") {
            forms.push(format!("github/{rest}"));
        }
        if let Some(rest) = project.slug.strip_prefix("bb/") {
            forms.push(format!("bitbucket%2F{}", rest.replace('/', "%2F")));
        }
        for form in forms {
            let response = get(addr, &format!("/api/v2/project/{form}")).await;
            assert_eq!(response.status, 200, "{form}: {}", response.text());
            assert_eq!(response.json(), project.json, "{form}");
        }
        let json = &project.json;
        assert_eq!(json["slug"], project.slug.as_str());
        for key in [
            "name",
            "id",
            "organization_name",
            "organization_slug",
            "organization_id",
        ] {
            assert!(json[key].is_string(), "{key} in {json}");
        }
        for key in ["vcs_url", "provider", "default_branch"] {
            assert!(
                json["vcs_info"][key].is_string(),
                "vcs_info.{key} in {json}"
            );
        }
    }
    let kinds: Vec<&str> = data
        .projects
        .iter()
        .map(|p| p.slug.split('/').next().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["gh", "circleci", "bb", "circleci", "gh", "circleci"]
    );

    for unknown in [
        "gh/acme-labs/nope",
        "gitlab/a/b",
        "gh%2F%2Fwidgets",
        "circleci/00000000-0000-4000-8000-000000000000/x",
    ] {
        assert_error(
            &get(addr, &format!("/api/v2/project/{unknown}")).await,
            404,
            "Project not found",
        );
        assert_error(
            &get(addr, &format!("/api/v2/project/{unknown}/pipeline")).await,
            404,
            "Project not found",
        );
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn paging_returns_every_pipeline_once_newest_first() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let addr = sim.addr();
    let data = sim.dataset(DEFAULT_TOKEN).unwrap();
    let counts: Vec<usize> = data.projects.iter().map(|p| p.pipelines.len()).collect();
    assert_eq!(counts, [45, 40, 20, 21, 1, 0]);

    for project in &data.projects {
        for slug in [project.slug.clone(), project.slug.replace('/', "%2F")] {
            let (items, requests) = walk(addr, &format!("/api/v2/project/{slug}/pipeline")).await;
            assert_eq!(items, project.pipelines, "{slug}");
            assert_eq!(
                requests,
                project.pipelines.len().div_ceil(PAGE_SIZE).max(1),
                "{slug}"
            );
        }
        for pair in project.pipelines.windows(2) {
            assert!(
                pair[0]["created_at"].as_str().unwrap() > pair[1]["created_at"].as_str().unwrap()
            );
        }
    }
    let mut ids = data.all_pipeline_ids();
    let total = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), total, "pipeline ids are unique");
    assert_eq!(total, 127);
    sim.shutdown().await;
}

#[tokio::test]
async fn branch_filter_pages_over_matching_pipelines_only() {
    let sim = Simulator::start(SimConfig::single(DEFAULT_TOKEN, 6, 300))
        .await
        .unwrap();
    let addr = sim.addr();
    let data = sim.dataset(DEFAULT_TOKEN).unwrap();
    let project = &data.projects[0];
    let default_branch = project.json["vcs_info"]["default_branch"].as_str().unwrap();
    for branch in [
        default_branch,
        "fix/c++-build",
        "feat/ümlaut-support",
        "docs/readme&contributing",
        "no-such-branch",
    ] {
        let expected: Vec<Value> = project
            .pipelines
            .iter()
            .filter(|p| p["vcs"]["branch"] == branch)
            .cloned()
            .collect();
        let target = format!(
            "/api/v2/project/{}/pipeline?branch={}",
            project.slug,
            escape_query(branch)
        );
        let (items, _) = walk(addr, &target).await;
        assert_eq!(items, expected, "{branch}");
        if branch == default_branch {
            assert!(
                expected.len() > PAGE_SIZE,
                "the default branch spans several pages"
            );
        }
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn page_tokens_are_opaque_and_bound_to_their_listing() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let addr = sim.addr();
    let data = sim.dataset(DEFAULT_TOKEN).unwrap();
    let (a, b) = (&data.projects[0].slug, &data.projects[1].slug);
    let first = get(addr, &format!("/api/v2/project/{a}/pipeline"))
        .await
        .json();
    let token = first["next_page_token"].as_str().unwrap().to_owned();
    assert!(token.parse::<u64>().is_err(), "not a bare offset: {token}");

    let ok = get(
        addr,
        &format!("/api/v2/project/{a}/pipeline?page-token={token}"),
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["items"][0], data.projects[0].pipelines[PAGE_SIZE]);

    for target in [
        format!("/api/v2/project/{b}/pipeline?page-token={token}"),
        format!("/api/v2/project/{a}/pipeline?branch=main&page-token={token}"),
        format!("/api/v2/project/{a}/pipeline?page-token=20"),
        format!("/api/v2/project/{a}/pipeline?page-token=garbage!"),
        format!(
            "/api/v2/project/{a}/pipeline?page-token={}x",
            &token[..token.len() - 1]
        ),
    ] {
        let response = get(addr, &target).await;
        assert_eq!(response.status, 400, "{target}");
        assert!(response.json()["message"].is_string());
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn pipelines_have_the_documented_shape() {
    let sim = Simulator::start(SimConfig::single(DEFAULT_TOKEN, 6, 200))
        .await
        .unwrap();
    let data = sim.dataset(DEFAULT_TOKEN).unwrap();
    let pipelines: Vec<&Value> = data.projects.iter().flat_map(|p| &p.pipelines).collect();
    let is_timestamp = |v: &Value| {
        let s = v.as_str().unwrap_or_default();
        s.len() == 24 && s.ends_with('Z') && s.as_bytes()[10] == b'T' && s.as_bytes()[19] == b'.'
    };
    for p in &pipelines {
        let keys: Vec<&String> = p.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "created_at",
                "errors",
                "id",
                "number",
                "project_slug",
                "state",
                "trigger",
                "trigger_parameters",
                "updated_at",
                "vcs"
            ]
        );
        assert!(
            is_timestamp(&p["created_at"])
                && is_timestamp(&p["updated_at"])
                && is_timestamp(&p["trigger"]["received_at"])
        );
        assert!(
            ["created", "errored", "setup-pending", "setup", "pending"]
                .contains(&p["state"].as_str().unwrap())
        );
        assert_eq!(
            p["errors"].as_array().unwrap().is_empty(),
            p["state"] != "errored"
        );
        assert!(p["trigger"]["actor"]["login"].is_string());
        assert!(p["trigger"]["actor"].get("avatar_url").is_some());
        for key in [
            "provider_name",
            "target_repository_url",
            "origin_repository_url",
            "revision",
        ] {
            assert!(p["vcs"][key].is_string(), "{key}");
        }
        assert!(p["vcs"].get("tag").is_some());
    }
    let count = |f: &dyn Fn(&Value) -> bool| pipelines.iter().filter(|p| f(p)).count();
    assert!(
        count(&|p| p["vcs"]["tag"].is_string()) > 0,
        "some tag pipelines"
    );
    assert!(
        count(&|p| p["vcs"].get("branch").is_none()) > 0,
        "tag pipelines have no branch"
    );
    assert!(
        count(&|p| p["vcs"].get("review_id") == Some(&Value::Null)) > 0,
        "explicit null review ids"
    );
    assert!(
        count(&|p| p["vcs"].get("review_id").is_none()) > 0,
        "absent review ids"
    );
    assert!(
        count(&|p| p["vcs"]["review_id"].is_string()) > 0,
        "pull request pipelines"
    );
    assert!(
        count(&|p| p["vcs"]["commit"].is_null()) > 0,
        "pipelines without commit"
    );
    assert!(
        count(&|p| p["trigger"]["actor"]["avatar_url"].is_null()) > 0,
        "actors without avatar"
    );
    assert!(count(&|p| p["state"] == "errored") > 0);
    assert!(
        count(&|p| p["state"] == "created") > pipelines.len() * 8 / 10,
        "mostly created"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn routing_errors_follow_circleci() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let addr = sim.addr();
    assert_error(&get(addr, "/api/v2/nope").await, 404, "Not Found");
    assert_error(&get(addr, "/api/v2/me/").await, 404, "Not Found");
    assert_error(&get(addr, "/api/v1.1/me").await, 404, "Not Found");
    assert_error(
        &get(addr, "/api/v2/project//pipeline").await,
        500,
        "Internal server error.",
    );
    assert_error(
        &get(addr, "/api/v2/pipeline//workflow").await,
        500,
        "Internal server error.",
    );
    let post = exchange(
        addr,
        &[(
            "POST",
            "/api/v2/me",
            &[("Circle-Token", DEFAULT_TOKEN), ("content-length", "0")],
        )],
    )
    .await;
    assert_eq!(post[0].status, 405);
    assert_eq!(post[0].header("allow"), Some("GET"));
    assert!(post[0].json()["message"].is_string());
    sim.shutdown().await;
}

#[tokio::test]
async fn responses_are_deterministic() {
    let targets = |slug: &str| {
        vec![
            "/api/v2/me".to_owned(),
            format!("/api/v2/project/{slug}"),
            format!("/api/v2/project/{slug}/pipeline"),
            format!("/api/v2/project/{slug}/pipeline?branch=main"),
        ]
    };
    let mut bodies = Vec::new();
    for seed in [42, 42, 7] {
        let sim = Simulator::start(SimConfig {
            seed,
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let slug = sim.dataset(DEFAULT_TOKEN).unwrap().projects[0].slug.clone();
        let mut run = Vec::new();
        for target in targets(&slug) {
            run.push(get(sim.addr(), &target).await.body);
        }
        let first = serde_json::from_slice::<Value>(&run[2]).unwrap();
        let next = first["next_page_token"].as_str().unwrap().to_owned();
        run.push(
            get(
                sim.addr(),
                &format!("/api/v2/project/{slug}/pipeline?page-token={next}"),
            )
            .await
            .body,
        );
        bodies.push(run);
        sim.shutdown().await;
    }
    assert_eq!(bodies[0], bodies[1], "same seed, same bytes");
    assert_ne!(bodies[0], bodies[2], "another seed, other data");
}

#[tokio::test]
async fn tenants_see_only_their_own_data() {
    let config = SimConfig {
        seed: 42,
        tenants: vec![
            TenantConfig::new("CCIPAT_tenant_a", 3, 5),
            TenantConfig::new("CCIPAT_tenant_b", 3, 5),
        ],
        ..SimConfig::default()
    };
    let sim = Simulator::start(config).await.unwrap();
    let addr = sim.addr();
    let (a, b) = (
        sim.dataset("CCIPAT_tenant_a").unwrap(),
        sim.dataset("CCIPAT_tenant_b").unwrap(),
    );
    assert!(sim.dataset("CCIPAT_tenant_c").is_none());
    assert_ne!(a.user["id"], b.user["id"]);
    assert_ne!(a.user["login"], b.user["login"]);
    let me_b = get_with(addr, "/api/v2/me", &[("Circle-Token", "CCIPAT_tenant_b")])
        .await
        .json();
    assert_eq!(me_b, b.user);
    let foreign = format!("/api/v2/project/{}", b.projects[0].slug);
    assert_error(
        &get_with(addr, &foreign, &[("Circle-Token", "CCIPAT_tenant_a")]).await,
        404,
        "Project not found",
    );
    assert_eq!(
        get_with(addr, &foreign, &[("Circle-Token", "CCIPAT_tenant_b")])
            .await
            .status,
        200
    );
    assert!(
        Simulator::start(SimConfig {
            seed: 1,
            tenants: vec![TenantConfig::new("x", 1, 1); 2],
            ..SimConfig::default()
        })
        .await
        .is_err()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn request_log_records_what_was_sent() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let addr = sim.addr();
    let slug = sim.dataset(DEFAULT_TOKEN).unwrap().projects[0]
        .slug
        .replace('/', "%2F");
    let responses = exchange(
        addr,
        &[
            (
                "GET",
                "/api/v2/me",
                &[
                    ("Circle-Token", DEFAULT_TOKEN),
                    ("User-Agent", "conformance-test/1"),
                ],
            ),
            (
                "GET",
                &format!("/api/v2/project/{slug}/pipeline?branch=main"),
                &[("Circle-Token", DEFAULT_TOKEN)],
            ),
            ("GET", "/api/v2/me", &[]),
        ],
    )
    .await;
    assert_eq!(
        responses.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 200, 401],
        "keep-alive serves all three"
    );

    let log = sim.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].method, "GET");
    assert_eq!(log[0].path, "/api/v2/me");
    assert_eq!(log[0].query, None);
    assert_eq!(log[0].header("circle-token"), Some(DEFAULT_TOKEN));
    assert_eq!(log[0].header("User-Agent"), Some("conformance-test/1"));
    assert!(
        log[0]
            .headers
            .iter()
            .all(|(name, _)| name == &name.to_ascii_lowercase())
    );
    assert_eq!(
        log[1].path,
        format!("/api/v2/project/{slug}/pipeline"),
        "percent-encoding preserved"
    );
    assert_eq!(log[1].query.as_deref(), Some("branch=main"));
    assert_eq!(
        log.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 200, 401]
    );

    sim.clear_requests();
    assert!(sim.requests().is_empty());
    sim.shutdown().await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "nothing listens after shutdown"
    );
}
