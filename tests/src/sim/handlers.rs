//! Endpoint handlers: turn one request into one [`Reply`].
//!
//! The order of checks follows CircleCI: paths outside `/api/v2` are unknown to the API (404 before
//! auth), then the token is checked (401), then the method (405), then the route (500 for an empty
//! segment, 404 for no endpoint), then the endpoint's own lookups ("Project not found", bad page token).
//! Every failure is an error reply; nothing here panics on client input.

use http::header::ALLOW;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::Value;

use super::auth::{self, Presented};
use super::codec::parse_query;
use super::dataset::Project;
use super::reply::Reply;
use super::routes::{self, Route, RouteError};
use super::slug::ProjectSlug;
use super::state::{SimState, Tenant};

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

pub fn handle(state: &SimState, request: Request<'_>) -> Reply {
    let route = routes::route(request.path);
    if route == Err(RouteError::NotUnderApi) {
        return not_found();
    }

    let params = parse_query(request.query);
    let tenant = match auth::presented(request.headers, &params) {
        Presented::Token(token) => state.tenant(&token),
        Presented::QueryParameter | Presented::Missing => None,
    };
    let Some(tenant) = tenant else {
        return Reply::error(StatusCode::UNAUTHORIZED, "Invalid token provided.");
    };

    if request.method != Method::GET {
        return Reply::error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
            .with_header(ALLOW, HeaderValue::from_static("GET"));
    }

    let ctx = Ctx {
        state,
        tenant,
        params: &params,
    };
    match route {
        Ok(Route::Me) => Reply::ok(&tenant.dataset.user),
        Ok(Route::Project(slug)) => match ctx.project(slug.as_ref()) {
            Some(project) => Reply::ok(&project.json),
            None => project_not_found(),
        },
        Ok(Route::ProjectPipelines(slug)) => match ctx.project(slug.as_ref()) {
            Some(project) => ctx.project_pipelines(project),
            None => project_not_found(),
        },
        Err(RouteError::EmptySegment) => {
            Reply::error(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error.")
        }
        Err(RouteError::NotFound | RouteError::NotUnderApi) => not_found(),
    }
}

/// What every endpoint handler of an authenticated request can use.
struct Ctx<'a> {
    state: &'a SimState,
    tenant: &'a Tenant,
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

    /// A project of this tenant; other tenants' projects are "not found", as without access on CircleCI.
    fn project(&self, slug: Option<&ProjectSlug>) -> Option<&Project> {
        self.tenant.dataset.project_by_key(slug?)
    }

    /// `GET /project/{slug}/pipeline[?branch=…][&page-token=…]`
    fn project_pipelines(&self, project: &Project) -> Reply {
        let branch = self.param("branch");
        let items: Vec<&Value> = project
            .pipelines
            .iter()
            .filter(|p| branch.is_none_or(|b| p["vcs"]["branch"].as_str() == Some(b)))
            .collect();
        // Everything that defines this list; a page token only works for the list that issued it.
        let listing = format!(
            "tenant={}\nroute=project-pipelines\nproject={}\nbranch={branch:?}",
            self.tenant.dataset.tenant_index(),
            project.slug
        );
        self.paged(&listing, &items)
    }

    /// One page of `items`, or 400 for a page token that does not belong to `listing`.
    fn paged(&self, listing: &str, items: &[&Value]) -> Reply {
        // An empty `page-token=` is treated like no token: the first page.
        let token = self.param("page-token").filter(|t| !t.is_empty());
        match self.state.page_tokens.page(listing, items, token) {
            Ok(page) => Reply::ok(&page),
            Err(_) => Reply::error(StatusCode::BAD_REQUEST, "Invalid page-token."),
        }
    }
}

fn not_found() -> Reply {
    Reply::error(StatusCode::NOT_FOUND, "Not Found")
}

fn project_not_found() -> Reply {
    Reply::error(StatusCode::NOT_FOUND, "Project not found")
}
