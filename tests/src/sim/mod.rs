//! A faithful, deterministic simulator of the CircleCI API v2 endpoints a data connector reads.
//!
//! It honours the facts in `/work/shared/circleci-api-v2.md`: `Circle-Token` auth (and its accepted
//! alternatives), `{"message": …}` errors, opaque page tokens with 20 newest-first items a page, every
//! project slug form, realistic record shapes with their nulls, and the known 404/500 traps. Each token
//! is a tenant with its own generated [`Dataset`]; the same [`SimConfig`] always gives byte-identical
//! responses. Every request is recorded so tests can check what a connector actually sent.
//!
//! Layout: [`config`] (what to serve) → [`dataset`] (generate it) → [`server`] (HTTP, [`Simulator`]) →
//! [`handlers`] (one reply per request, using [`routes`], [`auth`], [`paging`]) → [`record`] (the log).

pub mod auth;
pub mod codec;
pub mod config;
pub mod dataset;
pub mod handlers;
pub mod paging;
pub mod record;
pub mod reply;
pub mod rng;
pub mod routes;
pub mod server;
pub mod slug;
pub mod state;
pub mod time;
pub mod words;

#[cfg(test)]
mod tests;

pub use config::{DEFAULT_TOKEN, SimConfig, TenantConfig};
pub use dataset::{Dataset, Project};
pub use paging::PAGE_SIZE;
pub use record::RecordedRequest;
pub use server::Simulator;
