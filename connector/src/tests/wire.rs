//! States written by the connector before its traversal engine moved into
//! `connector-sdk`, captured from that code: each still decodes, writes
//! back to the same bytes, and resumes to the same end (the same requests,
//! records and cursors) as the code that wrote it.

use super::fake::{Context, FakeCi, t};
use super::traversal::{change, incremental_fake};
use crate::FetchRequest;
use crate::settings::FINGERPRINTED;
use crate::state::{CursorState, WalkState};
use connector_sdk::state::fingerprint;

/// Every stream the project tree reads below projects.
const STREAMS: &[&str] = &[
    "pipelines",
    "workflows",
    "jobs",
    "job_details",
    "artifacts",
    "tests",
];
/// Projects discovered in one organisation: the walk state keeps the
/// discovery's progress, then the roots it found.
const SETTINGS: &str = r#"{"org_slug":"gh/acme"}"#;
/// The organisation tree's streams.
const ORG_STREAMS: &[&str] = &["contexts", "context_environment_variables"];

/// The upstream of the project tree's two syncs: the incremental fake, one
/// of whose workflows is deleted after it was listed at the first (its
/// jobs are skipped and kept for the next sync to try once more), with
/// `Date` headers; `changed`: as it is at the second, where that workflow's
/// jobs list again. (The captured syncs also had a discovery page token
/// answer 404 once in the first, and the tests of a job read again answer
/// 500 once in the second: both before the states below.)
fn upstream(changed: bool) -> FakeCi {
    let (mut fake, a, _) = incremental_fake();
    fake.projects[a].pipelines[6].workflows[0].deleted = true;
    fake.date = Some(t(400));
    if changed {
        change(&mut fake, a);
        fake.date = Some(t(500));
        fake.projects[a].pipelines[7].workflows[0].deleted = false;
    }
    fake
}

/// Organisations discovered from the collaborations (so their ids are
/// kept), one with more contexts than a call reads.
fn orgs() -> FakeCi {
    let mut fake = FakeCi::new();
    fake.add_project("gh/acme/api");
    fake.add_project("gh/other/web");
    for i in 0..40 {
        let id = fake.id("ctx");
        fake.contexts.push(Context {
            id,
            org: if i < 35 { "gh/acme" } else { "gh/other" }.into(),
            vars: (0..i % 3).map(|v| format!("VAR_{v}")).collect(),
        });
    }
    fake
}

/// Where a sync goes from a state on: how many requests and records, a
/// fingerprint of them in order, and the cursors it ends with.
#[derive(Debug, PartialEq, Eq)]
struct Tail {
    requests: usize,
    records: usize,
    hash: String,
    cursors: Vec<Option<String>>,
}

/// Calls `fetch` of `streams` from `state` (with `cursors`) until the sync
/// ends.
fn resume(
    fake: &mut FakeCi,
    streams: &[&str],
    settings: &str,
    cursors: &[Option<&str>],
    state: &str,
) -> Tail {
    let mut request = FetchRequest::new(streams, settings);
    request.cursors = cursors.iter().map(|c| c.map(str::to_string)).collect();
    request.state = Some(state.to_string());
    request.concurrency = 4;
    let start = fake.log.len();
    let mut records = Vec::new();
    loop {
        let page = crate::fetch(&mut *fake, &super::cred(None), &request).unwrap();
        records.extend(
            page.records
                .into_iter()
                .map(|r| format!("{} {}", r.stream, r.data)),
        );
        if !page.has_more {
            let urls = &fake.log[start..];
            return Tail {
                requests: urls.len(),
                records: records.len(),
                hash: fingerprint(&format!("{}\n--\n{}", urls.join("\n"), records.join("\n"))),
                cursors: page.cursors,
            };
        }
        request.state = page.state;
        assert!(records.len() < 100_000, "runaway sync");
    }
}

/// A state captured from the code that wrote it, and where it led.
struct Case {
    state: &'static str,
    /// The upstream as it was when the state was written.
    upstream: fn() -> FakeCi,
    streams: &'static [&'static str],
    settings: &'static str,
    /// The cursors the sync started from.
    cursors: &'static [Option<&'static str>],
    /// Where the sync went from the state on.
    tail: Tail,
}

fn owned(cursors: &[Option<&str>]) -> Vec<Option<String>> {
    cursors.iter().map(|c| c.map(str::to_string)).collect()
}

#[test]
fn states_written_before_the_engine_moved_still_resume() {
    let first: fn() -> FakeCi = || upstream(false);
    let second: fn() -> FakeCi = || upstream(true);
    let cases = [
        Case {
            state: DISCOVERING,
            upstream: first,
            streams: STREAMS,
            settings: SETTINGS,
            cursors: &[],
            tail: Tail {
                requests: 232,
                records: 368,
                hash: "35ea8e4548d4a4f0".into(),
                cursors: owned(FIRST_CURSORS),
            },
        },
        Case {
            state: WALKING,
            upstream: first,
            streams: STREAMS,
            settings: SETTINGS,
            cursors: &[],
            tail: Tail {
                requests: 168,
                records: 261,
                hash: "21fb064247b43311".into(),
                cursors: owned(FIRST_CURSORS),
            },
        },
        Case {
            state: READING_AGAIN,
            upstream: second,
            streams: STREAMS,
            settings: SETTINGS,
            cursors: FIRST_CURSORS,
            tail: Tail {
                requests: 49,
                records: 28,
                hash: "79fa5d83665d7274".into(),
                cursors: owned(SECOND_CURSORS),
            },
        },
        Case {
            state: ORGANISATIONS,
            upstream: orgs,
            streams: ORG_STREAMS,
            settings: "{}",
            cursors: &[],
            tail: Tail {
                requests: 12,
                records: 12,
                hash: "c786e15f9f6bd6b6".into(),
                cursors: vec![None, None],
            },
        },
    ];
    for case in cases {
        let names: Vec<String> = case.streams.iter().map(|s| s.to_string()).collect();
        let fp = crate::settings::Settings::parse(case.settings)
            .unwrap()
            .fingerprint();
        let decoded = WalkState::decode(case.state, &names, &fp, FINGERPRINTED).unwrap();
        assert_eq!(decoded.encode(), case.state, "written back byte for byte");
        let mut fake = (case.upstream)();
        let got = resume(
            &mut fake,
            case.streams,
            case.settings,
            case.cursors,
            case.state,
        );
        assert_eq!(got, case.tail, "{}", case.state);
    }
    // The cursors, too, read back to the same bytes.
    let fp = crate::settings::Settings::parse(SETTINGS)
        .unwrap()
        .fingerprint();
    for cursors in [FIRST_CURSORS, SECOND_CURSORS] {
        for (name, text) in STREAMS.iter().zip(cursors) {
            let text = text.unwrap();
            let cursor = CursorState::decode(text, name, &fp, FINGERPRINTED).unwrap();
            assert_eq!(CursorState::new(name, fp.clone(), cursor).encode(), text);
        }
    }
}

/// The cursors the first sync ended with (the second sync starts from them).
const FIRST_CURSORS: &[Option<&str>] = &[
    Some(
        r#"{"v":1,"stream":"pipelines","fp":"f27bf53468f2d119","cursor":{"as_of":"2026-05-01T04:40:00Z","projects":{"gh/acme/api":{"hwm":"2026-05-01T04:40:00Z"}}}}"#,
    ),
    Some(
        r#"{"v":1,"stream":"workflows","fp":"f27bf53468f2d119","cursor":{"as_of":"2026-05-01T04:44:00Z","projects":{"gh/acme/api":{"hwm":"2026-05-01T04:40:00Z","lwm":"2026-05-01T04:10:00Z"}}}}"#,
    ),
    Some(
        r#"{"v":1,"stream":"jobs","fp":"f27bf53468f2d119","cursor":{"as_of":"2026-05-01T04:44:00Z","projects":{"gh/acme/api":{"hwm":"2026-05-01T04:40:00Z","lwm":"2026-05-01T04:10:00Z"}},"retry":[{"root":"gh/acme/api","k":3,"h":[{"id":"pl-0115","at":"2026-05-01T03:40:00Z"},{"id":"wf-0114","c":"2026-05-01T03:40:00Z","x":"2026-05-01T03:44:00Z"}]}]}}"#,
    ),
    Some(
        r#"{"v":1,"stream":"job_details","fp":"f27bf53468f2d119","cursor":{"as_of":"2026-05-01T04:44:00Z","projects":{"gh/acme/api":{"hwm":"2026-05-01T04:40:00Z","lwm":"2026-05-01T04:10:00Z"}},"retry":[{"root":"gh/acme/api","k":3,"h":[{"id":"pl-0115","at":"2026-05-01T03:40:00Z"},{"id":"wf-0114","c":"2026-05-01T03:40:00Z","x":"2026-05-01T03:44:00Z"}]}]}}"#,
    ),
    Some(
        r#"{"v":1,"stream":"artifacts","fp":"f27bf53468f2d119","cursor":{"as_of":"2026-05-01T04:44:00Z","projects":{"gh/acme/api":{"hwm":"2026-05-01T04:40:00Z","lwm":"2026-05-01T04:10:00Z"}},"retry":[{"root":"gh/acme/api","k":3,"h":[{"id":"pl-0115","at":"2026-05-01T03:40:00Z"},{"id":"wf-0114","c":"2026-05-01T03:40:00Z","x":"2026-05-01T03:44:00Z"}]}]}}"#,
    ),
    Some(
        r#"{"v":1,"stream":"tests","fp":"f27bf53468f2d119","cursor":{"as_of":"2026-05-01T04:44:00Z","projects":{"gh/acme/api":{"hwm":"2026-05-01T04:40:00Z","lwm":"2026-05-01T04:10:00Z"}},"retry":[{"root":"gh/acme/api","k":3,"h":[{"id":"pl-0115","at":"2026-05-01T03:40:00Z"},{"id":"wf-0114","c":"2026-05-01T03:40:00Z","x":"2026-05-01T03:44:00Z"}]}]}}"#,
    ),
];

/// The cursors the second sync ended with.
const SECOND_CURSORS: &[Option<&str>] = &[
    Some(
        r#"{"v":1,"stream":"pipelines","fp":"f27bf53468f2d119","cursor":{"as_of":"2026-05-01T06:35:00Z","projects":{"gh/acme/api":{"hwm":"2026-05-01T06:35:00Z"}}}}"#,
    ),
    Some(
        r#"{"v":1,"stream":"workflows","fp":"f27bf53468f2d119","cursor":{"as_of":"2026-05-01T06:39:00Z","projects":{"gh/acme/api":{"hwm":"2026-05-01T06:35:00Z"}}}}"#,
    ),
    Some(
        r#"{"v":1,"stream":"jobs","fp":"f27bf53468f2d119","cursor":{"as_of":"2026-05-01T06:39:00Z","projects":{"gh/acme/api":{"hwm":"2026-05-01T06:35:00Z"}}}}"#,
    ),
    Some(
        r#"{"v":1,"stream":"job_details","fp":"f27bf53468f2d119","cursor":{"as_of":"2026-05-01T06:39:00Z","projects":{"gh/acme/api":{"hwm":"2026-05-01T06:35:00Z"}}}}"#,
    ),
    Some(
        r#"{"v":1,"stream":"artifacts","fp":"f27bf53468f2d119","cursor":{"as_of":"2026-05-01T06:39:00Z","projects":{"gh/acme/api":{"hwm":"2026-05-01T06:35:00Z"}}}}"#,
    ),
    Some(
        r#"{"v":1,"stream":"tests","fp":"f27bf53468f2d119","cursor":{"as_of":"2026-05-01T06:39:00Z","projects":{"gh/acme/api":{"hwm":"2026-05-01T06:35:00Z"}}}}"#,
    ),
];

/// The first sync, after its first call: discovery under way (a page token of it answered 404 once).
const DISCOVERING: &str = r#"{"v":2,"streams":["pipelines","workflows","jobs","job_details","artifacts","tests"],"fp":"f27bf53468f2d119","run":{"disc":{"orgs":["gh/acme"],"t":"opaque:20","n":1,"found":["gh/acme/api"],"s":1}}}"#;

/// The first sync, after its third call: the frontier, a root's marks so far, the walk's `seen` and `floor`, a skipped item kept for the next sync.
const WALKING: &str = r#"{"v":2,"streams":["pipelines","workflows","jobs","job_details","artifacts","tests"],"fp":"f27bf53468f2d119","run":{"roots":["gh/acme/api"],"seeded":true,"next":1,"items":[{"id":"pl-0110","at":"2026-05-01T03:30:00Z"},{"id":"wf-0109","c":"2026-05-01T03:30:00Z","x":"2026-05-01T03:34:00Z"},{"id":"job-0108","n":44},{"id":"pl-0105","at":"2026-05-01T03:20:00Z"},{"id":"wf-0104","c":"2026-05-01T03:20:00Z","x":"2026-05-01T03:24:00Z"},{"id":"pl-0100","at":"2026-05-01T03:10:00Z"},{"id":"wf-0099","c":"2026-05-01T03:10:00Z","x":"2026-05-01T03:14:00Z"},{"id":"pl-0095","at":"2026-05-01T03:00:00Z"},{"id":"wf-0094","c":"2026-05-01T03:00:00Z","x":"2026-05-01T03:04:00Z"},{"id":"pl-0090","at":"2026-05-01T02:50:00Z"},{"id":"pl-0085","at":"2026-05-01T02:40:00Z"},{"id":"pl-0080","at":"2026-05-01T02:30:00Z"},{"id":"pl-0075","at":"2026-05-01T02:20:00Z"},{"id":"pl-0070","at":"2026-05-01T02:10:00Z"},{"id":"pl-0065","at":"2026-05-01T02:00:00Z"},{"id":"pl-0060","at":"2026-05-01T01:50:00Z"},{"id":"pl-0055","at":"2026-05-01T01:40:00Z"},{"id":"pl-0050","at":"2026-05-01T01:30:00Z"}],"open":[{"r":0,"k":5,"h":[0,1,2]},{"r":0,"k":6,"h":[0,1,2]},{"r":0,"k":3,"h":[3,4]},{"r":0,"k":3,"h":[5,6]},{"r":0,"k":3,"h":[7,8]},{"r":0,"k":2,"h":[9]},{"r":0,"k":2,"h":[10]},{"r":0,"k":2,"h":[11]},{"r":0,"k":2,"h":[12]},{"r":0,"k":2,"h":[13]},{"r":0,"k":2,"h":[14]},{"r":0,"k":2,"h":[15]},{"r":0,"k":2,"h":[16]},{"r":0,"k":2,"h":[17]},{"r":0,"k":1,"t":"opaque:20","n":20}],"acc":[{"r":0,"f":{"hwm":"2026-05-01T04:40:00Z","lwm":[null,"2026-05-01T04:10:00Z","2026-05-01T04:10:00Z"]}}],"seen":["2026-05-01T04:40:00Z","2026-05-01T04:44:00Z","2026-05-01T04:44:00Z","2026-05-01T04:44:00Z"],"floor":[null,"2026-05-01T06:39:00Z","2026-05-01T06:39:00Z"],"skipped":[{"root":"gh/acme/api","k":3,"h":[{"id":"pl-0115","at":"2026-05-01T03:40:00Z"},{"id":"wf-0114","c":"2026-05-01T03:40:00Z","x":"2026-05-01T03:44:00Z"}]}]}}"#;

/// The second sync, after its first call: the items the first skipped, read again (`w`, `m`), one of their listings failed (`f`).
const READING_AGAIN: &str = r#"{"v":2,"streams":["pipelines","workflows","jobs","job_details","artifacts","tests"],"fp":"f27bf53468f2d119","run":{"roots":["gh/acme/api"],"seeded":true,"items":[{"id":"pl-0115","at":"2026-05-01T03:40:00Z"},{"id":"wf-0114","c":"2026-05-01T03:40:00Z","x":"2026-05-01T03:44:00Z"},{"id":"job-0111","n":45},{"id":"job-0113","n":46}],"open":[{"r":0,"k":6,"h":[0,1,2],"f":true,"w":true,"m":120},{"r":0,"k":5,"h":[0,1,3],"w":true,"m":120},{"r":0,"k":6,"h":[0,1,3],"w":true,"m":120}],"seen":[null,null,"2026-05-01T03:44:00Z","2026-05-01T03:44:00Z"]}}"#;

/// A walk of the organisation tree: discovered roots with their ids (`oid`).
const ORGANISATIONS: &str = r#"{"v":2,"streams":["contexts","context_environment_variables"],"fp":"2c6c9e208f9b6039","run":{"roots":["gh/acme","gh/other"],"oid":["org-0","org-1"],"seeded":true,"next":2,"items":[{"id":"ctx-0026"},{"id":"ctx-0027"},{"id":"ctx-0028"},{"id":"ctx-0029"},{"id":"ctx-0030"},{"id":"ctx-0031"},{"id":"ctx-0032"},{"id":"ctx-0033"},{"id":"ctx-0034"},{"id":"ctx-0035"},{"id":"ctx-0039"},{"id":"ctx-0040"}],"open":[{"r":0,"k":1,"h":[0]},{"r":0,"k":1,"h":[1]},{"r":0,"k":1,"h":[2]},{"r":0,"k":1,"h":[3]},{"r":0,"k":1,"h":[4]},{"r":0,"k":1,"h":[5]},{"r":0,"k":1,"h":[6]},{"r":0,"k":1,"h":[7]},{"r":0,"k":1,"h":[8]},{"r":0,"k":1,"h":[9]},{"r":1,"k":1,"h":[10]},{"r":1,"k":1,"h":[11]}],"acc":[{"r":0},{"r":1}]}}"#;
