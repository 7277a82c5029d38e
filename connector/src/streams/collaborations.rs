//! `collaborations`: the organisations the user belongs to
//! (`GET /api/v2/me/collaborations`, a bare array, not paged).

use super::{Answer, Read, StreamDef};

pub const STREAM: StreamDef = StreamDef {
    name: "collaborations",
    description: "The organisations the API key's user belongs to (GET /api/v2/me/collaborations, not paged), \
one record each, as returned, read in one call. Their slug (gh/acme, bb/acme or circleci/<org-id>) is what \
project discovery and the contexts stream scan when org_slug is not set.",
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
    read: Read::Single {
        path: "/me/collaborations",
        what: "your organisations (/me/collaborations)",
        answer: Answer::Array,
    },
};
