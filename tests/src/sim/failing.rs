//! Pipelines whose workflow listing always fails: on CircleCI Server some pipelines answer
//! `500 {"message":"Internal server error."}` on `GET /pipeline/{id}/workflow`, every time, every
//! page. A connector that retries such an item forever never finishes; one that skips it (with a
//! notice) keeps working.
//!
//! The rules, once [`crate::sim::Simulator::fail_pipeline`] (or [`Dataset::with_pipeline_failing`],
//! or [`crate::sim::TenantConfig::failing_pipelines`] at epoch 0) made a pipeline fail:
//! - `GET /pipeline/{id}/workflow` answers 500 "Internal server error." on every request, whatever
//!   page token is sent (checked before the token), at this epoch and every later one;
//! - the pipeline itself is listed and readable as before (`GET /project/{slug}/pipeline`,
//!   `GET /pipeline/{id}`), and so are its workflows and jobs by id or number, but a connector only
//!   learns those from the failing listing, so [`Dataset::expected`] leaves out every workflow, job,
//!   job detail, test and artifact below it, and [`Dataset::unreachable_pipelines`] lists it as
//!   `failing-500` ([`crate::sim::unreachable`]);
//! - it is not a fault ([`crate::sim::faults`]): retrying never helps, and no fault plan changes it.
//!
//! Like a deletion, a failure shows in the snapshots served from the call on; a snapshot taken before
//! keeps the pipeline readable. [`Dataset::some_pipeline_ids`] picks victims deterministically.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::dataset::Dataset;
use super::ids::Kind;
use super::pipeline::pipeline_id;

/// The failing pipelines of a snapshot, `(project, ordinal)`, shared by the snapshots that derive
/// from it.
pub(crate) type FailingPipelines = Arc<BTreeSet<(u32, u32)>>;

impl Dataset {
    /// This snapshot with the workflow listing of `pipeline_id` failing for good (see the module
    /// docs), or `None` when the id names no pipeline of this tenant at this epoch. Failing a failing
    /// pipeline again changes nothing.
    pub fn with_pipeline_failing(&self, pipeline_id: &str) -> Option<Dataset> {
        let at = self.locate(pipeline_id, Kind::Pipeline)?;
        let mut failing = BTreeSet::clone(&self.failing);
        failing.insert((at.project, at.ordinal));
        let mut next = self.clone();
        next.failing = Arc::new(failing);
        Some(next)
    }

    /// [`Dataset::with_pipeline_failing`] for each of `ids` that names a pipeline; the others are
    /// ignored.
    pub fn with_pipelines_failing(&self, ids: &[String]) -> Dataset {
        ids.iter().fold(self.clone(), |d, id| {
            d.with_pipeline_failing(id).unwrap_or(d)
        })
    }

    /// Whether `pipeline_id` names a pipeline whose workflow listing fails in this snapshot.
    pub fn is_pipeline_failing(&self, pipeline_id: &str) -> bool {
        self.locate(pipeline_id, Kind::Pipeline)
            .is_some_and(|at| self.failing.contains(&(at.project, at.ordinal)))
    }

    /// The ids of the failing pipelines, project by project, oldest first.
    pub fn failing_pipeline_ids(&self) -> Vec<String> {
        self.failing
            .iter()
            .map(|&(p, ordinal)| pipeline_id(&self.world, p as usize, ordinal))
            .collect()
    }

    /// Whether pipeline `ordinal` of project `p` fails its workflow listing.
    pub(crate) fn pipeline_failing(&self, p: usize, ordinal: u32) -> bool {
        !self.failing.is_empty() && self.failing.contains(&(p as u32, ordinal))
    }
}
