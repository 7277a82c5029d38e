//! `context_environment_variables`: the environment variables of every
//! context (`GET /api/v2/context/{id}/environment-variable`): names only,
//! CircleCI never returns values.

use super::contexts::Contexts;
use super::{FULL, StreamDef};
use crate::api::Api;
use crate::error::ConnectorError;
use crate::model::Page;
use crate::settings::Settings;
use crate::state::State;

const NAME: &str = "context_environment_variables";

pub const STREAM: StreamDef = StreamDef {
    name: NAME,
    description: "The environment variables of every context of each organisation \
(GET /api/v2/context/{id}/environment-variable), every page: names and dates only, CircleCI never returns \
values. Records are as returned plus context_id when absent. Organisations: org_slug if set, else every \
organisation of /me/collaborations.",
    notes: &[],
    json_schema: crate::json::minified!(
        r#"{
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "CircleCI context environment variable (name only)",
        "type": "object",
        "required": ["variable", "context_id"],
        "properties": {
            "variable": {"type": "string", "description": "The variable's name."},
            "context_id": {"type": "string", "description": "The context's UUID (added when CircleCI omits it)."},
            "created_at": {"type": ["string", "null"], "format": "date-time"},
            "updated_at": {"type": ["string", "null"], "format": "date-time"}
        },
        "additionalProperties": true
    }"#
    ),
    primary_key: &["context_id", "variable"],
    cursor_field: None,
    parent: Some("contexts"),
    sync_modes: FULL,
    fetch,
};

fn fetch(
    api: &mut Api<'_>,
    settings: &Settings,
    state: Option<State>,
) -> Result<Page, ConnectorError> {
    crate::engine::fetch(api, settings, state, NAME, &Contexts { vars: true })
}
