//! Contexts (`GET /context`) and their environment variables (`GET /context/{id}/environment-variable`).
//!
//! Few and static (they do not change with epochs), so they are generated eagerly with the tenant.
//! Variables are names only: CircleCI never returns values.
//!
//! Access ([`context_access`]), as on CircleCI: listing an organisation's contexts may need org-admin
//! rights, so the organisations of [`TenantConfig::forbidden_context_orgs`] answer
//! `403 {"message":"Permission denied"}` on `GET /context` (by `owner-slug` or `owner-id`) and on
//! their contexts' `GET /context/{id}/environment-variable`; and `owner-slug` cannot name a personal
//! account, so with [`TenantConfig::personal_owner_slug_not_found`] the user's personal account
//! answers `404 {"message":"Not Found"}` by `owner-slug` (by `owner-id` it works). The right answers
//! leave out the forbidden organisations' contexts and variables; the personal account's stay (a
//! correct connector reads it by `owner-id`). [`Dataset::forbidden_context_orgs`] names them.

use serde_json::{Value, json};

use super::config::TenantConfig;
use super::dataset::Dataset;
use super::rng::Rng;
use super::time::{ANCHOR, DAY, Millis, rfc3339_millis};
use super::words::{CONTEXTS, EXTRA_VARIABLES};
use super::world::{ORG_PERSONAL, Org, span, streams};

/// Whether `GET /context` may list organisation `org`'s contexts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ContextAccess {
    Allowed,
    /// `403 {"message":"Permission denied"}`.
    Forbidden,
    /// `404 {"message":"Not Found"}`: a personal account named by `owner-slug`.
    SlugNotFound,
}

/// How `GET /context` answers for organisation `org`, named by `owner-slug` when `by_slug`.
pub(crate) fn context_access(config: &TenantConfig, org: usize, by_slug: bool) -> ContextAccess {
    if by_slug && org == ORG_PERSONAL && config.personal_owner_slug_not_found {
        ContextAccess::SlugNotFound
    } else if config.forbidden_context_orgs.contains(&org) {
        ContextAccess::Forbidden
    } else {
        ContextAccess::Allowed
    }
}

impl Dataset {
    /// The slugs (as `/me/collaborations` prints them) of the organisations whose contexts answer 403,
    /// in collaboration order: a correct connector reports them as skipped.
    pub fn forbidden_context_orgs(&self) -> Vec<String> {
        self.world
            .orgs
            .iter()
            .enumerate()
            .filter(|(o, _)| self.world.config.forbidden_context_orgs.contains(o))
            .map(|(_, org)| org.slug.clone())
            .collect()
    }

    /// Whether organisation `org`'s contexts are in the right answers (not forbidden).
    pub(crate) fn contexts_readable(&self, org: usize) -> bool {
        !self.world.config.forbidden_context_orgs.contains(&org)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Context {
    pub id: String,
    pub name: String,
    pub created: Millis,
    /// Index into [`super::world::World::orgs`].
    pub org: usize,
    /// Newest first, as listed.
    pub variables: Vec<Variable>,
}

#[derive(Debug, Clone)]
pub(crate) struct Variable {
    pub name: String,
    pub created: Millis,
    pub updated: Millis,
}

impl Context {
    pub fn json(&self) -> Value {
        json!({"id": self.id, "name": self.name, "created_at": rfc3339_millis(self.created)})
    }

    pub fn variable_json(&self, v: &Variable) -> Value {
        json!({
            "variable": v.name,
            "created_at": rfc3339_millis(v.created),
            "updated_at": rfc3339_millis(v.updated),
            "context_id": self.id,
        })
    }
}

/// Every context of every org, grouped by org, newest first within an org (the listing order).
pub(crate) fn generate_contexts(
    seed: u64,
    tenant: usize,
    config: &TenantConfig,
    orgs: &[Org],
) -> Vec<Context> {
    let mut all = Vec::new();
    for (org_index, _) in orgs.iter().enumerate() {
        let mut rng = Rng::derive(seed, &[streams::CONTEXTS, tenant as u64, org_index as u64]);
        let range = config.contexts_per_org;
        let count = if org_index == ORG_PERSONAL {
            // A personal account rarely has contexts of its own.
            rng.range(0, 1).min(range.max as u64) as usize
        } else {
            rng.range(range.min as u64, range.max as u64) as usize
        };
        // Oldest first while generating, then reversed into the newest-first listing order.
        // Spread so that even the largest counts stay well in the past.
        let mut created = ANCHOR - span(&mut rng, 450 * DAY, 900 * DAY);
        let context_step = (300 * DAY / count.max(1) as Millis).clamp(60_001, 60 * DAY);
        let mut contexts = Vec::with_capacity(count);
        for i in 0..count {
            let (base, plausible) = CONTEXTS[i % CONTEXTS.len()];
            let name = super::world::uniquify(base, i, CONTEXTS.len());
            let id = rng.uuid();
            let n = rng.range(
                config.env_vars_per_context.min as u64,
                config.env_vars_per_context.max as u64,
            ) as usize;
            let mut names: Vec<String> = plausible.iter().map(|s| (*s).to_owned()).collect();
            let mut extra = 0;
            while names.len() < n {
                names.push(super::world::uniquify(
                    EXTRA_VARIABLES[extra % EXTRA_VARIABLES.len()],
                    extra,
                    EXTRA_VARIABLES.len(),
                ));
                extra += 1;
            }
            names.truncate(n);
            let mut at = created + span(&mut rng, 60_000, DAY);
            let step = (100 * DAY / n.max(1) as Millis).clamp(1_001, 20 * DAY);
            let mut variables: Vec<Variable> = names
                .into_iter()
                .map(|name| {
                    at += span(&mut rng, 1_000, step);
                    // Some variables were rotated since they were created.
                    let updated = if rng.chance(30) {
                        (at + span(&mut rng, DAY, 200 * DAY)).min(ANCHOR - DAY)
                    } else {
                        at
                    };
                    Variable {
                        name,
                        created: at,
                        updated: updated.max(at),
                    }
                })
                .collect();
            variables.reverse();
            contexts.push(Context {
                id,
                name,
                created,
                org: org_index,
                variables,
            });
            created += span(&mut rng, 60_000, context_step);
        }
        contexts.reverse();
        all.extend(contexts);
    }
    all
}
