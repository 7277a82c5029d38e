//! The shared state behind a running simulator: each tenant's current snapshot and the reruns it
//! waits to add at the next advance ([`crate::sim::reruns`]), the epoch, the page-token key, the
//! request log, the fault injector and the rate limiter ([`crate::sim::ratelimit`]). Snapshots are never changed in place: an advance, a deletion,
//! a pipeline made to fail ([`crate::sim::failing`]) or an insertion swaps in a new one, so a request
//! always sees one consistent snapshot.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use anyhow::{Result, bail};

use super::config::SimConfig;
use super::dataset::Dataset;
use super::ids::{MAX_ORDINAL, MAX_TENANTS};
use super::injector::Injector;
use super::paging::PageTokens;
use super::ratelimit::RateLimiter;
use super::record::RequestLog;
use super::reruns::RerunInfo;
use super::served::Served;
use super::slug::ProjectSlug;
use super::world::pipeline_count;

/// A tenant as the server sees it: a token and the snapshot of its data currently served.
#[derive(Debug)]
pub struct Tenant {
    pub token: String,
    current: RwLock<Arc<Dataset>>,
    /// Workflow ids to rerun at the next advance, in the order asked; only under [`SimState`]'s
    /// `changing` lock.
    pending_reruns: Mutex<Vec<String>>,
}

impl Tenant {
    pub fn dataset(&self) -> Arc<Dataset> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Serves `next` from now on; only under [`SimState`]'s `changing` lock.
    fn replace(&self, next: Dataset) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.pending_reruns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Upper bound on pipelines at epoch 0 across all tenants. Pipelines cost a few dozen bytes each
/// (everything below them is generated on demand), so this is about start-up time, not memory: a typo in
/// a count must fail fast instead of stalling the start.
pub const MAX_PIPELINES: usize = 5_000_000;
/// Upper bound on projects per tenant (ids carry the project index).
pub const MAX_PROJECTS: usize = 10_000;

#[derive(Debug)]
pub struct SimState {
    pub tenants: Vec<Tenant>,
    pub page_tokens: PageTokens,
    pub log: RequestLog,
    /// Connections, bytes sent and the added latency ([`crate::sim::served`]).
    pub served: Served,
    pub faults: Injector,
    /// The rate limit per token and its buckets (off by default).
    pub rate_limit: RateLimiter,
    /// Every `head-insert` so far, in order.
    inserted: Mutex<Vec<InsertedPipeline>>,
    /// The epoch all tenants are at (read lock-free on every request).
    epoch: AtomicU64,
    /// Serialises the swaps of snapshots (advances, deletions), so none is lost to a concurrent one.
    changing: Mutex<()>,
}

impl SimState {
    /// Generates every tenant's epoch-0 snapshot up front (pipelines only; the rest is lazy).
    pub fn new(config: &SimConfig) -> Result<SimState> {
        let mut seen = HashSet::new();
        if config.tenants.len() > MAX_TENANTS {
            bail!("at most {MAX_TENANTS} tenants are supported");
        }
        for tenant in &config.tenants {
            if tenant.token.trim().is_empty() || tenant.token.trim() != tenant.token {
                bail!("tenant tokens must be non-empty and without surrounding whitespace");
            }
            if tenant.projects > MAX_PROJECTS {
                bail!("a tenant may have at most {MAX_PROJECTS} projects");
            }
            if tenant.pipelines_per_project >= MAX_ORDINAL / 2 {
                bail!("a project may have at most {} pipelines", MAX_ORDINAL / 2);
            }
            if let Some(problem) = tenant.problem() {
                bail!("tenant {:?}: {problem}", tenant.token);
            }
            if !seen.insert(tenant.token.as_str()) {
                bail!("two tenants share the same token; each tenant needs its own");
            }
        }
        let total = config
            .tenants
            .iter()
            .flat_map(|t| (0..t.projects).map(|i| pipeline_count(i, t.pipelines_per_project)))
            .try_fold(0usize, usize::checked_add);
        if total.is_none_or(|n| n > MAX_PIPELINES) {
            bail!("the configured datasets would hold more than {MAX_PIPELINES} pipelines");
        }
        if let Some(problem) = config.faults.problem() {
            bail!("fault plan: {problem}");
        }
        if let Some(problem) = config.rate_limit.and_then(|limit| limit.problem()) {
            bail!("rate limit: {problem}");
        }
        let tenants = config
            .tenants
            .iter()
            .enumerate()
            .map(|(index, tenant)| Tenant {
                token: tenant.token.clone(),
                current: RwLock::new(Arc::new(Dataset::generate(config.seed, index, tenant))),
                pending_reruns: Mutex::new(Vec::new()),
            })
            .collect();
        Ok(SimState {
            tenants,
            page_tokens: PageTokens::new(config.seed),
            log: RequestLog::default(),
            served: Served::default(),
            faults: Injector::new(config.faults.clone()),
            rate_limit: RateLimiter::new(config.rate_limit),
            inserted: Mutex::new(Vec::new()),
            epoch: AtomicU64::new(0),
            changing: Mutex::new(()),
        })
    }

    pub fn tenant(&self, token: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.token == token)
    }

    /// The position of `token`'s tenant in the config.
    pub fn tenant_index(&self, token: &str) -> Option<usize> {
        self.tenants.iter().position(|t| t.token == token)
    }

    /// The snapshot currently served to `token`.
    pub fn current(&self, token: &str) -> Option<Arc<Dataset>> {
        self.tenant(token).map(Tenant::dataset)
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Moves every tenant to the next epoch, with the reruns asked for since the last advance, and
    /// returns it. Requests in flight finish on the snapshot they started with; later ones see the new
    /// epoch.
    pub fn advance(&self) -> u64 {
        let _changing = self.changing.lock().unwrap_or_else(PoisonError::into_inner);
        self.advance_locked()
    }

    /// [`SimState::advance`] with reruns of `workflow_ids` too (each must be rerunnable in some
    /// tenant now, [`Dataset::can_rerun`]); returns the new epoch and every rerun it added, or the
    /// first id that cannot be rerun (and changes nothing).
    pub fn advance_with_reruns(
        &self,
        workflow_ids: &[String],
    ) -> Result<(u64, Vec<RerunInfo>), String> {
        let _changing = self.changing.lock().unwrap_or_else(PoisonError::into_inner);
        let mut owners = Vec::with_capacity(workflow_ids.len());
        for id in workflow_ids {
            match self.tenants.iter().find(|t| t.dataset().can_rerun(id)) {
                Some(tenant) => owners.push(tenant),
                None => return Err(id.clone()),
            }
        }
        for (tenant, id) in owners.into_iter().zip(workflow_ids) {
            tenant.pending().push(id.clone());
        }
        let epoch = self.advance_locked();
        let reruns = self
            .tenants
            .iter()
            .flat_map(|t| t.dataset().reruns())
            .filter(|r| r.epoch == epoch)
            .collect();
        Ok((epoch, reruns))
    }

    fn advance_locked(&self) -> u64 {
        for tenant in &self.tenants {
            let asked = std::mem::take(&mut *tenant.pending());
            let current = tenant.dataset();
            // Still rerunnable now (a deletion since may have made one unreadable).
            let requests: Vec<_> = asked
                .iter()
                .filter_map(|id| current.rerun_request(id))
                .collect();
            tenant.replace(current.advance_with(&requests));
        }
        self.epoch.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Reruns the workflow `workflow_id` names at the next advance ([`crate::sim::reruns`]), in the
    /// tenant it belongs to; `false` (nothing changes) when it names no workflow that can be rerun now.
    pub fn rerun_at_next_advance(&self, workflow_id: &str) -> bool {
        let _changing = self.changing.lock().unwrap_or_else(PoisonError::into_inner);
        match self
            .tenants
            .iter()
            .find(|t| t.dataset().can_rerun(workflow_id))
        {
            Some(tenant) => {
                tenant.pending().push(workflow_id.to_owned());
                true
            }
            None => false,
        }
    }

    /// Makes the workflow listing of the pipeline `pipeline_id` names fail for good
    /// ([`crate::sim::failing`]) in the tenant it belongs to, from the current snapshot on. `false`
    /// (nothing changes) when it names no pipeline of any tenant at the current epoch.
    pub fn fail_pipeline(&self, pipeline_id: &str) -> bool {
        let _changing = self.changing.lock().unwrap_or_else(PoisonError::into_inner);
        for tenant in &self.tenants {
            if let Some(next) = tenant.dataset().with_pipeline_failing(pipeline_id) {
                tenant.replace(next);
                return true;
            }
        }
        false
    }

    /// Inserts `n` pipelines at the head of the project `slug` names in `token`'s tenant, at the
    /// current epoch (the `head-insert` fault, see [`Dataset::with_pipelines_inserted`]); returns
    /// their ids, newest first, or nothing when the token, the project or the room is missing.
    pub fn insert_pipelines(
        &self,
        token: &str,
        slug: &ProjectSlug,
        n: usize,
        max: usize,
    ) -> Vec<String> {
        let _changing = self.changing.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(tenant) = self.tenant(token) else {
            return Vec::new();
        };
        let current = tenant.dataset();
        let Some(project) = current.project_by_key(slug) else {
            return Vec::new();
        };
        let Some((next, ids)) = current.with_pipelines_inserted(project.index, n, max) else {
            return Vec::new();
        };
        let mut log = self.inserted.lock().unwrap_or_else(PoisonError::into_inner);
        log.extend(ids.iter().map(|id| InsertedPipeline {
            token: token.to_owned(),
            project_slug: project.slug.clone(),
            id: id.clone(),
            epoch: next.epoch(),
        }));
        tenant.replace(next);
        ids
    }

    /// Every pipeline inserted so far, in the order they were inserted (newest first within one
    /// insertion).
    pub fn inserted(&self) -> Vec<InsertedPipeline> {
        self.inserted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Deletes the workflow `workflow_id` names after listing ([`crate::sim::deleted`]) in the tenant
    /// it belongs to, from the current snapshot on. `false` (nothing changes) when it names no workflow
    /// of any tenant at the current epoch.
    pub fn delete_workflow(&self, workflow_id: &str) -> bool {
        let _changing = self.changing.lock().unwrap_or_else(PoisonError::into_inner);
        // Ids carry their tenant, so at most one tenant recognises it.
        for tenant in &self.tenants {
            if let Some(next) = tenant.dataset().with_workflow_deleted(workflow_id) {
                tenant.replace(next);
                return true;
            }
        }
        false
    }
}

/// One pipeline the `head-insert` fault added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsertedPipeline {
    /// The tenant's token.
    pub token: String,
    /// The canonical slug of its project.
    pub project_slug: String,
    pub id: String,
    /// The epoch it was inserted at (and was born at).
    pub epoch: u64,
}
