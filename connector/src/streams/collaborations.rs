//! `collaborations`: the organisations the user belongs to
//! (`GET /api/v2/me/collaborations`, a bare array, not paged).

use super::{FULL, StreamDef};
use crate::api::Api;
use crate::error::ConnectorError;
use crate::json;
use crate::model::Page;
use crate::settings::Settings;
use crate::state::State;

const NAME: &str = "collaborations";
const WHAT: &str = "your organisations (/me/collaborations)";

pub const STREAM: StreamDef = StreamDef {
    name: NAME,
    description: "The organisations the API key's user belongs to (GET /api/v2/me/collaborations, not paged), \
one record each, as returned, read in one call. Their slug (gh/acme, bb/acme or circleci/<org-id>) is what \
project discovery and the contexts stream scan when org_slug is not set.",
    notes: &[],
    json_schema: crate::json::minified!(
        r#"{
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "CircleCI collaboration (organisation)",
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": {"type": "string", "description": "The organisation's UUID."},
            "vcs-type": {"type": ["string", "null"], "description": "e.g. github, bitbucket, circleci."},
            "name": {"type": ["string", "null"]},
            "avatar_url": {"type": ["string", "null"]},
            "slug": {"type": ["string", "null"], "description": "e.g. gh/acme or circleci/<org-id>."}
        },
        "additionalProperties": true
    }"#
    ),
    primary_key: &["id"],
    cursor_field: None,
    parent: None,
    sync_modes: FULL,
    fetch,
};

fn fetch(
    api: &mut Api<'_>,
    _settings: &Settings,
    state: Option<State>,
) -> Result<Page, ConnectorError> {
    if state.is_some() {
        return Err(ConnectorError::InvalidState(
            "the collaborations stream is read in one call and never returns a state; pass no state".into(),
        ));
    }
    let body = api.get("/me/collaborations", &[], WHAT)?;
    Ok(Page::full_refresh(json::array(&body, WHAT)?, None))
}
