//! Which pipelines exist at an epoch, and when each was created.
//!
//! The only per-pipeline memory of the simulator: a [`PipelineCore`] of a couple of dozen bytes, enough
//! to page, filter and look up pipelines and job numbers without generating anything else. Everything
//! below a pipeline is derived on demand from `(seed, tenant, project, ordinal, …)`.
//!
//! Time: epoch `e` is observed at [`epoch_time`]`(e)`. At epoch 0 each project's newest few pipelines
//! (the live window) were created in the last hour and may still be running; older ones were created at
//! least six hours earlier and are complete. Each advance to epoch `e` adds a batch of pipelines to some
//! projects, all created in `(epoch_time(e - 1), epoch_time(e) - QUIET]`, i.e. after every timestamp
//! served at epoch `e - 1` (see [`crate::sim::time::QUIET`]).
//!
//! Anomalies that live here: with [`crate::sim::TenantConfig::history_days`] the historic gaps are
//! stretched ([`crate::sim::retention::stretch_history`]); [`ABANDONED`] marks the historic pipelines
//! whose first workflow waits forever on an approval ([`crate::sim::holds`]); and a timeline also
//! holds each project's reruns ([`crate::sim::reruns`]): workflows added to existing pipelines by an
//! advance, which take the project's next job numbers, so a pipeline pushed after a rerun numbers its
//! jobs after the rerun's.

use std::sync::Arc;

use super::holds::mark_abandoned;
use super::pipeline::PipelineAttrs;
use super::plan;
use super::reruns::{Rerun, RerunRequest, allocate};
use super::retention::stretch_history;
use super::rng::Rng;
use super::time::{ANCHOR, DAY, EPOCH_SPAN, HOUR, MINUTE, Millis, QUIET, SECOND, epoch_time};
use super::world::{World, pipeline_count, span, streams};

/// The pipeline was in its project's live window when it appeared: its workflows may still be running
/// at that epoch, and they follow the rules that keep incremental sync exact (see [`crate::sim::plan`]).
pub(crate) const LIVE: u8 = 1;
/// The pipeline appears in a settling state (setup-pending, setup or pending) without workflows, and
/// settles into `created` with its workflows at the next epoch. Only ever the newest of its project.
pub(crate) const SETTLING: u8 = 2;
/// The pipeline's config failed: state `errored`, no workflows, never changes.
pub(crate) const ERRORED: u8 = 4;
/// Forces an approval job at the head of the first workflow, so it is `on_hold` when first seen.
pub(crate) const HOLD: u8 = 8;
/// Forces the first workflow's root jobs to wait minutes in the queue, so they are seen not running.
pub(crate) const QUEUE: u8 = 16;
/// Inserted at the project's head in the middle of its epoch by the `head-insert` fault (see
/// [`Timeline::with_inserted`]); always settling too.
pub(crate) const INSERTED: u8 = 32;
/// A historic pipeline whose first workflow waits forever on an approval at its head
/// ([`crate::sim::holds`]); only with [`crate::sim::TenantConfig::abandoned_holds`].
pub(crate) const ABANDONED: u8 = 64;

/// One pipeline as the simulator keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PipelineCore {
    pub created: Millis,
    /// Job slots (job numbers relative to the project's first) used by earlier pipelines; this
    /// pipeline's jobs use the following ones, workflow by workflow, approvals included (an approval
    /// uses a slot but never shows its number, so job numbers have gaps, as on CircleCI).
    pub first_slot: u32,
    /// The epoch the pipeline appeared at.
    pub birth: u32,
    /// Branch code (see [`PipelineAttrs::branch`]), kept for cheap `?branch=` filtering.
    pub branch: u8,
    /// Who triggered it (see [`PipelineAttrs::actor`]), kept for cheap `?mine=true` filtering.
    pub actor: u8,
    /// Workflows once created (0 for errored pipelines).
    pub workflows: u8,
    pub flags: u8,
}

impl PipelineCore {
    /// Whether the pipeline has its workflows at `epoch` (a settling pipeline gets them one epoch later).
    pub fn has_workflows(&self, epoch: u64) -> bool {
        self.flags & SETTLING == 0 || u64::from(self.birth) < epoch
    }

    /// The epoch its workflows were created at (and are first seen at).
    pub fn workflow_epoch(&self) -> u64 {
        u64::from(self.birth) + u64::from(self.flags & SETTLING != 0)
    }
}

/// Every project's pipelines at one epoch, oldest first (index = ordinal), and its reruns.
#[derive(Debug, Clone)]
pub(crate) struct Timeline {
    pub epoch: u64,
    pub projects: Vec<Arc<Vec<PipelineCore>>>,
    /// Per project: the reruns born so far, in the order they took their job numbers.
    pub reruns: Vec<Arc<Vec<Rerun>>>,
}

impl Timeline {
    /// Epoch 0.
    pub fn base(world: &World) -> Timeline {
        let projects = (0..world.projects.len())
            .map(|p| Arc::new(base_project(world, p)))
            .collect();
        let reruns = (0..world.projects.len())
            .map(|_| Arc::new(Vec::new()))
            .collect();
        Timeline {
            epoch: 0,
            projects,
            reruns,
        }
    }

    /// The next epoch: every project keeps its pipelines and some get a batch of new ones; then each
    /// of `reruns` (already checked by the caller, see [`crate::sim::reruns`]) adds a workflow to its
    /// pipeline, taking job numbers after the batch's.
    pub fn next(&self, world: &World, reruns: &[RerunRequest]) -> Timeline {
        let epoch = self.epoch + 1;
        let projects: Vec<Arc<Vec<PipelineCore>>> = self
            .projects
            .iter()
            .enumerate()
            .map(|(p, cores)| {
                let batch = batch_size(world, p, epoch);
                if batch == 0 {
                    return Arc::clone(cores);
                }
                let mut cores = Vec::clone(cores);
                let now = epoch_time(epoch);
                let mut rng = Rng::derive(
                    world.seed,
                    &[streams::BATCH, world.tenant as u64, p as u64, epoch],
                );
                // Newest first, all within the epoch's hour and before its quiet minutes.
                let mut times = Vec::with_capacity(batch);
                let mut t = now - span(&mut rng, 3 * MINUTE, 8 * MINUTE);
                let step = 50 * MINUTE / batch as Millis;
                for _ in 0..batch {
                    times.push(t);
                    t -= span(&mut rng, SECOND, step);
                }
                let settle = rng.chance(25);
                let floor = next_rerun_slot(&self.reruns[p]);
                for (k, created) in times.into_iter().enumerate().rev() {
                    let flags = LIVE | if k == 0 && settle { SETTLING } else { 0 };
                    push_core(world, p, &mut cores, floor, created, epoch as u32, flags);
                }
                Arc::new(cores)
            })
            .collect();
        let mut all_reruns = self.reruns.clone();
        for request in reruns {
            let p = request.project;
            let (Some(cores), Some(project_reruns)) = (projects.get(p), all_reruns.get_mut(p))
            else {
                continue;
            };
            allocate(
                world,
                epoch,
                p,
                cores,
                Arc::make_mut(project_reruns),
                request,
            );
        }
        Timeline {
            epoch,
            projects,
            reruns: all_reruns,
        }
    }

    /// This timeline with `n` more pipelines at the head of project `p`, created during the current
    /// epoch (the `head-insert` fault, [`crate::sim::faults`]); `None` when the project already had
    /// `max` insertions this epoch or no room is left for more.
    ///
    /// They are created after every pipeline of the project and after the previous epoch's "now", and
    /// before this epoch's quiet minutes (less the few seconds of their `updated_at`), so every served
    /// timestamp stays in order and incremental sync stays exact. Each insertion uses at most half of
    /// the time left, so a project takes a dozen or more before running out. They are settling
    /// pipelines (no workflows until the next epoch), so they add pipeline records and nothing else.
    pub fn with_inserted(&self, world: &World, p: usize, n: usize, max: usize) -> Option<Timeline> {
        let cores = self.projects.get(p)?;
        let this_epoch =
            |c: &&PipelineCore| c.flags & INSERTED != 0 && u64::from(c.birth) == self.epoch;
        let done = cores.iter().rev().take_while(this_epoch).count();
        if n == 0 || done >= max * n || cores.len() + n >= super::ids::MAX_ORDINAL {
            return None;
        }
        let now = epoch_time(self.epoch);
        let upper = now - QUIET - 5 * SECOND;
        let lower = cores
            .last()
            .map_or(now - EPOCH_SPAN, |c| c.created)
            .max(now - EPOCH_SPAN);
        let step = (upper - lower) / 2 / (n as Millis + 1);
        if step < 2 {
            return None;
        }
        let mut rng = Rng::derive(
            world.seed,
            &[
                streams::INSERT,
                world.tenant as u64,
                p as u64,
                self.epoch,
                cores.len() as u64,
            ],
        );
        let mut cores = Vec::clone(cores);
        let floor = next_rerun_slot(&self.reruns[p]);
        for k in 1..=n as Millis {
            // Strictly increasing: consecutive times are at least half a step apart.
            let created = lower + k * step - span(&mut rng, 0, step / 2 - 1);
            let flags = LIVE | SETTLING | INSERTED;
            push_core(
                world,
                p,
                &mut cores,
                floor,
                created,
                self.epoch as u32,
                flags,
            );
        }
        let mut projects = self.projects.clone();
        projects[p] = Arc::new(cores);
        Some(Timeline {
            epoch: self.epoch,
            projects,
            reruns: self.reruns.clone(),
        })
    }

    pub fn core(&self, project: usize, ordinal: u32) -> Option<&PipelineCore> {
        self.projects.get(project)?.get(ordinal as usize)
    }

    pub fn pipeline_total(&self) -> usize {
        self.projects.iter().map(|p| p.len()).sum()
    }
}

/// How many of project `index`'s newest pipelines are live at epoch 0, for a configured maximum.
/// A fixed pattern (all, one, none) so every dataset has projects of each kind.
fn live_count(index: usize, max: usize) -> usize {
    match index % 3 {
        0 => max,
        1 => max.min(1),
        _ => 0,
    }
}

fn base_project(world: &World, p: usize) -> Vec<PipelineCore> {
    let config = &world.config;
    let n = pipeline_count(p, config.pipelines_per_project);
    let live = live_count(p, config.live_pipelines).min(n);
    let mut rng = Rng::derive(
        world.seed,
        &[streams::TIMELINE, world.tenant as u64, p as u64],
    );

    // Creation times and flags, newest first.
    let mut newest_first = Vec::with_capacity(n);
    let mut t = ANCHOR;
    for k in 0..n {
        let (gap, flags) = if k < live {
            let gap = match k {
                0 => span(&mut rng, 3 * MINUTE, 8 * MINUTE),
                1 => span(&mut rng, 15 * MINUTE, 30 * MINUTE),
                _ => span(&mut rng, 5 * MINUTE, 20 * MINUTE),
            };
            let scenario = match k {
                // The newest pipeline of every fourth project is still settling; of the others, every
                // other one has jobs waiting in the queue.
                0 if p % 4 == 3 => SETTLING,
                0 if p.is_multiple_of(2) => QUEUE,
                1 => HOLD,
                _ => 0,
            };
            (gap, LIVE | scenario)
        } else if k == live {
            // Historic pipelines end before the live ones start: even a four-hour approval wait is over
            // by epoch 0.
            (span(&mut rng, 6 * HOUR, 2 * DAY), 0)
        } else {
            (span(&mut rng, MINUTE, 9 * HOUR), 0)
        };
        t -= gap;
        newest_first.push((t, flags));
    }
    if let Some(days) = config.history_days {
        stretch_history(&mut newest_first, live, days);
    }
    mark_abandoned(world, p, &mut newest_first, live);

    let mut cores = Vec::with_capacity(n);
    for (created, flags) in newest_first.into_iter().rev() {
        push_core(world, p, &mut cores, 0, created, 0, flags);
    }
    cores
}

/// The first job slot after a project's reruns (0 without any).
fn next_rerun_slot(reruns: &[Rerun]) -> u32 {
    reruns.last().map_or(0, Rerun::end_slot)
}

/// The first job slot after every pipeline of `cores` (0 for none).
pub(crate) fn next_core_slot(world: &World, p: usize, cores: &[PipelineCore]) -> u32 {
    cores.last().map_or(0, |last| {
        last.first_slot + slots(world, p, cores.len() as u32 - 1, last)
    })
}

/// Appends the next pipeline of project `p`, computing its job slots: after the previous pipeline's,
/// and at or after `floor` (the end of the project's reruns).
fn push_core(
    world: &World,
    p: usize,
    cores: &mut Vec<PipelineCore>,
    floor: u32,
    created: Millis,
    birth: u32,
    mut flags: u8,
) {
    let ordinal = cores.len() as u32;
    let attrs = PipelineAttrs::draw(world, p, ordinal);
    if attrs.errored && flags & SETTLING == 0 {
        flags |= ERRORED;
    }
    let workflows = if flags & ERRORED != 0 {
        0
    } else {
        attrs.workflows
    };
    let first_slot = next_core_slot(world, p, cores).max(floor);
    cores.push(PipelineCore {
        created,
        first_slot,
        birth,
        branch: attrs.branch,
        actor: attrs.actor,
        workflows,
        flags,
    });
}

/// Job slots a pipeline uses: every job of every workflow, approvals included.
pub(crate) fn slots(world: &World, p: usize, ordinal: u32, core: &PipelineCore) -> u32 {
    (0..core.workflows)
        .map(|w| plan::shape(world, p, ordinal, w, core.flags).0.slots())
        .sum()
}

/// New pipelines project `p` gets at `epoch` (≥ 1). Projects that never had a pipeline stay empty
/// (the "never built" edge case); about one project in three is guaranteed at least one.
fn batch_size(world: &World, p: usize, epoch: u64) -> usize {
    if pipeline_count(p, world.config.pipelines_per_project) == 0 {
        return 0;
    }
    let range = world.config.new_pipelines_per_epoch;
    let mut rng = Rng::derive(
        world.seed,
        &[streams::BATCH, world.tenant as u64, p as u64, epoch, 0],
    );
    let n = rng.range(range.min as u64, range.max as u64) as usize;
    if n == 0 && range.max > 0 && (p as u64 + epoch).is_multiple_of(3) {
        1
    } else {
        n
    }
}

/// When a settling pipeline born at `birth` settles: within the last 20 minutes before the next epoch
/// (and before its quiet minutes).
pub(crate) fn settle_time(world: &World, p: usize, ordinal: u32, birth: u32) -> Millis {
    let mut rng = Rng::derive(
        world.seed,
        &[
            streams::SETTLE,
            world.tenant as u64,
            p as u64,
            u64::from(ordinal),
        ],
    );
    epoch_time(u64::from(birth) + 1) - span(&mut rng, 3 * MINUTE, 20 * MINUTE)
}
