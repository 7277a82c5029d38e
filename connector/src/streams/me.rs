//! `me`: the account the API key belongs to (`GET /api/v2/me`). Also backs
//! `validate`.

use super::{Answer, Read, StreamDef};
use crate::api::Api;
use crate::error::ConnectorError;
use crate::json;
use crate::model::Account;

const PATH: &str = "/me";
const WHAT: &str = "the account (/me)";

pub const STREAM: StreamDef = StreamDef {
    name: "me",
    description: "The CircleCI user the API key belongs to (GET /api/v2/me). One record, read in one call.",
    json_schema: crate::json::minified!(
        r#"{
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "CircleCI user",
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": {"type": "string", "description": "The user's UUID."},
            "login": {"type": ["string", "null"], "description": "The VCS login."},
            "name": {"type": ["string", "null"], "description": "The display name."},
            "avatar_url": {"type": ["string", "null"]}
        },
        "additionalProperties": true
    }"#
    ),
    primary_key: &["id"],
    cursor_field: None,
    parent: None,
    read: Read::Single {
        path: PATH,
        what: WHAT,
        answer: Answer::Object,
    },
};

/// Whose the key is: `id`, `login` (else `name`, else the id), and the
/// `/me` object itself.
pub fn account(api: &mut Api<'_>) -> Result<Account, ConnectorError> {
    let body = api.get(PATH, &[], WHAT)?;
    let fields = json::object(&body, WHAT)?;
    let id = json::string_field(&fields, "id")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            ConnectorError::BadResponse(format!("the answer for {WHAT} has no string `id`"))
        })?;
    let name = ["login", "name"]
        .iter()
        .filter_map(|k| json::string_field(&fields, k))
        .find(|n| !n.is_empty())
        .unwrap_or_else(|| id.clone());
    Ok(Account {
        id,
        name,
        details: json::record(&body, WHAT)?.text,
    })
}
