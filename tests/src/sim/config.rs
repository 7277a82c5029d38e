//! What a simulator instance serves: the seed and one entry per tenant (API token).

/// The token of the default tenant. Shaped like a CircleCI personal token (`CCIPAT_…`), and obviously fake.
pub const DEFAULT_TOKEN: &str = "CCIPAT_sim_1a2b3c4d5e6f7a8b9c0d";
/// Projects of the default tenant.
pub const DEFAULT_PROJECTS: usize = 6;
/// The configured pipeline count per project of the default tenant (actual counts vary around it, see
/// [`crate::sim::dataset::pipeline_count`]).
pub const DEFAULT_PIPELINES_PER_PROJECT: usize = 45;
/// The default seed.
pub const DEFAULT_SEED: u64 = 42;

/// Everything a simulator serves. The same config always gives byte-identical responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    pub seed: u64,
    /// One entry per accepted token; each tenant gets its own dataset (user, orgs, projects, pipelines),
    /// derived from `seed` and the tenant's position in this list.
    pub tenants: Vec<TenantConfig>,
}

/// One tenant: the token that authenticates it and the size of its dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantConfig {
    pub token: String,
    pub projects: usize,
    /// Nominal pipelines per project; the actual counts vary per project so that paging edge cases
    /// (exactly one page, one more than a page, a single item, none) always exist.
    pub pipelines_per_project: usize,
}

impl SimConfig {
    /// One tenant with the default seed.
    pub fn single(token: &str, projects: usize, pipelines_per_project: usize) -> Self {
        SimConfig {
            seed: DEFAULT_SEED,
            tenants: vec![TenantConfig {
                token: token.to_owned(),
                projects,
                pipelines_per_project,
            }],
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
