//! `projects`: each project (`GET /api/v2/project/{slug}`), from
//! `project_slugs` or discovered.

use super::project_tree::{PROJECTS, TREE};
use super::{Read, StreamDef};

pub const STREAM: StreamDef = StreamDef {
    name: "projects",
    description: "Each project (GET /api/v2/project/{slug}), one record each, as returned. CircleCI API v2 has no \
endpoint that lists all projects. Keyed by the project's id, which survives renames and transfers, unlike \
the slug.",
    json_schema: crate::json::minified!(
        r#"{
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "CircleCI project",
        "type": "object",
        "required": ["id", "slug"],
        "properties": {
            "id": {"type": "string", "description": "The project's UUID."},
            "slug": {"type": "string", "description": "e.g. gh/acme/api or circleci/<org-id>/<project-id>."},
            "name": {"type": ["string", "null"]},
            "organization_name": {"type": ["string", "null"]},
            "organization_slug": {"type": ["string", "null"]},
            "organization_id": {"type": ["string", "null"]},
            "vcs_info": {
                "type": ["object", "null"],
                "properties": {
                    "vcs_url": {"type": ["string", "null"]},
                    "provider": {"type": ["string", "null"]},
                    "default_branch": {"type": ["string", "null"]}
                },
                "additionalProperties": true
            }
        },
        "additionalProperties": true
    }"#
    ),
    primary_key: &["id"],
    cursor_field: None,
    parent: None,
    read: Read::Tree(&TREE, PROJECTS),
};
