//! The stream catalog. Each stream is one module exporting a [`StreamDef`]
//! (its spec, record schema and fetch function); adding a stream means
//! adding a module and one line to [`CATALOG`].

use crate::api::Api;
use crate::error::ConnectorError;
use crate::model::{Page, StreamSpec, SyncMode};
use crate::settings::Settings;
use crate::state::State;

pub mod me;
pub mod pipelines;
pub mod projects;

/// Reads one bounded piece of a stream: at most a few requests.
pub type FetchFn = fn(&mut Api<'_>, &Settings, Option<State>) -> Result<Page, ConnectorError>;

/// Everything the connector knows about one stream.
pub struct StreamDef {
    pub name: &'static str,
    pub description: &'static str,
    /// JSON Schema 2020-12 of one record.
    pub json_schema: &'static str,
    pub primary_key: &'static [&'static str],
    pub cursor_field: Option<&'static str>,
    pub parent: Option<&'static str>,
    pub sync_modes: &'static [SyncMode],
    pub fetch: FetchFn,
}

impl StreamDef {
    pub fn spec(&self) -> StreamSpec {
        StreamSpec {
            name: self.name.into(),
            description: self.description.into(),
            json_schema: crate::json::minify(self.json_schema),
            primary_key: self.primary_key.iter().map(|k| k.to_string()).collect(),
            cursor_field: self.cursor_field.map(Into::into),
            parent: self.parent.map(Into::into),
            sync_modes: self.sync_modes.to_vec(),
        }
    }
}

/// All streams, parents before children.
pub const CATALOG: &[&StreamDef] = &[&me::STREAM, &projects::STREAM, &pipelines::STREAM];

/// The stream of that name.
pub fn find(name: &str) -> Option<&'static StreamDef> {
    CATALOG.iter().copied().find(|s| s.name == name)
}

/// The valid stream names, comma-separated, for messages.
pub fn names() -> String {
    CATALOG
        .iter()
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Appended to not-found errors for a configured project.
pub(crate) const PROJECT_404_HINT: &str = "; check the slug, and that the API key is a personal API token \
(project tokens get 404 from API v2)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_is_consistent() {
        for (i, def) in CATALOG.iter().enumerate() {
            let spec = def.spec();
            let schema: serde_json::Value = serde_json::from_str(&spec.json_schema)
                .unwrap_or_else(|e| panic!("{}: schema is not JSON: {e}", def.name));
            assert_eq!(
                schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
                "{}",
                def.name
            );
            assert_eq!(schema["type"], "object", "{}", def.name);
            for key in def.primary_key.iter().chain(def.cursor_field.iter()) {
                assert!(
                    schema["properties"].get(*key).is_some(),
                    "{}: {key} not in schema",
                    def.name
                );
            }
            if let Some(parent) = def.parent {
                let p = CATALOG
                    .iter()
                    .position(|s| s.name == parent)
                    .expect("parent exists");
                assert!(p < i, "{}: parent listed later", def.name);
            }
            assert!(!def.sync_modes.is_empty());
            assert!(!spec.description.is_empty());
            assert!(CATALOG.iter().filter(|s| s.name == def.name).count() == 1);
        }
        assert_eq!(names(), "me, projects, pipelines");
        assert!(find("pipelines").is_some() && find("nope").is_none());
    }
}
