//! `pipelines`: every pipeline of each project
//! (`GET /api/v2/project/{slug}/pipeline`), newest first; the first level of
//! the CI tree ([`super::project_tree`]). Incremental.

use super::project_tree::{PIPELINES, TREE};
use super::{Read, StreamDef};

pub const STREAM: StreamDef = StreamDef {
    name: "pipelines",
    description: "Every pipeline of each project (GET /api/v2/project/{slug}/pipeline), newest first, a few pages per \
call; records are CircleCI's pipeline objects as returned. Cursor: updated_at. A later sync emits a \
pipeline when it was created after the project's hwm or updated after as_of.",
    json_schema: crate::json::minified!(
        r#"{
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "CircleCI pipeline",
        "type": "object",
        "required": ["id", "project_slug", "number", "state", "created_at"],
        "properties": {
            "id": {"type": "string", "description": "The pipeline's UUID."},
            "project_slug": {"type": "string"},
            "number": {"type": "integer"},
            "state": {
                "type": "string",
                "description": "created, errored, setup-pending, setup or pending."
            },
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": ["string", "null"], "format": "date-time"},
            "errors": {
                "type": ["array", "null"],
                "items": {
                    "type": "object",
                    "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
                    "additionalProperties": true
                }
            },
            "trigger": {
                "type": ["object", "null"],
                "properties": {
                    "type": {"type": ["string", "null"]},
                    "received_at": {"type": ["string", "null"], "format": "date-time"},
                    "actor": {
                        "type": ["object", "null"],
                        "properties": {
                            "login": {"type": ["string", "null"]},
                            "avatar_url": {"type": ["string", "null"]}
                        },
                        "additionalProperties": true
                    }
                },
                "additionalProperties": true
            },
            "vcs": {
                "type": ["object", "null"],
                "properties": {
                    "provider_name": {"type": ["string", "null"]},
                    "target_repository_url": {"type": ["string", "null"]},
                    "origin_repository_url": {"type": ["string", "null"]},
                    "branch": {"type": ["string", "null"]},
                    "tag": {"type": ["string", "null"]},
                    "revision": {"type": ["string", "null"]},
                    "review_id": {"type": ["string", "null"]},
                    "review_url": {"type": ["string", "null"]},
                    "commit": {
                        "type": ["object", "null"],
                        "properties": {
                            "subject": {"type": ["string", "null"]},
                            "body": {"type": ["string", "null"]}
                        },
                        "additionalProperties": true
                    }
                },
                "additionalProperties": true
            },
            "trigger_parameters": {
                "type": ["object", "null"],
                "description": "Parameters of the trigger (e.g. git, webhook); free-form.",
                "additionalProperties": true
            }
        },
        "additionalProperties": true
    }"#
    ),
    primary_key: &["id"],
    cursor_field: Some("updated_at"),
    parent: Some("projects"),
    read: Read::Tree(&TREE, PIPELINES),
};
