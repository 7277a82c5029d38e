//! A workflow's whole life, planned in absolute time: for each job when it becomes ready, starts and
//! stops, and how it ends. What the API shows at an epoch is this plan observed at that epoch's time
//! ([`crate::sim::observe`]), so every status change comes with the timestamp that explains it.
//!
//! Plans are regenerated on demand from `(seed, tenant, project, pipeline ordinal, workflow index)`;
//! nothing is stored.
//!
//! # Keeping incremental sync exact
//! The connector re-reads only records whose `created_at`/`started_at`/`stopped_at` moved past its
//! watermark, plus the timestamp-less jobs (`blocked` → `not_run`) of a workflow that changed
//! (docs/streams.md). A *live* workflow (one of a pipeline in the live window or created by an
//! advance) is first seen at the epoch boundary `B` of the epoch it was created in, and is planned so
//! that it is terminal by the next boundary `B + 1h`:
//! - the critical path (queues and runs, approval waits excluded) is scaled to at most 40 minutes;
//! - an approval that became ready by `B` is approved 1–5 minutes after `B` (so it is `on_hold` at
//!   `B`); one that becomes ready after `B` is approved within 2 minutes;
//! - if the workflow is still running at `B`, no job may be `not_run` yet: a job failing by `B` that
//!   has dependents succeeds instead. Otherwise its `not_run` dependents, which have no timestamps and
//!   never change again, would be re-read when the workflow finishes;
//! - nothing happens in the quiet minutes before an epoch's "now" ([`crate::sim::time::QUIET`]).
//!
//! Hence a live workflow is seen unfinished at most once, and everything that changes afterwards gets
//! a `stopped_at` (or `started_at`) later than every timestamp of the earlier epoch, or is a
//! `blocked` job turning `not_run` in a workflow that finished.
//! Older (*historic*) workflows ended long before epoch 0 and may also have been canceled, errored,
//! unauthorized or not run.
//!
//! Two kinds of workflow break those rules on purpose, as on real accounts:
//! - an *abandoned hold* ([`crate::sim::holds`]) is the first workflow of a historic pipeline marked
//!   [`ABANDONED`]: an approval at its head is never approved, every other job depends on it and is
//!   never ready, and the workflow never ends (its `end` is [`NEVER`]);
//! - a *rerun* ([`crate::sim::reruns`], [`rerun_plan`]) runs an earlier workflow's jobs again, created
//!   in the hour of the epoch that added it and finished before that epoch's quiet minutes, so it is
//!   terminal when first seen and never changes.

use super::pipeline::PipelineAttrs;
use super::reruns::Rerun;
use super::rng::Rng;
use super::time::{HOUR, MINUTE, Millis, SECOND, epoch_time, out_of_quiet};
use super::timeline::{ABANDONED, HOLD, LIVE, PipelineCore, QUEUE, SETTLING, settle_time};
use super::words::{APPROVAL_JOBS, BUILD_JOBS, RESOURCE_CLASSES};
use super::world::{ProjectInfo, World, span, streams};

/// A time that never comes (jobs that never start).
pub(crate) const NEVER: Millis = Millis::MAX;
/// The longest critical path of a live workflow, approval waits excluded.
const LIVE_CRITICAL_PATH: Millis = 40 * MINUTE;

/// The part of a plan needed to number jobs: drawn first from the workflow's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    pub builds: u8,
    /// Position of the approval job in the job list, if the workflow has one.
    pub approval: Option<u8>,
}

impl Shape {
    pub fn slots(&self) -> u32 {
        u32::from(self.builds) + u32::from(self.approval.is_some())
    }
}

/// The shape of workflow `wf` of a pipeline, and its stream positioned after the shape.
pub(crate) fn shape(world: &World, p: usize, ordinal: u32, wf: u8, flags: u8) -> (Shape, Rng) {
    let mut rng = Rng::derive(
        world.seed,
        &[
            streams::WORKFLOW,
            world.tenant as u64,
            p as u64,
            u64::from(ordinal),
            u64::from(wf),
        ],
    );
    let range = world.config.jobs_per_workflow;
    let builds = rng.range(range.min as u64, range.max as u64) as u8;
    let roll = rng.chance(u64::from(world.config.approval_percent));
    let position = rng.below(u64::from(builds)) as u8;
    let approval = if flags & (HOLD | ABANDONED) != 0 && wf == 0 {
        Some(0)
    } else {
        roll.then_some(position)
    };
    (Shape { builds, approval }, rng)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    Failed,
    Timedout,
    InfraFail,
}

impl Outcome {
    pub fn status(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failed => "failed",
            Outcome::Timedout => "timedout",
            Outcome::InfraFail => "infrastructure_fail",
        }
    }
}

/// How a job ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Runs from `start` to `stop` (an approval: waits on hold from `start` and is approved at `stop`).
    Ran(Outcome),
    /// A dependency did not succeed: `blocked` until `since`, then `not_run`.
    NotRun { since: Millis },
    /// Was running when the workflow was canceled or errored at `at`; ends with `status`.
    Halted { at: Millis, status: &'static str },
    /// Had not started when the workflow ended at `at`; ends with `status`, without timestamps.
    Never { at: Millis, status: &'static str },
}

/// Something that ended a historic workflow early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    Canceled { at: Millis },
    Errored { at: Millis },
    Unauthorized { at: Millis },
    NotRun { at: Millis },
}

#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub name: &'static str,
    pub approval: bool,
    /// Indexes of earlier jobs of the workflow.
    pub deps: Vec<u8>,
    pub ready: Millis,
    pub start: Millis,
    pub stop: Millis,
    pub fate: Fate,
    pub parallelism: u8,
    /// Index into [`RESOURCE_CLASSES`].
    pub resource: u8,
    /// Bit `i` set: the job uses the org's `i`-th context.
    pub contexts: u8,
    /// Who approved (approval jobs) or whose action concerns this job.
    pub person: u8,
    pub tests: u16,
    pub artifacts: u16,
}

impl Job {
    /// When the job's fate was decided: its stop, or when it was known it would never run.
    pub fn decided(&self) -> Millis {
        match self.fate {
            Fate::Ran(_) => self.stop,
            Fate::NotRun { since } => since,
            Fate::Halted { at, .. } | Fate::Never { at, .. } => at,
        }
    }

    /// Whether the job actually ran (so it has tests, artifacts and credits).
    pub fn ran(&self) -> bool {
        !self.approval && matches!(self.fate, Fate::Ran(_) | Fate::Halted { .. })
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// The workflow's index in its pipeline (its id encodes it); reruns come after the pipeline's own.
    pub index: u8,
    /// The index of the project workflow name it carries: `index`, or for a rerun its origin's.
    pub name_index: u8,
    pub created: Millis,
    pub jobs: Vec<Job>,
    /// When the workflow is terminal (its `stopped_at`).
    pub end: Millis,
    pub event: Option<Event>,
    /// Index into [`World::people`].
    pub started_by: u8,
    /// Who canceled it (for [`Event::Canceled`]).
    pub canceled_by: u8,
    pub max_auto_reruns: Option<u8>,
    /// The setup workflow of a dynamic-config pipeline (named `setup`, `tag: "setup"`).
    pub setup: bool,
    /// The job slot of job 0 (see [`PipelineCore::first_slot`]).
    pub first_slot: u32,
}

impl Plan {
    /// The status the workflow ends with.
    pub fn final_status(&self) -> &'static str {
        match self.event {
            Some(Event::Canceled { .. }) => "canceled",
            Some(Event::Errored { .. }) => "error",
            Some(Event::Unauthorized { .. }) => "unauthorized",
            Some(Event::NotRun { .. }) => "not_run",
            None if self
                .jobs
                .iter()
                .any(|j| matches!(j.fate, Fate::Ran(o) if o != Outcome::Success)) =>
            {
                "failed"
            }
            None => "success",
        }
    }

    /// The workflow's name: the project's `index`-th name, or `setup`.
    pub fn name<'a>(&self, info: &'a ProjectInfo) -> &'a str {
        if self.setup {
            "setup"
        } else {
            info.workflow_names[usize::from(self.name_index)].as_str()
        }
    }

    pub fn has_approval(&self) -> bool {
        self.jobs.iter().any(|j| j.approval)
    }
}

/// The random draws of one job, made before scheduling so that rescheduling never re-draws.
struct Draw {
    queue: Millis,
    run: Millis,
    outcome: Outcome,
    hold_after_boundary: Millis,
    quick_approval: Millis,
    long_approval: Millis,
}

/// A job's timing draws, in the order every plan draws them.
fn draw(rng: &mut Rng) -> Draw {
    Draw {
        queue: if rng.chance(85) {
            span(rng, SECOND, 15 * SECOND)
        } else {
            span(rng, 30 * SECOND, 3 * MINUTE)
        },
        run: span(rng, 15 * SECOND, 4 * MINUTE),
        outcome: match rng.below(100) {
            0..=87 => Outcome::Success,
            88..=95 => Outcome::Failed,
            96..=97 => Outcome::Timedout,
            _ => Outcome::InfraFail,
        },
        hold_after_boundary: span(rng, MINUTE, 5 * MINUTE),
        quick_approval: span(rng, 10 * SECOND, 2 * MINUTE),
        long_approval: span(rng, 2 * MINUTE, 4 * HOUR),
    }
}

/// The plan of workflow `wf` of pipeline `ordinal` of project `p`.
pub(crate) fn plan(world: &World, p: usize, ordinal: u32, core: &PipelineCore, wf: u8) -> Plan {
    let (shape, mut rng) = shape(world, p, ordinal, wf, core.flags);
    let first_slot = core.first_slot
        + (0..wf)
            .map(|w| shape_slots(world, p, ordinal, w, core.flags))
            .sum::<u32>();
    let base = if core.flags & SETTLING != 0 {
        settle_time(world, p, ordinal, core.birth)
    } else {
        core.created
    };
    let created = base + SECOND + Millis::from(wf) * 700 + span(&mut rng, 0, 600);
    let started_by = rng.below(world.people.len() as u64) as u8;
    let canceled_by = rng.below(world.people.len() as u64) as u8;
    let max_auto_reruns = rng.chance(10).then(|| rng.range(1, 3) as u8);

    // Names: distinct build job names, and an approval name.
    let mut pool: Vec<usize> = (0..BUILD_JOBS.len()).collect();
    let n = shape.slots() as usize;
    let mut jobs = Vec::with_capacity(n);
    let mut draws = Vec::with_capacity(n);
    let mut builds_named = 0;
    // An abandoned hold: the approval at the head is never approved, and everything waits for it.
    let abandoned = core.flags & ABANDONED != 0 && wf == 0;
    for j in 0..n {
        let approval = shape.approval == Some(j as u8);
        let name = if approval {
            APPROVAL_JOBS[rng.below(APPROVAL_JOBS.len() as u64) as usize]
        } else {
            let pick = builds_named + rng.below((pool.len() - builds_named) as u64) as usize;
            pool.swap(builds_named, pick);
            builds_named += 1;
            BUILD_JOBS[pool[builds_named - 1]]
        };
        let mut deps = draw_deps(&mut rng, j, shape.approval);
        if abandoned && j > 0 && deps.is_empty() {
            // No parallel roots: every job depends on the approval, directly or through others.
            deps.push(0);
        }
        let tests_range = world.config.tests_per_job;
        let runs_tests = name.contains("test");
        let tests_roll = rng.range(tests_range.min as u64, tests_range.max as u64) as u16;
        let tests = if approval {
            0
        } else if runs_tests {
            tests_roll
        } else if rng.chance(15) {
            tests_roll / 4
        } else {
            0
        };
        let artifacts_range = world.config.artifacts_per_job;
        let artifacts = rng.range(artifacts_range.min as u64, artifacts_range.max as u64) as u16;
        let parallelism = match rng.below(100) {
            0..=69 => 1,
            70..=84 => 2,
            _ => 4,
        };
        draws.push(draw(&mut rng));
        jobs.push(Job {
            name,
            approval,
            deps,
            ready: NEVER,
            start: NEVER,
            stop: NEVER,
            fate: Fate::Ran(Outcome::Success),
            parallelism: if approval { 0 } else { parallelism },
            resource: rng.below(RESOURCE_CLASSES.len() as u64) as u8,
            contexts: rng.below(8) as u8 & rng.below(8) as u8,
            person: rng.below(world.people.len() as u64) as u8,
            tests,
            artifacts: if approval { 0 } else { artifacts },
        });
    }
    let event_roll = rng.below(1000);
    let event_fraction = rng.range(100, 900) as Millis;
    let unauthorized_delay = span(&mut rng, SECOND, 3 * SECOND);

    // Live workflows are first seen at the boundary of the epoch they were created in.
    let boundary = (core.flags & LIVE != 0).then(|| epoch_time(core.workflow_epoch()));

    // Scale queues and runs so the critical path fits a live workflow's hour.
    let mut has_dependents = vec![false; n];
    for job in &jobs {
        for &d in &job.deps {
            has_dependents[usize::from(d)] = true;
        }
    }
    if boundary.is_some() {
        schedule(&mut jobs, &draws, created, &Mode::Unscaled, &[]);
        let longest = jobs.iter().map(|j| j.stop).max().unwrap_or(created) - created;
        if longest > LIVE_CRITICAL_PATH {
            for d in &mut draws {
                d.queue = d.queue * LIVE_CRITICAL_PATH / longest;
                d.run = d.run * LIVE_CRITICAL_PATH / longest;
            }
        }
    }
    if core.flags & QUEUE != 0 && wf == 0 {
        // The pipeline's first workflow waits for capacity: its root jobs sit in the queue past the
        // boundary (the pipeline was created 3 to 8 minutes before it).
        for (job, draw) in jobs.iter().zip(&mut draws) {
            if job.deps.is_empty() && !job.approval {
                draw.queue = 9 * MINUTE + draw.queue.min(3 * MINUTE);
            }
        }
    }

    let mode = match boundary {
        Some(b) => Mode::Live(b),
        None if abandoned => Mode::Abandoned,
        None => Mode::Historic,
    };
    let mut succeed = vec![false; n];
    loop {
        schedule(&mut jobs, &draws, created, &mode, &succeed);
        let Some(b) = boundary else { break };
        if jobs.iter().map(Job::decided).max().unwrap_or(created) <= b {
            break; // finished before anyone saw it: it never changes
        }
        // Seen running at the boundary: no job may be not_run by then (see the module docs).
        let early: Vec<usize> = (0..n)
            .filter(|&j| {
                has_dependents[j]
                    && matches!(jobs[j].fate, Fate::Ran(o) if o != Outcome::Success)
                    && jobs[j].stop <= b
            })
            .collect();
        if early.is_empty() {
            break;
        }
        for j in early {
            succeed[j] = true;
        }
    }

    let mut event = None;
    if boundary.is_none() && !abandoned {
        let natural_end = jobs.iter().map(Job::decided).max().unwrap_or(created);
        let at = created + (natural_end - created).max(SECOND) * event_fraction / 1000;
        event = match event_roll {
            0..=19 => Some(Event::Canceled { at }),
            20..=29 => Some(Event::Errored { at }),
            30..=39 => Some(Event::Unauthorized {
                at: created + unauthorized_delay,
            }),
            40..=44 => Some(Event::NotRun {
                at: created + SECOND,
            }),
            _ => None,
        };
        if let Some(event) = event {
            apply_event(&mut jobs, event);
        }
    }
    let end = match event {
        Some(
            Event::Canceled { at }
            | Event::Errored { at }
            | Event::Unauthorized { at }
            | Event::NotRun { at },
        ) => at,
        None => jobs.iter().map(Job::decided).max().unwrap_or(created),
    }
    .max(created + SECOND);

    Plan {
        index: wf,
        name_index: wf,
        created,
        jobs,
        end,
        event,
        started_by,
        canceled_by,
        max_auto_reruns,
        // A pipeline that settled out of setup-pending/setup ran dynamic config: its first workflow is
        // the setup workflow.
        setup: wf == 0
            && core.flags & SETTLING != 0
            && PipelineAttrs::draw(world, p, ordinal).settle_kind < 2,
        first_slot,
    }
}

/// The plan of a rerun ([`crate::sim::reruns`]) of a workflow of pipeline `ordinal` of project `p`:
/// the jobs of its origin workflow (names, dependencies, parallelism, contexts, test and artifact
/// counts), run again from `rerun.created` with draws of the rerun's own stream, approvals approved
/// quickly, and the whole run scaled into [`LIVE_CRITICAL_PATH`], so it is over long before the epoch's
/// quiet minutes.
pub(crate) fn rerun_plan(
    world: &World,
    p: usize,
    ordinal: u32,
    core: &PipelineCore,
    rerun: &Rerun,
) -> Plan {
    let origin = plan(world, p, ordinal, core, rerun.origin);
    let mut rng = Rng::derive(
        world.seed,
        &[
            streams::RERUN,
            world.tenant as u64,
            p as u64,
            u64::from(ordinal),
            u64::from(rerun.index),
            1,
        ],
    );
    let people = world.people.len() as u64;
    let started_by = rng.below(people) as u8;
    let created = rerun.created;
    let mut jobs = origin.jobs;
    let mut draws = Vec::with_capacity(jobs.len());
    for job in &mut jobs {
        job.person = rng.below(people) as u8;
        draws.push(draw(&mut rng));
    }
    schedule(&mut jobs, &draws, created, &Mode::Done, &[]);
    let longest = jobs.iter().map(Job::decided).max().unwrap_or(created) - created;
    if longest > LIVE_CRITICAL_PATH {
        for d in &mut draws {
            d.queue = d.queue * LIVE_CRITICAL_PATH / longest;
            d.run = d.run * LIVE_CRITICAL_PATH / longest;
            d.quick_approval = d.quick_approval * LIVE_CRITICAL_PATH / longest;
        }
        schedule(&mut jobs, &draws, created, &Mode::Done, &[]);
    }
    let end = jobs
        .iter()
        .map(Job::decided)
        .max()
        .unwrap_or(created)
        .max(created + SECOND);
    Plan {
        index: rerun.index,
        name_index: origin.name_index,
        created,
        jobs,
        end,
        event: None,
        started_by,
        canceled_by: started_by,
        max_auto_reruns: origin.max_auto_reruns,
        setup: origin.setup,
        first_slot: rerun.first_slot,
    }
}

/// Job slots of workflow `wf` (the numbering needs the shape of every earlier workflow).
fn shape_slots(world: &World, p: usize, ordinal: u32, wf: u8, flags: u8) -> u32 {
    shape(world, p, ordinal, wf, flags).0.slots()
}

/// Dependencies of job `j`: mostly one or two earlier jobs, sometimes none (a parallel root); the
/// job right after an approval always waits for it.
fn draw_deps(rng: &mut Rng, j: usize, approval: Option<u8>) -> Vec<u8> {
    let roll = rng.below(100);
    let first = rng.below(j.max(1) as u64) as u8;
    let second = rng.below(j.max(1) as u64) as u8;
    if j == 0 {
        return Vec::new();
    }
    if approval == Some(j as u8) {
        return vec![first];
    }
    let mut deps = Vec::with_capacity(2);
    if approval.is_some_and(|a| usize::from(a) + 1 == j) {
        deps.push(j as u8 - 1);
    } else if roll < 15 {
        return deps;
    }
    if !deps.contains(&first) {
        deps.push(first);
    }
    if roll >= 70 && !deps.contains(&second) {
        deps.push(second);
    }
    deps.sort_unstable();
    deps
}

enum Mode {
    /// Only to measure the critical path: no failures, no approval waits.
    Unscaled,
    /// First seen at this boundary.
    Live(Millis),
    Historic,
    /// Historic, and approvals are never approved (an abandoned hold).
    Abandoned,
    /// Finished before anyone sees it (a rerun): approvals are approved quickly.
    Done,
}

/// Computes every job's times and fate from the draws, in job order (dependencies come earlier).
fn schedule(jobs: &mut [Job], draws: &[Draw], created: Millis, mode: &Mode, succeed: &[bool]) {
    for j in 0..jobs.len() {
        let deps = jobs[j].deps.clone();
        let failed_since = deps
            .iter()
            .map(|&d| &jobs[usize::from(d)])
            .filter(|d| d.fate != Fate::Ran(Outcome::Success))
            .map(Job::decided)
            .min();
        let draw = &draws[j];
        let job = &mut jobs[j];
        if let Some(since) = failed_since {
            job.fate = Fate::NotRun { since };
            (job.ready, job.start, job.stop) = (NEVER, NEVER, NEVER);
            continue;
        }
        let ready = deps
            .iter()
            .map(|&d| jobs[usize::from(d)].stop)
            .max()
            .unwrap_or(created);
        let job = &mut jobs[j];
        if ready == NEVER {
            // Waits for an approval that never comes: blocked for good, without timestamps.
            (job.ready, job.start, job.stop) = (NEVER, NEVER, NEVER);
            job.fate = Fate::Ran(Outcome::Success);
            continue;
        }
        job.ready = ready;
        if job.approval {
            job.start = ready;
            job.stop = out_of_quiet(match mode {
                Mode::Unscaled => ready,
                Mode::Live(b) if ready <= *b => b + draw.hold_after_boundary,
                Mode::Live(_) | Mode::Done => ready + draw.quick_approval,
                Mode::Historic => ready + draw.long_approval,
                Mode::Abandoned => NEVER,
            });
            job.fate = Fate::Ran(Outcome::Success);
        } else {
            job.start = out_of_quiet(ready + draw.queue);
            job.stop = out_of_quiet(job.start + draw.run);
            let outcome = match mode {
                Mode::Unscaled => Outcome::Success,
                _ if succeed.get(j).copied().unwrap_or(false) => Outcome::Success,
                _ => draw.outcome,
            };
            job.fate = Fate::Ran(outcome);
        }
    }
}

/// Ends a historic workflow early: what had finished stays, what was running is halted, the rest never
/// runs.
fn apply_event(jobs: &mut [Job], event: Event) {
    for job in jobs.iter_mut() {
        job.fate = match (event, job.fate) {
            (Event::Unauthorized { at }, _) => Fate::Never {
                at,
                status: "unauthorized",
            },
            (Event::NotRun { at }, _) => Fate::Never {
                at,
                status: "not_run",
            },
            (Event::Canceled { at } | Event::Errored { at }, fate) => {
                let canceled = matches!(event, Event::Canceled { .. });
                match fate {
                    Fate::Ran(_) if job.stop <= at => fate,
                    Fate::NotRun { since } if since <= at => fate,
                    Fate::Ran(_) if job.start <= at && !job.approval => Fate::Halted {
                        at,
                        status: if canceled {
                            "canceled"
                        } else {
                            "infrastructure_fail"
                        },
                    },
                    _ => Fate::Never {
                        at,
                        status: if canceled { "canceled" } else { "not_run" },
                    },
                }
            }
        };
    }
}
