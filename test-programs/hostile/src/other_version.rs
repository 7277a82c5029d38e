//! `other-version`: a well-behaved connector, except that it implements
//! `ingest:connector/source-connector@0.1.0` (a copy of the contract's WIT
//! with only the version changed, in `../wit-other-version`): it exports
//! `ingest:connector/types@0.1.0` and `ingest:connector/source@0.1.0`, and
//! no 0.2.0 interface: the shape of a component built for an older release
//! of the contract. The version switch itself is in `bindings.rs`;
//! `validate` and `fetch` are benign.
//!
//! Exercises the host's contract check at load time: a component built
//! against another version of the contract must be refused with a clear
//! error, not linked by structural luck nor failing at the first call.

pub use crate::common::benign::{fetch, validate};

/// The behaviour's name.
pub const NAME: &str = "other-version";
