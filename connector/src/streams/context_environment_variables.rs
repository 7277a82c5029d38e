//! `context_environment_variables`: the environment variables of every
//! context (`GET /api/v2/context/{id}/environment-variable`): names only,
//! CircleCI never returns values.

use super::contexts::{CONTEXT_VARS, TREE};
use super::{Read, StreamDef};

pub const STREAM: StreamDef = StreamDef {
    name: "context_environment_variables",
    description: "The environment variables of every context of each organisation \
(GET /api/v2/context/{id}/environment-variable), every page: names and dates only, CircleCI never returns \
values. Records are as returned plus context_id when absent. Organisations: org_slug if set, else every \
organisation of /me/collaborations.",
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
    read: Read::Tree(&TREE, CONTEXT_VARS),
};
