//! Maps a raw request path to an endpoint.
//!
//! Routing works on the path as received (percent-encoding preserved) so it can tell an empty segment
//! (`/project//pipeline`, which CircleCI answers with 500) from an escaped slash (`gh%2Facme%2Fwidgets`,
//! which names the same project as `gh/acme/widgets`). Segments are decoded, then split again on `/`,
//! so a project slug is always three segments whichever of its separators were escaped.

use super::codec::percent_decode;
use super::slug::ProjectSlug;

/// The API prefix every endpoint lives under.
pub const API_PREFIX: &str = "/api/v2";

/// An endpoint, with its decoded path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /me`
    Me,
    /// `GET /project/{slug}`; `None` when the slug cannot name any project (e.g. `gitlab/a/b`).
    Project(Option<ProjectSlug>),
    /// `GET /project/{slug}/pipeline`
    ProjectPipelines(Option<ProjectSlug>),
    /// `GET /me/collaborations`
    Collaborations,
    /// `GET /pipeline` (pipelines of an organisation's followed projects)
    Pipelines,
    /// `GET /pipeline/{id}`
    Pipeline(String),
    /// `GET /pipeline/{id}/workflow`
    PipelineWorkflows(String),
    /// `GET /workflow/{id}`
    Workflow(String),
    /// `GET /workflow/{id}/job`
    WorkflowJobs(String),
    /// `GET /project/{slug}/job/{number}`
    JobDetails(Option<ProjectSlug>, String),
    /// `GET /project/{slug}/{number}/artifacts`
    Artifacts(Option<ProjectSlug>, String),
    /// `GET /project/{slug}/{number}/tests`
    Tests(Option<ProjectSlug>, String),
    /// `GET /context`
    Contexts,
    /// `GET /context/{id}/environment-variable`
    ContextVariables(String),
    /// `GET /insights/{slug}/workflows`
    InsightsWorkflows(Option<ProjectSlug>),
    /// `GET /insights/{slug}/workflows/{name}`
    InsightsRuns(Option<ProjectSlug>, String),
}

/// Why a path has no endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    /// Outside `/api/v2`: answered 404 before any authentication.
    NotUnderApi,
    /// An empty segment inside the path (`//`): CircleCI's router fails on it with a 500.
    EmptySegment,
    /// No such endpoint (404 "Not Found").
    NotFound,
}

pub fn route(raw_path: &str) -> Result<Route, RouteError> {
    let rest = raw_path
        .strip_prefix(API_PREFIX)
        .ok_or(RouteError::NotUnderApi)?;
    let rest = match rest {
        "" | "/" => return Err(RouteError::NotFound),
        rest => rest.strip_prefix('/').ok_or(RouteError::NotUnderApi)?,
    };
    // A single trailing slash is just an unknown route; an empty segment anywhere else is the 500 trap.
    let (rest, trailing_slash) = match rest.strip_suffix('/') {
        Some(trimmed) => (trimmed, true),
        None => (rest, false),
    };
    let raw_segments: Vec<&str> = rest.split('/').collect();
    if raw_segments.iter().any(|s| s.is_empty()) {
        return Err(RouteError::EmptySegment);
    }
    if trailing_slash {
        return Err(RouteError::NotFound);
    }

    let mut decoded = Vec::with_capacity(raw_segments.len());
    for raw in raw_segments {
        let segment = percent_decode(raw).ok_or(RouteError::NotFound)?;
        decoded.extend(segment.split('/').map(str::to_owned));
    }
    let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();

    let slug = ProjectSlug::from_segments;
    let owned = |s: &str| s.to_owned();
    match segments.as_slice() {
        ["me"] => Ok(Route::Me),
        ["me", "collaborations"] => Ok(Route::Collaborations),
        ["project", vcs, org, repo] => Ok(Route::Project(slug(vcs, org, repo))),
        ["project", vcs, org, repo, "pipeline"] => {
            Ok(Route::ProjectPipelines(slug(vcs, org, repo)))
        }
        ["project", vcs, org, repo, "job", number] => {
            Ok(Route::JobDetails(slug(vcs, org, repo), owned(number)))
        }
        ["project", vcs, org, repo, number, "artifacts"] => {
            Ok(Route::Artifacts(slug(vcs, org, repo), owned(number)))
        }
        ["project", vcs, org, repo, number, "tests"] => {
            Ok(Route::Tests(slug(vcs, org, repo), owned(number)))
        }
        ["pipeline"] => Ok(Route::Pipelines),
        ["pipeline", id] => Ok(Route::Pipeline(owned(id))),
        ["pipeline", id, "workflow"] => Ok(Route::PipelineWorkflows(owned(id))),
        ["workflow", id] => Ok(Route::Workflow(owned(id))),
        ["workflow", id, "job"] => Ok(Route::WorkflowJobs(owned(id))),
        ["context"] => Ok(Route::Contexts),
        ["context", id, "environment-variable"] => Ok(Route::ContextVariables(owned(id))),
        ["insights", vcs, org, repo, "workflows"] => {
            Ok(Route::InsightsWorkflows(slug(vcs, org, repo)))
        }
        ["insights", vcs, org, repo, "workflows", name] => {
            Ok(Route::InsightsRuns(slug(vcs, org, repo), owned(name)))
        }
        _ => Err(RouteError::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slug(text: &str) -> Option<ProjectSlug> {
        ProjectSlug::parse(text)
    }

    #[test]
    fn routes_every_slug_form() {
        assert_eq!(route("/api/v2/me"), Ok(Route::Me));
        for path in [
            "/api/v2/project/gh/acme/widgets",
            "/api/v2/project/github/acme/widgets",
            "/api/v2/project/gh%2Facme%2Fwidgets",
            "/api/v2/project/gh%2facme/widgets",
        ] {
            assert_eq!(
                route(path),
                Ok(Route::Project(slug("gh/acme/widgets"))),
                "{path}"
            );
        }
        assert_eq!(
            route("/api/v2/project/circleci%2Fo%2Fp/pipeline"),
            Ok(Route::ProjectPipelines(slug("circleci/o/p")))
        );
        assert_eq!(
            route("/api/v2/project/gitlab/a/b"),
            Ok(Route::Project(None))
        );
        assert_eq!(route("/api/v2/project/gh%2F%2Fb"), Ok(Route::Project(None)));
    }

    #[test]
    fn routes_every_endpoint() {
        let id = "5034460f-c7c4-4c43-9457-de07e2029e7b";
        let gh = || slug("gh/acme/widgets");
        let cases = [
            ("/api/v2/me/collaborations", Route::Collaborations),
            ("/api/v2/pipeline", Route::Pipelines),
            (
                &format!("/api/v2/pipeline/{id}") as &str,
                Route::Pipeline(id.into()),
            ),
            (
                &format!("/api/v2/pipeline/{id}/workflow"),
                Route::PipelineWorkflows(id.into()),
            ),
            (
                &format!("/api/v2/workflow/{id}"),
                Route::Workflow(id.into()),
            ),
            (
                &format!("/api/v2/workflow/{id}/job"),
                Route::WorkflowJobs(id.into()),
            ),
            (
                "/api/v2/project/gh/acme/widgets/job/42",
                Route::JobDetails(gh(), "42".into()),
            ),
            (
                "/api/v2/project/gh%2Facme%2Fwidgets/42/artifacts",
                Route::Artifacts(gh(), "42".into()),
            ),
            (
                "/api/v2/project/github/acme/widgets/42/tests",
                Route::Tests(gh(), "42".into()),
            ),
            ("/api/v2/context", Route::Contexts),
            (
                &format!("/api/v2/context/{id}/environment-variable"),
                Route::ContextVariables(id.into()),
            ),
            (
                "/api/v2/insights/gh/acme/widgets/workflows",
                Route::InsightsWorkflows(gh()),
            ),
            (
                "/api/v2/insights/gh/acme/widgets/workflows/build-and-test",
                Route::InsightsRuns(gh(), "build-and-test".into()),
            ),
        ];
        for (path, want) in cases {
            assert_eq!(route(path), Ok(want), "{path}");
        }
        assert_eq!(
            route("/api/v2/workflow//job"),
            Err(RouteError::EmptySegment)
        );
        assert_eq!(route("/api/v2/context/x/y"), Err(RouteError::NotFound));
    }

    #[test]
    fn classifies_failures() {
        assert_eq!(route("/v2/me"), Err(RouteError::NotUnderApi));
        assert_eq!(route("/api/v2me"), Err(RouteError::NotUnderApi));
        assert_eq!(route("/api/v2"), Err(RouteError::NotFound));
        assert_eq!(route("/api/v2/me/"), Err(RouteError::NotFound));
        assert_eq!(route("/api/v2/nope"), Err(RouteError::NotFound));
        assert_eq!(route("/api/v2/project/gh/acme"), Err(RouteError::NotFound));
        assert_eq!(
            route("/api/v2/project/gh/a/b%zz"),
            Err(RouteError::NotFound)
        );
        assert_eq!(
            route("/api/v2/project//pipeline"),
            Err(RouteError::EmptySegment)
        );
        assert_eq!(
            route("/api/v2/pipeline//workflow"),
            Err(RouteError::EmptySegment)
        );
        assert_eq!(route("/api/v2//me"), Err(RouteError::EmptySegment));
    }
}
