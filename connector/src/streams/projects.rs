//! `projects`: each project (`GET /api/v2/project/{slug}`), from
//! `project_slugs` or discovered.

use super::{Read, StreamDef};
use crate::engine::{At, Cx, On404, PROJECT_404_HINT, Req, Root, Tree};
use crate::error::ConnectorError;
use crate::state::Item;

pub const STREAM: StreamDef = StreamDef {
    name: "projects",
    description: "Each project (GET /api/v2/project/{slug}), one record each, as returned. CircleCI API v2 has no \
endpoint that lists all projects. Keyed by the project's id, which survives renames and transfers, unlike \
the slug.",
    json_schema: crate::json::minified!(
        r#"{
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
    }"#
    ),
    primary_key: &["id"],
    cursor_field: None,
    parent: None,
    read: Read::Tree(&Projects),
};

/// One object per project.
struct Projects;

impl Tree for Projects {
    fn projects(&self) -> bool {
        true
    }

    fn depth(&self) -> usize {
        1
    }

    fn request(&self, _level: usize, root: &Root, _heads: &[Item]) -> Req {
        Req {
            object: true,
            on_404: On404::Hint(PROJECT_404_HINT),
            ..Req::list(
                format!("/project/{}", root.path),
                format!("project {}", root.name),
            )
        }
    }

    fn page(&self, _at: &At<'_>, items: &[String], cx: &mut Cx<'_>) -> Result<(), ConnectorError> {
        cx.records.extend_from_slice(items);
        Ok(())
    }
}
