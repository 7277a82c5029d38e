//! Applies the fault [`crate::sim::injector::Injector`] chose for one API request: replaces, delays,
//! mangles or drops the answer the handlers would give (what each looks like is in
//! [`crate::sim::faults`]), records the request with the fault's name, and counts the fault. Its
//! [`record`] also logs the 429s of the rate limit ([`crate::sim::ratelimit`]), which no fault touches.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::Response;
use http::header::CONTENT_LENGTH;

use super::auth::{self, Presented};
use super::codec::parse_query;
use super::faults::{FaultKind, FaultPlan};
use super::handlers::{self, Request};
use super::record::RecordedRequest;
use super::reply::Reply;
use super::routes::{self, Route};
use super::state::SimState;
use super::time::epoch_time;
use super::wire::{self, Cut, SimBody, Step, cut_point};

/// How long a truncated body waits before the connection goes: long enough for hyper to flush the
/// part already written (a stall waits [`FaultPlan::stall_ms`] instead).
const FLUSH_PAUSE: Duration = Duration::from_millis(20);

/// The answer to `request` with `kind` injected, or `Err(Cut)` to close the connection without one
/// (after setting `reset`, so it closes with an RST).
pub async fn apply(
    state: &SimState,
    request: Request<'_>,
    kind: FaultKind,
    plan: &FaultPlan,
    reset: &AtomicBool,
) -> Result<Response<SimBody>, Cut> {
    let now = epoch_time(state.epoch());
    let name = Some(kind.to_string());
    let replaced = |reply: Reply| {
        record(state, request, reply.status.as_u16(), name.clone());
        respond(reply)
    };
    let response = match kind {
        FaultKind::RateLimited(body, hint) => {
            replaced(wire::rate_limited(body, hint, plan.wait_secs, now))
        }
        FaultKind::ServerError { status, html } => replaced(wire::server_error(status, html, now)),
        FaultKind::StalePageToken => replaced(wire::stale_page_token(now)),
        FaultKind::GarbageJson => replaced(wire::garbage(now)),
        FaultKind::Reset => {
            record(state, request, 0, name);
            state.faults.record(kind);
            reset.store(true, Ordering::Release);
            return Err(Cut);
        }
        FaultKind::SlowFirstByte => {
            tokio::time::sleep(Duration::from_millis(plan.first_byte_delay_ms)).await;
            respond(answer(state, request, name))
        }
        FaultKind::CutJson => {
            let mut reply = answer(state, request, name);
            let at = cut_point(reply.body.len(), 1, 2);
            reply.body = reply.body.slice(..at);
            respond(reply)
        }
        FaultKind::StalledBody | FaultKind::TruncatedLength => {
            let reply = answer(state, request, name);
            let at = cut_point(reply.body.len(), 1, 2);
            let pause = if kind == FaultKind::StalledBody {
                Duration::from_millis(plan.stall_ms)
            } else {
                FLUSH_PAUSE
            };
            let length = reply.body.len();
            let steps = vec![
                Step::Data(reply.body.slice(..at)),
                Step::Pause(pause),
                Step::Cut,
            ];
            let mut response = scripted(reply, steps);
            response
                .headers_mut()
                .insert(CONTENT_LENGTH, http::HeaderValue::from(length));
            response
        }
        FaultKind::TruncatedChunked => {
            let reply = answer(state, request, name);
            let (a, b) = (
                cut_point(reply.body.len(), 1, 3),
                cut_point(reply.body.len(), 2, 3),
            );
            let steps = vec![
                Step::Data(reply.body.slice(..a)),
                Step::Data(reply.body.slice(a..b)),
                Step::Pause(FLUSH_PAUSE),
                Step::Cut,
            ];
            scripted(reply, steps)
        }
        FaultKind::HeadInsert => {
            if !insert(state, request, plan) {
                // Nothing inserted (no room left, unknown project…): an ordinary answer.
                return Ok(respond(answer(state, request, None)));
            }
            respond(answer(state, request, name))
        }
    };
    state.faults.record(kind);
    Ok(response)
}

/// What the handlers answer, recorded in the log with `fault`.
pub fn answer(state: &SimState, request: Request<'_>, fault: Option<String>) -> Reply {
    let reply = handlers::handle(state, request);
    record(state, request, reply.status.as_u16(), fault);
    reply
}

/// Records `request` in the log as answered with `status` (0: no answer) and `fault`.
pub fn record(state: &SimState, request: Request<'_>, status: u16, fault: Option<String>) {
    state.log.push(RecordedRequest {
        method: request.method.as_str().to_owned(),
        path: request.path.to_owned(),
        query: request.query.map(str::to_owned),
        headers: request
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        status,
        fault,
    });
}

/// The whole reply as a response: status, `Content-Type`, the reply's headers, the body.
pub fn respond(reply: Reply) -> Response<SimBody> {
    let body = SimBody::full(reply.body.clone());
    with_head(reply, body)
}

fn scripted(reply: Reply, steps: Vec<Step>) -> Response<SimBody> {
    with_head(reply, SimBody::scripted(steps))
}

fn with_head(reply: Reply, body: SimBody) -> Response<SimBody> {
    let mut response = Response::new(body);
    *response.status_mut() = reply.status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(reply.content_type),
    );
    for (name, value) in reply.headers {
        headers.append(name, value);
    }
    response
}

/// Inserts the plan's pipelines at the head of the project a `/project/{slug}/pipeline` request
/// names, in its token's tenant; `false` when nothing was inserted.
fn insert(state: &SimState, request: Request<'_>, plan: &FaultPlan) -> bool {
    let Ok(Route::ProjectPipelines(Some(slug))) = routes::route(request.path) else {
        return false;
    };
    let params = parse_query(request.query);
    let Presented::Token(token) = auth::presented(request.headers, &params) else {
        return false;
    };
    let n = plan.head_insert_count as usize;
    let max = plan.head_insert_max as usize;
    !state.insert_pipelines(&token, &slug, n, max).is_empty()
}
