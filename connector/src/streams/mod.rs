//! The stream catalog. Each stream is one module exporting a [`StreamDef`]:
//! its name, description, record schema, keys and how it is read ([`Read`]);
//! adding a stream means adding a module and one line to [`CATALOG`].
//!
//! Streams that fan out are [`crate::engine::Tree`]s: [`tree`] is the CI
//! tree (projects → pipelines → workflows → jobs → details, tests,
//! artifacts) shared by six streams; `projects`, `contexts`,
//! `context_environment_variables`, `insights_workflows` and
//! `insights_workflow_runs` define their own small trees. `me` and
//! `collaborations` are a single request each. What a tree implies is not
//! restated per stream: its sync modes, and the notes its description ends
//! with, follow from whether it is rooted at projects and incremental.

use crate::api::Api;
use crate::engine::Tree;
use crate::error::ConnectorError;
use crate::json;
use crate::model::{Page, StreamSpec, SyncMode};
use crate::settings::Settings;
use crate::state::State;

pub mod artifacts;
pub mod collaborations;
pub mod context_environment_variables;
pub mod contexts;
pub mod insights_workflow_runs;
pub mod insights_workflows;
pub mod job_details;
pub mod jobs;
pub mod me;
pub mod pipelines;
pub mod projects;
pub mod tests;
pub mod tree;
pub mod workflows;

/// How a stream is read.
pub enum Read {
    /// Walked by the traversal engine ([`crate::engine::fetch`]), one
    /// bounded piece per call.
    Tree(&'static dyn Tree),
    /// One unpaged `GET path`, read in one call, never with a state. `what`
    /// names it in messages.
    Single {
        path: &'static str,
        what: &'static str,
        answer: Answer,
    },
}

/// What a [`Read::Single`] request answers.
pub enum Answer {
    /// One object: the stream's one record.
    Object,
    /// A bare array of objects: one record each.
    Array,
}

/// Everything the connector knows about one stream.
pub struct StreamDef {
    pub name: &'static str,
    pub description: &'static str,
    /// JSON Schema 2020-12 of one record, compact (see [`crate::json::minified`]).
    pub json_schema: &'static str,
    pub primary_key: &'static [&'static str],
    pub cursor_field: Option<&'static str>,
    pub parent: Option<&'static str>,
    pub read: Read,
}

impl StreamDef {
    pub fn spec(&self) -> StreamSpec {
        StreamSpec {
            name: self.name.into(),
            description: self
                .notes()
                .fold(self.description.to_string(), |d, note| d + " " + note),
            json_schema: self.json_schema.into(),
            primary_key: self.primary_key.iter().map(|k| k.to_string()).collect(),
            cursor_field: self.cursor_field.map(Into::into),
            parent: self.parent.map(Into::into),
            sync_modes: self.sync_modes().to_vec(),
        }
    }

    /// Full refresh; and incremental, with the cursor of the final state,
    /// for an incremental tree.
    pub fn sync_modes(&self) -> &'static [SyncMode] {
        if self.incremental() {
            &[SyncMode::FullRefresh, SyncMode::Incremental]
        } else {
            &[SyncMode::FullRefresh]
        }
    }

    /// The shared paragraphs appended to the description: where projects
    /// come from (project-rooted trees), how incremental syncs read
    /// (incremental trees).
    fn notes(&self) -> impl Iterator<Item = &'static str> {
        let projects = matches!(self.read, Read::Tree(tree) if tree.projects());
        [
            (projects, PROJECTS_NOTE),
            (self.incremental(), INCREMENTAL_NOTE),
        ]
        .into_iter()
        .filter_map(|(on, note)| on.then_some(note))
    }

    /// Whether the stream keeps a cursor between syncs.
    fn incremental(&self) -> bool {
        matches!(self.read, Read::Tree(tree) if tree.incremental())
    }

    /// Reads one bounded piece of the stream: at most a few requests.
    /// `skip_failing`: see [`crate::engine::fetch`]; a single request is no
    /// item to skip, so it fails again.
    pub fn fetch(
        &self,
        api: &mut Api<'_>,
        settings: &Settings,
        state: Option<State>,
        skip_failing: Option<&str>,
    ) -> Result<Page, ConnectorError> {
        let (path, what, answer) = match &self.read {
            Read::Tree(tree) => {
                return crate::engine::fetch(api, settings, state, self.name, *tree, skip_failing);
            }
            Read::Single { path, what, answer } => (*path, *what, answer),
        };
        if let Some(why) = skip_failing {
            return Err(ConnectorError::Unavailable(crate::error::RetryHint {
                retry_after_ms: None,
                message: format!(
                    "{why} (the {} stream is one request: nothing to skip)",
                    self.name
                ),
            }));
        }
        if state.is_some() {
            return Err(ConnectorError::InvalidState(format!(
                "the {} stream is read in one call and never returns a state; pass no state",
                self.name
            )));
        }
        let body = api.get(path, &[], what)?;
        let records = match answer {
            Answer::Object => vec![json::record(&body, what)?],
            Answer::Array => json::array(&body, what)?,
        };
        Ok(Page::full_refresh(records, None))
    }
}

/// All streams, parents before children.
pub const CATALOG: &[&StreamDef] = &[
    &me::STREAM,
    &collaborations::STREAM,
    &projects::STREAM,
    &pipelines::STREAM,
    &workflows::STREAM,
    &jobs::STREAM,
    &job_details::STREAM,
    &artifacts::STREAM,
    &tests::STREAM,
    &contexts::STREAM,
    &context_environment_variables::STREAM,
    &insights_workflows::STREAM,
    &insights_workflow_runs::STREAM,
];

/// What the project-rooted streams' descriptions end with: where projects
/// come from. Stored once, appended by [`StreamDef::spec`].
const PROJECTS_NOTE: &str = "Projects: those in the project_slugs setting (gh/org/repo, \
bb/org/repo, github/…, bitbucket/…, circleci/<org-id>/<project-id>; a / may be written %2F); without it \
they are discovered: the organisations are org_slug, else every organisation of /me/collaborations, each \
scanned through GET /pipeline?org-slug={org} (pipelines of the projects the user follows, newest first) back \
to start_date, else over its newest 1,000 pipelines; the distinct project_slugs seen are the projects. A \
project with no pipeline in that window is not discovered: name it in project_slugs to be exhaustive.";

/// What the incremental streams' descriptions end with.
const INCREMENTAL_NOTE: &str = "Incremental: the final state's cursor holds, per project, the \
newest pipeline seen (hwm) and the oldest one still unfinished (lwm), plus as_of; a sync given it reads \
each project's pipelines back to min(lwm, hwm) only, and emits only what is new or changed since.";

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

#[cfg(test)]
mod catalog_tests {
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
            assert!(!def.sync_modes().is_empty());
            assert_eq!(schema["additionalProperties"], true, "{}", def.name);
            assert_eq!(def.json_schema, crate::json::minify(def.json_schema));
            assert!(!spec.description.is_empty());
            assert!(CATALOG.iter().filter(|s| s.name == def.name).count() == 1);
        }
        assert_eq!(
            names(),
            "me, collaborations, projects, pipelines, workflows, jobs, job_details, artifacts, tests, \
             contexts, context_environment_variables, insights_workflows, insights_workflow_runs"
        );
        assert!(find("pipelines").is_some() && find("nope").is_none());
    }
}
