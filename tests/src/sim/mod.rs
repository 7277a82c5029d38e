//! A faithful, deterministic simulator of the CircleCI API v2 endpoints a data connector reads.
//!
//! It honours what CircleCI documents and what real accounts show: `Circle-Token` auth (and its accepted
//! alternatives), `{"message": …}` errors, opaque page tokens with 20 newest-first items a page, every
//! project slug form, realistic record shapes with their nulls, and the known 404/500 traps (approval
//! jobs have no job details, empty path segments fail, and on request a workflow deleted after it was
//! listed answers 404: [`Simulator::delete_workflow_after_listing`]). Each token is a tenant with its own
//! generated data; the same [`SimConfig`] always gives byte-identical responses (only a [`ratelimit`],
//! off by default, depends on the wall clock: which requests it refuses). Every request is
//! recorded so tests can check what a connector actually sent.
//!
//! Data has an epoch: [`Simulator::advance`] moves every tenant on (new pipelines, running work ends),
//! and [`Dataset`] snapshots say exactly what a full or incremental sync must return
//! ([`Dataset::expected`], [`Dataset::changed_keys`]). Time is simulated: epoch `e`'s "now" is
//! 2026-05-01T12:00Z plus `e` hours, sent as every answer's `Date` header, and nothing is stamped in the
//! two minutes before it ([`time::QUIET`]). Only pipelines are kept in memory (a few dozen bytes each);
//! workflows, jobs, tests, artifacts and insights are regenerated on demand from the seed, and their
//! ids encode where they live ([`ids`]), so a tenant with 100,000 pipelines starts in milliseconds.
//!
//! Layout: [`config`] (what to serve) → [`world`] (the unchanging part of a tenant: people, orgs,
//! projects, [`contexts`]) → [`timeline`] (which pipelines exist at an epoch) → [`pipeline`],
//! [`plan`] (a workflow's whole life) → [`observe`] (a plan at an instant: workflows and jobs),
//! [`details`] (job details, tests, artifacts), [`insights`] → [`dataset`] (a snapshot, with its
//! [`deleted`] workflows: listed but unreadable), [`expected`] (the right answers) and [`minimum`]
//! (the fewest requests a full sync of some streams needs: [`Dataset::minimum_requests`]) →
//! [`server`] (HTTP, [`Simulator`]; [`ratelimit`] first, then the fault plan) → [`handlers`] (one
//! reply per request, using [`routes`], [`auth`], [`paging`], [`ids`]) → [`record`] (the log).
//!
//! Anomalies of real accounts, all off by default (every existing byte stays the same) and all
//! deterministic: [`retention`] (history stretched over weeks or months by
//! [`TenantConfig::history_days`]; pipelines older than [`TenantConfig::retention_days`] still listed,
//! but their workflow listing answers 404 or lists null ids), [`failing`] (pipelines whose workflow
//! listing answers a persistent 500: [`Simulator::fail_pipeline`], [`TenantConfig::failing_pipelines`]),
//! [`unreachable`](mod@unreachable) (the union of both, what a connector must skip:
//! [`Dataset::unreachable_pipelines`], victims by [`Dataset::some_pipeline_ids`]), [`reruns`]
//! (new workflows with new job numbers added to old, unchanged pipelines by the next advance:
//! [`Simulator::rerun_at_next_advance`], `POST /_sim/advance` with `{"reruns": [...]}`), [`holds`]
//! (approvals on hold forever: [`TenantConfig::abandoned_holds`]) and [`contexts`] (403 for
//! [`TenantConfig::forbidden_context_orgs`], 404 for a personal account's `owner-slug`). The timeline
//! carries reruns and abandoned holds, a [`Dataset`] its failing pipelines, the handlers serve the
//! rest, and [`expected`] leaves out whatever a correct connector cannot read.
//!
//! Faults: a [`FaultPlan`] ([`faults`], which also explains how tests use each fault) makes the server
//! answer some API requests with rate limits, server errors, resets, slow or broken bodies, stale page
//! tokens, or pipelines inserted at a listing's head mid-walk; [`injector`] decides per request
//! (seeded, per attempt), [`inject`] applies the decision with [`wire`]'s bodies and replies, and
//! [`inserted`] is the data side of head insertion.
//!
//! Rate limit, off by default (every answer the same without it): [`ratelimit`] gives each tenant's
//! token a bucket of [`RateLimit::burst`] requests refilled at [`RateLimit::per_second`] in real
//! (wall-clock) time, the one part of the simulator that is about throughput rather than data; a
//! request that finds its bucket empty is answered `429 {"message":"Rate limit exceeded."}` with
//! `Retry-After` and `RateLimit-*`/`X-RateLimit-*` headers, recorded and counted
//! ([`Simulator::rate_limited`]). Set by [`SimConfig::rate_limit`], [`Simulator::set_rate_limit`] or
//! `POST /_sim/rate-limit`. Unlike a `429` fault it answers by rate, not by draw, so a connector's
//! adaptive concurrency can be measured against it; [`Dataset::minimum_requests`] is what such a
//! measurement compares the requests made with.

pub mod auth;
pub mod codec;
pub mod config;
pub mod contexts;
pub mod dataset;
pub mod deleted;
pub mod details;
pub mod expected;
pub mod failing;
pub mod faults;
pub mod handlers;
pub mod holds;
pub mod ids;
pub mod inject;
pub mod injector;
pub mod inserted;
pub mod insights;
pub mod minimum;
pub mod observe;
pub mod paging;
pub mod pipeline;
pub mod plan;
pub mod ratelimit;
pub mod record;
pub mod reply;
pub mod reruns;
pub mod retention;
pub mod rng;
pub mod routes;
pub mod served;
pub mod server;
pub mod slug;
pub mod state;
pub mod time;
pub mod timeline;
pub mod unreachable;
pub mod wire;
pub mod words;
pub mod world;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_anomalies;
#[cfg(test)]
mod tests_api;
#[cfg(test)]
mod tests_big;
#[cfg(test)]
mod tests_deleted;
#[cfg(test)]
mod tests_epochs;
#[cfg(test)]
mod tests_faults;
#[cfg(test)]
mod tests_minimum;
#[cfg(test)]
mod tests_ratelimit;

pub use config::{Count, DEFAULT_TOKEN, SimConfig, TenantConfig};
pub use dataset::{Dataset, Pipelines, Project};
pub use expected::{INCREMENTAL_STREAMS, STREAMS, primary_key_columns};
pub use faults::{FaultKind, FaultPlan, FaultRule, RateLimitBody, RetryHint};
pub use paging::PAGE_SIZE;
pub use ratelimit::RateLimit;
pub use record::RecordedRequest;
pub use reruns::RerunInfo;
pub use retention::Expiry;
pub use server::Simulator;
pub use state::InsertedPipeline;
pub use unreachable::{EXPIRED_404, EXPIRED_NULL_IDS, FAILING_500, Reach};
