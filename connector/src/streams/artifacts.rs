//! `artifacts`: the artifacts of every job that has a number
//! (`GET /api/v2/project/{slug}/{number}/artifacts`); a leaf of the CI tree
//! ([`super::project_tree`]). Incremental.

use super::project_tree::{ARTIFACTS, TREE};
use super::{Read, StreamDef};

pub const STREAM: StreamDef = StreamDef {
    name: "artifacts",
    description: "The artifacts of every job (GET /api/v2/project/{slug}/{number}/artifacts), every page; records are \
CircleCI's artifact objects as returned plus project_slug, job_number and job_id (each added only when \
absent). The url points at another host and is not fetched. Approval jobs are never requested: the page's \
notices say how many were skipped. A later sync reads the artifacts of every job the jobs stream would emit \
that is finished (a running job's artifacts are read once it ends).",
    json_schema: crate::json::minified!(
        r#"{
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "CircleCI job artifact",
        "type": "object",
        "required": ["path", "node_index", "project_slug", "job_number", "job_id"],
        "properties": {
            "path": {"type": "string"},
            "node_index": {"type": "integer", "description": "The parallel run that produced it."},
            "url": {"type": ["string", "null"], "description": "Download URL (another host; needs the API key)."},
            "project_slug": {"type": "string", "description": "Added: the project's canonical slug (gh/…, bb/…, circleci/…)."},
            "job_number": {"type": "integer", "description": "Added: the job's number."},
            "job_id": {"type": "string", "description": "Added: the job's UUID (id in the jobs stream)."}
        },
        "additionalProperties": true
    }"#
    ),
    primary_key: &["project_slug", "job_number", "node_index", "path"],
    cursor_field: None,
    parent: Some("jobs"),
    read: Read::Tree(&TREE, ARTIFACTS),
};
