//! Abandoned approvals: an approval nobody approves stays `on_hold` forever, and CircleCI never moves
//! it by itself.
//!
//! With [`crate::sim::TenantConfig::abandoned_holds`] set to `n`, each project gets `n` historic
//! pipelines (finished, older than the live window, not errored, with workflows, and — when retention
//! is on — kept for at least [`HOLD_MARGIN`] more of simulated time) whose first workflow waits on an
//! approval at its head that is never approved. They are picked at evenly spread positions among the
//! eligible pipelines, oldest first, so the oldest eligible one is always among them (with stretched
//! history, [`crate::sim::retention`], it is weeks old). At every epoch:
//! - the workflow is `on_hold` with `"stopped_at": null`;
//! - its approval job (`type: approval`, no job number) is `on_hold`, with its `started_at` (when it
//!   became ready) and no `stopped_at`;
//! - every other job of the workflow depends on the approval (directly or through another job) and is
//!   `blocked`, with `"started_at": null` and `"stopped_at": null`; its job details say the same, and it
//!   has no tests or artifacts.
//!
//! The pipeline's other workflows are ordinary history. Nothing about these records ever changes, so
//! [`crate::sim::Dataset::changed_keys`] never lists them, while a connector's incremental cursor
//! (docs/streams.md: `lwm`, the oldest unfinished pipeline) stays on them for good. The approval at the
//! head uses a job slot, so job numbers of later pipelines shift when this option is on (never when it
//! is off). [`crate::sim::Dataset::abandoned_hold_pipeline_ids`] says which pipelines they are.

use super::dataset::Dataset;
use super::observe::workflow_id;
use super::pipeline::{PipelineAttrs, pipeline_id};
use super::retention::kept_at_start;
use super::time::{DAY, Millis};
use super::timeline::ABANDONED;
use super::world::World;

/// With retention on, an abandoned hold is created at least this long after the retention limit of
/// epoch 0, so it stays reachable for the first 48 epochs.
pub const HOLD_MARGIN: Millis = 2 * DAY;

/// Marks project `p`'s abandoned holds in `newest_first` (creation times and flags of its pipelines,
/// newest first, the first `live` in the live window) with [`ABANDONED`].
pub(crate) fn mark_abandoned(
    world: &World,
    p: usize,
    newest_first: &mut [(Millis, u8)],
    live: usize,
) {
    let want = world.config.abandoned_holds;
    if want == 0 {
        return;
    }
    let n = newest_first.len();
    let kept_from = kept_at_start(&world.config, HOLD_MARGIN);
    // Oldest first.
    let eligible: Vec<usize> = (live..n)
        .rev()
        .filter(|&k| {
            let attrs = PipelineAttrs::draw(world, p, (n - 1 - k) as u32);
            !attrs.errored
                && attrs.workflows > 0
                && kept_from.is_none_or(|from| newest_first[k].0 >= from)
        })
        .collect();
    let count = want.min(eligible.len());
    for i in 0..count {
        // Distinct positions from the oldest to the newest eligible one.
        let at = if count == 1 {
            0
        } else {
            i * (eligible.len() - 1) / (count - 1)
        };
        newest_first[eligible[at]].1 |= ABANDONED;
    }
}

impl Dataset {
    /// The pipelines whose first workflow waits forever on an approval (see the module docs), project
    /// by project, newest first. Some may be past retention at later epochs only after
    /// [`HOLD_MARGIN`].
    pub fn abandoned_hold_pipeline_ids(&self) -> Vec<String> {
        self.abandoned_holds()
            .map(|(p, o)| pipeline_id(&self.world, p, o))
            .collect()
    }

    /// The `on_hold` workflows of [`Dataset::abandoned_hold_pipeline_ids`], in the same order.
    pub fn abandoned_hold_workflow_ids(&self) -> Vec<String> {
        self.abandoned_holds()
            .map(|(p, o)| workflow_id(&self.world, p, o, 0))
            .collect()
    }

    /// Whether pipeline `ordinal` of project `p` is an abandoned hold.
    pub(crate) fn is_abandoned_hold(&self, p: usize, ordinal: u32) -> bool {
        self.cores(p)[ordinal as usize].flags & ABANDONED != 0
    }

    fn abandoned_holds(&self) -> impl Iterator<Item = (usize, u32)> + '_ {
        (0..self.projects.len()).flat_map(move |p| {
            (0..self.cores(p).len() as u32)
                .rev()
                .filter(move |&o| self.is_abandoned_hold(p, o))
                .map(move |o| (p, o))
        })
    }
}
