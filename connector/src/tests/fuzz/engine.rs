//! Whole `fetch` calls: one fault anywhere in a sync (an answer cut off,
//! an error status, a page token's 404s, passing or stale, a transport
//! failure) loses nothing once the host retries as it does; and any state
//! with any answers gives pages or typed errors, never a panic.

use super::super::fake::{FakeCi, t};
use super::{config, edits, json_value, mutate};
use crate::state::{CursorState, WalkState};
use crate::walk::MAX_REQUESTS;
use crate::{ConnectorError, FetchRequest, HttpClient, HttpResponse, Page, TransportError, fetch};
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::sync::OnceLock;

const KEY: &str = "CCIPAT_fuzz_0123456789abcdef";

/// The streams of a sync, with settings that read the fake's data (the
/// empty settings discover projects and organisations): each stream alone,
/// and walks of several.
const SYNCS: &[(&[&str], &str)] = &[
    (&["pipelines"], r#"{"project_slugs":["gh/acme/api"]}"#),
    (&["workflows"], r#"{"project_slugs":["gh/acme/api"]}"#),
    (&["jobs"], r#"{"project_slugs":["gh/acme/api"]}"#),
    (&["job_details"], r#"{"project_slugs":["gh/acme/api"]}"#),
    (&["tests"], r#"{"project_slugs":["gh/acme/api"]}"#),
    (&["artifacts"], r#"{"project_slugs":["gh/acme/api"]}"#),
    (&["projects"], "{}"),
    (&["contexts"], "{}"),
    (
        &["context_environment_variables"],
        r#"{"org_slug":"gh/acme"}"#,
    ),
    (
        &["insights_workflows"],
        r#"{"project_slugs":["gh/acme/api"]}"#,
    ),
    (
        &["insights_workflow_runs"],
        r#"{"project_slugs":["gh/acme/api"]}"#,
    ),
    (&["me"], ""),
    (&["collaborations"], ""),
    (
        &[
            "projects",
            "pipelines",
            "workflows",
            "jobs",
            "job_details",
            "artifacts",
            "tests",
            "insights_workflows",
            "insights_workflow_runs",
        ],
        "{}",
    ),
    (&["tests", "jobs"], r#"{"project_slugs":["gh/acme/api"]}"#),
    (&["context_environment_variables", "contexts"], "{}"),
];

/// Requests in flight together in a sync.
fn concurrency() -> impl Strategy<Value = u32> {
    prop_oneof![Just(1u32), Just(3), Just(8)]
}

fn credential() -> Vec<(String, String)> {
    vec![("api_key".into(), KEY.into())]
}

/// Small, but every listing has two pages somewhere: 21 pipelines, and 21
/// tests per build job; 21 contexts, the first with 21 variables.
fn upstream() -> FakeCi {
    let mut fake = FakeCi::new();
    let a = fake.add_project("gh/acme/api");
    for i in 0..21 {
        fake.push_finished(a, t(i * 10), if i % 10 == 0 { 21 } else { 1 });
    }
    for i in 0..21 {
        fake.contexts.push(super::super::fake::Context {
            id: format!("ctx-{i:02}"),
            org: "gh/acme".into(),
            vars: if i == 0 {
                (0..21).map(|v| format!("VAR_{v}")).collect()
            } else {
                vec!["ONE".into()]
            },
        });
    }
    fake
}

/// What went wrong with one answer.
#[derive(Debug, Clone)]
enum Fault {
    /// A 200's body cut to `per_mille` of its length (always shorter);
    /// with its original `Content-Length` when `declared`.
    Cut {
        per_mille: u16,
        declared: bool,
    },
    /// This status instead, with `Retry-After` and one of CircleCI's
    /// error bodies.
    Status {
        status: u16,
        retry: Option<u16>,
        body: usize,
    },
    /// When the request carries a page token: 404 for it `times` times in
    /// a row (a passing fault when at most `MAX_STRIKES`, else a stale
    /// token that restarts the listing); else one 500.
    Stale {
        times: usize,
    },
    Transport(usize),
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        3 => (0u16..1000, any::<bool>()).prop_map(|(per_mille, declared)| Fault::Cut { per_mille, declared }),
        2 => (
            prop_oneof![Just(429u16), Just(500), Just(502), Just(503), Just(408)],
            proptest::option::of(0u16..100),
            0usize..4,
        )
            .prop_map(|(status, retry, body)| Fault::Status { status, retry, body }),
        2 => (1usize..=8).prop_map(|times| Fault::Stale { times }),
        1 => (0usize..4).prop_map(Fault::Transport),
    ]
}

/// Answers from the fake, except answer number `at`, which has `fault`.
struct Faulty<'a> {
    inner: &'a mut FakeCi,
    sent: usize,
    at: usize,
    fault: Fault,
    /// A stale token's URL, and how many more 404s it gets.
    stale: Option<(String, usize)>,
}

impl HttpClient for Faulty<'_> {
    fn get(&mut self, url: &str, headers: &[(&str, &str)]) -> Result<HttpResponse, TransportError> {
        let n = self.sent;
        self.sent += 1;
        let answer = self.inner.get(url, headers)?;
        let not_found = || HttpResponse {
            status: 404,
            headers: vec![],
            body: br#"{"message":"Not Found"}"#.to_vec(),
        };
        if let Some((stale, left)) = &mut self.stale
            && stale == url
            && *left > 0
        {
            *left -= 1;
            return Ok(not_found());
        }
        if n != self.at {
            return Ok(answer);
        }
        let bodies = [
            "",
            "Rate limited.",
            "{}",
            r#"{"message":"Internal server error."}"#,
        ];
        Ok(match self.fault.clone() {
            Fault::Cut {
                per_mille,
                declared,
            } => {
                let mut r = answer;
                let len = r.body.len();
                if declared {
                    r.headers.push(("Content-Length".into(), len.to_string()));
                }
                r.body.truncate(len * per_mille as usize / 1000);
                r
            }
            Fault::Status {
                status,
                retry,
                body,
            } => HttpResponse {
                status,
                headers: retry
                    .map(|s| ("Retry-After".to_string(), s.to_string()))
                    .into_iter()
                    .collect(),
                body: bodies[body].as_bytes().to_vec(),
            },
            Fault::Stale { times } if url.contains("page-token=") => {
                self.stale = Some((url.to_string(), times - 1));
                not_found()
            }
            Fault::Stale { .. } => HttpResponse {
                status: 500,
                headers: vec![],
                body: br#"{"message":"Internal server error."}"#.to_vec(),
            },
            Fault::Transport(k) => {
                return Err(match k {
                    0 => TransportError::Timeout("ConnectionReadTimeout".into()),
                    1 => TransportError::Connection("ConnectionTerminated".into()),
                    2 => TransportError::Protocol("HttpResponseIncomplete".into()),
                    _ => TransportError::Other("?".into()),
                });
            }
        })
    }
}

/// What a whole sync returned.
struct Outcome {
    /// Per stream of the request.
    records: Vec<Vec<String>>,
    cursors: Vec<Option<String>>,
    /// Every state a call returned, in order.
    states: Vec<String>,
}

fn request(streams: &[&str], settings: &str, concurrency: u32) -> FetchRequest {
    let mut request = FetchRequest::new(streams, settings);
    request.concurrency = concurrency;
    request
}

/// Runs a sync as the host does: calls until `has_more` is false,
/// retrying a call that failed with a retryable or bad-response error
/// (with the same state), a few times at most.
fn sync(
    client: &mut dyn HttpClient,
    streams: &[&str],
    settings: &str,
    concurrency: u32,
) -> Result<Outcome, TestCaseError> {
    let mut out = Outcome {
        records: streams.iter().map(|_| Vec::new()).collect(),
        cursors: Vec::new(),
        states: Vec::new(),
    };
    let mut request = request(streams, settings, concurrency);
    let mut failures = 0;
    for _ in 0..1000 {
        match fetch(client, &credential(), &request) {
            Ok(page) => {
                check_page(&page, streams, settings)?;
                for r in page.records {
                    out.records[r.stream as usize].push(r.data);
                }
                out.states.extend(page.state.clone());
                request.state = page.state;
                if !page.has_more {
                    out.cursors = page.cursors;
                    return Ok(out);
                }
            }
            Err(e) => {
                prop_assert!(
                    matches!(
                        e,
                        ConnectorError::RateLimited(_)
                            | ConnectorError::Unavailable(_)
                            | ConnectorError::BadResponse(_)
                    ),
                    "{streams:?}: {e:?}"
                );
                // One fault fails at most one call: the retry of the
                // request it hit gets the real answer.
                failures += 1;
                prop_assert!(failures <= 1, "{streams:?}: failed again: {e:?}");
            }
        }
    }
    Err(TestCaseError::fail(format!("{streams:?}: runaway sync")))
}

/// What every page must be: JSON object records of the request's streams,
/// a state that reads back whenever there is more (and cursors that do
/// once there is not), no key.
fn check_page(page: &Page, streams: &[&str], settings: &str) -> Result<(), TestCaseError> {
    for r in &page.records {
        prop_assert!((r.stream as usize) < streams.len());
        let v: serde_json::Value = serde_json::from_str(&r.data)
            .map_err(|e| TestCaseError::fail(format!("{streams:?}: record {}: {e}", r.data)))?;
        prop_assert!(v.is_object());
    }
    prop_assert!(
        page.has_more == page.state.is_some(),
        "{streams:?}: more without a state, or a state without more"
    );
    let fp = crate::settings::Settings::parse(settings)
        .unwrap()
        .fingerprint();
    let names: Vec<String> = streams.iter().map(|s| s.to_string()).collect();
    if let Some(s) = &page.state {
        let decoded = WalkState::decode(s, &names, &fp, crate::settings::FINGERPRINTED);
        prop_assert!(decoded.is_ok(), "{streams:?}: {s}: {decoded:?}");
        prop_assert!(page.cursors.is_empty());
    } else {
        prop_assert_eq!(page.cursors.len(), streams.len());
        for (name, cursor) in streams.iter().zip(&page.cursors) {
            if let Some(c) = cursor {
                let decoded = CursorState::decode(c, name, &fp, crate::settings::FINGERPRINTED);
                prop_assert!(decoded.is_ok(), "{name}: {c}: {decoded:?}");
            }
        }
    }
    for n in page.notices.iter().chain(&page.skipped) {
        prop_assert!(!n.contains(KEY));
    }
    Ok(())
}

/// Each sync's fault-free run, one request at a time.
struct Baseline {
    /// Per stream.
    records: Vec<BTreeSet<String>>,
    cursors: Vec<Option<String>>,
    /// Every state it went through.
    states: Vec<String>,
    requests: usize,
}

fn baselines() -> &'static Vec<Baseline> {
    static B: OnceLock<Vec<Baseline>> = OnceLock::new();
    B.get_or_init(|| {
        SYNCS
            .iter()
            .map(|(streams, settings)| {
                let mut fake = upstream();
                let out = sync(&mut fake, streams, settings, 1).expect("a clean sync");
                Baseline {
                    records: out
                        .records
                        .into_iter()
                        .map(|r| r.into_iter().collect())
                        .collect(),
                    cursors: out.cursors,
                    states: out.states,
                    requests: fake.log.len(),
                }
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(config(96))]

    /// One fault at any answer of a sync of any streams, with any number of
    /// requests in flight: the sync still ends, with every record of the
    /// fault-free sync for every stream (duplicates allowed: a restarted
    /// listing reads records again) and the same cursors; and the same
    /// requests, each once (a restarted listing aside).
    #[test]
    fn one_fault_anywhere_loses_nothing(
        which in 0..SYNCS.len(),
        at in any::<usize>(),
        fault in fault(),
        concurrency in concurrency(),
    ) {
        let (streams, settings) = SYNCS[which];
        let want = &baselines()[which];
        let mut fake = upstream();
        let restarts = matches!(fault, Fault::Stale { times } if times > crate::state::MAX_STRIKES as usize);
        let mut client = Faulty {
            inner: &mut fake,
            sent: 0,
            at: at % want.requests,
            fault,
            stale: None,
        };
        let out = sync(&mut client, streams, settings, concurrency)?;
        for (k, stream) in streams.iter().enumerate() {
            let got: BTreeSet<String> = out.records[k].iter().cloned().collect();
            prop_assert_eq!(got.len(), want.records[k].len(), "{}: records missing or extra", stream);
            prop_assert!(got == want.records[k], "{stream}: other records");
            if !restarts {
                prop_assert_eq!(out.records[k].len(), got.len(), "{}: a record read twice", stream);
            }
        }
        prop_assert_eq!(&out.cursors, &want.cursors, "{:?}", streams);
        let urls: BTreeSet<&String> = fake.log.iter().collect();
        if !restarts {
            // Each request once, but the one the fault hit (asked again).
            prop_assert!(fake.log.len() <= want.requests + crate::state::MAX_STRIKES as usize + 1);
        }
        prop_assert!(urls.len() <= want.requests, "{:?}: a request the clean sync did not make", streams);
    }

    /// Any number of requests in flight reads the same records, with the
    /// same requests, each once, as one at a time.
    #[test]
    fn concurrency_reads_the_same(which in 0..SYNCS.len(), concurrency in concurrency()) {
        let (streams, settings) = SYNCS[which];
        let want = &baselines()[which];
        let mut fake = upstream();
        let out = sync(&mut fake, streams, settings, concurrency)?;
        for (k, stream) in streams.iter().enumerate() {
            prop_assert_eq!(out.records[k].len(), want.records[k].len(), "{}", stream);
            let got: BTreeSet<String> = out.records[k].iter().cloned().collect();
            prop_assert!(got == want.records[k], "{stream}: other records");
        }
        prop_assert_eq!(&out.cursors, &want.cursors);
        prop_assert_eq!(fake.log.len(), want.requests);
        let urls: BTreeSet<&String> = fake.log.iter().collect();
        prop_assert_eq!(urls.len(), fake.log.len(), "a request made twice");
        prop_assert!(fake.batches.iter().all(|&b| b <= concurrency as usize));
    }
}

/// An answer from anywhere: statuses, headers and bodies a broken or
/// hostile upstream could send.
fn answer() -> impl Strategy<Value = Result<HttpResponse, TransportError>> {
    let body = prop_oneof![
        Just(br#"{"items":[],"next_page_token":null}"#.to_vec()),
        Just(br#"{"items":[{"id":"a","created_at":"2024-01-31T00:00:00Z","job_number":1,"status":"running","name":"w"}],"next_page_token":"t"}"#.to_vec()),
        Just(br#"[{"slug":"gh/acme","id":"o"}]"#.to_vec()),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        (json_value(), edits(3)).prop_map(|(v, e)| mutate(v.to_string().as_bytes(), &e)),
        proptest::collection::vec(any::<u8>(), 0..64),
        (proptest::collection::vec(json_value(), 0..4), proptest::option::of(".{0,8}")).prop_map(|(items, t)| {
            serde_json::json!({"items": items, "next_page_token": t}).to_string().into_bytes()
        }),
    ];
    let header = prop_oneof![
        Just("Date"),
        Just("Retry-After"),
        Just("Content-Length"),
        Just("Content-Encoding"),
        Just("X-RateLimit-Reset"),
    ];
    let value = prop_oneof![
        Just("Tue, 21 Sep 1677 00:12:44 GMT".to_string()),
        Just("Fri, 11 Apr 2262 23:47:16 GMT".to_string()),
        Just("Wed, 31 Jan 2024 00:00:00 GMT".to_string()),
        "[0-9]{1,22}",
        ".{0,12}",
    ];
    prop_oneof![
        8 => (
            prop_oneof![4 => Just(200u16), 1 => 100u16..600],
            proptest::collection::vec((header, value), 0..3),
            body,
        )
            .prop_map(|(status, headers, body)| Ok(HttpResponse {
                status,
                headers: headers.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
                body,
            })),
        1 => Just(Err(TransportError::Timeout("x".into()))),
        1 => Just(Err(TransportError::TooLarge)),
    ]
}

/// Answers from a list, in turn.
struct Scripted {
    answers: Vec<Result<HttpResponse, TransportError>>,
    sent: usize,
}

impl HttpClient for Scripted {
    fn get(&mut self, url: &str, headers: &[(&str, &str)]) -> Result<HttpResponse, TransportError> {
        // Every path stays under the API, with no empty, `.` or `..` segment.
        let path = url.strip_prefix("https://circleci.com/api/v2/").expect(url);
        let path = path.split('?').next().unwrap();
        assert!(
            path.split('/')
                .all(|s| !s.is_empty() && s != "." && s != ".."),
            "{url}"
        );
        assert!(
            headers
                .iter()
                .any(|(k, v)| *k == "Circle-Token" && *v == KEY)
        );
        let a = self.answers[self.sent % self.answers.len()].clone();
        self.sent += 1;
        a
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// Any stream, any state (one the connector could have written, or one
    /// mangled), any answers: pages whose state reads back, or typed
    /// errors; never a panic, never more than the request budget.
    #[test]
    fn any_state_and_any_answers_never_panic(
        which in 0..SYNCS.len(),
        state in proptest::option::of(super::state::walk_state()),
        cursor in proptest::option::of(super::state::cursor_state()),
        mangle in edits(2),
        answers in proptest::collection::vec(answer(), 1..6),
        concurrency in concurrency(),
    ) {
        let (streams, settings) = SYNCS[which];
        let fp = crate::settings::Settings::parse(settings).unwrap().fingerprint();
        let mut request = request(streams, settings, concurrency);
        request.state = state.map(|mut s| {
            s.streams = streams.iter().map(|s| s.to_string()).collect();
            s.fp = fp.clone();
            let text = s.encode();
            String::from_utf8_lossy(&mutate(text.as_bytes(), &mangle)).into_owned()
        });
        if let Some(mut c) = cursor {
            c.stream = streams[0].into();
            c.fp = fp.clone();
            request.cursors = streams.iter().map(|_| None).collect();
            request.cursors[0] = Some(c.encode());
        }
        let mut client = Scripted { answers, sent: 0 };
        for _ in 0..3 {
            let before = client.sent;
            let result = fetch(&mut client, &credential(), &request);
            prop_assert!(client.sent - before <= MAX_REQUESTS);
            match result {
                Ok(page) => {
                    check_page(&page, streams, settings)?;
                    if !page.has_more {
                        break;
                    }
                    request.state = page.state;
                }
                Err(e) => {
                    prop_assert!(!e.message().contains(KEY));
                    break;
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// The states a real sync went through, mangled (bytes edited, or one
    /// value swapped for any JSON), against the real upstream: pages whose
    /// state reads back, or typed errors; never a panic.
    #[test]
    fn mangled_real_states_never_panic(
        which in any::<usize>(),
        pick in any::<usize>(),
        mangle in edits(3),
        slot in any::<usize>(),
        value in proptest::option::of(json_value()),
    ) {
        // The streams whose syncs have states (not `me`, `collaborations`).
        let with_states: Vec<usize> =
            (0..SYNCS.len()).filter(|&i| !baselines()[i].states.is_empty()).collect();
        let which = with_states[which % with_states.len()];
        let (streams, settings) = SYNCS[which];
        let states = &baselines()[which].states;
        let text = &states[pick % states.len()];
        let state = match value {
            Some(value) => {
                let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
                let mut n = slot % super::state::count(&v);
                super::state::replace_nth(&mut v, &mut n, &mut Some(value));
                v.to_string()
            }
            None => String::from_utf8_lossy(&mutate(text.as_bytes(), &mangle)).into_owned(),
        };
        let mut fake = upstream();
        let mut request = request(streams, settings, 4);
        request.state = Some(state);
        for _ in 0..4 {
            match fetch(&mut fake, &credential(), &request) {
                Ok(page) => {
                    check_page(&page, streams, settings)?;
                    if !page.has_more {
                        break;
                    }
                    request.state = page.state;
                }
                Err(_) => break,
            }
        }
    }
}

/// Found by `any_state_and_any_answers_never_panic`: progress that the
/// settings make impossible (discovery under way, or a position past the
/// first root, while the roots are named by the settings or not yet found)
/// was read, walked, and written back as a state that no longer read.
#[test]
fn progress_that_does_not_fit_the_settings_is_refused() {
    let mut fake = upstream();
    for (stream, settings, run) in [
        (
            "context_environment_variables",
            r#"{"org_slug":"gh/acme"}"#,
            r#"{"disc":{"orgs":[]}}"#,
        ),
        ("contexts", "{}", r#"{"disc":{"orgs":["gh/acme"]}}"#),
        (
            "jobs",
            r#"{"project_slugs":["gh/acme/api"]}"#,
            r#"{"disc":{}}"#,
        ),
        ("projects", "{}", r#"{"next":1}"#),
        ("projects", "{}", r#"{"open":[{"r":0,"k":0,"t":"t"}]}"#),
        (
            "jobs",
            r#"{"project_slugs":["gh/acme/api"]}"#,
            r#"{"open":[{"r":0,"k":3}]}"#,
        ),
        (
            "projects",
            r#"{"project_slugs":["gh/acme/api"]}"#,
            r#"{"oid":[]}"#,
        ),
    ] {
        let fp = crate::settings::Settings::parse(settings)
            .unwrap()
            .fingerprint();
        let state = format!(r#"{{"v":2,"streams":["{stream}"],"fp":"{fp}","run":{run}}}"#);
        let mut request = request(&[stream], settings, 1);
        request.state = Some(state);
        let e = fetch(&mut fake, &credential(), &request).unwrap_err();
        assert!(
            e.message().starts_with("the state's progress does not fit"),
            "{stream} {run}: {e}"
        );
    }
    assert!(fake.log.is_empty());
}
