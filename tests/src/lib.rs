//! Conformance support for the CircleCI connector.
//!
//! [`sim`] is a faithful, deterministic simulator of the parts of CircleCI API v2 that a data connector
//! reads. The conformance suite and the `circleci-sim` binary
//! run the connector against it, since no live CircleCI endpoint can be reached.

pub mod announcement;
pub mod jsonplaceholder;
pub mod python;
pub mod scratch;
pub mod sim;
