//! `workflows`: the workflows of every pipeline
//! (`GET /api/v2/pipeline/{id}/workflow`); the second level of the CI tree
//! ([`super::project_tree`]). Incremental.

use super::project_tree::{TREE, WORKFLOWS};
use super::{Read, StreamDef};

pub const STREAM: StreamDef = StreamDef {
    name: "workflows",
    description: "The workflows of every pipeline of each project (GET /api/v2/pipeline/{id}/workflow), read pipeline \
by pipeline, newest first; records are CircleCI's workflow objects as returned (they carry pipeline_id and \
project_slug). Cursor: stopped_at. A later sync emits a workflow created or stopped after as_of.",
    json_schema: crate::json::minified!(
        r#"{
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "CircleCI workflow",
        "type": "object",
        "required": ["id", "pipeline_id", "status", "created_at"],
        "properties": {
            "id": {"type": "string", "description": "The workflow's UUID."},
            "pipeline_id": {"type": "string", "description": "The UUID of its pipeline."},
            "pipeline_number": {"type": ["integer", "null"]},
            "name": {"type": ["string", "null"]},
            "project_slug": {"type": ["string", "null"]},
            "status": {
                "type": "string",
                "description": "success, running, not_run, failed, error, failing, on_hold, canceled or unauthorized (CircleCI may add more). Finished: success, failed, error, canceled, unauthorized, not_run."
            },
            "started_by": {"type": ["string", "null"]},
            "canceled_by": {"type": ["string", "null"]},
            "errored_by": {"type": ["string", "null"]},
            "tag": {"type": ["string", "null"]},
            "auto_rerun_number": {"type": ["integer", "null"]},
            "max_auto_reruns": {"type": ["integer", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "stopped_at": {"type": ["string", "null"], "format": "date-time", "description": "Null while it runs."}
        },
        "additionalProperties": true
    }"#
    ),
    primary_key: &["id"],
    cursor_field: Some("stopped_at"),
    parent: Some("pipelines"),
    read: Read::Tree(&TREE, WORKFLOWS),
};
