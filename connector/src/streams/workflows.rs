//! `workflows`: the workflows of every pipeline
//! (`GET /api/v2/pipeline/{id}/workflow`); the second level of the CI tree
//! ([`super::tree`]). Incremental.

use super::tree::{CiTree, Target};
use super::{FULL_AND_INCREMENTAL, INCREMENTAL_NOTE, PROJECTS_NOTE, StreamDef};
use crate::api::Api;
use crate::error::ConnectorError;
use crate::model::Page;
use crate::settings::Settings;
use crate::state::State;

const NAME: &str = "workflows";

pub const STREAM: StreamDef = StreamDef {
    name: NAME,
    description: "The workflows of every pipeline of each project (GET /api/v2/pipeline/{id}/workflow), read pipeline \
by pipeline, newest first; records are CircleCI's workflow objects as returned (they carry pipeline_id and \
project_slug). Cursor: stopped_at. A later sync emits a workflow created or stopped after as_of.",
    notes: &[PROJECTS_NOTE, INCREMENTAL_NOTE],
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
    sync_modes: FULL_AND_INCREMENTAL,
    fetch,
};

fn fetch(
    api: &mut Api<'_>,
    settings: &Settings,
    state: Option<State>,
) -> Result<Page, ConnectorError> {
    crate::engine::fetch(api, settings, state, NAME, &CiTree(Target::Workflows))
}
