//! Fault injection: a [`FaultPlan`] says which failures the simulator mixes into its API answers, how
//! often, and on which endpoints. Deterministic: the same plan and the same requests give the same
//! faults, and a retried request always succeeds within [`FaultPlan::max_consecutive`] + 1 attempts.
//!
//! Set a plan at start ([`crate::sim::SimConfig::faults`]), at run time ([`crate::sim::Simulator::set_faults`],
//! or `POST /_sim/faults` with the plan as JSON, `GET` shows it and the counts), or on the command line
//! (`circleci-sim --fault 429-json:0.1 --fault reset:0.05 --fault-seed 7`). No plan (the default) serves
//! byte-identical answers to a simulator without this module. Only `/api/v2` paths fault; `/_sim/*`
//! never does. [`crate::sim::Simulator::faults_injected`] (and `"faults"` in `/_sim/stats`) counts the
//! faults injected per kind since the plan was set; each faulted request is in the request log with
//! [`crate::sim::RecordedRequest::fault`] naming the kind (status 0 when no response was sent).
//!
//! # How a fault is chosen
//! A request's identity is its method, raw path, raw query and credentials (`Circle-Token` and
//! `Authorization`). The simulator counts the attempts of each identity since the plan was set; attempt
//! `n` draws `u = hash(seed, identity, n)` uniformly in `[0, 1)` and walks the rules that apply (in plan
//! order), picking the first whose cumulative rate exceeds `u`. So a fault depends only on the seed,
//! the request and how often that exact request was made: never on other requests, their order or
//! timing, which keeps a matrix reproducible even when a client interleaves listings. Each attempt
//! draws afresh, so at any rate below 1 a retry eventually succeeds; and once an identity has failed
//! `max_consecutive` times in a row its next attempt is served clean whatever the rates (rate 1.0
//! thus means "fail exactly `max_consecutive` times, then succeed"). The rates of the rules that can
//! apply to one endpoint must add up to at most 1. Setting a plan resets attempts and counts.
//!
//! # The faults, what they look like, and what a correct client does
//! Kind names are those of `--fault` and of the JSON plan. Waits are small by default because tests
//! really wait: [`FaultPlan::wait_secs`] (1 s), [`FaultPlan::first_byte_delay_ms`] (2 s),
//! [`FaultPlan::stall_ms`] (2 s).
//!
//! - `429-json`, `429-text`, `429-empty`, `429-empty-object`: status 429 with body
//!   `{"message":"Rate limit exceeded."}` (CircleCI's text, per the API notes), `Rate limited.`
//!   (`text/plain`), nothing (`Content-Length: 0`, still `application/json`), or `{}`. A `+HINT`
//!   suffix picks the retry hint: `+retry-after` (the default: `Retry-After: <wait_secs>`),
//!   `+retry-after-date` (`Retry-After: <HTTP-date>`, `wait_secs` after the answer's `Date`, which is
//!   simulated time, 2026, not the wall clock), `+ratelimit-reset` (`RateLimit-Reset: <secs>` with
//!   `RateLimit-Limit`/`RateLimit-Remaining: 0`), `+x-ratelimit-reset` (`X-RateLimit-Reset: <secs>`
//!   with `X-RateLimit-Remaining: 0`), `+x-ratelimit-reset-unix` (`X-RateLimit-Reset: <Unix time>` of
//!   the simulated `Date` plus the wait), `+no-hint` (none). A correct client never parses the body
//!   as required JSON, waits what the hint says (an HTTP-date or Unix time measured against `Date`),
//!   backs off on its own without a hint, and retries the same request.
//! - `500`, `502`, `503`, `504`: that status with a JSON `{"message": …}` ("Internal server error.",
//!   "Bad Gateway", "Service Unavailable", "Gateway Timeout"); `502-html`, `504-html`: an nginx-style
//!   HTML error page (`text/html`). A correct client retries with backoff and does not choke on HTML.
//! - `reset`: the request is read, then the connection is closed with a TCP RST and no response byte.
//!   A correct client retries (on a new connection).
//! - `slow-first-byte`: the normal answer, after `first_byte_delay_ms` of silence. A client whose
//!   first-byte timeout is shorter gives up and retries; the retry may be slow again (it is a new
//!   attempt), at most `max_consecutive` times in a row.
//! - `stall-body`: head (with the full `Content-Length`) and the first half of the body, then nothing
//!   for `stall_ms`, then the connection closes. A correct client's body timeout fires (or it sees the
//!   early close) and it retries.
//! - `truncate-length`: the full `Content-Length`, half the body, then close. `truncate-chunked`: a
//!   chunked body, its first two thirds in two chunks, then close without the final chunk. A correct
//!   client reports an incomplete body, never parses the part, and retries.
//! - `garbage-json`: status 200, `application/json`, a body that is not JSON at all. `cut-json`: the
//!   real answer's status and headers with the body cut in half mid-object (a complete transfer: the
//!   `Content-Length` matches). A correct client treats both as a failed request and retries.
//! - `stale-page-token`: only requests with a non-empty `page-token`: 404 `{"message":"Not Found"}`,
//!   what CircleCI answered for an invalid next page token on `/project/{slug}/pipeline`
//!   (circleci/circleci-docs#6472). docs/streams.md: a 404 on a later page is an error, not the end.
//!   A correct client fails the request (or retries it with the same token) and neither stops the
//!   listing early nor restarts it from the top.
//! - `head-insert`: only `/project/{slug}/pipeline` requests with a `page-token`: before the page is
//!   served, [`FaultPlan::head_insert_count`] new pipelines appear at the project's head (see below).
//!   The request itself succeeds; it is not a failure and never counts towards `max_consecutive`.
//!
//! # Head insertion and the right answers
//! While the plan holds a `head-insert` rule, project pipeline listings page by *offset from the
//! newest item* (as a naive server does), instead of the stable cursors served otherwise; so pipelines
//! inserted at the head during a walk push the next page's window back and its first
//! `head_insert_count` items repeat the previous page's last ones. A correct client dedupes by `id`
//! (or skips items not older than the last one it saw: the listing is strictly newest first) and
//! loses nothing; a naive one emits duplicates. Page tokens issued in one mode are rejected (400) in
//! the other, so set such a plan before a walk starts.
//!
//! An insertion is real data: new pipelines of the current epoch, created after every other pipeline
//! of the project and before the epoch's quiet minutes ([`crate::sim::time::QUIET`]), in a settling
//! state (`setup-pending`/`setup`/`pending`, no workflows). So they add records to the `pipelines`
//! stream only, and settle with workflows at the next [`crate::sim::Simulator::advance`], like any
//! new pipeline. A project gets at most [`FaultPlan::head_insert_max`] insertions per epoch.
//! [`crate::sim::Simulator::dataset`] called afterwards includes them; [`crate::sim::Dataset::inserted_pipeline_ids`]
//! names those inserted at the snapshot's epoch and [`crate::sim::Simulator::inserted_pipelines`] lists
//! every insertion. Since insertions only happen on pages after the first, a correct full sync that
//! never restarts a listing returns exactly `before.expected(s)` for every stream `s`, where `before`
//! is the snapshot taken before the sync, which equals [`crate::sim::Dataset::expected_without_inserted`]
//! on the snapshot after it. A sync that restarts a listing may also return inserted pipelines, each at
//! most once. A following incremental sync returns them as new (`created_at` > the cursor's `hwm`).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::paging::PAGE_SIZE;

/// Every endpoint name a rule can target, as [`endpoint_of`] names routes. `unknown` is a path under
/// `/api/v2` that names no endpoint.
pub const ENDPOINTS: [&str; 17] = [
    "me",
    "collaborations",
    "project",
    "project-pipelines",
    "org-pipelines",
    "pipeline",
    "pipeline-workflows",
    "workflow",
    "workflow-jobs",
    "job-details",
    "artifacts",
    "tests",
    "contexts",
    "context-variables",
    "insights-workflows",
    "insights-runs",
    "unknown",
];

/// Stream names (docs/streams.md) accepted in place of the endpoint that stream lists.
const STREAM_ALIASES: [(&str, &str); 9] = [
    ("projects", "project"),
    ("pipelines", "project-pipelines"),
    ("workflows", "pipeline-workflows"),
    ("jobs", "workflow-jobs"),
    ("job_details", "job-details"),
    ("context_environment_variables", "context-variables"),
    ("insights_workflows", "insights-workflows"),
    ("insights_workflow_runs", "insights-runs"),
    ("org_pipelines", "org-pipelines"),
];

/// The endpoint name of an API path (see [`ENDPOINTS`]), `None` outside `/api/v2`.
pub fn endpoint_of(path: &str) -> Option<&'static str> {
    use super::routes::{Route, RouteError, route};
    Some(match route(path) {
        Err(RouteError::NotUnderApi) => return None,
        Err(_) => "unknown",
        Ok(Route::Me) => "me",
        Ok(Route::Collaborations) => "collaborations",
        Ok(Route::Project(_)) => "project",
        Ok(Route::ProjectPipelines(_)) => "project-pipelines",
        Ok(Route::Pipelines) => "org-pipelines",
        Ok(Route::Pipeline(_)) => "pipeline",
        Ok(Route::PipelineWorkflows(_)) => "pipeline-workflows",
        Ok(Route::Workflow(_)) => "workflow",
        Ok(Route::WorkflowJobs(_)) => "workflow-jobs",
        Ok(Route::JobDetails(..)) => "job-details",
        Ok(Route::Artifacts(..)) => "artifacts",
        Ok(Route::Tests(..)) => "tests",
        Ok(Route::Contexts) => "contexts",
        Ok(Route::ContextVariables(_)) => "context-variables",
        Ok(Route::InsightsWorkflows(_)) => "insights-workflows",
        Ok(Route::InsightsRuns(..)) => "insights-runs",
    })
}

/// The canonical endpoint name for an endpoint or stream name.
fn canonical_endpoint(name: &str) -> Option<&'static str> {
    let name = name.trim();
    ENDPOINTS.iter().copied().find(|e| *e == name).or_else(|| {
        STREAM_ALIASES
            .iter()
            .find(|(alias, _)| *alias == name)
            .map(|(_, e)| *e)
    })
}

/// What a 429 carries as its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateLimitBody {
    /// `{"message":"Rate limit exceeded."}`
    Json,
    /// `Rate limited.` as `text/plain`.
    Text,
    /// No body at all.
    Empty,
    /// `{}`
    EmptyObject,
}

/// How a 429 says when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryHint {
    /// `Retry-After: <seconds>`
    RetryAfter,
    /// `Retry-After: <HTTP-date>`, relative to the answer's (simulated) `Date`.
    RetryAfterDate,
    /// `RateLimit-Reset: <seconds>`
    RateLimitReset,
    /// `X-RateLimit-Reset: <seconds>`
    XRateLimitReset,
    /// `X-RateLimit-Reset: <Unix seconds>` of the simulated `Date` plus the wait.
    XRateLimitResetUnix,
    /// No hint: the client must back off on its own.
    None,
}

const HINTS: [(RetryHint, &str); 6] = [
    (RetryHint::RetryAfter, "retry-after"),
    (RetryHint::RetryAfterDate, "retry-after-date"),
    (RetryHint::RateLimitReset, "ratelimit-reset"),
    (RetryHint::XRateLimitReset, "x-ratelimit-reset"),
    (RetryHint::XRateLimitResetUnix, "x-ratelimit-reset-unix"),
    (RetryHint::None, "no-hint"),
];

const BODIES: [(RateLimitBody, &str); 4] = [
    (RateLimitBody::Json, "429-json"),
    (RateLimitBody::Text, "429-text"),
    (RateLimitBody::Empty, "429-empty"),
    (RateLimitBody::EmptyObject, "429-empty-object"),
];

/// One kind of fault; its [`fmt::Display`] form is its name (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    RateLimited(RateLimitBody, RetryHint),
    /// 500, 502, 503 or 504; `html` for a proxy's HTML page instead of JSON (502 and 504 only).
    ServerError {
        status: u16,
        html: bool,
    },
    Reset,
    SlowFirstByte,
    StalledBody,
    TruncatedLength,
    TruncatedChunked,
    GarbageJson,
    CutJson,
    StalePageToken,
    HeadInsert,
}

/// The kinds without parameters, by name.
const SIMPLE_KINDS: [(FaultKind, &str); 9] = [
    (FaultKind::Reset, "reset"),
    (FaultKind::SlowFirstByte, "slow-first-byte"),
    (FaultKind::StalledBody, "stall-body"),
    (FaultKind::TruncatedLength, "truncate-length"),
    (FaultKind::TruncatedChunked, "truncate-chunked"),
    (FaultKind::GarbageJson, "garbage-json"),
    (FaultKind::CutJson, "cut-json"),
    (FaultKind::StalePageToken, "stale-page-token"),
    (FaultKind::HeadInsert, "head-insert"),
];

impl FaultKind {
    /// Every kind name `parse` accepts, for help texts (429 bodies take a `+HINT` suffix).
    pub fn names() -> Vec<String> {
        let mut names: Vec<String> = BODIES.iter().map(|(_, n)| n.to_string()).collect();
        names.extend(
            ["500", "502", "503", "504", "502-html", "504-html"]
                .iter()
                .map(|s| s.to_string()),
        );
        names.extend(SIMPLE_KINDS.iter().map(|(_, n)| n.to_string()));
        names
    }

    /// The `+HINT` suffixes of 429 kinds.
    pub fn hint_names() -> Vec<&'static str> {
        HINTS.iter().map(|(_, n)| *n).collect()
    }

    pub fn parse(text: &str) -> Result<FaultKind, String> {
        let text = text.trim();
        let (base, hint) = match text.split_once('+') {
            Some((base, hint)) => (base, Some(hint)),
            None => (text, None),
        };
        let base = if base == "429" { "429-json" } else { base };
        if let Some((body, _)) = BODIES.iter().find(|(_, n)| *n == base) {
            let hint = match hint {
                None => RetryHint::RetryAfter,
                Some(h) => HINTS
                    .iter()
                    .find(|(_, n)| *n == h)
                    .map(|(k, _)| *k)
                    .ok_or_else(|| {
                        format!("unknown 429 hint {h:?}; hints are {:?}", Self::hint_names())
                    })?,
            };
            return Ok(FaultKind::RateLimited(*body, hint));
        }
        if hint.is_some() {
            return Err(format!("only 429 kinds take a +HINT suffix, not {base:?}"));
        }
        let server = match base {
            "500" => Some((500, false)),
            "502" => Some((502, false)),
            "503" => Some((503, false)),
            "504" => Some((504, false)),
            "502-html" => Some((502, true)),
            "504-html" => Some((504, true)),
            _ => None,
        };
        if let Some((status, html)) = server {
            return Ok(FaultKind::ServerError { status, html });
        }
        SIMPLE_KINDS
            .iter()
            .find(|(_, n)| *n == base)
            .map(|(k, _)| *k)
            .ok_or_else(|| {
                format!(
                    "unknown fault {text:?}; faults are {:?}",
                    FaultKind::names()
                )
            })
    }

    /// Whether the request fails (counts towards `max_consecutive`); only `head-insert` does not.
    pub fn is_failure(self) -> bool {
        self != FaultKind::HeadInsert
    }

    /// Whether the kind only applies to requests that carry a `page-token`.
    pub fn needs_page_token(self) -> bool {
        matches!(self, FaultKind::StalePageToken | FaultKind::HeadInsert)
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultKind::RateLimited(body, hint) => {
                let body = BODIES
                    .iter()
                    .find(|(b, _)| b == body)
                    .map_or("429", |b| b.1);
                let hint = HINTS.iter().find(|(h, _)| h == hint).map_or("", |h| h.1);
                write!(f, "{body}+{hint}")
            }
            FaultKind::ServerError { status, html } => {
                write!(f, "{status}{}", if *html { "-html" } else { "" })
            }
            simple => {
                let name = SIMPLE_KINDS
                    .iter()
                    .find(|(k, _)| k == simple)
                    .map_or("?", |k| k.1);
                f.write_str(name)
            }
        }
    }
}

impl Serialize for FaultKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for FaultKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        FaultKind::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A probability kept in millionths, so plans compare exactly and draws need no floating point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Rate(u32);

impl Rate {
    pub const ONE: u32 = 1_000_000;

    /// `0.0..=1.0`; finer than a millionth is rounded.
    pub fn new(p: f64) -> Result<Rate, String> {
        if !(0.0..=1.0).contains(&p) {
            return Err(format!("a rate must be between 0 and 1, not {p}"));
        }
        Ok(Rate((p * f64::from(Self::ONE)).round() as u32))
    }

    /// `0.1`, `10%`.
    pub fn parse(text: &str) -> Result<Rate, String> {
        let text = text.trim();
        let (number, scale) = match text.strip_suffix('%') {
            Some(n) => (n, 100.0),
            None => (text, 1.0),
        };
        let p: f64 = number
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not a rate (0.1 or 10%)"))?;
        Rate::new(p / scale)
    }

    pub fn millionths(self) -> u32 {
        self.0
    }

    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / f64::from(Self::ONE)
    }
}

impl Serialize for Rate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_f64())
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Rate::new(f64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// One kind of fault at one rate, on some endpoints (all API endpoints when `endpoints` is empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    pub kind: FaultKind,
    pub rate: Rate,
    /// Endpoint names ([`ENDPOINTS`]) or stream names (`jobs`, `tests`, …); empty for every endpoint.
    #[serde(default)]
    pub endpoints: Vec<String>,
}

impl FaultRule {
    /// `kind` at `rate` (clamped into `0.0..=1.0`) on every endpoint.
    pub fn new(kind: FaultKind, rate: f64) -> FaultRule {
        FaultRule {
            kind,
            rate: Rate::new(rate.clamp(0.0, 1.0)).unwrap_or_default(),
            endpoints: Vec::new(),
        }
    }

    /// The same rule restricted to `endpoints` (endpoint or stream names).
    pub fn on(mut self, endpoints: &[&str]) -> FaultRule {
        self.endpoints = endpoints.iter().map(|e| e.to_string()).collect();
        self
    }

    /// The command-line form `KIND:RATE[@ENDPOINT,ENDPOINT…]`, e.g. `429-text+no-hint:0.1@jobs,tests`.
    pub fn parse(text: &str) -> Result<FaultRule, String> {
        let (rule, endpoints) = match text.split_once('@') {
            Some((rule, endpoints)) => (rule, Some(endpoints)),
            None => (text, None),
        };
        let (kind, rate) = rule
            .rsplit_once(':')
            .ok_or_else(|| format!("{text:?} is not KIND:RATE[@ENDPOINT,…]"))?;
        let rule = FaultRule {
            kind: FaultKind::parse(kind)?,
            rate: Rate::parse(rate)?,
            endpoints: endpoints
                .map(|e| e.split(',').map(|s| s.trim().to_owned()).collect())
                .unwrap_or_default(),
        };
        rule.problem().map_or(Ok(rule), Err)
    }

    /// Whether the rule covers `endpoint` (a canonical name).
    pub fn covers(&self, endpoint: &str) -> bool {
        self.endpoints.is_empty()
            || self
                .endpoints
                .iter()
                .any(|e| canonical_endpoint(e) == Some(endpoint))
    }

    /// Whether the rule can fire on a request to `endpoint`, with or without a page token.
    pub fn applies(&self, endpoint: &str, has_page_token: bool) -> bool {
        if self.kind.needs_page_token() && !has_page_token {
            return false;
        }
        if self.kind == FaultKind::HeadInsert && endpoint != "project-pipelines" {
            return false;
        }
        self.covers(endpoint)
    }

    fn problem(&self) -> Option<String> {
        if let Some(bad) = self
            .endpoints
            .iter()
            .find(|e| canonical_endpoint(e).is_none())
        {
            return Some(format!(
                "unknown endpoint {bad:?}; endpoints are {ENDPOINTS:?} (or a stream name)"
            ));
        }
        if self.kind == FaultKind::HeadInsert && !self.covers("project-pipelines") {
            return Some("head-insert only applies to project-pipelines".into());
        }
        None
    }
}

/// Which faults to inject, how often and where, and the knobs of their timing. The default injects
/// nothing (see the module docs for every field's effect).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultPlan {
    /// Seeds the draws; the same seed and requests give the same faults.
    pub seed: u64,
    /// Tried in order for every request; the rates of those that apply must add up to at most 1.
    pub rules: Vec<FaultRule>,
    /// The most attempts of one request that fail in a row; the next one is served clean. At least 1.
    pub max_consecutive: u32,
    /// The wait a 429's hint announces, in seconds.
    pub wait_secs: u64,
    /// How long `slow-first-byte` keeps silent before answering.
    pub first_byte_delay_ms: u64,
    /// How long `stall-body` keeps silent in the middle of the body before closing.
    pub stall_ms: u64,
    /// Pipelines one `head-insert` adds at a project's head (fewer than a page, so they repeat items).
    pub head_insert_count: u32,
    /// Insertions a project gets at most per epoch.
    pub head_insert_max: u32,
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan {
            seed: 0,
            rules: Vec::new(),
            max_consecutive: 3,
            wait_secs: 1,
            first_byte_delay_ms: 2_000,
            stall_ms: 2_000,
            head_insert_count: 3,
            head_insert_max: 4,
        }
    }
}

/// The longest delay a plan may ask for, so a typo cannot hang a test for hours.
pub const MAX_DELAY_MS: u64 = 10 * 60 * 1_000;

impl FaultPlan {
    /// No faults (the default).
    pub fn none() -> FaultPlan {
        FaultPlan::default()
    }

    /// An empty plan with this seed, to add rules to with [`FaultPlan::with`].
    pub fn seeded(seed: u64) -> FaultPlan {
        FaultPlan {
            seed,
            ..FaultPlan::default()
        }
    }

    /// This plan with one more rule.
    pub fn with(mut self, rule: FaultRule) -> FaultPlan {
        self.rules.push(rule);
        self
    }

    /// Whether some rule can fire (a rule at rate 0 never does).
    pub fn is_active(&self) -> bool {
        self.rules.iter().any(|r| r.rate.millionths() > 0)
    }

    /// Whether project pipeline listings page by offset from the head (a `head-insert` rule is on).
    pub fn offset_cursors(&self) -> bool {
        self.rules
            .iter()
            .any(|r| r.kind == FaultKind::HeadInsert && r.rate.millionths() > 0)
    }

    /// Why the plan cannot be used, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if let Some(problem) = self.rules.iter().find_map(FaultRule::problem) {
            return Some(problem);
        }
        if self.max_consecutive == 0 {
            return Some("max_consecutive must be at least 1".into());
        }
        if self.wait_secs > 3_600 {
            return Some("wait_secs must be at most 3600".into());
        }
        if self.first_byte_delay_ms > MAX_DELAY_MS || self.stall_ms > MAX_DELAY_MS {
            return Some(format!(
                "first_byte_delay_ms and stall_ms must be at most {MAX_DELAY_MS}"
            ));
        }
        if self.head_insert_count == 0 || self.head_insert_count as usize >= PAGE_SIZE {
            return Some(format!(
                "head_insert_count must be between 1 and {}",
                PAGE_SIZE - 1
            ));
        }
        if self.head_insert_max > 20 {
            return Some("head_insert_max must be at most 20".into());
        }
        // The rates that can meet on one request must leave room for a clean answer.
        for endpoint in ENDPOINTS {
            let total: u64 = self
                .rules
                .iter()
                .filter(|r| r.applies(endpoint, true))
                .map(|r| u64::from(r.rate.millionths()))
                .sum();
            if total > u64::from(Rate::ONE) {
                return Some(format!(
                    "the rates of the faults on {endpoint} add up to more than 1"
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_and_print() {
        for name in FaultKind::names() {
            let kind = FaultKind::parse(&name).unwrap();
            let printed = kind.to_string();
            assert_eq!(FaultKind::parse(&printed).unwrap(), kind, "{name}");
            if name.starts_with("429") {
                assert_eq!(printed, format!("{name}+retry-after"));
                for hint in FaultKind::hint_names() {
                    let with = format!("{name}+{hint}");
                    assert_eq!(FaultKind::parse(&with).unwrap().to_string(), with);
                }
            } else {
                assert_eq!(printed, name);
            }
        }
        assert_eq!(
            FaultKind::parse("429").unwrap(),
            FaultKind::RateLimited(RateLimitBody::Json, RetryHint::RetryAfter)
        );
        for bad in ["", "418", "reset+retry-after", "429-json+soon", "500-html"] {
            assert!(FaultKind::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rules_parse_from_the_command_line() {
        let rule = FaultRule::parse("429-text+no-hint:0.25@jobs,tests").unwrap();
        assert_eq!(
            rule.kind,
            FaultKind::RateLimited(RateLimitBody::Text, RetryHint::None)
        );
        assert_eq!(rule.rate.millionths(), 250_000);
        assert!(rule.covers("workflow-jobs") && rule.covers("tests"));
        assert!(!rule.covers("me"));
        assert_eq!(
            FaultRule::parse("reset:5%").unwrap().rate.millionths(),
            50_000
        );
        for bad in [
            "reset",
            "reset:2",
            "reset:-0.1",
            "reset:x",
            "reset:0.1@nowhere",
            "head-insert:0.1@tests",
        ] {
            assert!(FaultRule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plans_validate_and_round_trip_as_json() {
        assert_eq!(FaultPlan::none().problem(), None);
        assert!(!FaultPlan::none().is_active());
        let plan = FaultPlan::seeded(7)
            .with(FaultRule::new(FaultKind::Reset, 0.5))
            .with(FaultRule::new(FaultKind::StalePageToken, 0.25).on(&["pipelines"]))
            .with(FaultRule::new(FaultKind::HeadInsert, 0.25).on(&["project-pipelines"]));
        assert_eq!(plan.problem(), None);
        assert!(plan.is_active() && plan.offset_cursors());
        let json = serde_json::to_value(&plan).unwrap();
        assert_eq!(json["rules"][0]["kind"], "reset");
        assert_eq!(json["rules"][0]["rate"], 0.5);
        let back: FaultPlan = serde_json::from_value(json).unwrap();
        assert_eq!(back, plan);
        let short: FaultPlan =
            serde_json::from_str(r#"{"rules":[{"kind":"503","rate":0.1}]}"#).unwrap();
        assert_eq!(short.max_consecutive, 3);
        assert!(serde_json::from_str::<FaultPlan>(r#"{"rulez":[]}"#).is_err());
        assert!(serde_json::from_str::<FaultPlan>(r#"{"rules":[{"kind":"x","rate":1}]}"#).is_err());

        let crowded = plan.clone().with(FaultRule::new(FaultKind::CutJson, 0.1));
        assert!(crowded.problem().unwrap().contains("project-pipelines"));
        // Disjoint endpoints may each use the whole range.
        let disjoint = FaultPlan::none()
            .with(FaultRule::new(FaultKind::Reset, 1.0).on(&["me"]))
            .with(FaultRule::new(FaultKind::CutJson, 1.0).on(&["tests"]));
        assert_eq!(disjoint.problem(), None);
        let zero = FaultPlan {
            max_consecutive: 0,
            ..FaultPlan::none()
        };
        assert!(zero.problem().is_some());
    }

    #[test]
    fn every_route_has_an_endpoint_name() {
        assert_eq!(endpoint_of("/api/v2/me"), Some("me"));
        assert_eq!(
            endpoint_of("/api/v2/project/gh/a/b/pipeline"),
            Some("project-pipelines")
        );
        assert_eq!(
            endpoint_of("/api/v2/project/gh/a/b/12/tests"),
            Some("tests")
        );
        assert_eq!(endpoint_of("/api/v2/nope"), Some("unknown"));
        assert_eq!(endpoint_of("/_sim/stats"), None);
        assert_eq!(endpoint_of("/"), None);
        for (alias, endpoint) in STREAM_ALIASES {
            assert_eq!(canonical_endpoint(alias), Some(endpoint));
            assert!(ENDPOINTS.contains(&endpoint));
        }
    }
}
