//! `projects`: each project in `project_slugs` (`GET /api/v2/project/{slug}`),
//! one project (one request) per call.

use super::{PROJECT_404_HINT, StreamDef};
use crate::api::Api;
use crate::error::ConnectorError;
use crate::json;
use crate::model::{Page, SyncMode};
use crate::settings::Settings;
use crate::state::{ProjectCursor, State};

const NAME: &str = "projects";

pub const STREAM: StreamDef = StreamDef {
    name: NAME,
    description: "The projects listed in the project_slugs setting (GET /api/v2/project/{slug}), one record \
each. CircleCI API v2 has no endpoint that lists all projects, so they come from the settings. Keyed by the \
project's id, which survives renames and transfers, unlike the slug.",
    json_schema: r#"{
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "CircleCI project",
        "type": "object",
        "required": ["id", "slug"],
        "properties": {
            "id": {"type": "string", "description": "The project's UUID."},
            "slug": {"type": "string", "description": "e.g. gh/acme/api or circleci/<org-id>/<project-id>."},
            "name": {"type": ["string", "null"]},
            "organization_name": {"type": ["string", "null"]},
            "organization_slug": {"type": ["string", "null"]},
            "organization_id": {"type": ["string", "null"]},
            "vcs_info": {
                "type": ["object", "null"],
                "properties": {
                    "vcs_url": {"type": ["string", "null"]},
                    "provider": {"type": ["string", "null"]},
                    "default_branch": {"type": ["string", "null"]}
                },
                "additionalProperties": true
            }
        },
        "additionalProperties": true
    }"#,
    primary_key: &["id"],
    cursor_field: None,
    parent: None,
    sync_modes: &[SyncMode::FullRefresh],
    fetch,
};

fn fetch(
    api: &mut Api<'_>,
    settings: &Settings,
    state: Option<State>,
) -> Result<Page, ConnectorError> {
    let mut cursor = ProjectCursor::resume(state.as_ref(), settings, NAME)?;
    if cursor.page_token.is_some() {
        return Err(ConnectorError::InvalidState(
            "the projects stream does not use page_token; pass no state to start over".into(),
        ));
    }
    let slug = &settings.project_slugs[cursor.index];
    let what = format!("project {slug}");
    let body = api
        .get(&format!("/project/{}", slug.path()), &[], &what)
        .map_err(|e| match e {
            ConnectorError::NotFound(_) => e.with_hint(PROJECT_404_HINT),
            e => e,
        })?;
    let record = json::record(&body, &what)?;
    cursor.index += 1;
    Ok(Page::full_refresh(
        vec![record],
        cursor.to_state(settings, NAME),
    ))
}
