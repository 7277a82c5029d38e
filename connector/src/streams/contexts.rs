//! `contexts`: the contexts of each organisation
//! (`GET /api/v2/context?owner-id={id}&owner-type=organization` for the
//! organisations of `/me/collaborations`, whose ids are known; `owner-slug`
//! for `org_slug`). Listing an organisation's contexts may need org-admin
//! rights: a 403 (or 404) skips that organisation, named in the page's
//! `skipped` list, and the others are read.

use connector_sdk::engine::{On404, Req};

use super::{Read, StreamDef};
use crate::error::ConnectorError;
use crate::json::string;
use crate::settings::Settings;
use crate::state::Item;
use crate::walk::{At, CiTree, Cx, NULL_IDS, Root, Tree, list, seg};

pub const STREAM: StreamDef = StreamDef {
    name: "contexts",
    description: "The contexts of each organisation (GET /api/v2/context?owner-id={id}&owner-type=organization, \
or owner-slug={org_slug}), every page; records are CircleCI's context objects as returned plus owner_slug, the \
organisation's slug (added only when absent). Organisations: org_slug if set, else every organisation of \
/me/collaborations (listed by id, which also works for personal accounts). An organisation whose contexts \
answer 403 (they may need org-admin rights) or 404 is skipped and named.",
    json_schema: crate::json::minified!(
        r#"{
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "CircleCI context",
        "type": "object",
        "required": ["id", "owner_slug"],
        "properties": {
            "id": {"type": "string", "description": "The context's UUID."},
            "name": {"type": ["string", "null"]},
            "created_at": {"type": ["string", "null"], "format": "date-time"},
            "owner_slug": {"type": "string", "description": "Added: the organisation's slug (e.g. gh/acme)."}
        },
        "additionalProperties": true
    }"#
    ),
    primary_key: &["id"],
    cursor_field: None,
    parent: None,
    read: Read::Tree(&TREE, CONTEXTS),
};

/// The organisation tree's streams by slot; a slot is also the kind of the
/// listing the stream's records come from.
pub const CONTEXTS: usize = 0;
pub const CONTEXT_VARS: usize = 1;

/// Organisations → contexts → their environment variables, read in one
/// walk.
pub static TREE: OrgTree = OrgTree;

pub struct OrgTree;

impl CiTree for OrgTree {
    fn projects(&self) -> bool {
        false
    }
}

impl Tree for OrgTree {
    type Item = Item;
    type Settings = Settings;

    fn streams(&self) -> &'static [&'static str] {
        &["contexts", "context_environment_variables"]
    }

    fn level(&self, slot: usize) -> usize {
        slot + 1
    }

    fn kind_level(&self, kind: u8) -> usize {
        match usize::from(kind) {
            CONTEXTS => 1,
            CONTEXT_VARS => 2,
            _ => 0,
        }
    }

    fn feeds(&self, kind: u8) -> &'static [usize] {
        match usize::from(kind) {
            CONTEXTS => &[CONTEXTS, CONTEXT_VARS],
            CONTEXT_VARS => &[CONTEXT_VARS],
            _ => &[],
        }
    }

    fn root_kinds(&self, wants: &dyn Fn(usize) -> bool) -> Vec<u8> {
        if wants(CONTEXTS) || wants(CONTEXT_VARS) {
            vec![CONTEXTS as u8]
        } else {
            Vec::new()
        }
    }

    fn request(&self, kind: u8, root: &Root, heads: &[Item]) -> Req<'_> {
        if usize::from(kind) == CONTEXTS {
            let mut req = list(
                "/context".into(),
                format!("contexts of organisation {}", root.name),
            );
            let owner = match &root.id {
                Some(id) => ("owner-id", id.clone()),
                None => ("owner-slug", root.key.clone()),
            };
            req.query = vec![owner, ("owner-type", "organization".into())];
            req.on_404 =
                On404::Skip("listing an organisation's contexts may need org-admin rights");
            return req;
        }
        let c = heads.first().map_or("", |h| h.id.as_str());
        Req {
            on_404: On404::Skip("the context was deleted after it was listed"),
            ..list(
                format!("/context/{}/environment-variable", seg(c)),
                format!("environment variables of context {c}"),
            )
        }
    }

    fn page(
        &self,
        at: &At<'_>,
        items: &[crate::json::Record<'_>],
        cx: &mut Cx<'_>,
    ) -> Result<(), ConnectorError> {
        if usize::from(at.kind) == CONTEXT_VARS {
            let key = ("context_id", string(&at.heads[0].id));
            return cx.emit_and_open(items, CONTEXT_VARS, &[key], None);
        }
        let child = cx.wants(CONTEXT_VARS).then_some((CONTEXT_VARS as u8, "id"));
        let key = ("owner_slug", string(&at.root.key));
        cx.emit_and_open(items, CONTEXTS, &[key], child)
    }

    fn unusable_why(&self) -> Option<&'static str> {
        Some(NULL_IDS)
    }
}
