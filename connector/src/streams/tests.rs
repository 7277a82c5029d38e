//! `tests`: the test results of every job that has a number
//! (`GET /api/v2/project/{slug}/{number}/tests`); a leaf of the CI tree
//! ([`super::project_tree`]). Incremental.

use super::project_tree::{TESTS, TREE};
use super::{Read, StreamDef};

pub const STREAM: StreamDef = StreamDef {
    name: "tests",
    description: "The test results of every job (GET /api/v2/project/{slug}/{number}/tests), every page; records are \
CircleCI's test objects as returned plus project_slug, job_number, job_id and test_index, the 0-based \
position in the job's list across pages (each added only when absent). Approval jobs are never requested: \
the page's notices say how many were skipped. A later sync reads the tests of every job the jobs stream \
would emit that is finished (a running job's tests are read once it ends).",
    json_schema: crate::json::minified!(
        r#"{
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "CircleCI test result",
        "type": "object",
        "required": ["project_slug", "job_number", "job_id", "test_index"],
        "properties": {
            "message": {"type": ["string", "null"]},
            "source": {"type": ["string", "null"]},
            "run_time": {"type": ["number", "null"], "description": "Seconds."},
            "file": {"type": ["string", "null"]},
            "result": {"type": ["string", "null"], "description": "e.g. success, failure, skipped."},
            "name": {"type": ["string", "null"]},
            "classname": {"type": ["string", "null"]},
            "project_slug": {"type": "string", "description": "Added: the project's canonical slug (gh/…, bb/…, circleci/…)."},
            "job_number": {"type": "integer", "description": "Added: the job's number."},
            "job_id": {"type": "string", "description": "Added: the job's UUID (id in the jobs stream)."},
            "test_index": {"type": "integer", "minimum": 0, "description": "Added: 0-based position in the job's list of tests."}
        },
        "additionalProperties": true
    }"#
    ),
    primary_key: &["project_slug", "job_number", "test_index"],
    cursor_field: None,
    parent: Some("jobs"),
    read: Read::Tree(&TREE, TESTS),
};
