//! `insights_workflow_runs`: the recent runs of each insights workflow
//! (`GET /api/v2/insights/{slug}/workflows/{name}?all-branches=true`).

use super::project_tree::{INSIGHTS_RUNS, TREE};
use super::{Read, StreamDef};

pub const STREAM: StreamDef = StreamDef {
    name: "insights_workflow_runs",
    description: "The recent runs (CircleCI keeps 90 days) of each workflow of the insights_workflows stream, all \
branches (GET /api/v2/insights/{slug}/workflows/{name}?all-branches=true), every page; records are as \
returned plus project_slug and workflow_name (each added only when absent).",
    json_schema: crate::json::minified!(
        r#"{
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "CircleCI insights: workflow run",
        "type": "object",
        "required": ["id", "project_slug", "workflow_name"],
        "properties": {
            "id": {"type": "string", "description": "The workflow run's UUID (the workflow id)."},
            "branch": {"type": ["string", "null"]},
            "duration": {"type": ["integer", "null"], "description": "Seconds."},
            "created_at": {"type": ["string", "null"], "format": "date-time"},
            "stopped_at": {"type": ["string", "null"], "format": "date-time"},
            "credits_used": {"type": ["integer", "null"]},
            "status": {"type": ["string", "null"], "description": "e.g. success, failed, error, canceled, unauthorized (CircleCI may add more)."},
            "is_approval": {"type": ["boolean", "null"]},
            "project_slug": {"type": "string", "description": "Added: the project's canonical slug (gh/…, bb/…, circleci/…)."},
            "workflow_name": {"type": "string", "description": "Added: the workflow's name (name in insights_workflows)."}
        },
        "additionalProperties": true
    }"#
    ),
    primary_key: &["id"],
    cursor_field: None,
    parent: Some("insights_workflows"),
    read: Read::Tree(&TREE, INSIGHTS_RUNS),
};
