//! `pipelines`: every pipeline of each project in `project_slugs`
//! (`GET /api/v2/project/{slug}/pipeline`), one page (one request) per call.

use super::{PROJECT_404_HINT, StreamDef};
use crate::api::Api;
use crate::error::ConnectorError;
use crate::json;
use crate::model::{Page, SyncMode};
use crate::settings::Settings;
use crate::state::{MAX_TOKEN_LEN, ProjectCursor, State};

const NAME: &str = "pipelines";

pub const STREAM: StreamDef = StreamDef {
    name: NAME,
    description: "Every pipeline of each project in the project_slugs setting \
(GET /api/v2/project/{slug}/pipeline), newest first, one page of about 20 per call. Full refresh for now; \
updated_at is the cursor field for incremental sync.",
    json_schema: r#"{
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "CircleCI pipeline",
        "type": "object",
        "required": ["id", "project_slug", "number", "state", "created_at"],
        "properties": {
            "id": {"type": "string", "description": "The pipeline's UUID."},
            "project_slug": {"type": "string"},
            "number": {"type": "integer"},
            "state": {
                "type": "string",
                "description": "created, errored, setup-pending, setup or pending."
            },
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": ["string", "null"], "format": "date-time"},
            "errors": {
                "type": ["array", "null"],
                "items": {
                    "type": "object",
                    "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
                    "additionalProperties": true
                }
            },
            "trigger": {
                "type": ["object", "null"],
                "properties": {
                    "type": {"type": ["string", "null"]},
                    "received_at": {"type": ["string", "null"], "format": "date-time"},
                    "actor": {
                        "type": ["object", "null"],
                        "properties": {
                            "login": {"type": ["string", "null"]},
                            "avatar_url": {"type": ["string", "null"]}
                        },
                        "additionalProperties": true
                    }
                },
                "additionalProperties": true
            },
            "vcs": {
                "type": ["object", "null"],
                "properties": {
                    "provider_name": {"type": ["string", "null"]},
                    "target_repository_url": {"type": ["string", "null"]},
                    "origin_repository_url": {"type": ["string", "null"]},
                    "branch": {"type": ["string", "null"]},
                    "tag": {"type": ["string", "null"]},
                    "revision": {"type": ["string", "null"]},
                    "review_id": {"type": ["string", "null"]},
                    "review_url": {"type": ["string", "null"]},
                    "commit": {
                        "type": ["object", "null"],
                        "properties": {
                            "subject": {"type": ["string", "null"]},
                            "body": {"type": ["string", "null"]}
                        },
                        "additionalProperties": true
                    }
                },
                "additionalProperties": true
            },
            "trigger_parameters": {
                "type": ["object", "null"],
                "description": "Parameters of the trigger (e.g. git, webhook); free-form.",
                "additionalProperties": true
            }
        },
        "additionalProperties": true
    }"#,
    primary_key: &["id"],
    cursor_field: Some("updated_at"),
    parent: Some("projects"),
    sync_modes: &[SyncMode::FullRefresh],
    fetch,
};

fn fetch(
    api: &mut Api<'_>,
    settings: &Settings,
    state: Option<State>,
) -> Result<Page, ConnectorError> {
    let mut cursor = ProjectCursor::resume(state.as_ref(), settings, NAME)?;
    let slug = &settings.project_slugs[cursor.index];
    let what = format!("pipelines of project {slug}");
    let query: &[(&str, &str)] = match &cursor.page_token {
        Some(token) => &[("page-token", token.as_str())],
        None => &[],
    };
    let body = api.get(&format!("/project/{}/pipeline", slug.path()), query, &what).map_err(|e| match e {
        // CircleCI sometimes forgets a page token mid-scan and answers 404.
        ConnectorError::NotFound(_) if cursor.page_token.is_some() => e.with_hint(
            "; the page token in the state may have expired: pass no state to read the stream from the start",
        ),
        ConnectorError::NotFound(_) => e.with_hint(PROJECT_404_HINT),
        e => e,
    })?;
    let page = json::list_page(&body, &what)?;
    match page.next_page_token {
        Some(next) if Some(&next) == cursor.page_token.as_ref() => {
            return Err(ConnectorError::BadResponse(format!(
                "CircleCI sent the same next_page_token again for {what}; stopping rather than looping"
            )));
        }
        Some(next) if next.len() > MAX_TOKEN_LEN => {
            return Err(ConnectorError::BadResponse(format!(
                "the next_page_token for {what} is longer than {MAX_TOKEN_LEN} bytes"
            )));
        }
        Some(next) => cursor.page_token = Some(next),
        None => {
            cursor.index += 1;
            cursor.page_token = None;
        }
    }
    Ok(Page::full_refresh(
        page.items,
        cursor.to_state(settings, NAME),
    ))
}
