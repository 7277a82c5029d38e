//! What a simulator instance serves: the seed and one entry per tenant (API token), with the volume of
//! every kind of record, the anomalies real accounts hold (all off by default: retention, stretched
//! history, pipelines whose workflow listing fails, abandoned approvals, forbidden contexts; see
//! [`crate::sim::retention`], [`crate::sim::failing`], [`crate::sim::holds`],
//! [`crate::sim::contexts`]), the faults to inject, and the rate limit per token (off by default,
//! [`crate::sim::ratelimit`]).

use super::faults::FaultPlan;
use super::ratelimit::RateLimit;

/// The token of the default tenant. Shaped like a CircleCI personal token (`CCIPAT_…`), and obviously fake.
pub const DEFAULT_TOKEN: &str = "CCIPAT_sim_1a2b3c4d5e6f7a8b9c0d";
/// Projects of the default tenant.
pub const DEFAULT_PROJECTS: usize = 6;
/// The configured pipeline count per project of the default tenant (actual counts vary around it, see
/// [`crate::sim::timeline::pipeline_count`]).
pub const DEFAULT_PIPELINES_PER_PROJECT: usize = 45;
/// The default seed.
pub const DEFAULT_SEED: u64 = 42;
/// Organisations every tenant has (`/me/collaborations`): GitHub, Bitbucket, CircleCI, and the user's
/// personal account, in that order.
pub const ORGANISATIONS: usize = 4;
/// The longest retention or history, in days.
pub const MAX_DAYS: u32 = 3650;

/// An inclusive range of counts; each record draws its count uniformly from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    pub min: usize,
    pub max: usize,
}

impl Count {
    pub const fn new(min: usize, max: usize) -> Count {
        Count { min, max }
    }

    /// Parses `N` or `MIN-MAX` (the binary's flag syntax).
    pub fn parse(text: &str) -> Option<Count> {
        let (min, max) = match text.split_once('-') {
            Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
            None => {
                let n = text.trim().parse().ok()?;
                (n, n)
            }
        };
        (min <= max).then_some(Count { min, max })
    }
}

impl std::fmt::Display for Count {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.min, self.max)
    }
}

/// Everything a simulator serves. The same config always gives byte-identical responses (and the same
/// faults for the same requests); only a [`SimConfig::rate_limit`] depends on timing (which requests
/// find an empty bucket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    pub seed: u64,
    /// One entry per accepted token; each tenant gets its own dataset (user, orgs, projects, pipelines),
    /// derived from `seed` and the tenant's position in this list.
    pub tenants: Vec<TenantConfig>,
    /// Faults to inject from the start ([`crate::sim::faults`]); none by default.
    pub faults: FaultPlan,
    /// A token bucket per tenant token in wall-clock time ([`crate::sim::ratelimit`]): a request that
    /// finds its bucket empty is answered 429. `None` (the default): no limit, and no answer changes.
    pub rate_limit: Option<RateLimit>,
}

/// One tenant: the token that authenticates it and the size of its dataset.
///
/// Pipelines are materialised compactly (a few dozen bytes each); everything below them (workflows,
/// jobs, job details, tests, artifacts, insights) is generated on demand from the seed, so the deep
/// volumes cost time per request, never memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantConfig {
    pub token: String,
    pub projects: usize,
    /// Nominal pipelines per project at epoch 0; the actual counts of the first six projects vary so
    /// that paging edge cases (exactly one page, one more than a page, a single item, none) always
    /// exist, see [`crate::sim::timeline::pipeline_count`].
    pub pipelines_per_project: usize,
    /// Workflows per pipeline (errored and still-settling pipelines have none). At most 16.
    pub workflows_per_pipeline: Count,
    /// Build jobs per workflow, not counting an approval job. At least 1, at most 12.
    pub jobs_per_workflow: Count,
    /// Percentage of workflows that hold an approval job (type `approval`, no job number).
    pub approval_percent: u8,
    /// Tests of a test-running build job, once it is terminal (other jobs mostly report none).
    pub tests_per_job: Count,
    /// Artifacts of a build job that ran, once it is terminal.
    pub artifacts_per_job: Count,
    /// Contexts per organisation (the user's personal account gets at most one).
    pub contexts_per_org: Count,
    /// Environment variables per context.
    pub env_vars_per_context: Count,
    /// How many of each project's newest pipelines may still have non-terminal work at epoch 0
    /// (the "live window"); older pipelines are all terminal and never change.
    pub live_pipelines: usize,
    /// New pipelines a project with pipelines gets at each [`crate::sim::Simulator::advance`].
    pub new_pipelines_per_epoch: Count,
    /// Retention ([`crate::sim::retention`]): a pipeline created more than this many days before an
    /// epoch's "now" is expired at that epoch; it is still listed, but its workflow listing answers
    /// 404 or lists workflows whose `id` is null. `None` (the default): nothing expires. 1 to 3650.
    pub retention_days: Option<u32>,
    /// Stretches each project's history ([`crate::sim::retention::stretch_history`]): its historic
    /// pipelines are spread so the oldest was created about this many days before epoch 0's "now".
    /// `None` (the default): minutes to hours apart, a few days in all. 1 to 3650.
    pub history_days: Option<u32>,
    /// How many of the tenant's pipelines answer a persistent `500` on `GET /pipeline/{id}/workflow`
    /// from epoch 0 on, chosen by [`crate::sim::Dataset::some_pipeline_ids`] ([`crate::sim::failing`];
    /// [`crate::sim::Simulator::fail_pipeline`] adds more at run time). Default 0.
    pub failing_pipelines: usize,
    /// Historic pipelines per project whose first workflow waits forever on an approval nobody gives
    /// ([`crate::sim::holds`]). Default 0.
    pub abandoned_holds: usize,
    /// Organisations (indexes into `/me/collaborations`: 0 GitHub, 1 Bitbucket, 2 CircleCI, 3 the
    /// user's personal account) whose contexts answer `403 {"message":"Permission denied"}`
    /// ([`crate::sim::contexts`]). Empty by default.
    pub forbidden_context_orgs: Vec<usize>,
    /// `GET /context?owner-slug=` of the user's personal account answers 404 "Not Found", as on
    /// CircleCI (`owner-id` keeps working). Off by default, because the connector's contexts stream
    /// reads by `owner-slug` and the existing suite expects the personal account's contexts.
    pub personal_owner_slug_not_found: bool,
}

impl TenantConfig {
    /// A tenant with default deep volumes.
    pub fn new(token: &str, projects: usize, pipelines_per_project: usize) -> TenantConfig {
        TenantConfig {
            token: token.to_owned(),
            projects,
            pipelines_per_project,
            workflows_per_pipeline: Count::new(1, 3),
            jobs_per_workflow: Count::new(2, 6),
            approval_percent: 12,
            tests_per_job: Count::new(0, 40),
            artifacts_per_job: Count::new(0, 5),
            contexts_per_org: Count::new(3, 6),
            env_vars_per_context: Count::new(0, 8),
            live_pipelines: 3,
            new_pipelines_per_epoch: Count::new(0, 2),
            retention_days: None,
            history_days: None,
            failing_pipelines: 0,
            abandoned_holds: 0,
            forbidden_context_orgs: Vec::new(),
            personal_owner_slug_not_found: false,
        }
    }

    /// Why this tenant's volumes cannot be served, if they cannot.
    pub fn problem(&self) -> Option<String> {
        let ranges = [
            ("workflows_per_pipeline", self.workflows_per_pipeline, 16),
            ("jobs_per_workflow", self.jobs_per_workflow, 12),
            ("tests_per_job", self.tests_per_job, 5_000),
            ("artifacts_per_job", self.artifacts_per_job, 1_000),
            ("contexts_per_org", self.contexts_per_org, 1_000),
            ("env_vars_per_context", self.env_vars_per_context, 1_000),
            ("new_pipelines_per_epoch", self.new_pipelines_per_epoch, 50),
        ];
        for (name, count, limit) in ranges {
            if count.min > count.max || count.max > limit {
                return Some(format!("{name} must be MIN-MAX with MIN <= MAX <= {limit}"));
            }
        }
        if self.jobs_per_workflow.min == 0 {
            return Some("jobs_per_workflow must be at least 1".into());
        }
        if self.approval_percent > 100 {
            return Some("approval_percent must be at most 100".into());
        }
        if self.live_pipelines > 20 {
            return Some("live_pipelines must be at most 20".into());
        }
        for (name, days) in [
            ("retention_days", self.retention_days),
            ("history_days", self.history_days),
        ] {
            if days.is_some_and(|d| !(1..=MAX_DAYS).contains(&d)) {
                return Some(format!("{name} must be 1 to {MAX_DAYS}"));
            }
        }
        if self.abandoned_holds > 10_000 {
            return Some("abandoned_holds must be at most 10000".into());
        }
        if let Some(org) = self
            .forbidden_context_orgs
            .iter()
            .find(|&&o| o >= ORGANISATIONS)
        {
            return Some(format!(
                "forbidden_context_orgs: {org} is no organisation (0 GitHub, 1 Bitbucket, 2 CircleCI, \
                 3 the personal account)"
            ));
        }
        None
    }
}

impl TenantConfig {
    /// The same config with every volume clamped into what [`TenantConfig::problem`] accepts, so a
    /// dataset built directly (without the server's validation) can never misbehave.
    pub fn sanitized(&self) -> TenantConfig {
        let clamp = |c: Count, lo: usize, hi: usize| {
            let max = c.max.clamp(lo, hi);
            Count::new(c.min.clamp(lo, max), max)
        };
        TenantConfig {
            workflows_per_pipeline: clamp(self.workflows_per_pipeline, 0, 16),
            jobs_per_workflow: clamp(self.jobs_per_workflow, 1, 12),
            approval_percent: self.approval_percent.min(100),
            tests_per_job: clamp(self.tests_per_job, 0, 5_000),
            artifacts_per_job: clamp(self.artifacts_per_job, 0, 1_000),
            contexts_per_org: clamp(self.contexts_per_org, 0, 1_000),
            env_vars_per_context: clamp(self.env_vars_per_context, 0, 1_000),
            live_pipelines: self.live_pipelines.min(20),
            new_pipelines_per_epoch: clamp(self.new_pipelines_per_epoch, 0, 50),
            retention_days: self.retention_days.map(|d| d.clamp(1, MAX_DAYS)),
            history_days: self.history_days.map(|d| d.clamp(1, MAX_DAYS)),
            abandoned_holds: self.abandoned_holds.min(10_000),
            forbidden_context_orgs: self
                .forbidden_context_orgs
                .iter()
                .copied()
                .filter(|&o| o < ORGANISATIONS)
                .collect(),
            ..self.clone()
        }
    }
}

impl Default for TenantConfig {
    fn default() -> Self {
        TenantConfig::new(
            DEFAULT_TOKEN,
            DEFAULT_PROJECTS,
            DEFAULT_PIPELINES_PER_PROJECT,
        )
    }
}

impl SimConfig {
    /// One tenant with the default seed and default deep volumes.
    pub fn single(token: &str, projects: usize, pipelines_per_project: usize) -> Self {
        SimConfig {
            seed: DEFAULT_SEED,
            tenants: vec![TenantConfig::new(token, projects, pipelines_per_project)],
            faults: FaultPlan::none(),
            rate_limit: None,
        }
    }
}

impl Default for SimConfig {
    /// Seed 42, one tenant with [`DEFAULT_TOKEN`], 6 projects, 45 nominal pipelines per project.
    fn default() -> Self {
        SimConfig::single(
            DEFAULT_TOKEN,
            DEFAULT_PROJECTS,
            DEFAULT_PIPELINES_PER_PROJECT,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_parse_and_validate() {
        assert_eq!(Count::parse("2-6"), Some(Count::new(2, 6)));
        assert_eq!(Count::parse("3"), Some(Count::new(3, 3)));
        assert_eq!(Count::parse("6-2"), None);
        assert_eq!(Count::parse("x"), None);
        assert_eq!(TenantConfig::default().problem(), None);
        let bad = TenantConfig {
            jobs_per_workflow: Count::new(0, 3),
            new_pipelines_per_epoch: Count::new(90, 80),
            ..TenantConfig::default()
        };
        assert!(bad.problem().is_some());
        assert_eq!(bad.sanitized().problem(), None);
        let bad = TenantConfig {
            retention_days: Some(0),
            history_days: Some(MAX_DAYS + 1),
            forbidden_context_orgs: vec![1, ORGANISATIONS],
            ..TenantConfig::default()
        };
        assert!(bad.problem().is_some());
        assert_eq!(bad.sanitized().problem(), None);
        assert_eq!(bad.sanitized().forbidden_context_orgs, [1]);
        assert_eq!(TenantConfig::default().sanitized(), TenantConfig::default());
    }
}
