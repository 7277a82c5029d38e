//! One tenant's data at one epoch: what the simulator serves to its token, and what tests compare a
//! connector's output with.
//!
//! A [`Dataset`] is a cheap snapshot (the tenant's unchanging [`World`] plus the epoch's [`Timeline`]);
//! the JSON of pipelines, workflows, jobs and everything below is rendered on demand, so even a config
//! with 100,000 pipelines and millions of jobs fits in a few megabytes. [`Project::pipelines`] still
//! looks like a `Vec<Value>`: it renders the project's pipelines on first use and keeps them. A snapshot
//! also carries the workflows deleted after listing ([`super::deleted`]) and the pipelines whose
//! workflow listing fails ([`super::failing`]), which later epochs inherit; its timeline carries the
//! reruns ([`super::reruns`]). Which pipelines a connector can read below is [`super::unreachable`]'s
//! business (retention, [`super::retention`], and failing pipelines).

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use super::config::TenantConfig;
use super::deleted::DeletedWorkflows;
use super::failing::FailingPipelines;
use super::ids::{Kind, Locator};
use super::insights::{Run, runs};
use super::pipeline::{PipelineOut, pipeline_id, pipeline_json, pipeline_out};
use super::plan::{Plan, Shape, plan, rerun_plan, shape};
use super::reruns::RerunRequest;
use super::slug::ProjectSlug;
use super::time::{Millis, epoch_time, rfc3339_millis};
use super::timeline::{PipelineCore, Timeline};
use super::world::World;

/// CircleCI's `/pipeline?org-slug=` covers at most this many followed projects (the most recently built).
pub const MAX_FOLLOWED_PROJECTS: usize = 250;

/// One tenant's data at one epoch, as served to its token.
#[derive(Clone)]
pub struct Dataset {
    /// `GET /me`: `{id, login, name, avatar_url}`.
    pub user: Value,
    /// In generation order; see [`super::world::pipeline_count`] and [`super::world::project_kind`]
    /// for what each index holds.
    pub projects: Vec<Project>,
    pub(crate) world: Arc<World>,
    pub(crate) timeline: Arc<Timeline>,
    /// Workflows still listed but no longer readable ([`super::deleted`]).
    pub(crate) deleted: DeletedWorkflows,
    /// Pipelines whose workflow listing answers 500 ([`super::failing`]).
    pub(crate) failing: FailingPipelines,
    caches: Arc<Caches>,
}

/// `(project, ordinal)` of pipelines, oldest first.
type MergedOrder = Arc<Vec<(u32, u32)>>;

/// Per-snapshot caches, filled on first use and shared by clones.
struct Caches {
    /// Per organisation (and one more for "all"): `(project, ordinal)` of its pipelines, oldest first.
    org_orders: Vec<OnceLock<MergedOrder>>,
    /// Per project: its insights runs.
    runs: Vec<OnceLock<Arc<Vec<Run>>>>,
}

/// A project and its pipelines.
#[derive(Debug, Clone)]
pub struct Project {
    /// The canonical slug (`gh/acme-labs/widgets`, `bb/…`, or `circleci/<org-id>/<project-id>`).
    pub slug: String,
    /// `GET /project/{slug}`.
    pub json: Value,
    /// As served at the dataset's epoch, newest first: `created_at` strictly decreasing, `number`
    /// decreasing.
    pub pipelines: Pipelines,
    pub(crate) index: usize,
}

/// A project's pipelines as served at one epoch, newest first. Derefs to `[Value]`; the JSON is rendered
/// on first use (`len` is cheap and does not render).
#[derive(Clone)]
pub struct Pipelines {
    world: Arc<World>,
    timeline: Arc<Timeline>,
    project: usize,
    rendered: OnceLock<Vec<Value>>,
}

impl Pipelines {
    pub fn len(&self) -> usize {
        self.timeline.projects[self.project].len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Deref for Pipelines {
    type Target = [Value];

    fn deref(&self) -> &[Value] {
        self.rendered.get_or_init(|| {
            let cores = &self.timeline.projects[self.project];
            cores
                .iter()
                .enumerate()
                .rev()
                .map(|(ordinal, core)| {
                    pipeline_json(
                        &self.world,
                        self.project,
                        ordinal as u32,
                        core,
                        self.timeline.epoch,
                    )
                })
                .collect()
        })
    }
}

impl<'a> IntoIterator for &'a Pipelines {
    type Item = &'a Value;
    type IntoIter = std::slice::Iter<'a, Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl PartialEq<Vec<Value>> for Pipelines {
    fn eq(&self, other: &Vec<Value>) -> bool {
        **self == **other
    }
}

impl PartialEq<Pipelines> for Vec<Value> {
    fn eq(&self, other: &Pipelines) -> bool {
        **self == **other
    }
}

impl fmt::Debug for Pipelines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Pipelines({} at epoch {})",
            self.len(),
            self.timeline.epoch
        )
    }
}

impl fmt::Debug for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataset")
            .field("tenant", &self.world.tenant)
            .field("epoch", &self.timeline.epoch)
            .field("projects", &self.projects.len())
            .field("pipelines", &self.timeline.pipeline_total())
            .field("deleted_workflows", &self.deleted.len())
            .field("failing_pipelines", &self.failing.len())
            .field(
                "reruns",
                &self.timeline.reruns.iter().map(|r| r.len()).sum::<usize>(),
            )
            .finish()
    }
}

impl Dataset {
    /// Tenant number `tenant` (its position in [`super::SimConfig::tenants`]) at epoch 0, with its
    /// configured failing pipelines ([`TenantConfig::failing_pipelines`]).
    pub fn generate(seed: u64, tenant: usize, config: &TenantConfig) -> Dataset {
        let world = Arc::new(World::generate(seed, tenant, config));
        let timeline = Arc::new(Timeline::base(&world));
        let failing = world.config.failing_pipelines;
        let dataset = Dataset::snapshot(
            world,
            timeline,
            DeletedWorkflows::default(),
            FailingPipelines::default(),
        );
        if failing == 0 {
            return dataset;
        }
        dataset.with_pipelines_failing(&dataset.some_pipeline_ids(failing))
    }

    /// The same tenant one epoch later (see [`super::Simulator::advance`]). Deleted workflows stay
    /// deleted and failing pipelines keep failing: pipelines never vanish, and neither does a deletion.
    pub fn advanced(&self) -> Dataset {
        self.advance_with(&[])
    }

    /// The next epoch, with `reruns` (checked by the caller, [`super::reruns`]).
    pub(crate) fn advance_with(&self, reruns: &[RerunRequest]) -> Dataset {
        let timeline = Arc::new(self.timeline.next(&self.world, reruns));
        Dataset::snapshot(
            Arc::clone(&self.world),
            timeline,
            Arc::clone(&self.deleted),
            Arc::clone(&self.failing),
        )
    }

    pub(super) fn snapshot(
        world: Arc<World>,
        timeline: Arc<Timeline>,
        deleted: DeletedWorkflows,
        failing: FailingPipelines,
    ) -> Dataset {
        let projects = world
            .projects
            .iter()
            .enumerate()
            .map(|(index, info)| Project {
                slug: info.slug.clone(),
                json: info.json.clone(),
                pipelines: Pipelines {
                    world: Arc::clone(&world),
                    timeline: Arc::clone(&timeline),
                    project: index,
                    rendered: OnceLock::new(),
                },
                index,
            })
            .collect();
        let caches = Caches {
            org_orders: (0..=world.orgs.len()).map(|_| OnceLock::new()).collect(),
            runs: (0..world.projects.len()).map(|_| OnceLock::new()).collect(),
        };
        Dataset {
            user: world.people[0].me_json(),
            projects,
            world,
            timeline,
            deleted,
            failing,
            caches: Arc::new(caches),
        }
    }

    /// The epoch this snapshot shows (0 until the first advance).
    pub fn epoch(&self) -> u64 {
        self.timeline.epoch
    }

    /// The simulated "now" of this epoch: every served timestamp is at or before it, every change of the
    /// next epoch after it.
    pub fn now(&self) -> String {
        rfc3339_millis(self.t())
    }

    /// The position of this tenant in the config (binds page tokens to their tenant).
    pub fn tenant_index(&self) -> usize {
        self.world.tenant
    }

    /// How many pipelines exist at this epoch, over all projects.
    pub fn pipeline_total(&self) -> usize {
        self.timeline.pipeline_total()
    }

    /// Every pipeline id of every project, project by project, newest first within a project.
    pub fn all_pipeline_ids(&self) -> Vec<String> {
        (0..self.projects.len())
            .flat_map(|p| {
                (0..self.cores(p).len() as u32)
                    .rev()
                    .map(move |o| pipeline_id(&self.world, p, o))
            })
            .collect()
    }

    /// Looks a project up by any slug form: canonical, `github/…`/`bitbucket/…` aliases, `%2F`-escaped.
    pub fn project(&self, slug: &str) -> Option<&Project> {
        self.project_by_key(&ProjectSlug::parse(slug)?)
    }

    /// `GET /me/collaborations`: the tenant's organisations, the user's personal account last.
    pub fn collaborations(&self) -> Value {
        Value::Array(
            self.world
                .orgs
                .iter()
                .map(|o| o.collaboration_json())
                .collect(),
        )
    }

    pub(crate) fn project_by_key(&self, key: &ProjectSlug) -> Option<&Project> {
        self.projects.get(self.world.project_index(key)?)
    }

    pub(crate) fn t(&self) -> Millis {
        epoch_time(self.timeline.epoch)
    }

    pub(crate) fn cores(&self, p: usize) -> &[PipelineCore] {
        &self.timeline.projects[p]
    }

    /// A pipeline ready to serialise (the fast path of the handlers).
    pub(crate) fn pipeline_out(&self, p: usize, ordinal: u32) -> PipelineOut<'_> {
        pipeline_out(
            &self.world,
            p,
            ordinal,
            &self.cores(p)[ordinal as usize],
            self.timeline.epoch,
        )
    }

    #[cfg(test)]
    pub(crate) fn pipeline_json(&self, p: usize, ordinal: u32) -> Value {
        pipeline_json(
            &self.world,
            p,
            ordinal,
            &self.cores(p)[ordinal as usize],
            self.timeline.epoch,
        )
    }

    /// What an id names, if it names something of this tenant that exists at this epoch.
    pub(crate) fn locate(&self, id: &str, kind: Kind) -> Option<Locator> {
        let at = self.world.ids.decode(id)?;
        if at.kind != kind || at.tenant as usize != self.world.tenant {
            return None;
        }
        let core = self.timeline.core(at.project as usize, at.ordinal)?;
        match kind {
            Kind::Pipeline => Some(at),
            Kind::Workflow | Kind::Job => (core.has_workflows(self.epoch())
                && (at.workflow < core.workflows
                    || self
                        .rerun(at.project as usize, at.ordinal, at.workflow)
                        .is_some()))
            .then_some(at),
        }
    }

    /// A pipeline's workflows in listing order (newest first: its reruns, then its own workflows),
    /// empty while it has none.
    pub(crate) fn workflow_indexes(&self, p: usize, ordinal: u32) -> Vec<u8> {
        let core = &self.cores(p)[ordinal as usize];
        if !core.has_workflows(self.epoch()) {
            return Vec::new();
        }
        let mut listed: Vec<u8> = self.reruns_of(p, ordinal).map(|r| r.index).collect();
        listed.reverse();
        listed.extend((0..core.workflows).rev());
        listed
    }

    /// A pipeline's workflows in listing order, each with its shape and the job slot of its job 0;
    /// empty while it has none.
    pub(crate) fn listed_shapes(&self, p: usize, ordinal: u32) -> Vec<(u8, Shape, u32)> {
        let world = &self.world;
        let core = &self.cores(p)[ordinal as usize];
        if !core.has_workflows(self.epoch()) {
            return Vec::new();
        }
        let mut listed = Vec::with_capacity(usize::from(core.workflows));
        let mut slot = core.first_slot;
        for wf in 0..core.workflows {
            let (s, _) = shape(world, p, ordinal, wf, core.flags);
            listed.push((wf, s, slot));
            slot += s.slots();
        }
        for rerun in self.reruns_of(p, ordinal) {
            let (s, _) = shape(world, p, ordinal, rerun.origin, core.flags);
            listed.push((rerun.index, s, rerun.first_slot));
        }
        // Indexes grow with creation time.
        listed.reverse();
        listed
    }

    pub(crate) fn plan(&self, p: usize, ordinal: u32, wf: u8) -> Plan {
        let core = &self.cores(p)[ordinal as usize];
        match self.rerun(p, ordinal, wf) {
            Some(rerun) => rerun_plan(&self.world, p, ordinal, core, rerun),
            None => plan(&self.world, p, ordinal, core, wf),
        }
    }

    /// The build job with this number, as `(pipeline ordinal, its workflow's plan, job index)`.
    /// Approval jobs use a number internally but have none to look up by: `None`, like a gap. So is a
    /// job of a pipeline past retention ([`super::retention`]): its data is gone.
    pub(crate) fn job_by_number(&self, p: usize, number: u64) -> Option<(u32, Plan, usize)> {
        let found = self.any_job_by_number(p, number)?;
        self.expiry(p, found.0).is_none().then_some(found)
    }

    fn any_job_by_number(&self, p: usize, number: u64) -> Option<(u32, Plan, usize)> {
        let slot = number.checked_sub(self.world.projects[p].first_job)?;
        let slot = u32::try_from(slot).ok()?;
        if let Some(rerun) = self.rerun_at_slot(p, slot) {
            let plan = self.plan(p, rerun.ordinal, rerun.index);
            let j = (slot - rerun.first_slot) as usize;
            return (!plan.jobs[j].approval).then_some((rerun.ordinal, plan, j));
        }
        let cores = self.cores(p);
        // The last pipeline whose first slot is at or before `slot` (pipelines without jobs share
        // their first slot with the next one, so "last" skips them).
        let ordinal = cores
            .partition_point(|c| c.first_slot <= slot)
            .checked_sub(1)?;
        let core = &cores[ordinal];
        if !core.has_workflows(self.epoch()) {
            return None;
        }
        let mut offset = slot - core.first_slot;
        for wf in 0..core.workflows {
            let slots = shape(&self.world, p, ordinal as u32, wf, core.flags)
                .0
                .slots();
            if offset < slots {
                let plan = self.plan(p, ordinal as u32, wf);
                let j = offset as usize;
                return (!plan.jobs[j].approval).then_some((ordinal as u32, plan, j));
            }
            offset -= slots;
        }
        None
    }

    /// The pipelines of an organisation's followed projects (all of them for `None`), oldest first,
    /// merged by `created_at`. Only the [`MAX_FOLLOWED_PROJECTS`] most recently built projects count.
    pub(crate) fn org_order(&self, org: Option<usize>) -> MergedOrder {
        let slot = org.unwrap_or(self.world.orgs.len());
        let cell = &self.caches.org_orders[slot];
        Arc::clone(cell.get_or_init(|| {
            let mut projects: Vec<usize> = (0..self.projects.len())
                .filter(|&p| org.is_none_or(|o| self.world.projects[p].org == o))
                .filter(|&p| !self.cores(p).is_empty())
                .collect();
            if projects.len() > MAX_FOLLOWED_PROJECTS {
                projects.sort_by_key(|&p| {
                    std::cmp::Reverse(self.cores(p).last().map_or(0, |c| c.created))
                });
                projects.truncate(MAX_FOLLOWED_PROJECTS);
            }
            let mut merged: Vec<(Millis, u32, u32)> = projects
                .iter()
                .flat_map(|&p| {
                    self.cores(p)
                        .iter()
                        .enumerate()
                        .map(move |(o, c)| (c.created, p as u32, o as u32))
                })
                .collect();
            merged.sort_unstable();
            Arc::new(merged.into_iter().map(|(_, p, o)| (p, o)).collect())
        }))
    }

    /// Project `p`'s insights runs (the last 90 days), newest first.
    pub(crate) fn runs(&self, p: usize) -> Arc<Vec<Run>> {
        Arc::clone(
            self.caches.runs[p].get_or_init(|| {
                Arc::new(runs(&self.world, p, self.cores(p), self.epoch(), self.t()))
            }),
        )
    }
}
