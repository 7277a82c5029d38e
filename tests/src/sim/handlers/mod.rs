//! Endpoint handlers: turn one request into one [`Reply`].
//!
//! The order of checks follows CircleCI: paths outside `/api/v2` are unknown to the API (404 before
//! auth), then the token is checked (401), then the method (405), then the route (500 for an empty
//! segment, 404 for no endpoint), then the endpoint's own lookups ("Project not found", "Not Found",
//! "Context not found.", bad page token); a workflow deleted after listing is "Not Found" too. Every
//! failure is an error reply; nothing here panics on client input.
//!
//! The anomalies of real accounts are served by the endpoint handlers, before any page token is looked
//! at: a failing pipeline's workflow listing answers 500 and an expired one's 404 or null ids
//! ([`crate::sim::unreachable`]), and a forbidden organisation's contexts 403
//! ([`crate::sim::contexts`]).
//!
//! Each request is served from the tenant's snapshot current when it arrived, so a page is always
//! consistent even while [`crate::sim::Simulator::advance`] runs.

mod contexts;
mod insights;
mod jobs;
mod pipelines;

use std::sync::Arc;

use http::header::{ALLOW, DATE};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use super::auth::{self, Presented};
use super::codec::parse_query;
use super::dataset::{Dataset, Project};
use super::paging::{InvalidPageToken, Page};
use super::reply::Reply;
use super::routes::{self, Route, RouteError};
use super::slug::ProjectSlug;
use super::state::SimState;
use super::time::{Millis, epoch_time, http_date};

/// The parts of an HTTP request the handlers look at.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a Method,
    /// Raw path, percent-encoding preserved.
    pub path: &'a str,
    /// Raw query string, without `?`.
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
}

/// Answers one request. Every answer carries a `Date` header: the simulated "now" of the epoch whose
/// data it shows (never the wall clock), as CircleCI's `Date` is never earlier than its data.
pub fn handle(state: &SimState, request: Request<'_>) -> Reply {
    let (reply, now) = respond(state, request);
    match HeaderValue::from_str(&http_date(now)) {
        Ok(date) => reply.with_header(DATE, date),
        Err(_) => reply,
    }
}

fn respond(state: &SimState, request: Request<'_>) -> (Reply, Millis) {
    let route = routes::route(request.path);
    let epoch_now = epoch_time(state.epoch());
    if route == Err(RouteError::NotUnderApi) {
        return (not_found(), epoch_now);
    }

    let params = parse_query(request.query);
    let data = match auth::presented(request.headers, &params) {
        Presented::Token(token) => state.current(&token),
        Presented::QueryParameter | Presented::Missing => None,
    };
    let Some(data) = data else {
        return (
            Reply::error(StatusCode::UNAUTHORIZED, "Invalid token provided."),
            epoch_now,
        );
    };
    let now = data.t();
    (route_request(state, request, data, &params, route), now)
}

/// An authenticated request: the method, then the route, then the endpoint.
fn route_request(
    state: &SimState,
    request: Request<'_>,
    data: Arc<Dataset>,
    params: &[(String, String)],
    route: Result<Route, RouteError>,
) -> Reply {
    if request.method != Method::GET {
        return Reply::error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
            .with_header(ALLOW, HeaderValue::from_static("GET"));
    }

    let ctx = Ctx {
        state,
        data,
        params,
    };
    let route = match route {
        Ok(route) => route,
        Err(RouteError::EmptySegment) => {
            return Reply::error(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error.");
        }
        Err(RouteError::NotFound | RouteError::NotUnderApi) => return not_found(),
    };
    match route {
        Route::Me => Reply::ok(&ctx.data.user),
        Route::Collaborations => Reply::ok(&ctx.data.collaborations()),
        Route::Project(slug) => match ctx.project(slug.as_ref()) {
            Some(project) => Reply::ok(&project.json),
            None => project_not_found(),
        },
        Route::ProjectPipelines(slug) => match ctx.project(slug.as_ref()) {
            Some(project) => ctx.project_pipelines(project.index),
            None => project_not_found(),
        },
        Route::Pipelines => ctx.org_pipelines(),
        Route::Pipeline(id) => ctx.pipeline(&id),
        Route::PipelineWorkflows(id) => ctx.pipeline_workflows(&id),
        Route::Workflow(id) => ctx.workflow(&id),
        Route::WorkflowJobs(id) => ctx.workflow_jobs(&id),
        Route::JobDetails(slug, number) => ctx.with_job(slug, &number, Ctx::job_details),
        Route::Artifacts(slug, number) => ctx.with_job(slug, &number, Ctx::artifacts),
        Route::Tests(slug, number) => ctx.with_job(slug, &number, Ctx::tests),
        Route::Contexts => ctx.contexts(),
        Route::ContextVariables(id) => ctx.context_variables(&id),
        Route::InsightsWorkflows(slug) => match ctx.project(slug.as_ref()) {
            Some(project) => ctx.insights_workflows(project.index),
            None => project_not_found(),
        },
        Route::InsightsRuns(slug, name) => match ctx.project(slug.as_ref()) {
            Some(project) => ctx.insights_runs(project.index, &name),
            None => project_not_found(),
        },
    }
}

/// What every endpoint handler of an authenticated request can use.
struct Ctx<'a> {
    state: &'a SimState,
    /// The tenant's snapshot when the request arrived.
    data: Arc<Dataset>,
    params: &'a [(String, String)],
}

impl Ctx<'_> {
    /// The first value of a query parameter.
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean query parameter (`true`/`false`); anything else counts as false.
    fn flag(&self, name: &str) -> bool {
        self.param(name) == Some("true")
    }

    /// A project of this tenant; other tenants' projects are "not found", as without access on CircleCI.
    fn project(&self, slug: Option<&ProjectSlug>) -> Option<&Project> {
        self.data.project_by_key(slug?)
    }

    /// The `page-token` parameter; an empty value is treated like none (the first page).
    fn page_token(&self) -> Option<&str> {
        self.param("page-token").filter(|t| !t.is_empty())
    }

    /// Names a listing for its page tokens: a token only works for the listing that issued it.
    fn listing(&self, route: &str, details: std::fmt::Arguments<'_>) -> String {
        format!(
            "tenant={}\nroute={route}\n{details}",
            self.data.tenant_index()
        )
    }

    /// A page of a list that only grows at its end, rendering only the page's items.
    fn forward<T: serde::Serialize>(
        &self,
        listing: &str,
        len: usize,
        render: impl FnMut(usize) -> T,
    ) -> Reply {
        page_reply(
            self.state
                .page_tokens
                .page_forward(listing, len, self.page_token(), render),
        )
    }

    /// A page of a list stored oldest first and listed newest first.
    fn newest_first<T: serde::Serialize>(
        &self,
        listing: &str,
        len: usize,
        keep: impl Fn(usize) -> bool,
        render: impl FnMut(usize) -> T,
    ) -> Reply {
        page_reply(self.state.page_tokens.page_newest_first(
            listing,
            len,
            self.page_token(),
            keep,
            render,
        ))
    }
}

impl Ctx<'_> {
    /// A page of a newest-first list whose tokens count from the head (the `head-insert` fault's
    /// naive cursors, [`crate::sim::faults`]); the listing is renamed so stable tokens do not apply.
    fn newest_first_by_offset<T: serde::Serialize>(
        &self,
        listing: &str,
        len: usize,
        keep: impl Fn(usize) -> bool,
        render: impl FnMut(usize) -> T,
    ) -> Reply {
        let listing = format!("{listing}\ncursor=offset-from-head");
        page_reply(self.state.page_tokens.page_newest_first_by_offset(
            &listing,
            len,
            self.page_token(),
            keep,
            render,
        ))
    }
}

fn page_reply<T: serde::Serialize>(page: Result<Page<T>, InvalidPageToken>) -> Reply {
    match page {
        Ok(page) => Reply::ok_serialize(&page),
        Err(InvalidPageToken) => Reply::error(StatusCode::BAD_REQUEST, "Invalid page-token."),
    }
}

fn not_found() -> Reply {
    Reply::error(StatusCode::NOT_FOUND, "Not Found")
}

fn project_not_found() -> Reply {
    Reply::error(StatusCode::NOT_FOUND, "Project not found")
}

fn bad_request(message: &str) -> Reply {
    Reply::error(StatusCode::BAD_REQUEST, message)
}
