//! `/context?owner-slug=…|owner-id=…` and `/context/{id}/environment-variable`, with their access
//! rules ([`crate::sim::contexts`]: 403 for forbidden organisations, 404 for a personal account by
//! `owner-slug` when configured).

use http::StatusCode;

use super::{Ctx, bad_request, not_found};
use crate::sim::contexts::{ContextAccess, context_access};
use crate::sim::reply::Reply;

impl Ctx<'_> {
    /// `GET /context`: an organisation's contexts, newest first. Cloud organisations only: an
    /// `owner-type` other than `organization` names no owner here.
    pub(super) fn contexts(&self) -> Reply {
        let world = &self.data.world;
        let (org, by_slug) = match (self.param("owner-id"), self.param("owner-slug")) {
            (Some(id), _) => (world.org_by_id(id), false),
            (None, Some(slug)) => (world.org_by_slug(slug), true),
            (None, None) => return bad_request("Must specify either owner-id or owner-slug."),
        };
        let owner_type = self.param("owner-type").unwrap_or("organization");
        let Some(org) = org.filter(|_| owner_type == "organization") else {
            return not_found();
        };
        match context_access(&world.config, org, by_slug) {
            ContextAccess::Allowed => {}
            ContextAccess::Forbidden => return permission_denied(),
            ContextAccess::SlugNotFound => return not_found(),
        }
        let contexts: Vec<usize> = (0..world.contexts.len())
            .filter(|&i| world.contexts[i].org == org)
            .collect();
        let listing = self.listing("contexts", format_args!("org={org}"));
        self.forward(&listing, contexts.len(), |i| {
            world.contexts[contexts[i]].json()
        })
    }

    /// `GET /context/{id}/environment-variable`: names and dates only, never values.
    pub(super) fn context_variables(&self, id: &str) -> Reply {
        let world = &self.data.world;
        let Some(c) = world.context_index(id) else {
            return Reply::error(StatusCode::NOT_FOUND, "Context not found.");
        };
        let context = &world.contexts[c];
        if context_access(&world.config, context.org, false) == ContextAccess::Forbidden {
            return permission_denied();
        }
        let listing = self.listing("context-variables", format_args!("context={id}"));
        self.forward(&listing, context.variables.len(), |i| {
            context.variable_json(&context.variables[i])
        })
    }
}

/// CircleCI's answer when the user may not list an organisation's contexts.
fn permission_denied() -> Reply {
    Reply::error(StatusCode::FORBIDDEN, "Permission denied")
}
