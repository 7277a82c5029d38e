//! Hostile connector components: test programs that prove the host's
//! sandbox stops a connector that misbehaves (the pattern of wasmtime's
//! `crates/test-programs`).
//!
//! Each cargo feature is one hostile behaviour, built into its own
//! component by `../artifacts/build.rs` (package `hostile-artifacts`, which
//! embeds them all). Building with no feature gives `benign`, the
//! well-behaved baseline built the same way, for control tests.
//!
//! | feature | what the component does | host defence exercised |
//! | --- | --- | --- |
//! | (none) `benign` | validate: fixed account; fetch: two small records; no request | none (control) |
//! | `spin` | validate and fetch burn CPU forever | per-call CPU/time limit |
//! | `hog` | fetch allocates 1 MiB chunks forever | memory limit |
//! | `flood` | fetch sends `GET {base_url}/api/v2/me` forever, ignoring every error | requests per call, CPU limit |
//! | `stray` | validate and fetch send the api_key to hosts outside the allow-list | destination policy |
//! | `huge-page` | fetch returns a page as large as the settings ask | records/bytes per page |
//! | `snoop` | imports wasi:filesystem and wasi:cli/environment | import check at load |
//! | `leaky` | puts the api_key in errors, notices, records, state, a panic | redaction of secrets |
//! | `other-version` | exports `ingest:connector/source@0.1.0` | contract version check at load |
//! | `other-world` | exports an unrelated interface only | contract check at load |
//! | `attack` | fetch runs the attack its settings' `mode` names (handle and header-map floods, a body never sent, a huge body, a slow read, an escaped key, terminal escapes, a huge state; see `attack.rs`); validate returns the key escaped | host-side resource limits, call deadline, request-body limits, redaction after decoding, terminal safety, state bound |
//! | `unmarked` | `leaky`, with a form that calls the api_key plain text | the host decides what is secret |
//! | `bad-names` | a catalog whose stream names are paths | catalog check; outputs stay in `--out` |
//! | `forgetful` | an incremental stream whose pages are buffered in the instance's memory, not the state, and whose cursor is ignored | none: `connector-harness conform`'s resume and incremental checks |
//!
//! Every component except `other-world` exports the whole
//! `ingest:connector/source-connector` world, with the same credential form
//! (a secret `api_key`, an optional url `base_url`; `unmarked` calls the key
//! plain text) and the same one-stream catalog (`bad-names` adds streams
//! named like paths; `forgetful`'s stream is incremental) ([`common`]); only what is hostile differs, in one
//! module per behaviour. What a behaviour does not override is
//! [`common::benign`].
//!
//! A wasm32 build accepts at most one behaviour feature: each is a
//! component of its own. Natively (clippy, workspace-wide commands) any
//! combination compiles: `validate` and `fetch` dispatch to the first
//! enabled in the order of the table, and nothing is exported (a native
//! cdylib cannot export names such as `ingest:connector/source@0.3.0#fetch`).

#[cfg(target_arch = "wasm32")]
const _: () = assert!(
    (cfg!(feature = "spin") as u32)
        + (cfg!(feature = "hog") as u32)
        + (cfg!(feature = "flood") as u32)
        + (cfg!(feature = "stray") as u32)
        + (cfg!(feature = "huge-page") as u32)
        + (cfg!(feature = "snoop") as u32)
        + (cfg!(feature = "leaky") as u32)
        + (cfg!(feature = "other-version") as u32)
        + (cfg!(feature = "other-world") as u32)
        + (cfg!(feature = "attack") as u32)
        + (cfg!(feature = "unmarked") as u32)
        + (cfg!(feature = "bad-names") as u32)
        + (cfg!(feature = "forgetful") as u32)
        <= 1,
    "hostile-connectors: enable at most one behaviour feature per wasm build \
     (each behaviour is a component of its own)"
);

#[cfg(not(feature = "other-world"))]
pub mod common;
#[cfg(not(feature = "other-world"))]
mod component;

#[cfg(all(feature = "spin", not(feature = "other-world")))]
pub mod spin;

#[cfg(all(feature = "hog", not(feature = "other-world")))]
pub mod hog;

#[cfg(all(feature = "flood", not(feature = "other-world")))]
pub mod flood;

#[cfg(all(feature = "stray", not(feature = "other-world")))]
pub mod stray;

#[cfg(all(feature = "huge-page", not(feature = "other-world")))]
pub mod huge_page;

#[cfg(all(feature = "snoop", not(feature = "other-world")))]
pub mod snoop;

#[cfg(all(feature = "other-version", not(feature = "other-world")))]
pub mod other_version;

#[cfg(feature = "other-world")]
pub mod other_world;

#[cfg(all(feature = "attack", not(feature = "other-world")))]
pub mod attack;

// `unmarked` reuses leaky's behaviour.
#[cfg(all(
    any(feature = "leaky", feature = "unmarked"),
    not(feature = "other-world")
))]
pub mod leaky;

#[cfg(all(feature = "unmarked", not(feature = "other-world")))]
pub mod unmarked;

#[cfg(all(feature = "bad-names", not(feature = "other-world")))]
pub mod bad_names;

#[cfg(all(feature = "forgetful", not(feature = "other-world")))]
pub mod forgetful;

/// `use $module as behaviour;` for the first enabled feature of the list,
/// [`common::benign`] when none is.
#[cfg(not(feature = "other-world"))]
macro_rules! select_behaviour {
    ($feature:literal => $module:ident $(, $more_feature:literal => $more_module:ident)* $(,)?) => {
        #[cfg(feature = $feature)]
        use $module as behaviour;
        #[cfg(not(feature = $feature))]
        select_behaviour!($($more_feature => $more_module),*);
    };
    () => {
        use common::benign as behaviour;
    };
}

// The behaviour wired to the exports: each module has `NAME`, `validate`
// and `fetch` (see `component.rs`).
#[cfg(not(feature = "other-world"))]
select_behaviour!(
    "spin" => spin,
    "hog" => hog,
    "flood" => flood,
    "stray" => stray,
    "huge-page" => huge_page,
    "snoop" => snoop,
    "leaky" => leaky,
    "other-version" => other_version,
    "attack" => attack,
    "unmarked" => unmarked,
    "bad-names" => bad_names,
    "forgetful" => forgetful,
);

/// The behaviour this build implements: its feature name, or `benign`.
#[cfg(not(feature = "other-world"))]
pub const BEHAVIOUR: &str = behaviour::NAME;
/// The behaviour this build implements.
#[cfg(feature = "other-world")]
pub const BEHAVIOUR: &str = other_world::NAME;

/// Name of the custom section of the core module that holds [`BEHAVIOUR`],
/// so the build can check which behaviour an artifact really is (cargo
/// writes every feature's module to the same file).
pub const BEHAVIOUR_SECTION: &str = "hostile-behaviour";

#[cfg(target_arch = "wasm32")]
#[used]
#[unsafe(link_section = "hostile-behaviour")]
static BEHAVIOUR_MARKER: [u8; BEHAVIOUR.len()] = bytes(BEHAVIOUR);

/// `s` as an array of exactly `N` bytes (`N` must be `s.len()`).
#[cfg(target_arch = "wasm32")]
const fn bytes<const N: usize>(s: &str) -> [u8; N] {
    let src = s.as_bytes();
    assert!(src.len() == N);
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = src[i];
        i += 1;
    }
    out
}
