//! Density: many tenants in one process with the pooling allocator. Runs
//! in a child process of its own (`connector-bench tenants …`), so its
//! resident memory is the host's and the tenants' only.
//!
//! Each tenant is instantiated from the shared pre-linked component (timed
//! one by one), from a cold pool or one prewarmed with
//! [`host_harness::Connector::prewarm`], then validates its credential once
//! against the simulator;
//! resident memory is read before, after instantiating and after
//! validating, and divided by the number of tenants.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use host_harness::credential::Credential;
use host_harness::{AllowList, HostConfig, Loader, OutboundPolicy, Pooling, TenantSpec};

use crate::stats::{median, percentile, rss_kib, us};

/// What the child reports, as JSON on stdout.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Density {
    pub tenants: usize,
    /// Whether the pool's slots were used once before ([`host_harness::Connector::prewarm`]).
    pub prewarmed: bool,
    /// Resident memory before the pool was prewarmed (equal to
    /// `rss_loaded_kib` when it was not).
    pub rss_cold_kib: u64,
    pub instantiate_us_median: f64,
    pub instantiate_us_p90: f64,
    pub instantiate_us_mean: f64,
    pub rss_loaded_kib: u64,
    pub rss_instantiated_kib: u64,
    pub rss_validated_kib: u64,
    pub validate_ms_total: f64,
    /// Instantiating a tenant whose slot was used before and dropping it
    /// again (a platform that instantiates per scheduled sync), median.
    pub reinstantiate_us_median: f64,
}

impl Density {
    /// KiB per tenant, instantiated and idle.
    pub fn kib_per_instantiated(&self) -> f64 {
        (self
            .rss_instantiated_kib
            .saturating_sub(self.rss_loaded_kib)) as f64
            / self.tenants as f64
    }

    /// KiB per tenant after each validated once, then idle.
    pub fn kib_per_validated(&self) -> f64 {
        (self.rss_validated_kib.saturating_sub(self.rss_loaded_kib)) as f64 / self.tenants as f64
    }
}

/// The child's work: `count` tenants against the simulator at `base_url`.
pub async fn measure(
    count: usize,
    prewarm: bool,
    base_url: &str,
    token: &str,
    cache_dir: &std::path::Path,
) -> Result<Density> {
    let loader = Loader::new(HostConfig {
        cache: Some(host_harness::cache::CompileCache::new(cache_dir)),
        pooling: Some(Pooling::for_instances(u32::try_from(count)?)),
        enforce_cpu_time: std::env::var_os("BENCH_NO_EPOCH").is_none(),
        ..HostConfig::default()
    })?;
    let connector = loader.load(connector_artifacts::CIRCLECI_CONNECTOR)?;
    let policy = Arc::new(OutboundPolicy {
        allow: AllowList::parse(&[base_url]).map_err(anyhow::Error::msg)?,
        ..OutboundPolicy::default()
    });
    let credential = Credential::from_pairs([
        ("api_key", token.to_string()),
        ("base_url", base_url.to_string()),
    ]);
    // One tenant first, dropped: the lazily made parts of the runtime exist
    // before the baseline is read.
    drop(connector.tenant(spec(0, &credential, &policy)).await?);
    let rss_cold_kib = rss_kib();
    if prewarm {
        connector.prewarm(count).await?;
    }
    let rss_loaded_kib = rss_kib();
    let mut times = Vec::with_capacity(count);
    let mut tenants = Vec::with_capacity(count);
    for i in 0..count {
        let spec = spec(i, &credential, &policy);
        let started = Instant::now();
        let tenant = connector.tenant(spec).await?;
        times.push(us(started.elapsed()));
        tenants.push(tenant);
    }
    let rss_instantiated_kib = rss_kib();
    let started = Instant::now();
    for tenant in &mut tenants {
        tenant.validate().await?;
    }
    let validate_ms_total = started.elapsed().as_secs_f64() * 1e3;
    let rss_validated_kib = rss_kib();
    drop(tenants);
    let mut again = Vec::with_capacity(count);
    for i in 0..count {
        let spec = spec(i, &credential, &policy);
        let started = Instant::now();
        let tenant = connector.tenant(spec).await?;
        again.push(us(started.elapsed()));
        drop(tenant);
    }
    Ok(Density {
        prewarmed: prewarm,
        rss_cold_kib,
        reinstantiate_us_median: median(&again),
        tenants: count,
        instantiate_us_median: median(&times),
        instantiate_us_p90: percentile(&times, 90.0),
        instantiate_us_mean: times.iter().sum::<f64>() / times.len().max(1) as f64,
        rss_loaded_kib,
        rss_instantiated_kib,
        rss_validated_kib,
        validate_ms_total,
    })
}

fn spec(i: usize, credential: &Credential, policy: &Arc<OutboundPolicy>) -> TenantSpec {
    TenantSpec {
        id: format!("tenant-{i}"),
        credential: credential.clone(),
        policy: policy.clone(),
        limits: None,
        concurrency: None,
    }
}
