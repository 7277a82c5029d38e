//! Which pipelines' workflows a connector can read: the union of retention ([`super::retention`]) and
//! failing pipelines ([`super::failing`]), as the handlers serve it and the right answers
//! ([`super::expected`]) count it.
//!
//! A pipeline is always listed and readable itself; what can fail is `GET /pipeline/{id}/workflow`:
//! - [`Reach::Failing`]: 500 "Internal server error." on every page (this wins over retention);
//! - [`Reach::Expired`] with [`Expiry::NotFound`]: 404 "Not Found" on every page;
//! - [`Reach::Expired`] with [`Expiry::NullIds`]: the workflows, each with `"id": null`.
//!
//! A correct connector emits no workflow, job, job detail, test or artifact below such a pipeline and
//! reports it as skipped: [`Dataset::unreachable_pipelines`] lists exactly the pipelines it must
//! report (a null-id pipeline only when it lists at least one workflow, since an empty listing gives
//! nothing to skip).

use super::dataset::Dataset;
use super::pipeline::pipeline_id;
use super::retention::Expiry;

/// [`Dataset::unreachable_pipelines`]'s label of a pipeline past retention whose listing answers 404.
pub const EXPIRED_404: &str = "expired-404";
/// … of a pipeline past retention whose listing gives workflows with null ids.
pub const EXPIRED_NULL_IDS: &str = "expired-null-ids";
/// … of a pipeline whose listing answers 500 every time.
pub const FAILING_500: &str = "failing-500";

/// How `GET /pipeline/{id}/workflow` answers for one pipeline at one epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    Readable,
    Expired(Expiry),
    Failing,
}

impl Reach {
    /// The label of [`Dataset::unreachable_pipelines`]; `None` for a readable pipeline.
    pub fn label(self) -> Option<&'static str> {
        match self {
            Reach::Readable => None,
            Reach::Expired(Expiry::NotFound) => Some(EXPIRED_404),
            Reach::Expired(Expiry::NullIds) => Some(EXPIRED_NULL_IDS),
            Reach::Failing => Some(FAILING_500),
        }
    }
}

impl Dataset {
    /// How pipeline `ordinal` of project `p`'s workflow listing answers at this epoch.
    pub(crate) fn reach(&self, p: usize, ordinal: u32) -> Reach {
        if self.pipeline_failing(p, ordinal) {
            Reach::Failing
        } else if let Some(expiry) = self.expiry(p, ordinal) {
            Reach::Expired(expiry)
        } else {
            Reach::Readable
        }
    }

    /// Every pipeline a correct connector must report as skipped at this epoch, with why
    /// ([`EXPIRED_404`], [`EXPIRED_NULL_IDS`], [`FAILING_500`]), project by project, newest first (the
    /// order a sync meets them). Nothing below them is in [`Dataset::expected`].
    pub fn unreachable_pipelines(&self) -> Vec<(String, &'static str)> {
        let mut out = Vec::new();
        for p in 0..self.projects.len() {
            for ordinal in (0..self.cores(p).len() as u32).rev() {
                let reach = self.reach(p, ordinal);
                let Some(label) = reach.label() else { continue };
                if reach == Reach::Expired(Expiry::NullIds)
                    && self.workflow_indexes(p, ordinal).is_empty()
                {
                    continue;
                }
                out.push((pipeline_id(&self.world, p, ordinal), label));
            }
        }
        out
    }

    /// Up to `n` ids of pipelines to make fail ([`crate::sim::Simulator::fail_pipeline`]), picked
    /// deterministically: readable pipelines with workflows at this epoch that are not abandoned holds
    /// ([`super::holds`]), spread evenly over the tenant's pipelines in listing order (so over projects
    /// and ages when there are enough), the first listed one first. Fewer when the tenant has fewer.
    pub fn some_pipeline_ids(&self, n: usize) -> Vec<String> {
        let mut candidates = Vec::new();
        for p in 0..self.projects.len() {
            for ordinal in (0..self.cores(p).len() as u32).rev() {
                if self.reach(p, ordinal) == Reach::Readable
                    && !self.is_abandoned_hold(p, ordinal)
                    && !self.workflow_indexes(p, ordinal).is_empty()
                {
                    candidates.push((p, ordinal));
                }
            }
        }
        let n = n.min(candidates.len());
        (0..n)
            .map(|i| {
                let (p, ordinal) = candidates[i * candidates.len() / n];
                pipeline_id(&self.world, p, ordinal)
            })
            .collect()
    }
}
