//! Reruns: "Rerun workflow from failed", "Rerun from start" and automatic reruns add a **new**
//! workflow to a pipeline that may have finished long ago, while the pipeline object does not change
//! (its `updated_at` stays as it was), so no pipeline listing says the old pipeline changed.
//!
//! [`crate::sim::Simulator::rerun_at_next_advance`] (or `POST /_sim/advance` with
//! `{"reruns": ["<workflow id>", …]}`, or [`Dataset::advanced_with_reruns`]) asks for a rerun of a
//! finished workflow; the next advance, to epoch `e`, adds it:
//! - a workflow with a new id (its index in the pipeline follows the pipeline's own workflows and its
//!   earlier reruns), the same `name` (and `tag`, `max_auto_reruns`) as the workflow rerun, and the
//!   old pipeline's `pipeline_id` and `pipeline_number`; listed first (newest first) by
//!   `GET /pipeline/{id}/workflow`;
//! - the same jobs as the workflow rerun (names, types, dependencies, parallelism, contexts), run again
//!   from the start with new ids, new draws (so a new outcome) and **new job numbers**: the project's
//!   next ones when the rerun is created (after the numbers of the pipelines the same advance adds, and
//!   before those of any later pipeline), so no job number of the project is ever reused; with their
//!   own job details, tests and artifacts;
//! - created in epoch `e`'s hour, 47 to 56 minutes before its "now" (so after everything served at
//!   epoch `e - 1`), and **finished by the time it is first observed**: the whole run, approvals
//!   included (approved within two minutes), is scaled into 40 minutes, so it ends before the quiet
//!   minutes ([`crate::sim::time::QUIET`]) and never changes again.
//!
//! Hence [`Dataset::changed_keys`] from epoch `e - 1` to `e` lists exactly the new workflow and its
//! jobs, job details, tests and artifacts (plus whatever else the advance changed), and
//! [`Dataset::expected`] of epoch `e` includes them. A rerun can be rerun again; a workflow can be
//! rerun only while it is finished, readable (not deleted after listing, [`crate::sim::deleted`]),
//! its pipeline is within retention ([`crate::sim::retention`]) and has fewer than 256 workflows.
//! Reruns asked for but no longer possible at the advance (the workflow was deleted meanwhile) are
//! dropped. Insights are not updated by reruns.

use super::dataset::Dataset;
use super::observe::{workflow_id, workflow_status};
use super::pipeline::pipeline_id;
use super::plan::shape;
use super::rng::Rng;
use super::time::{MINUTE, Millis, SECOND, epoch_time};
use super::timeline::{PipelineCore, next_core_slot};
use super::world::{World, span, streams};

/// The highest workflow index a pipeline can hold (ids carry it in 8 bits): reruns beyond it are
/// refused.
pub const MAX_WORKFLOW_INDEX: usize = 255;
/// How long before its epoch's "now" the earliest rerun of a pipeline is created.
const RERUN_LEAD: Millis = 56 * MINUTE;

/// A rerun asked for: workflow `of` of pipeline `ordinal` of project `project`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RerunRequest {
    pub project: usize,
    pub ordinal: u32,
    pub of: u8,
}

/// A workflow added to an existing pipeline by a rerun.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rerun {
    pub ordinal: u32,
    /// Its workflow index in the pipeline (ids encode it): after the pipeline's own workflows and its
    /// earlier reruns.
    pub index: u8,
    /// The workflow it reruns: one of the pipeline's own, or an earlier rerun.
    pub of: u8,
    /// The pipeline's own workflow at the root of the chain of reruns: the rerun runs its jobs.
    pub origin: u8,
    /// The epoch it was created in (and is first seen at).
    pub birth: u32,
    /// The job slot of its job 0 (see [`PipelineCore::first_slot`]).
    pub first_slot: u32,
    pub slots: u8,
    pub created: Millis,
}

impl Rerun {
    /// The first job slot after this rerun's jobs.
    pub fn end_slot(&self) -> u32 {
        self.first_slot + u32::from(self.slots)
    }
}

/// What [`Dataset::reruns`] reports about one rerun.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RerunInfo {
    /// The new workflow's id.
    pub id: String,
    /// The id of the workflow it reruns.
    pub of: String,
    pub pipeline_id: String,
    /// The epoch it was created in.
    pub epoch: u64,
}

/// Adds the rerun `request` asks for, created during `epoch`, to project `p`'s `reruns`; `cores` are
/// the project's pipelines at `epoch` (this epoch's batch included). Does nothing when the pipeline
/// has no room for another workflow or `of` names nothing.
pub(crate) fn allocate(
    world: &World,
    epoch: u64,
    p: usize,
    cores: &[PipelineCore],
    reruns: &mut Vec<Rerun>,
    request: &RerunRequest,
) {
    let ordinal = request.ordinal;
    let Some(core) = cores.get(ordinal as usize) else {
        return;
    };
    let earlier = reruns.iter().filter(|r| r.ordinal == ordinal).count();
    let index = usize::from(core.workflows) + earlier;
    if index > MAX_WORKFLOW_INDEX {
        return;
    }
    let origin = if request.of < core.workflows {
        request.of
    } else {
        match reruns
            .iter()
            .find(|r| r.ordinal == ordinal && r.index == request.of)
        {
            Some(r) => r.origin,
            None => return,
        }
    };
    let slots = shape(world, p, ordinal, origin, core.flags).0.slots() as u8;
    let first_slot = next_core_slot(world, p, cores).max(reruns.last().map_or(0, Rerun::end_slot));
    let mut rng = Rng::derive(
        world.seed,
        &[
            streams::RERUN,
            world.tenant as u64,
            p as u64,
            u64::from(ordinal),
            index as u64,
            0,
        ],
    );
    // Later reruns of a pipeline are created later: 2 s apart per earlier rerun, jitter below that.
    let created = epoch_time(epoch) - RERUN_LEAD
        + earlier as Millis * 2 * SECOND
        + span(&mut rng, 0, 2 * SECOND - 1);
    reruns.push(Rerun {
        ordinal,
        index: index as u8,
        of: request.of,
        origin,
        birth: epoch as u32,
        first_slot,
        slots,
        created,
    });
}

impl Dataset {
    /// The next epoch (like [`Dataset::advanced`]) with a rerun of each of `workflow_ids`, in order
    /// (an id named twice is rerun twice; see the module docs); `None` when one of them cannot be
    /// rerun ([`Dataset::can_rerun`]).
    pub fn advanced_with_reruns<S: AsRef<str>>(&self, workflow_ids: &[S]) -> Option<Dataset> {
        let requests = workflow_ids
            .iter()
            .map(|id| self.rerun_request(id.as_ref()))
            .collect::<Option<Vec<_>>>()?;
        Some(self.advance_with(&requests))
    }

    /// Whether `workflow_id` names a workflow of this tenant that can be rerun now: it exists at this
    /// epoch, is finished, is not deleted after listing, and its pipeline is within retention.
    pub fn can_rerun(&self, workflow_id: &str) -> bool {
        self.rerun_request(workflow_id).is_some()
    }

    /// Up to `n` ids of workflows that can be rerun (and whose reruns a connector can read: their
    /// pipeline's workflow listing answers), spread evenly over the tenant's workflows in listing
    /// order, like [`Dataset::some_workflow_ids`]. Deterministic.
    pub fn some_finished_workflow_ids(&self, n: usize) -> Vec<String> {
        let candidates: Vec<String> = self
            .expected_keys("workflows")
            .into_iter()
            .filter(|id| self.can_rerun(id))
            .collect();
        let n = n.min(candidates.len());
        (0..n)
            .map(|i| candidates[i * candidates.len() / n].clone())
            .collect()
    }

    /// Every rerun so far, oldest first (by epoch, then project, then job numbers).
    pub fn reruns(&self) -> Vec<RerunInfo> {
        let mut all: Vec<(u32, usize, u32, RerunInfo)> = Vec::new();
        for (p, reruns) in self.timeline.reruns.iter().enumerate() {
            for r in reruns.iter() {
                all.push((
                    r.birth,
                    p,
                    r.first_slot,
                    RerunInfo {
                        id: workflow_id(&self.world, p, r.ordinal, r.index),
                        of: workflow_id(&self.world, p, r.ordinal, r.of),
                        pipeline_id: pipeline_id(&self.world, p, r.ordinal),
                        epoch: u64::from(r.birth),
                    },
                ));
            }
        }
        all.sort_by_key(|(birth, p, slot, _)| (*birth, *p, *slot));
        all.into_iter().map(|(.., info)| info).collect()
    }

    /// The rerun that is workflow `wf` of pipeline `ordinal` of project `p`, if it is one.
    pub(crate) fn rerun(&self, p: usize, ordinal: u32, wf: u8) -> Option<&Rerun> {
        let core = &self.cores(p)[ordinal as usize];
        if wf < core.workflows {
            return None;
        }
        self.timeline.reruns[p]
            .iter()
            .find(|r| r.ordinal == ordinal && r.index == wf)
    }

    /// The reruns of pipeline `ordinal` of project `p`, oldest first.
    pub(crate) fn reruns_of(&self, p: usize, ordinal: u32) -> impl Iterator<Item = &Rerun> {
        self.timeline.reruns[p]
            .iter()
            .filter(move |r| r.ordinal == ordinal)
    }

    /// The rerun of a project that uses job slot `slot`, if any.
    pub(crate) fn rerun_at_slot(&self, p: usize, slot: u32) -> Option<&Rerun> {
        let reruns = &self.timeline.reruns[p];
        let at = reruns
            .partition_point(|r| r.first_slot <= slot)
            .checked_sub(1)?;
        let rerun = &reruns[at];
        (slot < rerun.end_slot()).then_some(rerun)
    }

    pub(crate) fn rerun_request(&self, workflow_id: &str) -> Option<RerunRequest> {
        let at = self.locate_readable_workflow(workflow_id)?;
        let (p, ordinal) = (at.project as usize, at.ordinal);
        if self.expiry(p, ordinal).is_some() {
            return None;
        }
        let listed = usize::from(self.cores(p)[ordinal as usize].workflows)
            + self.reruns_of(p, ordinal).count();
        if listed > MAX_WORKFLOW_INDEX {
            return None; // no index left for another workflow
        }
        let plan = self.plan(p, ordinal, at.workflow);
        workflow_status(&plan, self.t()).1?;
        Some(RerunRequest {
            project: p,
            ordinal,
            of: at.workflow,
        })
    }
}
