//! `jobs`: the jobs of every workflow (`GET /api/v2/workflow/{id}/job`);
//! the third level of the CI tree ([`super::project_tree`]). Incremental.

use super::project_tree::{JOBS, TREE};
use super::{Read, StreamDef};

pub const STREAM: StreamDef = StreamDef {
    name: "jobs",
    description: "The jobs of every workflow of every pipeline of each project (GET /api/v2/workflow/{id}/job); \
records are CircleCI's job objects as returned plus workflow_id, pipeline_id and project_slug (each added \
only when absent). Approval jobs are included (type approval, no job_number). A workflow deleted between \
listing and reading (404) is skipped with a notice. Cursor: stopped_at. A later sync emits a job whose \
workflow is new, or that started or stopped after as_of, or that has neither timestamp (approval jobs, jobs \
that never ran) when its workflow was created or stopped after as_of.",
    json_schema: crate::json::minified!(
        r#"{
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "CircleCI job (in a workflow)",
        "type": "object",
        "required": ["id", "status", "workflow_id", "pipeline_id", "project_slug"],
        "properties": {
            "id": {"type": "string", "description": "The job's UUID."},
            "job_number": {"type": ["integer", "null"], "description": "Absent on approval jobs."},
            "name": {"type": ["string", "null"]},
            "type": {"type": ["string", "null"], "description": "build or approval."},
            "status": {
                "type": "string",
                "description": "e.g. success, running, not_run, failed, queued, not_running, blocked, on_hold, canceled, unauthorized, infrastructure_fail, timedout, terminated-unknown (CircleCI may add more)."
            },
            "dependencies": {"type": ["array", "null"], "items": {"type": "string"}},
            "started_at": {"type": ["string", "null"], "format": "date-time"},
            "stopped_at": {"type": ["string", "null"], "format": "date-time"},
            "approved_by": {"type": ["string", "null"]},
            "canceled_by": {"type": ["string", "null"]},
            "approval_request_id": {"type": ["string", "null"]},
            "requires": {"type": ["object", "array", "null"]},
            "project_slug": {"type": "string", "description": "From CircleCI, or added: the project's canonical slug (gh/…, bb/…, circleci/…)."},
            "workflow_id": {"type": "string", "description": "Added: the UUID of the job's workflow."},
            "pipeline_id": {"type": "string", "description": "Added: the UUID of the workflow's pipeline."}
        },
        "additionalProperties": true
    }"#
    ),
    primary_key: &["id"],
    cursor_field: Some("stopped_at"),
    parent: Some("workflows"),
    read: Read::Tree(&TREE, JOBS),
};
