//! Hostile connector components, built from `../hostile` by this crate's
//! build script (one per cargo feature of `hostile-connectors`), for host
//! tests that prove the sandbox stops them. Depend on this crate (as a
//! dev-dependency) and load the bytes like any connector component.
//!
//! Every component except [`OTHER_WORLD`] exports the whole
//! `ingest:connector/source-connector` world with the same credential form
//! (a required secret `api_key`, an optional url `base_url` defaulting to
//! `https://circleci.com`) and one stream, `items` (full refresh, primary
//! key `i`); `fetch` accepts any stream name. What a component does not
//! make hostile behaves like [`BENIGN`]: `validate` returns
//! `invalid-credential` without an `api_key`, else the account
//! `{id: "hostile", name: <behaviour>, details: {"behaviour": <behaviour>}}`;
//! `fetch` returns the last page `{"i":0}`, `{"i":1}`. Neither makes a
//! request.
//!
//! | component | imports | hostile part | the host must |
//! | --- | --- | --- | --- |
//! | [`BENIGN`] | nothing | nothing (control) | run it |
//! | [`SPIN`] | nothing | validate, fetch: CPU loop, never return | stop the call (time limit) |
//! | [`HOG`] | nothing | fetch: keeps 1 MiB chunks forever | stop it at the memory limit |
//! | [`FLOOD`] | wasi:http, wasi:io | fetch: `GET {base_url}/api/v2/me`, forever, errors ignored | cap requests per call, stop the call |
//! | [`STRAY`] | wasi:http, wasi:io | validate, fetch: api_key to hosts off the allow-list | refuse every request |
//! | [`HUGE_PAGE`] | nothing | fetch: a page as large as the settings say | refuse the page |
//! | [`SNOOP`] | wasi:filesystem/{types,preopens}, wasi:cli/environment | reads env and preopens | refuse it at load |
//! | [`LEAKY`] | nothing | api_key in errors, notice, record, state, panic | redact it everywhere |
//! | [`OTHER_VERSION`] | nothing | exports `ingest:connector/*@0.1.0` | refuse it at load |
//! | [`OTHER_WORLD`] | nothing | exports `hostile:unrelated/greeter@0.1.0` only | refuse it at load |
//! | [`ATTACK`] | wasi:http, wasi:io | fetch: the attack the settings' `mode` names; validate: the key `\u`-escaped | bound host resources, calls, bodies and states; redact every spelling; escape terminal controls |
//! | [`UNMARKED`] | nothing | `leaky` with the api_key described as plain text | redact it anyway |
//! | [`BAD_NAMES`] | nothing | streams named `../escaped`, `/tmp/…` | refuse the catalog |
//! | [`FORGETFUL`] | nothing | an incremental stream buffered in the instance, not the state; its cursor ignored | nothing (the host cannot tell): `conform` fails its resume and incremental checks |
//!
//! Details, per component (the guest's module docs in
//! `test-programs/hostile/src/<behaviour>.rs` say the same):
//!
//! - [`FLOOD`] sends `Circle-Token: <api_key>` (empty without one) and reads
//!   at most 1 MiB of each body. It only returns if the host stops it.
//! - [`STRAY`] sends the api_key as `Circle-Token` and as `?key=<api_key>`
//!   (percent-encoded outside `A-Za-z0-9-._~`) to each of
//!   [`STRAY_DEFAULT_TARGETS`] (validate and fetch), or to the settings'
//!   targets (fetch with `{"targets": ["http://127.0.0.1:PORT/x", ...]}`),
//!   trying every one whatever happened to the others. It returns
//!   `denied("the host refused: <target> (denied (HttpRequestDenied)), ...")`
//!   when no request got a response and the host refused at least one
//!   (`HttpRequestDenied` or `DestinationIpProhibited`), `unavailable`
//!   when none got a response and none was refused, and `Ok` (the
//!   outcomes in the account's details / one record per target) if any got
//!   a response. Messages name the targets without the query. A missing
//!   api_key is `invalid-credential` before any request.
//! - [`HUGE_PAGE`] reads `{"records": N, "record_bytes": M, "has_more":
//!   bool}` (defaults 1,000,000, 16, false). Record `i` is
//!   `{"i":<i>,"pad":"xxx…"}`, exactly M bytes of JSON when M ≥ 15 + the
//!   digits of i, else with an empty pad. The defaults give 20,888,890 bytes
//!   of records; the guest needs about M + 40 bytes of memory per record to
//!   build the page. With `has_more` the state is `{"page":<n>}`, n counting
//!   up from the state passed in. Bad settings are `invalid-settings`.
//! - [`SNOOP`] calls `get-environment` and `get-directories` (and lists up
//!   to 16 entries per preopen) in validate and fetch, so it is refused
//!   before it runs; if it ran, it would return what it found.
//! - [`LEAKY`]: validate → `invalid-credential("key <api_key> rejected")`;
//!   fetch with no state → a page with notice `"using api_key <api_key>"`,
//!   skipped item `"item of api_key <api_key>: gone"`,
//!   record `{"i":0,"token":"<api_key>"}`, state `{"token":"<api_key>"}`,
//!   has-more true; fetch with any state →
//!   `bad-response("the upstream rejected key <api_key>")`; fetch with
//!   settings `{"panic": true}` → panics with `"leaking api_key <api_key>"`.
//!   On wasm32-unknown-unknown a panic message goes nowhere (no stderr), so
//!   the host sees a bare `unreachable` trap; the test is that the host's
//!   error says nothing of the key either way.
//! - [`ATTACK`] reads `{"mode": M, ...}` from the settings (see
//!   [`ATTACK_MODES`] and `test-programs/hostile/src/attack.rs` for each
//!   mode's parameters). Modes that never return on their own:
//!   `fields-clone`, `fields-big`, `unsent-body`; `slow-read` returns when
//!   its `target`'s body ends. `validate` returns the account
//!   `{id: "hostile", name: "attack <key escaped>", details:
//!   {"behaviour":"attack","token":"<key, every character \uXXXX>"}}`.
//! - [`UNMARKED`] behaves as [`LEAKY`]; its form's `api_key` is `kind: text`
//!   and its JSON Schema says nothing of a secret.
//! - [`BAD_NAMES`]' catalog lists the streams of [`BAD_STREAM_NAMES`].
//! - [`FORGETFUL`]'s one stream, `items`, is incremental (cursor field `i`)
//!   and lists [`FORGETFUL_ITEMS`] records `{"i": <n>}`, three per call,
//!   read six at a time from a pretended upstream: the other three wait in
//!   a static buffer while the state (`{"next": <upstream page>}`) already
//!   points past them, so a sync resumed in a fresh instance after such a
//!   page loses them. Its final cursor, `{"last": 23}`, is ignored: a
//!   second sync returns every record again.
//! - [`HOG`] and [`SPIN`] end only by a trap: on allocation failure the
//!   guest's allocator aborts (`unreachable`); the spin loop needs the
//!   host's interruption.
//!
//! The components are built in the connector's guest target dir
//! (`target/guest`) and rebuilt only when `test-programs/hostile`, the WIT,
//! the workspace manifest or `Cargo.lock` change.

macro_rules! component {
    ($file:literal) => {
        include_bytes!(concat!(env!("OUT_DIR"), "/", $file, ".component.wasm"))
    };
}

/// The well-behaved baseline (no feature): for control tests.
pub const BENIGN: &[u8] = component!("benign");
/// `validate` and `fetch` burn CPU forever.
pub const SPIN: &[u8] = component!("spin");
/// `fetch` allocates 1 MiB chunks forever.
pub const HOG: &[u8] = component!("hog");
/// `fetch` requests `{base_url}/api/v2/me` forever.
pub const FLOOD: &[u8] = component!("flood");
/// `validate` and `fetch` send the api_key to hosts off the allow-list.
pub const STRAY: &[u8] = component!("stray");
/// `fetch` returns a page as large as its settings say.
pub const HUGE_PAGE: &[u8] = component!("huge-page");
/// Imports wasi:filesystem and wasi:cli/environment.
pub const SNOOP: &[u8] = component!("snoop");
/// Puts the api_key in errors, notices, records, state and a panic.
pub const LEAKY: &[u8] = component!("leaky");
/// Implements version 0.1.0 of the contract instead of 0.3.0.
pub const OTHER_VERSION: &[u8] = component!("other-version");
/// Exports an unrelated interface only.
pub const OTHER_WORLD: &[u8] = component!("other-world");
/// Runs the attack its settings' `mode` names.
pub const ATTACK: &[u8] = component!("attack");
/// `leaky`, with the api_key described as plain text.
pub const UNMARKED: &[u8] = component!("unmarked");
/// A catalog whose stream names are paths.
pub const BAD_NAMES: &[u8] = component!("bad-names");
/// An incremental stream buffered in the instance, its cursor ignored.
pub const FORGETFUL: &[u8] = component!("forgetful");

/// Every hostile component (not [`BENIGN`]), by behaviour name (the cargo
/// feature of `hostile-connectors`).
pub const ALL: &[(&str, &[u8])] = &[
    ("spin", SPIN),
    ("hog", HOG),
    ("flood", FLOOD),
    ("stray", STRAY),
    ("huge-page", HUGE_PAGE),
    ("snoop", SNOOP),
    ("leaky", LEAKY),
    ("other-version", OTHER_VERSION),
    ("other-world", OTHER_WORLD),
    ("attack", ATTACK),
    ("unmarked", UNMARKED),
    ("bad-names", BAD_NAMES),
    ("forgetful", FORGETFUL),
];

/// The modes [`ATTACK`]'s `fetch` knows (its settings' `mode`).
pub const ATTACK_MODES: &[&str] = &[
    "fields-clone",
    "fields-big",
    "unsent-body",
    "big-body",
    "slow-read",
    "escaped-key",
    "terminal",
    "big-state",
];

/// The stream names of [`BAD_NAMES`]' catalog, in order.
pub const BAD_STREAM_NAMES: &[&str] = &[
    "items",
    "../escaped",
    "/tmp/hostile-absolute",
    "jobs/../../up",
    "bell\u{7}\u{1b}[2J",
];

/// The hostile components a host must refuse at load time, before running
/// anything: wrong imports or wrong exports.
pub const REFUSED_AT_LOAD: &[&str] = &["snoop", "other-version", "other-world"];

/// Where [`STRAY`] sends the api_key when the settings name no `targets`.
pub const STRAY_DEFAULT_TARGETS: &[&str] = &[
    "https://evil.example/steal",
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:9/",
];

/// The records [`FORGETFUL`]'s stream lists.
pub const FORGETFUL_ITEMS: u64 = 24;

/// [`HUGE_PAGE`]'s records per page without a `records` setting.
pub const HUGE_PAGE_DEFAULT_RECORDS: u64 = 1_000_000;
/// [`HUGE_PAGE`]'s bytes per record without a `record_bytes` setting.
pub const HUGE_PAGE_DEFAULT_RECORD_BYTES: u64 = 16;

/// A component by name: a behaviour of [`ALL`], or `benign`.
pub fn get(name: &str) -> Option<&'static [u8]> {
    if name == "benign" {
        return Some(BENIGN);
    }
    ALL.iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bytes)| *bytes)
}

/// The custom section of each component's core module that holds its
/// behaviour's name.
pub const BEHAVIOUR_SECTION: &str = "hostile-behaviour";

#[cfg(test)]
mod tests {
    use super::*;
    use component_build::{
        CONNECTOR_ALLOWED_IMPORTS, check_imports, component_exports, component_imports,
        custom_section, import_allowed,
    };
    use std::path::Path;

    const SOURCE_V1: &str = "ingest:connector/source@0.3.0";
    const TYPES_V1: &str = "ingest:connector/types@0.3.0";

    fn imports(component: &[u8]) -> Vec<String> {
        let mut imports = component_imports(component).unwrap();
        imports.sort();
        imports
    }

    #[test]
    fn every_component_is_the_behaviour_it_claims() {
        for (name, component) in ALL.iter().copied().chain([("benign", BENIGN)]) {
            let marker = custom_section(component, BEHAVIOUR_SECTION)
                .unwrap()
                .unwrap_or_else(|| panic!("{name}: no {BEHAVIOUR_SECTION} section"));
            assert_eq!(String::from_utf8(marker).unwrap(), name);
            assert_eq!(get(name), Some(component), "{name}");
        }
        assert_eq!(get("nope"), None);
        let mut bytes: Vec<&[u8]> = ALL.iter().map(|(_, c)| *c).collect();
        bytes.push(BENIGN);
        let count = bytes.len();
        bytes.sort();
        bytes.dedup();
        assert_eq!(bytes.len(), count, "two components are identical");
    }

    #[test]
    fn connector_shaped_components_import_only_http_and_io() {
        for (name, component) in [
            ("benign", BENIGN),
            ("spin", SPIN),
            ("hog", HOG),
            ("flood", FLOOD),
            ("stray", STRAY),
            ("huge-page", HUGE_PAGE),
            ("leaky", LEAKY),
            ("attack", ATTACK),
            ("unmarked", UNMARKED),
            ("bad-names", BAD_NAMES),
            ("forgetful", FORGETFUL),
        ] {
            check_imports(component, &CONNECTOR_ALLOWED_IMPORTS)
                .unwrap_or_else(|e| panic!("{name}: {e:#}"));
            assert_eq!(
                component_exports(component).unwrap(),
                [TYPES_V1, SOURCE_V1],
                "{name}"
            );
        }
    }

    #[test]
    fn components_that_send_requests_import_the_handler() {
        for (name, component) in [("flood", FLOOD), ("stray", STRAY), ("attack", ATTACK)] {
            assert!(
                imports(component)
                    .iter()
                    .any(|i| i == "wasi:http/outgoing-handler@0.2.12"),
                "{name}: {:?}",
                imports(component)
            );
        }
        // The others make no request, so they import nothing at all.
        for (name, component) in [
            ("benign", BENIGN),
            ("spin", SPIN),
            ("hog", HOG),
            ("huge-page", HUGE_PAGE),
            ("leaky", LEAKY),
            ("unmarked", UNMARKED),
            ("bad-names", BAD_NAMES),
            ("forgetful", FORGETFUL),
        ] {
            assert_eq!(imports(component), Vec::<String>::new(), "{name}");
        }
    }

    #[test]
    fn snoop_imports_the_filesystem_and_the_environment() {
        let imports = imports(SNOOP);
        for wanted in [
            "wasi:filesystem/preopens@0.2.12",
            "wasi:filesystem/types@0.2.12",
            "wasi:cli/environment@0.2.12",
        ] {
            assert!(imports.iter().any(|i| i == wanted), "{imports:?}");
        }
        // So the connector's allow-list refuses it...
        let err = check_imports(SNOOP, &CONNECTOR_ALLOWED_IMPORTS).unwrap_err();
        assert!(format!("{err:#}").contains("wasi:filesystem"), "{err:#}");
        // ...and for nothing but those.
        for import in &imports {
            assert!(
                import_allowed(import, &CONNECTOR_ALLOWED_IMPORTS)
                    || import.starts_with("wasi:filesystem/")
                    || import.starts_with("wasi:cli/environment@"),
                "{import}"
            );
        }
        assert_eq!(component_exports(SNOOP).unwrap(), [TYPES_V1, SOURCE_V1]);
    }

    #[test]
    fn other_version_exports_version_0_1_0_only() {
        assert_eq!(
            component_exports(OTHER_VERSION).unwrap(),
            [
                "ingest:connector/types@0.1.0",
                "ingest:connector/source@0.1.0"
            ]
        );
        check_imports(OTHER_VERSION, &CONNECTOR_ALLOWED_IMPORTS).unwrap();
    }

    #[test]
    fn other_world_exports_no_connector() {
        assert_eq!(
            component_exports(OTHER_WORLD).unwrap(),
            ["hostile:unrelated/greeter@0.1.0"]
        );
        assert_eq!(imports(OTHER_WORLD), Vec::<String>::new());
    }

    #[test]
    fn refused_at_load_lists_what_the_shapes_say() {
        for name in REFUSED_AT_LOAD {
            let component = get(name).unwrap();
            let exports = component_exports(component).unwrap();
            let wrong_exports = !exports.iter().any(|e| e == SOURCE_V1);
            let wrong_imports = check_imports(component, &CONNECTOR_ALLOWED_IMPORTS).is_err();
            assert!(wrong_exports || wrong_imports, "{name}");
        }
    }

    /// The other version's WIT is the contract's, with only the version
    /// changed: a test of the version check and nothing else.
    #[test]
    fn other_version_wit_is_the_contract_with_another_version() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let contract = std::fs::read_to_string(root.join("wit/connector.wit")).unwrap();
        let copy = std::fs::read_to_string(
            root.join("test-programs/hostile/wit-other-version/connector.wit"),
        )
        .unwrap();
        let expected = contract.replacen(
            "package ingest:connector@0.3.0;",
            "package ingest:connector@0.1.0;",
            1,
        );
        assert_ne!(expected, contract, "the contract's package line moved");
        assert!(
            copy == expected,
            "test-programs/hostile/wit-other-version/connector.wit is not wit/connector.wit \
             with the version changed: copy the contract again"
        );
    }

    /// The settings constants match the guest's.
    #[test]
    fn constants_match_the_guest_sources() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hostile/src");
        let stray = std::fs::read_to_string(src.join("stray.rs")).unwrap();
        for target in STRAY_DEFAULT_TARGETS {
            assert!(stray.contains(&format!("\"{target}\"")), "{target}");
        }
        let huge = std::fs::read_to_string(src.join("huge_page.rs")).unwrap();
        assert!(huge.contains("DEFAULT_RECORDS: u64 = 1_000_000;"));
        assert!(huge.contains("DEFAULT_RECORD_BYTES: u64 = 16;"));
        let attack = std::fs::read_to_string(src.join("attack.rs")).unwrap();
        for mode in ATTACK_MODES {
            assert!(attack.contains(&format!("\"{mode}\" =>")), "{mode}");
        }
        let forgetful = std::fs::read_to_string(src.join("forgetful.rs")).unwrap();
        assert!(forgetful.contains(&format!("ITEMS: u64 = {FORGETFUL_ITEMS};")));
        let bad_names = std::fs::read_to_string(src.join("bad_names.rs")).unwrap();
        for name in BAD_STREAM_NAMES {
            assert!(bad_names.contains(&format!("{name:?}")), "{name:?}");
        }
    }
}
