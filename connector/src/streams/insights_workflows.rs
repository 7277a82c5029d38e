//! `insights_workflows`: the workflow summary metrics of each project
//! (`GET /api/v2/insights/{slug}/workflows?all-branches=true`).

use super::project_tree::{INSIGHTS_WORKFLOWS, TREE};
use super::{Read, StreamDef};

pub const STREAM: StreamDef = StreamDef {
    name: "insights_workflows",
    description: "Summary metrics of each workflow of each project over CircleCI's reporting window, all branches \
(GET /api/v2/insights/{slug}/workflows?all-branches=true), every page; records are as returned plus \
project_slug (added only when absent).",
    json_schema: crate::json::minified!(
        r#"{
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "CircleCI insights: workflow summary",
        "type": "object",
        "required": ["name", "project_slug"],
        "properties": {
            "name": {"type": "string", "description": "The workflow's name."},
            "project_id": {"type": ["string", "null"]},
            "window_start": {"type": ["string", "null"], "format": "date-time"},
            "window_end": {"type": ["string", "null"], "format": "date-time"},
            "metrics": {
                "type": ["object", "null"],
                "properties": {
                    "success_rate": {"type": ["number", "null"]},
                    "total_runs": {"type": ["integer", "null"]},
                    "failed_runs": {"type": ["integer", "null"]},
                    "successful_runs": {"type": ["integer", "null"]},
                    "throughput": {"type": ["number", "null"]},
                    "mttr": {"type": ["integer", "null"]},
                    "total_credits_used": {"type": ["integer", "null"]},
                    "duration_metrics": {
                        "type": ["object", "null"],
                        "properties": {
                            "min": {"type": ["integer", "null"]},
                            "max": {"type": ["integer", "null"]},
                            "median": {"type": ["integer", "null"]},
                            "mean": {"type": ["integer", "null"]},
                            "p95": {"type": ["integer", "null"]},
                            "standard_deviation": {"type": ["number", "null"]}
                        },
                        "additionalProperties": true
                    }
                },
                "additionalProperties": true
            },
            "project_slug": {"type": "string", "description": "Added: the project's canonical slug (gh/…, bb/…, circleci/…)."}
        },
        "additionalProperties": true
    }"#
    ),
    primary_key: &["project_slug", "name"],
    cursor_field: None,
    parent: Some("projects"),
    read: Read::Tree(&TREE, INSIGHTS_WORKFLOWS),
};
