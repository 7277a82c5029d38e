//! Workflows deleted between being listed and being read: a race every CircleCI connector meets. A
//! connector lists a pipeline's workflows (`/pipeline/{id}/workflow`), the workflow is deleted, and
//! reading its jobs (`/workflow/{id}/job`) answers 404 `{"message": "Not Found"}`.
//!
//! The rules, once [`crate::sim::Simulator::delete_workflow_after_listing`] (or
//! [`Dataset::with_workflow_deleted`]) deleted a workflow:
//! - it keeps appearing in its pipeline's workflow listing, with the same JSON as before (the listing is
//!   what the connector already read), so [`Dataset::expected`]`("workflows")` still holds it;
//! - `GET /workflow/{id}` and every page of `GET /workflow/{id}/job` answer 404 "Not Found", whatever
//!   page token is sent (the lookup fails before the token is looked at);
//! - its jobs' numbers still resolve (job details, tests and artifacts are served as before), but a
//!   connector only learns those numbers from the job listing that now fails, so `expected("jobs")`,
//!   `expected("job_details")`, `expected("tests")`, `expected("artifacts")`, [`Dataset::expected_keys`]
//!   and [`Dataset::changed_keys`] leave out every record of its jobs;
//! - insights are untouched (CircleCI aggregates them separately from the workflow records).
//!
//! A [`Dataset`] is an immutable snapshot: a deletion shows in the snapshots the simulator serves (and
//! [`crate::sim::Simulator::dataset`] returns) from the call on, and in every later epoch; a snapshot
//! taken before the call keeps showing the workflow whole, so it stays the right answer for a sync that
//! ran before the deletion.
//!
//! The same 404s answer for every workflow of a pipeline past retention ([`super::retention`]):
//! [`Dataset::locate_readable_workflow`] is where both are checked.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::dataset::Dataset;
use super::ids::{Kind, Locator};
use super::observe::workflow_id;

/// Where a deleted workflow lives: `(project, pipeline ordinal, workflow index)`.
pub(crate) type WorkflowAt = (u32, u32, u8);

/// The deleted workflows of a snapshot, shared by the snapshots that derive from it.
pub(crate) type DeletedWorkflows = Arc<BTreeSet<WorkflowAt>>;

impl Dataset {
    /// This snapshot with `workflow_id` deleted after listing (see the module docs), or `None` when the
    /// id names no workflow of this tenant at this epoch (garbage, another tenant's, a pipeline's, one
    /// not created yet). Deleting a deleted workflow again changes nothing.
    pub fn with_workflow_deleted(&self, workflow_id: &str) -> Option<Dataset> {
        let at = self.locate(workflow_id, Kind::Workflow)?;
        let mut deleted = BTreeSet::clone(&self.deleted);
        deleted.insert(key(&at));
        let mut next = self.clone();
        next.deleted = Arc::new(deleted);
        Some(next)
    }

    /// Whether `workflow_id` names a workflow deleted in this snapshot.
    pub fn is_workflow_deleted(&self, workflow_id: &str) -> bool {
        self.locate(workflow_id, Kind::Workflow)
            .is_some_and(|at| self.deleted.contains(&key(&at)))
    }

    /// The ids of the workflows deleted in this snapshot, project by project, oldest pipeline first.
    pub fn deleted_workflow_ids(&self) -> Vec<String> {
        self.deleted
            .iter()
            .map(|&(p, ordinal, wf)| workflow_id(&self.world, p as usize, ordinal, wf))
            .collect()
    }

    /// Up to `n` ids of workflows not yet deleted, to pick victims deterministically: spread evenly
    /// over the tenant's workflows in listing order (so different projects and ages when there are
    /// enough), the first listed one first. Fewer when the tenant has fewer; the same snapshot always
    /// gives the same ids.
    pub fn some_workflow_ids(&self, n: usize) -> Vec<String> {
        let candidates: Vec<String> = self
            .expected_keys("workflows")
            .into_iter()
            .filter(|id| !self.is_workflow_deleted(id))
            .collect();
        let n = n.min(candidates.len());
        // Distinct indexes: `i * len / n` strictly grows with `i` when `n <= len`.
        (0..n)
            .map(|i| candidates[i * candidates.len() / n].clone())
            .collect()
    }

    /// Whether workflow `wf` of pipeline `ordinal` of project `p` is deleted (listed, but unreadable).
    pub(crate) fn workflow_deleted(&self, p: usize, ordinal: u32, wf: u8) -> bool {
        !self.deleted.is_empty() && self.deleted.contains(&(p as u32, ordinal, wf))
    }

    /// What a workflow id names if `/workflow/{id}` and `/workflow/{id}/job` can read it: it exists at
    /// this epoch, is not deleted, and its pipeline is within retention.
    pub(crate) fn locate_readable_workflow(&self, id: &str) -> Option<Locator> {
        self.locate(id, Kind::Workflow).filter(|at| {
            !self.deleted.contains(&key(at))
                && self.expiry(at.project as usize, at.ordinal).is_none()
        })
    }
}

fn key(at: &Locator) -> WorkflowAt {
    (at.project, at.ordinal, at.workflow)
}
