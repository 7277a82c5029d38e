//! The stream catalog. Each stream is one module exporting a [`StreamDef`]:
//! its name, description, record schema, keys and how it is read ([`Read`]);
//! adding a stream means adding a module and one line to [`CATALOG`].
//!
//! Streams that fan out are slots of a [`crate::walk::CiTree`], and the
//! streams of one tree are read together, in one walk: [`project_tree`]
//! holds every stream rooted at projects (projects, pipelines → workflows →
//! jobs → details, artifacts, tests; insights workflows → runs), the
//! organisation tree of [`contexts`] holds contexts and their environment
//! variables. `me` and `collaborations` are a single request each. What a
//! tree implies is not restated per stream: its sync modes, and the notes
//! its description ends with, follow from whether it is rooted at projects
//! and whether the stream is incremental.

use crate::api::Api;
use crate::error::{ConnectorError, quote};
use crate::json;
use crate::model::{FetchRequest, Page, StreamRecord, StreamSpec, SyncMode};
use crate::settings::Settings;
use crate::walk::CiTree;

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
pub mod project_tree;
pub mod projects;
pub mod tests;
pub mod workflows;

/// How a stream is read.
pub enum Read {
    /// The records of a tree's slot, walked by the traversal engine
    /// ([`crate::walk::fetch`]), one bounded piece per call.
    Tree(&'static dyn CiTree, usize),
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

    /// Full refresh; and incremental, with a cursor, for the streams of a
    /// tree that keep one.
    pub fn sync_modes(&self) -> &'static [SyncMode] {
        if self.incremental() {
            &[SyncMode::FullRefresh, SyncMode::Incremental]
        } else {
            &[SyncMode::FullRefresh]
        }
    }

    /// The shared paragraphs appended to the description: where projects
    /// come from (project-rooted trees), how incremental syncs read
    /// (incremental streams).
    fn notes(&self) -> impl Iterator<Item = &'static str> {
        let projects = matches!(self.read, Read::Tree(tree, _) if tree.projects());
        [
            (projects, PROJECTS_NOTE),
            (self.incremental(), INCREMENTAL_NOTE),
        ]
        .into_iter()
        .filter_map(|(on, note)| on.then_some(note))
    }

    /// Whether the stream keeps a cursor between syncs.
    pub fn incremental(&self) -> bool {
        matches!(self.read, Read::Tree(tree, slot) if tree.incremental(slot))
    }
}

/// Reads one bounded piece of the request's streams: one single-request
/// stream, or streams of one tree, walked together. The request's streams
/// were checked by [`resolve`].
pub fn fetch(
    api: &mut Api<'_>,
    settings: &Settings,
    defs: &[&'static StreamDef],
    request: &FetchRequest,
) -> Result<Page, ConnectorError> {
    let (path, what, answer) = match defs {
        [
            StreamDef {
                read: Read::Single { path, what, answer },
                name,
                ..
            },
        ] => {
            if let Some(why) = &request.skip_failing {
                return Err(ConnectorError::Unavailable(crate::error::RetryHint {
                    retry_after_ms: None,
                    message: format!("{why} (the {name} stream is one request: nothing to skip)"),
                }));
            }
            let cursor = request.cursors.first().is_some_and(Option::is_some);
            if request.state.is_some() || cursor {
                return Err(ConnectorError::InvalidState(format!(
                    "the {name} stream is read in one call and keeps nothing between calls; pass no \
                     state and no cursor"
                )));
            }
            (*path, *what, answer)
        }
        _ => {
            let Some(Read::Tree(tree, _)) = defs.first().map(|d| &d.read) else {
                unreachable!("resolve() checked the request");
            };
            // Each stream's slot in the tree; the engine checks the
            // cursors and the state against it.
            let slots: Vec<usize> = defs
                .iter()
                .map(|def| match def.read {
                    Read::Tree(_, slot) => slot,
                    Read::Single { .. } => unreachable!("resolve() checked the request"),
                })
                .collect();
            return crate::walk::fetch(api, settings, *tree, &slots, request);
        }
    };
    let body = api.get(path, &[], what)?;
    let records = match answer {
        Answer::Object => vec![json::record(&body, what)?],
        Answer::Array => json::array(&body, what)?,
    };
    Ok(Page {
        records: records
            .into_iter()
            .map(|r| StreamRecord {
                stream: 0,
                data: r.text,
            })
            .collect(),
        cursors: vec![None],
        ..Page::default()
    })
}

/// The streams a request names, checked before any request: each known,
/// none twice, and either one single-request stream or streams of one
/// tree.
pub fn resolve(request: &FetchRequest) -> Result<Vec<&'static StreamDef>, ConnectorError> {
    let invalid = ConnectorError::InvalidSettings;
    if request.streams.is_empty() {
        return Err(invalid(format!(
            "the request names no stream; the valid streams are {}",
            names()
        )));
    }
    let mut defs: Vec<&'static StreamDef> = Vec::with_capacity(request.streams.len());
    for name in &request.streams {
        let def = find(name).ok_or_else(|| {
            invalid(format!(
                "unknown stream `{}`; the valid streams are {}",
                quote(name, 64),
                names()
            ))
        })?;
        if defs.iter().any(|d| d.name == def.name) {
            return Err(invalid(format!("the stream {} is named twice", def.name)));
        }
        defs.push(def);
    }
    if defs.len() > 1 {
        let root = |d: &StreamDef| match d.read {
            Read::Tree(tree, _) => Some(tree.streams()[0]),
            Read::Single { .. } => None,
        };
        let first = root(defs[0]);
        if let Some(other) = defs.iter().find(|d| root(d).is_none() || root(d) != first) {
            return Err(invalid(format!(
                "the streams {} and {} cannot be read in one walk: streams are read together only \
                 when they have the same root (follow `parent` to a stream without one); read them \
                 in separate requests",
                defs[0].name, other.name
            )));
        }
    }
    if !request.cursors.is_empty() && request.cursors.len() != defs.len() {
        return Err(ConnectorError::InvalidState(format!(
            "the request has {} cursor(s) for {} stream(s): pass one per stream (none for a stream \
             read in full), or none at all",
            request.cursors.len(),
            defs.len()
        )));
    }
    Ok(defs)
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
const INCREMENTAL_NOTE: &str = "Incremental: the stream's cursor (returned when a sync ends) holds, \
per project, the newest pipeline seen (hwm) and the oldest one still unfinished (lwm), plus as_of; a sync \
given it reads each project's pipelines back to lookback_days before hwm only (a stream without a cursor \
read in the same walk may read further), and emits only what is new or changed since.";

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
