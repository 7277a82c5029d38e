//! `job_details`: the details of every job that has a number
//! (`GET /api/v2/project/{slug}/job/{number}`); the leaf of the CI tree
//! ([`super::project_tree`]). Incremental.

use super::project_tree::{JOB_DETAILS, TREE};
use super::{Read, StreamDef};

pub const STREAM: StreamDef = StreamDef {
    name: "job_details",
    description: "The details of every job (GET /api/v2/project/{slug}/job/{number}), one request per job; records \
are CircleCI's job-details objects as returned plus project_slug, job_id, workflow_id and pipeline_id \
(each added only when absent). Approval jobs are never requested (they have no number and answer 404): the \
page's notices say how many were skipped. A job whose details answer 404 is skipped with a notice. Cursor: \
stopped_at. A later sync reads the details of every job the jobs stream would emit.",
    json_schema: crate::json::minified!(
        r#"{
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "CircleCI job details",
        "type": "object",
        "required": ["number", "project_slug", "job_id", "workflow_id", "pipeline_id"],
        "properties": {
            "number": {"type": "integer", "description": "The job number, unique within the project."},
            "name": {"type": ["string", "null"]},
            "status": {"type": ["string", "null"], "description": "As in the jobs stream (CircleCI may add more)."},
            "web_url": {"type": ["string", "null"]},
            "project": {
                "type": ["object", "null"],
                "properties": {
                    "id": {"type": ["string", "null"]},
                    "slug": {"type": ["string", "null"]},
                    "name": {"type": ["string", "null"]},
                    "external_url": {"type": ["string", "null"]}
                },
                "additionalProperties": true
            },
            "pipeline": {
                "type": ["object", "null"],
                "properties": {"id": {"type": ["string", "null"]}},
                "additionalProperties": true
            },
            "latest_workflow": {
                "type": ["object", "null"],
                "properties": {"id": {"type": ["string", "null"]}, "name": {"type": ["string", "null"]}},
                "additionalProperties": true
            },
            "executor": {
                "type": ["object", "null"],
                "properties": {
                    "resource_class": {"type": ["string", "null"]},
                    "type": {"type": ["string", "null"]}
                },
                "additionalProperties": true
            },
            "parallelism": {"type": ["integer", "null"]},
            "parallel_runs": {
                "type": ["array", "null"],
                "items": {
                    "type": "object",
                    "properties": {"index": {"type": ["integer", "null"]}, "status": {"type": ["string", "null"]}},
                    "additionalProperties": true
                }
            },
            "duration": {"type": ["integer", "null"], "description": "Milliseconds."},
            "created_at": {"type": ["string", "null"], "format": "date-time"},
            "queued_at": {"type": ["string", "null"], "format": "date-time"},
            "started_at": {"type": ["string", "null"], "format": "date-time"},
            "stopped_at": {"type": ["string", "null"], "format": "date-time"},
            "messages": {
                "type": ["array", "null"],
                "items": {
                    "type": "object",
                    "properties": {
                        "type": {"type": ["string", "null"]},
                        "message": {"type": ["string", "null"]},
                        "reason": {"type": ["string", "null"]}
                    },
                    "additionalProperties": true
                }
            },
            "contexts": {
                "type": ["array", "null"],
                "items": {"type": "object", "properties": {"name": {"type": ["string", "null"]}}, "additionalProperties": true}
            },
            "organization": {
                "type": ["object", "null"],
                "properties": {"name": {"type": ["string", "null"]}},
                "additionalProperties": true
            },
            "project_slug": {"type": "string", "description": "Added: the project's canonical slug (gh/…, bb/…, circleci/…)."},
            "job_id": {"type": "string", "description": "Added: the job's UUID (id in the jobs stream)."},
            "workflow_id": {"type": "string", "description": "Added: the UUID of the workflow the job was listed in."},
            "pipeline_id": {"type": "string", "description": "Added: the UUID of that workflow's pipeline."}
        },
        "additionalProperties": true
    }"#
    ),
    primary_key: &["project_slug", "number"],
    cursor_field: Some("stopped_at"),
    parent: Some("jobs"),
    read: Read::Tree(&TREE, JOB_DETAILS),
};
