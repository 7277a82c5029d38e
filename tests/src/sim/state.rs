//! The shared state behind a running simulator: each tenant's current snapshot, the epoch, the
//! page-token key, the request log and the fault injector. Snapshots are never changed in place: an
//! advance, a deletion or an insertion swaps in a new one, so a request always sees one consistent
//! snapshot.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use anyhow::{Result, bail};

use super::config::SimConfig;
use super::dataset::Dataset;
use super::ids::{MAX_ORDINAL, MAX_TENANTS};
use super::injector::Injector;
use super::paging::PageTokens;
use super::record::RequestLog;
use super::served::Served;
use super::slug::ProjectSlug;
use super::world::pipeline_count;

/// A tenant as the server sees it: a token and the snapshot of its data currently served.
#[derive(Debug)]
pub struct Tenant {
    pub token: String,
    current: RwLock<Arc<Dataset>>,
}

impl Tenant {
    pub fn dataset(&self) -> Arc<Dataset> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Serves `next` from now on; only under [`SimState`]'s `changing` lock.
    fn replace(&self, next: Dataset) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
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
        let tenants = config
            .tenants
            .iter()
            .enumerate()
            .map(|(index, tenant)| Tenant {
                token: tenant.token.clone(),
                current: RwLock::new(Arc::new(Dataset::generate(config.seed, index, tenant))),
            })
            .collect();
        Ok(SimState {
            tenants,
            page_tokens: PageTokens::new(config.seed),
            log: RequestLog::default(),
            served: Served::default(),
            faults: Injector::new(config.faults.clone()),
            inserted: Mutex::new(Vec::new()),
            epoch: AtomicU64::new(0),
            changing: Mutex::new(()),
        })
    }

    pub fn tenant(&self, token: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.token == token)
    }

    /// The snapshot currently served to `token`.
    pub fn current(&self, token: &str) -> Option<Arc<Dataset>> {
        self.tenant(token).map(Tenant::dataset)
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Moves every tenant to the next epoch and returns it. Requests in flight finish on the snapshot
    /// they started with; later ones see the new epoch.
    pub fn advance(&self) -> u64 {
        let _changing = self.changing.lock().unwrap_or_else(PoisonError::into_inner);
        for tenant in &self.tenants {
            tenant.replace(tenant.dataset().advanced());
        }
        self.epoch.fetch_add(1, Ordering::AcqRel) + 1
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
