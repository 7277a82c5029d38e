//! End-to-end tests of the contract functions against a scripted fake
//! HTTP client: URLs, headers, paging, states and error mapping. The
//! traversal, discovery and incremental tests against a stateful fake
//! CircleCI are in [`traversal`]; stale page tokens in [`stale`]; what real
//! accounts hold (expired history, failing items, reruns, abandoned holds)
//! in [`real_accounts`]; several streams in one walk and requests in
//! flight together in [`walks`]; the property tests in [`fuzz`].

use crate::*;
use std::collections::VecDeque;

mod fake;
mod fuzz;
mod real_accounts;
mod stale;
mod traversal;
mod walks;
mod wire;

/// A response from literals.
fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
    HttpResponse::new(status, headers, body)
}

const KEY: &str = "CCIPAT_Qx7s3cr3t_9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e";

/// Answers requests from a script, in order, and records what was sent.
#[derive(Default)]
struct Fake {
    script: VecDeque<(String, Result<HttpResponse, TransportError>)>,
    sent: Vec<(String, Vec<(String, String)>)>,
}

impl Fake {
    fn new() -> Self {
        Fake::default()
    }
    fn on(mut self, url: &str, status: u16, body: &str) -> Self {
        self.script
            .push_back((url.into(), Ok(resp(status, &[], body))));
        self
    }
    fn on_resp(mut self, url: &str, r: Result<HttpResponse, TransportError>) -> Self {
        self.script.push_back((url.into(), r));
        self
    }
    fn urls(&self) -> Vec<&str> {
        self.sent.iter().map(|(u, _)| u.as_str()).collect()
    }
}

impl HttpClient for Fake {
    fn get(&mut self, url: &str, headers: &[(&str, &str)]) -> Result<HttpResponse, TransportError> {
        self.sent.push((
            url.into(),
            headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ));
        let (want, answer) = self
            .script
            .pop_front()
            .unwrap_or_else(|| panic!("unexpected request {url}"));
        assert_eq!(url, want);
        answer
    }
}

fn cred(base: Option<&str>) -> Vec<(String, String)> {
    let mut c = vec![("api_key".to_string(), KEY.to_string())];
    if let Some(b) = base {
        c.push(("base_url".into(), b.into()));
    }
    c
}

fn req(stream: &str, settings: &str, state: Option<&str>) -> FetchRequest {
    let mut request = FetchRequest::new(&[stream], settings);
    request.state = state.map(Into::into);
    request
}

/// A page as one stream sees it: its records' data, and the state to pass
/// back (the walk's while it has more, then the stream's cursor).
#[derive(Debug)]
struct One {
    records: Vec<String>,
    state: Option<String>,
    has_more: bool,
    notices: Vec<String>,
    skipped: Vec<String>,
}

impl From<Page> for One {
    fn from(page: Page) -> One {
        assert!(page.records.iter().all(|r| r.stream == 0));
        One {
            records: page.records.into_iter().map(|r| r.data).collect(),
            state: page.state.or(page.cursors.into_iter().next().flatten()),
            has_more: page.has_more,
            notices: page.notices,
            skipped: page.skipped,
        }
    }
}

/// One `fetch` of `stream` with the default credential. `state` is a walk
/// state or, to start a sync, the stream's cursor (told apart by its
/// `"run"`); a walk state goes alone, so this is for syncs without a cursor
/// or single calls (see `traversal::sync` for whole syncs).
fn call(
    client: &mut dyn HttpClient,
    stream: &str,
    settings: &str,
    state: Option<&str>,
) -> Result<One, ConnectorError> {
    let mut request = req(stream, settings, None);
    match state {
        Some(s) if s.contains("\"cursor\":") && !s.contains("\"run\":") => {
            request.cursors = vec![Some(s.into())]
        }
        other => request.state = other.map(Into::into),
    }
    fetch(client, &cred(None), &request).map(One::from)
}

fn assert_no_key(e: &ConnectorError) {
    assert!(!e.message().contains(KEY), "key leaked: {e}");
    assert!(!format!("{e:?}").contains(KEY), "key leaked: {e:?}");
}

const ME: &str = r#"{"id":"u-1","login":"octo","name":"Octo Cat","avatar_url":null}"#;

#[test]
fn validate_sends_the_right_request() {
    let mut fake = Fake::new().on("https://circleci.com/api/v2/me", 200, &format!(" {ME}\n"));
    let account = validate(&mut fake, &cred(None)).unwrap();
    assert_eq!(
        account,
        Account {
            id: "u-1".into(),
            name: "octo".into(),
            details: ME.into()
        }
    );
    let headers = &fake.sent[0].1;
    assert_eq!(
        headers,
        &vec![
            ("Circle-Token".to_string(), KEY.to_string()),
            ("Accept".into(), "application/json".into()),
            (
                "User-Agent".into(),
                "ingest-connector-circleci/0.1.0".into()
            ),
        ]
    );
}

#[test]
fn validate_names_and_shapes() {
    let mut fake = Fake::new().on(
        "http://[::1]:8080/ci/api/v2/me",
        200,
        r#"{"id":"u-2","name":"Display"}"#,
    );
    let a = validate(&mut fake, &cred(Some("http://[::1]:8080/ci/"))).unwrap();
    assert_eq!((a.id.as_str(), a.name.as_str()), ("u-2", "Display"));
    for body in [
        r#"{"login":"x"}"#,
        r#"{"id":5}"#,
        "[]",
        r#"{"id":"u"#,
        "",
        "Rate limited.",
    ] {
        let mut fake = Fake::new().on("https://circleci.com/api/v2/me", 200, body);
        let e = validate(&mut fake, &cred(None)).unwrap_err();
        assert!(matches!(e, ConnectorError::BadResponse(_)), "{body}: {e:?}");
    }
}

#[test]
fn credential_is_checked_before_any_request() {
    let mut fake = Fake::new();
    let bad = vec![("api_key".to_string(), format!("{KEY}\r\nX: y"))];
    let e = validate(&mut fake, &bad).unwrap_err();
    assert_eq!(e.kind(), "invalid-credential");
    assert_no_key(&e);
    let e = fetch(&mut fake, &bad, &req("me", "{}", None)).unwrap_err();
    assert_eq!(e.kind(), "invalid-credential");
    let e = fetch(&mut fake, &[], &req("me", "{}", None)).unwrap_err();
    assert_eq!(e.kind(), "invalid-credential");
    let with_user = cred(Some("https://me:hunter2@circleci.com"));
    let e = validate(&mut fake, &with_user).unwrap_err();
    assert!(!e.message().contains("hunter2"));
    assert!(fake.sent.is_empty());
}

#[test]
fn every_error_status_maps_and_never_leaks_the_key() {
    let me = "https://circleci.com/api/v2/me";
    let cases: Vec<(Result<HttpResponse, TransportError>, &str)> = vec![
        (
            Ok(resp(401, &[], r#"{"message":"Invalid token provided."}"#)),
            "unauthorized",
        ),
        (
            Ok(resp(403, &[], r#"{"message":"Forbidden"}"#)),
            "forbidden",
        ),
        (
            Ok(resp(404, &[], r#"{"message":"Not Found"}"#)),
            "not-found",
        ),
        (
            Ok(resp(
                429,
                &[("Retry-After", "3")],
                r#"{"message":"Rate limit exceeded."}"#,
            )),
            "rate-limited",
        ),
        (Ok(resp(429, &[], "Rate limited.")), "rate-limited"),
        (Ok(resp(429, &[], "{}")), "rate-limited"),
        (
            Ok(resp(500, &[], r#"{"message":"Internal server error."}"#)),
            "unavailable",
        ),
        (Ok(resp(502, &[], "")), "unavailable"),
        (Ok(resp(400, &[], r#"{"message":"nope"}"#)), "bad-response"),
        (Ok(resp(418, &[], "")), "bad-response"),
        (Ok(resp(301, &[], "")), "bad-response"),
        // An upstream that echoes the token back: the message is redacted.
        (
            Ok(resp(
                401,
                &[],
                &format!(r#"{{"message":"token {KEY} is invalid"}}"#),
            )),
            "unauthorized",
        ),
        (
            Err(TransportError::Denied("HttpRequestDenied".into())),
            "denied",
        ),
        (
            Err(TransportError::Timeout("ConnectionTimeout".into())),
            "unavailable",
        ),
        (
            Err(TransportError::Connection("ConnectionRefused".into())),
            "unavailable",
        ),
        (
            Err(TransportError::Protocol("HttpProtocolError".into())),
            "unavailable",
        ),
        (Err(TransportError::TooLarge), "bad-response"),
        (Err(TransportError::Other("?".into())), "unavailable"),
    ];
    for (answer, kind) in cases {
        let mut fake = Fake::new().on_resp(me, answer.clone());
        let e = validate(&mut fake, &cred(None)).unwrap_err();
        assert_eq!(e.kind(), kind, "{answer:?}: {e}");
        assert_no_key(&e);
        let mut fake = Fake::new().on_resp(me, answer.clone());
        let e = call(&mut fake, "me", "", None).unwrap_err();
        assert_eq!(e.kind(), kind);
        assert_no_key(&e);
    }
    let mut fake = Fake::new().on_resp(
        me,
        Ok(resp(401, &[], &format!(r#"{{"message":"token {KEY}"}}"#))),
    );
    let e = validate(&mut fake, &cred(None)).unwrap_err();
    assert!(e.message().contains("token [redacted]"), "{e}");
}

#[test]
fn me_stream() {
    let mut fake = Fake::new().on("https://circleci.com/api/v2/me", 200, ME);
    let page = call(&mut fake, "me", "{}", None).unwrap();
    assert_eq!(page.records, vec![ME.to_string()]);
    assert_eq!(page.state, None);
    assert!(!page.has_more && page.notices.is_empty() && page.skipped.is_empty());
    let e = call(
        &mut Fake::new(),
        "me",
        "{}",
        Some(r#"{"v":1,"stream":"me"}"#),
    )
    .unwrap_err();
    assert_eq!(e.kind(), "invalid-state");
}

#[test]
fn projects_stream_reads_each_project() {
    let settings = r#"{"project_slugs":["gh/acme/api","circleci%2Fo-1%2Fp-1"]}"#;
    let p1 = r#"{"slug":"gh/acme/api","id":"p1","name":"api","vcs_info":{"vcs_url":null}}"#;
    let p2 = r#"{"slug":"circleci/o-1/p-1","id":"p2"}"#;
    let mut fake = Fake::new()
        .on("https://circleci.com/api/v2/project/gh/acme/api", 200, p1)
        .on(
            "https://circleci.com/api/v2/project/circleci/o-1/p-1",
            200,
            p2,
        );
    let page = call(&mut fake, "projects", settings, None).unwrap();
    assert_eq!(page.records, vec![p1.to_string(), p2.to_string()]);
    assert_eq!(page.state, None);
    assert!(!page.has_more);
    assert!(fake.script.is_empty());

    let mut fake = Fake::new().on(
        "https://circleci.com/api/v2/project/gh/acme/api",
        404,
        r#"{"message":"Project not found"}"#,
    );
    let e = call(&mut fake, "projects", settings, None).unwrap_err();
    assert_eq!(
        e,
        ConnectorError::NotFound(
            "project gh/acme/api was not found (HTTP 404): Project not found; check the slug, and that the API key \
             is a personal API token (project tokens get 404 from API v2)"
                .into()
        )
    );
}

fn page_body(ids: &[&str], next: Option<&str>) -> String {
    let items: Vec<String> = ids
        .iter()
        .map(|id| {
            format!(
                r#"{{"id":"{id}","number":1,"state":"created","created_at":"2024-01-31T00:00:00Z","updated_at":null,"errors":[]}}"#
            )
        })
        .collect();
    let next = match next {
        Some(t) => format!("\"{t}\""),
        None => "null".into(),
    };
    format!(
        "{{\"items\": [{}], \"next_page_token\": {next}}}",
        items.join(",\n ")
    )
}

#[test]
fn pipelines_stream_pages_through_every_project() {
    let settings = r#"{"project_slugs":["gh/acme/api","bb/acme/empty","github/acme/w%eb"],"start_date":"2024-01-01T00:00:00Z"}"#;
    let base = "https://ci.example.com/circleci/api/v2/project";
    let mut fake = Fake::new()
        .on(
            &format!("{base}/gh/acme/api/pipeline"),
            200,
            &page_body(&["a1", "a2"], Some("tok/1+=")),
        )
        .on(
            &format!("{base}/gh/acme/api/pipeline?page-token=tok%2F1%2B%3D"),
            200,
            &page_body(&["a3"], None),
        )
        .on(
            &format!("{base}/bb/acme/empty/pipeline"),
            200,
            r#"{"items":[],"next_page_token":null}"#,
        )
        .on(
            &format!("{base}/github/acme/w%25eb/pipeline"),
            200,
            &page_body(&["c1"], None),
        );
    let credential = cred(Some("https://ci.example.com/circleci/"));
    let page = One::from(fetch(&mut fake, &credential, &req("pipelines", settings, None)).unwrap());
    let mut records = Vec::new();
    for r in &page.records {
        let v: serde_json::Value = serde_json::from_str(r).unwrap();
        assert!(
            v.get("updated_at").is_some_and(|u| u.is_null()),
            "null kept: {r}"
        );
        assert!(!r.contains('\n'));
        records.push(v["id"].as_str().unwrap().to_string());
    }
    assert_eq!(records, ["a1", "a2", "a3", "c1"]);
    assert!(!page.has_more);
    // An incremental stream ends with its cursor: one entry per project.
    let state = page.state.unwrap();
    assert!(
        state.starts_with(r#"{"v":1,"stream":"pipelines","fp":""#),
        "{state}"
    );
    assert!(
        state.ends_with(
            r#""cursor":{"as_of":"2024-01-31T00:00:00Z","projects":{"bb/acme/empty":{},"gh/acme/api":{"hwm":"2024-01-31T00:00:00Z"},"gh/acme/w%eb":{"hwm":"2024-01-31T00:00:00Z"}}}}"#
        ),
        "{state}"
    );
    assert!(fake.script.is_empty());
}

#[test]
fn pipelines_errors_keep_the_state_safe() {
    let settings = r#"{"project_slugs":["gh/acme/api","gh/acme/web"]}"#;
    let url = "https://circleci.com/api/v2/project/gh/acme/api/pipeline";
    // Truncated JSON is a bad response, never a last page.
    let mut fake = Fake::new().on(url, 200, r#"{"items":[{"id":"a1"}],"next_page"#);
    let e = call(&mut fake, "pipelines", settings, None).unwrap_err();
    assert_eq!(e.kind(), "bad-response");
    // A token repeated forever is caught: the first call keeps what it read
    // and points at the request that failed; the retry surfaces the error.
    let mut fake = Fake::new().on(url, 200, &page_body(&["a1"], Some("t"))).on(
        &format!("{url}?page-token=t"),
        200,
        &page_body(&["a1"], Some("t")),
    );
    let first = call(&mut fake, "pipelines", settings, None).unwrap();
    assert_eq!(first.records.len(), 1);
    assert!(first.has_more);
    assert!(
        first.notices[0].starts_with(
            "stopped after 1 request(s) because a request failed (bad-response: CircleCI sent the same \
             next_page_token again"
        ),
        "{:?}",
        first.notices
    );
    let state = first.state.unwrap();
    let mut fake = Fake::new().on(
        &format!("{url}?page-token=t"),
        200,
        &page_body(&["a1"], Some("t")),
    );
    let e = call(&mut fake, "pipelines", settings, Some(&state)).unwrap_err();
    assert!(
        matches!(&e, ConnectorError::BadResponse(m) if m.contains("same next_page_token")),
        "{e:?}"
    );
    // A page token's 404 ends the call with a state that counts it and
    // still points at the token: the next call asks again (the listing is
    // restarted only after several in a row; see `stale`).
    let mut fake = Fake::new().on(
        &format!("{url}?page-token=t"),
        404,
        r#"{"message":"Not Found"}"#,
    );
    let page = call(&mut fake, "pipelines", settings, Some(&state)).unwrap();
    assert!(page.records.is_empty() && page.has_more);
    assert_eq!(
        page.notices,
        [
            "the page token for pipelines of project gh/acme/api answered 404 (1 in a row): the next call \
          asks for that page again; after 3 the listing is read again from its first page"
        ]
    );
    let struck = page.state.unwrap();
    assert!(struck.contains(r#""t":"t","n":1,"s":1"#), "{struck}");
    let mut fake = Fake::new()
        .on(
            &format!("{url}?page-token=t"),
            200,
            &page_body(&["a2"], None),
        )
        .on(
            "https://circleci.com/api/v2/project/gh/acme/web/pipeline",
            200,
            &page_body(&[], None),
        );
    let page = call(&mut fake, "pipelines", settings, Some(&struck)).unwrap();
    assert_eq!(page.records.len(), 1);
    assert!(!page.has_more && page.notices.is_empty() && fake.script.is_empty());
    // The state does not fit other settings or another stream.
    for other in [
        r#"{"project_slugs":["gh/acme/web"]}"#,
        r#"{"project_slugs":["gh/acme/api","gh/acme/web"],"start_date":"2024-01-01T00:00:00Z"}"#,
        r#"{"project_slugs":["gh/acme/api","gh/acme/web"],"org_slug":"gh/acme"}"#,
    ] {
        let e = call(&mut Fake::new(), "pipelines", other, Some(&state)).unwrap_err();
        assert!(
            matches!(&e, ConnectorError::InvalidState(m) if m.starts_with("the settings (project_slugs, org_slug or start_date) changed")),
            "{e:?}"
        );
    }
    // The same settings written another way still fit.
    let mut fake = Fake::new()
        .on(
            "https://circleci.com/api/v2/project/github/acme/api/pipeline?page-token=t",
            200,
            &page_body(&[], None),
        )
        .on(
            "https://circleci.com/api/v2/project/gh/acme/web/pipeline",
            200,
            &page_body(&[], None),
        );
    let page = call(
        &mut fake,
        "pipelines",
        r#"{"project_slugs":["github/acme/api","gh%2Facme%2Fweb"]}"#,
        Some(&state),
    )
    .unwrap();
    assert!(!page.has_more && fake.script.is_empty());
    let e = call(&mut Fake::new(), "projects", settings, Some(&state)).unwrap_err();
    assert_eq!(e.kind(), "invalid-state");
    let e = call(&mut Fake::new(), "pipelines", settings, Some("{\"v\":9}")).unwrap_err();
    assert_eq!(e.kind(), "invalid-state");
    // Rate limits carry the hint.
    let mut fake = Fake::new().on_resp(
        url,
        Ok(resp(429, &[("retry-after", "20")], "Rate limited.")),
    );
    let e = call(&mut fake, "pipelines", settings, None).unwrap_err();
    assert_eq!(
        e,
        ConnectorError::RateLimited(RetryHint {
            retry_after_ms: Some(20_000),
            message: "CircleCI rate limit reached while reading pipelines of project gh/acme/api (HTTP 429): Rate limited."
                .into()
        })
    );
}

/// The second page of a listing answers 200 with a body that is cut off,
/// not JSON, or not a page: never an empty or last page. The call keeps the
/// first page and points its state at the second; the retry surfaces the
/// error. Same for the first page of a listing under another.
#[test]
fn a_broken_200_is_never_an_empty_or_last_page() {
    let settings = r#"{"project_slugs":["gh/acme/api"]}"#;
    let url = "https://circleci.com/api/v2/project/gh/acme/api/pipeline";
    let good = page_body(&["a3"], None);
    // (body, headers, the error kind it must give)
    type Case = (String, Vec<(&'static str, String)>, &'static str);
    let mut broken: Vec<Case> = vec![
        // Cut off anywhere.
        (String::new(), vec![], "bad-response"),
        ("{".into(), vec![], "bad-response"),
        (r#"{"items":["#.into(), vec![], "bad-response"),
        (r#"{"items":[]"#.into(), vec![], "bad-response"),
        (
            r#"{"items":[],"next_page_token":nu"#.into(),
            vec![],
            "bad-response",
        ),
        // Whole JSON, but not a page.
        ("{}".into(), vec![], "bad-response"),
        (r#"{"next_page_token":null}"#.into(), vec![], "bad-response"),
        (
            r#"{"items":null,"next_page_token":null}"#.into(),
            vec![],
            "bad-response",
        ),
        (
            r#"{"items":{},"next_page_token":null}"#.into(),
            vec![],
            "bad-response",
        ),
        (
            r#"{"items":"","next_page_token":null}"#.into(),
            vec![],
            "bad-response",
        ),
        (
            r#"{"items":[null],"next_page_token":null}"#.into(),
            vec![],
            "bad-response",
        ),
        (
            r#"{"items":[],"next_page_token":false}"#.into(),
            vec![],
            "bad-response",
        ),
        (
            r#"{"items":[],"next_page_token":null}x"#.into(),
            vec![],
            "bad-response",
        ),
        ("null".into(), vec![], "bad-response"),
        ("[]".into(), vec![], "bad-response"),
        ("Rate limited.".into(), vec![], "bad-response"),
        ("<html>maintenance</html>".into(), vec![], "bad-response"),
        // A pipeline without its created_at cannot be placed in time.
        (
            r#"{"items":[{"id":"a3"}],"next_page_token":null}"#.into(),
            vec![],
            "bad-response",
        ),
        // A whole page, but cut off in transit: shorter than Content-Length.
        (
            good[..good.len() / 2].to_string(),
            vec![("Content-Length", good.len().to_string())],
            "unavailable",
        ),
        (
            r#"{"items":[],"next_page_token":null}"#.into(),
            vec![("Content-Length", "100".into())],
            "unavailable",
        ),
    ];
    // Every cut of a real page.
    for cut in (0..good.len()).step_by(7) {
        broken.push((good[..cut].to_string(), vec![], "bad-response"));
    }
    for (body, headers, kind) in broken {
        let answer = |body: &str| {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            Ok(resp(200, &headers, body))
        };
        let mut fake = Fake::new()
            .on(url, 200, &page_body(&["a1", "a2"], Some("t")))
            .on_resp(&format!("{url}?page-token=t"), answer(&body));
        let page = call(&mut fake, "pipelines", settings, None).unwrap();
        assert!(page.has_more, "{body:?} ended the listing");
        assert_eq!(page.records.len(), 2, "{body:?}");
        assert!(
            page.notices[0].contains(&format!("({kind}: ")),
            "{body:?}: {:?}",
            page.notices
        );
        let state = page.state.unwrap();
        assert!(state.contains(r#""t":"t""#), "{body:?}: {state}");
        let mut fake = Fake::new().on_resp(&format!("{url}?page-token=t"), answer(&body));
        let e = call(&mut fake, "pipelines", settings, Some(&state)).unwrap_err();
        assert_eq!(e.kind(), kind, "{body:?}: {e}");

        // As the first page of the workflows under a pipeline (where an
        // item without created_at is fine).
        if body.contains(r#"[{"id":"a3"}]"#) {
            continue;
        }
        let workflows = "https://circleci.com/api/v2/pipeline/p1/workflow";
        let mut fake = Fake::new()
            .on(url, 200, &page_body(&["p1"], None))
            .on_resp(workflows, answer(&body));
        let page = call(&mut fake, "workflows", settings, None).unwrap();
        assert!(page.has_more && page.records.is_empty(), "{body:?}");
        assert!(page.notices[0].contains(&format!("({kind}: ")), "{body:?}");
        let state = page.state.unwrap();
        let mut fake = Fake::new().on_resp(workflows, answer(&body));
        let e = call(&mut fake, "workflows", settings, Some(&state)).unwrap_err();
        assert_eq!(e.kind(), kind, "{body:?}: {e}");
    }
}

#[test]
fn settings_and_streams_are_checked_before_any_request() {
    let mut fake = Fake::new();
    let e = call(&mut fake, "builds", "{}", None).unwrap_err();
    assert_eq!(
        e,
        ConnectorError::InvalidSettings(
            "unknown stream `builds`; the valid streams are me, collaborations, projects, pipelines, workflows, \
             jobs, job_details, artifacts, tests, contexts, context_environment_variables, insights_workflows, \
             insights_workflow_runs"
                .into()
        )
    );
    let e = call(
        &mut fake,
        "pipelines",
        r#"{"project_slugs":["gh/only-two"]}"#,
        None,
    )
    .unwrap_err();
    assert_eq!(e.kind(), "invalid-settings");
    let e = call(&mut fake, "me", r#"{"slugs":[]}"#, None).unwrap_err();
    assert_eq!(e.kind(), "invalid-settings");
    assert!(fake.sent.is_empty());
    assert!(fake.urls().is_empty());
}

#[test]
fn catalog_lists_the_streams() {
    use SyncMode::{FullRefresh as F, Incremental as I};
    let specs = streams();
    type Row<'a> = (
        &'a str,
        Vec<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Vec<SyncMode>,
    );
    let table: Vec<Row> = specs
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.primary_key.iter().map(String::as_str).collect(),
                s.cursor_field.as_deref(),
                s.parent.as_deref(),
                s.sync_modes.clone(),
            )
        })
        .collect();
    // The table of docs/streams.md.
    assert_eq!(
        table,
        vec![
            ("me", vec!["id"], None, None, vec![F]),
            ("collaborations", vec!["id"], None, None, vec![F]),
            ("projects", vec!["id"], None, None, vec![F]),
            (
                "pipelines",
                vec!["id"],
                Some("updated_at"),
                Some("projects"),
                vec![F, I]
            ),
            (
                "workflows",
                vec!["id"],
                Some("stopped_at"),
                Some("pipelines"),
                vec![F, I]
            ),
            (
                "jobs",
                vec!["id"],
                Some("stopped_at"),
                Some("workflows"),
                vec![F, I]
            ),
            (
                "job_details",
                vec!["project_slug", "number"],
                Some("stopped_at"),
                Some("jobs"),
                vec![F, I]
            ),
            (
                "artifacts",
                vec!["project_slug", "job_number", "node_index", "path"],
                None,
                Some("jobs"),
                vec![F, I]
            ),
            (
                "tests",
                vec!["project_slug", "job_number", "test_index"],
                None,
                Some("jobs"),
                vec![F, I]
            ),
            ("contexts", vec!["id"], None, None, vec![F]),
            (
                "context_environment_variables",
                vec!["context_id", "variable"],
                None,
                Some("contexts"),
                vec![F]
            ),
            (
                "insights_workflows",
                vec!["project_slug", "name"],
                None,
                Some("projects"),
                vec![F]
            ),
            (
                "insights_workflow_runs",
                vec!["id"],
                None,
                Some("insights_workflows"),
                vec![F]
            ),
        ]
    );
    let p = &specs[3];
    let schema: serde_json::Value = serde_json::from_str(&p.json_schema).unwrap();
    for field in [
        "id",
        "project_slug",
        "number",
        "state",
        "created_at",
        "updated_at",
        "errors",
        "trigger",
        "vcs",
        "trigger_parameters",
    ] {
        assert!(schema["properties"].get(field).is_some(), "{field}");
    }
    // Project-rooted streams say how projects are found.
    for s in &specs {
        let rooted = s.parent.is_some() && !s.name.starts_with("context") || s.name == "projects";
        assert_eq!(
            s.description.contains("discovered"),
            rooted,
            "{}: {}",
            s.name,
            s.description
        );
    }
    // Every key the connector adds is in its stream's schema.
    for (stream, keys) in [
        ("jobs", &["workflow_id", "pipeline_id", "project_slug"][..]),
        (
            "job_details",
            &["project_slug", "job_id", "workflow_id", "pipeline_id"],
        ),
        ("artifacts", &["project_slug", "job_number", "job_id"]),
        (
            "tests",
            &["project_slug", "job_number", "job_id", "test_index"],
        ),
        ("contexts", &["owner_slug"]),
        ("context_environment_variables", &["context_id"]),
        ("insights_workflows", &["project_slug"]),
        ("insights_workflow_runs", &["project_slug", "workflow_name"]),
    ] {
        let spec = specs.iter().find(|s| s.name == stream).unwrap();
        let schema: serde_json::Value = serde_json::from_str(&spec.json_schema).unwrap();
        for key in keys {
            assert!(
                schema["properties"].get(*key).is_some()
                    && schema["required"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|k| k == *key),
                "{stream}: {key}"
            );
        }
    }
    assert_eq!(credential_schema().fields.len(), 2);
}
