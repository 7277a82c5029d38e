//! The shared state behind a running simulator: one dataset per tenant token, the page-token key and
//! the request log.

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::{Result, bail};

use super::config::SimConfig;
use super::dataset::{Dataset, pipeline_count};
use super::paging::PageTokens;
use super::record::RequestLog;

/// A tenant as the server sees it: a token and the data that token can read.
#[derive(Debug)]
pub struct Tenant {
    pub token: String,
    pub dataset: Arc<Dataset>,
}

/// Upper bound on generated pipelines across all tenants: datasets live in memory (a few KiB per
/// pipeline), so a typo in a count must fail fast instead of exhausting the machine.
pub const MAX_PIPELINES: usize = 500_000;
/// Upper bound on projects per tenant, for the same reason.
pub const MAX_PROJECTS: usize = 10_000;

#[derive(Debug)]
pub struct SimState {
    pub tenants: Vec<Tenant>,
    pub page_tokens: PageTokens,
    pub log: RequestLog,
}

impl SimState {
    /// Generates every tenant's dataset up front, so serving never computes data and stays fast.
    pub fn new(config: &SimConfig) -> Result<SimState> {
        let mut seen = HashSet::new();
        for tenant in &config.tenants {
            if tenant.token.trim().is_empty() || tenant.token.trim() != tenant.token {
                bail!("tenant tokens must be non-empty and without surrounding whitespace");
            }
            if tenant.projects > MAX_PROJECTS {
                bail!("a tenant may have at most {MAX_PROJECTS} projects");
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
        let tenants = config
            .tenants
            .iter()
            .enumerate()
            .map(|(index, tenant)| Tenant {
                token: tenant.token.clone(),
                dataset: Arc::new(Dataset::generate(config.seed, index, tenant)),
            })
            .collect();
        Ok(SimState {
            tenants,
            page_tokens: PageTokens::new(config.seed),
            log: RequestLog::default(),
        })
    }

    pub fn tenant(&self, token: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.token == token)
    }
}
