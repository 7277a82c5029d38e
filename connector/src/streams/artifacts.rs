//! `artifacts`: the artifacts of every job that has a number
//! (`GET /api/v2/project/{slug}/{number}/artifacts`); a leaf of the CI tree
//! ([`super::tree`]). Incremental.

use super::tree::{CiTree, Target};
use super::{FULL_AND_INCREMENTAL, INCREMENTAL_NOTE, PROJECTS_NOTE, StreamDef};
use crate::api::Api;
use crate::error::ConnectorError;
use crate::model::Page;
use crate::settings::Settings;
use crate::state::State;

const NAME: &str = "artifacts";

pub const STREAM: StreamDef = StreamDef {
    name: NAME,
    description: "The artifacts of every job (GET /api/v2/project/{slug}/{number}/artifacts), every page; records are \
CircleCI's artifact objects as returned plus project_slug, job_number and job_id (each added only when \
absent). The url points at another host and is not fetched. Approval jobs are never requested: the page's \
notices say how many were skipped. A later sync reads the artifacts of every job the jobs stream would emit \
that is finished (a running job's artifacts are read once it ends).",
    notes: &[PROJECTS_NOTE, INCREMENTAL_NOTE],
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
    sync_modes: FULL_AND_INCREMENTAL,
    fetch,
};

fn fetch(
    api: &mut Api<'_>,
    settings: &Settings,
    state: Option<State>,
) -> Result<Page, ConnectorError> {
    crate::engine::fetch(api, settings, state, NAME, &CiTree(Target::Artifacts))
}
