//! The HTTP side: a hyper 1 HTTP/1.1 server on loopback that feeds requests to the handlers and records
//! them, plus the [`Simulator`] handle tests hold.
//!
//! Each connection runs in its own task; on shutdown the listener closes, open connections finish the
//! request in flight and close (graceful), and anything still open after a grace period is dropped.
//! A planned fault ([`crate::sim::faults`]) can replace, delay or mangle an API answer, or drop the
//! connection instead ([`crate::sim::inject`]); the simulator's own `/_sim/*` paths never fault.
//!
//! The anomalies of real accounts are controlled here too: [`Simulator::fail_pipeline`] (a persistent
//! 500, [`crate::sim::failing`]), [`Simulator::rerun_at_next_advance`] and `POST /_sim/advance` with
//! `{"reruns": [...]}` ([`crate::sim::reruns`]), and `GET /_sim/anomalies` reports what a connector
//! must skip; retention, abandoned holds and forbidden contexts come from the config
//! ([`crate::sim::TenantConfig`]).
//!
//! So is the rate limit per token ([`crate::sim::ratelimit`], off by default): it is checked after the
//! added latency and before the fault plan, a request that finds its token's bucket empty is answered
//! 429 (recorded, counted, never faulted), and while a limit is set an admitted request's unfaulted
//! answer shows the tokens left. [`Simulator::set_rate_limit`] and `POST /_sim/rate-limit` change it at
//! run time; [`Simulator::rate_limited`], `GET /_sim/rate-limit` and `/_sim/stats` count the 429s.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::auth::{self, Presented};
use super::codec::parse_query;
use super::config::SimConfig;
use super::dataset::Dataset;
use super::faults::FaultPlan;
use super::handlers::Request as SimRequest;
use super::inject::{self, answer, respond};
use super::ratelimit::{self, Admission, RateLimit};
use super::record::RecordedRequest;
use super::reply::Reply;
use super::state::{InsertedPipeline, SimState};
use super::time::epoch_time;
use super::wire::{Cut, ResettableStream, SimBody};

/// How long a client may take to send request headers; keeps idle or stuck sockets from piling up.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `shutdown` waits for open connections to finish before dropping them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running simulator. Dropping it without [`Simulator::shutdown`] also stops the server (abruptly).
pub struct Simulator {
    addr: SocketAddr,
    state: Arc<SimState>,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
}

impl Simulator {
    /// Binds `127.0.0.1` on a free port and serves on the current tokio runtime.
    pub async fn start(config: SimConfig) -> Result<Simulator> {
        Simulator::start_on(config, SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)).await
    }

    /// Binds `addr`, which must be a loopback address: the simulator holds tokens and fake data and has
    /// no business being reachable from other machines.
    pub async fn start_on(config: SimConfig, addr: SocketAddr) -> Result<Simulator> {
        if !addr.ip().is_loopback() {
            bail!(
                "refusing to bind {addr}: the simulator only listens on loopback (127.0.0.1 or ::1)"
            );
        }
        let state = Arc::new(SimState::new(&config)?);
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let (stop, stopped) = watch::channel(false);
        let server = tokio::spawn(accept_loop(listener, Arc::clone(&state), stopped));
        Ok(Simulator {
            addr,
            state,
            stop,
            server,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: no trailing slash and no `/api/v2`, like a CircleCI (Server) base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The data served to `token` now (the current epoch's snapshot), if it is a configured tenant
    /// token. The snapshot stays valid after [`Simulator::advance`]: keep it to compare epochs.
    pub fn dataset(&self, token: &str) -> Option<Arc<Dataset>> {
        self.state.current(token)
    }

    /// Moves every tenant to the next epoch and returns it: new pipelines appear at the head of some
    /// projects and the work that was still running, queued or on hold ends (see
    /// [`crate::sim::timeline`] and [`crate::sim::plan`]). Deterministic: the same config and the same
    /// number of advances always serve the same bytes.
    pub fn advance(&self) -> u64 {
        self.state.advance()
    }

    /// Makes the workflow `workflow_id` vanish between being listed and being read, as happens on
    /// CircleCI: it stays in its pipeline's workflow listing, while `/workflow/{id}` and every page of
    /// `/workflow/{id}/job` answer 404 `{"message": "Not Found"}`. Its jobs' details, tests and
    /// artifacts are still served by job number, but the right answers leave them out since a connector
    /// only finds those numbers in the job listing ([`crate::sim::deleted`] has the rules). Applies to
    /// the tenant the id belongs to, from now on and in every later epoch: [`Simulator::dataset`] called
    /// after this reflects it, snapshots taken before do not. Returns `false` and changes nothing when
    /// the id names no workflow of any tenant at the current epoch. [`Dataset::some_workflow_ids`]
    /// picks victims deterministically.
    pub fn delete_workflow_after_listing(&self, workflow_id: &str) -> bool {
        self.state.delete_workflow(workflow_id)
    }

    /// Makes `GET /pipeline/{pipeline_id}/workflow` answer `500 {"message":"Internal server error."}`
    /// on every request, every page, from now on and in every later epoch, as some pipelines do on
    /// CircleCI Server ([`crate::sim::failing`] has the rules). The pipeline stays listed; the right
    /// answers leave out everything below it and [`Dataset::unreachable_pipelines`] lists it as
    /// `failing-500`. Applies to the tenant the id belongs to; [`Simulator::dataset`] called after
    /// this reflects it, snapshots taken before do not. Returns `false` and changes nothing when the
    /// id names no pipeline of any tenant at the current epoch. [`Dataset::some_pipeline_ids`] picks
    /// victims deterministically.
    pub fn fail_pipeline(&self, pipeline_id: &str) -> bool {
        self.state.fail_pipeline(pipeline_id)
    }

    /// Reruns the finished workflow `workflow_id` at the next [`Simulator::advance`]: the new epoch's
    /// snapshot has a new workflow in the same (unchanged) pipeline, with the same name, new jobs and
    /// new job numbers, created in the new epoch's hour and finished by the time it is first seen
    /// ([`crate::sim::reruns`] has the rules). Calling it twice reruns twice. Returns `false` and
    /// changes nothing when the id names no workflow of any tenant that can be rerun now
    /// ([`Dataset::can_rerun`]: existing, finished, readable, within retention).
    /// [`Dataset::some_finished_workflow_ids`] picks candidates; [`Dataset::reruns`] lists the reruns.
    pub fn rerun_at_next_advance(&self, workflow_id: &str) -> bool {
        self.state.rerun_at_next_advance(workflow_id)
    }

    /// The epoch currently served (0 until the first [`Simulator::advance`]).
    pub fn epoch(&self) -> u64 {
        self.state.epoch()
    }

    /// Every request served so far, in the order responses were produced.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.log.snapshot()
    }

    /// How many requests [`Simulator::requests`] would return, without copying the log.
    pub fn request_count(&self) -> u64 {
        self.state.log.count()
    }

    pub fn clear_requests(&self) {
        self.state.log.clear();
    }

    /// Runs `plan` from now on (see [`crate::sim::faults`]), forgetting the previous plan's attempts
    /// and counts. Errors (and changes nothing) when the plan is invalid.
    pub fn set_faults(&self, plan: FaultPlan) -> Result<()> {
        if let Some(problem) = plan.problem() {
            bail!("fault plan: {problem}");
        }
        self.state.faults.set(plan);
        Ok(())
    }

    /// Waits `latency` before every API answer from now on, as a network round trip to CircleCI
    /// would (zero, the default, answers at once). `/_sim/*` paths never wait.
    pub fn set_latency(&self, latency: Duration) {
        self.state.served.set_latency(latency);
    }

    /// Limits every tenant token to `limit` from now on, each bucket full again (`None`: no limit,
    /// every answer as without one); see [`crate::sim::ratelimit`]. Errors (and changes nothing) when
    /// the limit is invalid ([`RateLimit::problem`]).
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) -> Result<()> {
        if let Some(problem) = limit.and_then(|l| l.problem()) {
            bail!("rate limit: {problem}");
        }
        self.state.rate_limit.set(limit);
        Ok(())
    }

    /// The rate limit in force, if any.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.state.rate_limit.limit()
    }

    /// How many requests the rate limit answered 429 so far (over every limit set; faults' 429s are
    /// counted in [`Simulator::faults_injected`] instead).
    pub fn rate_limited(&self) -> u64 {
        self.state.rate_limit.limited()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.state.served.connections()
    }

    /// Body bytes of the API answers sent so far (faulted answers not counted).
    pub fn api_body_bytes(&self) -> u64 {
        self.state.served.api_body_bytes()
    }

    /// The fault plan running now.
    pub fn faults(&self) -> FaultPlan {
        FaultPlan::clone(&self.state.faults.plan())
    }

    /// Fault name → how many were injected since the plan was set (only kinds that occurred).
    pub fn faults_injected(&self) -> BTreeMap<String, u64> {
        self.state.faults.injected()
    }

    /// Every pipeline the `head-insert` fault added so far, in order (see [`crate::sim::faults`]).
    pub fn inserted_pipelines(&self) -> Vec<InsertedPipeline> {
        self.state.inserted()
    }

    /// Stops accepting, lets open connections finish their request, and waits for the server to end.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.server.await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    state: Arc<SimState>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            // Also fires when the `Simulator` is dropped (the sender goes away).
            _ = stopped.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    state.served.connection();
                    connections.spawn(serve_connection(stream, Arc::clone(&state), stopped.clone()));
                }
                // Transient (e.g. out of file descriptors): back off briefly rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
        }
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        connections.abort_all();
    }
}

async fn serve_connection(
    stream: TcpStream,
    state: Arc<SimState>,
    mut stopped: watch::Receiver<bool>,
) {
    // The `reset` fault answers by closing this connection with an RST.
    let (stream, reset) = ResettableStream::new(stream);
    let service = service_fn(move |request: Request<Incoming>| {
        let state = Arc::clone(&state);
        let reset = Arc::clone(&reset);
        async move { serve(&state, request, &reset).await }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = stopped.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// Answers one request and records it. Only `POST /_sim/faults` reads a request body: every API
/// endpoint is a GET. `Err` closes the connection without an answer (the `reset` fault).
async fn serve(
    state: &SimState,
    request: Request<Incoming>,
    reset: &AtomicBool,
) -> Result<Response<SimBody>, Cut> {
    let uri = request.uri().clone();
    match uri.path() {
        // The simulator's own report, outside /api/v2 and not recorded, so
        // a demo run as separate processes can show what was served.
        STATS_PATH => return Ok(respond(Reply::ok(&stats(state)))),
        // Lets a demo run as separate processes move the data on; not recorded either.
        ADVANCE_PATH => return Ok(respond(advance_endpoint(state, request).await)),
        ANOMALIES_PATH => {
            let reply = if request.method() == Method::GET {
                Reply::ok(&anomalies(state))
            } else {
                method_not_allowed("GET")
            };
            return Ok(respond(reply));
        }
        FAULTS_PATH => return Ok(respond(faults_endpoint(state, request).await)),
        RATE_LIMIT_PATH => return Ok(respond(rate_limit_endpoint(state, request).await)),
        _ => {}
    }
    let sim_request = SimRequest {
        method: request.method(),
        path: uri.path(),
        query: uri.query(),
        headers: request.headers(),
    };
    let latency = state.served.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let quota = match admission(state, sim_request) {
        Admission::Unlimited => None,
        Admission::Admitted(quota) => Some(quota),
        Admission::Limited(quota) => {
            let reply = ratelimit::rate_limited(quota, epoch_time(state.epoch()));
            inject::record(state, sim_request, reply.status.as_u16(), None);
            return Ok(respond(reply));
        }
    };
    let decided = state.faults.decide(sim_request);
    match decided {
        None => {
            let reply = answer(state, sim_request, None);
            state.served.answered(reply.body.len());
            let reply = match quota {
                Some(quota) => ratelimit::with_quota(reply, quota),
                None => reply,
            };
            Ok(respond(reply))
        }
        Some((kind, plan)) => inject::apply(state, sim_request, kind, &plan, reset).await,
    }
}

/// What the rate limit says about an API request: only one presenting a tenant's token is limited.
fn admission(state: &SimState, request: SimRequest<'_>) -> Admission {
    if !state.rate_limit.is_on() {
        return Admission::Unlimited;
    }
    let params = parse_query(request.query);
    let Presented::Token(token) = auth::presented(request.headers, &params) else {
        return Admission::Unlimited;
    };
    match state.tenant_index(&token) {
        Some(tenant) => state.rate_limit.admit(tenant, Instant::now()),
        None => Admission::Unlimited,
    }
}

fn method_not_allowed(allow: &'static str) -> Reply {
    Reply::error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
        .with_header(http::header::ALLOW, HeaderValue::from_static(allow))
}

/// The largest fault plan `POST /_sim/faults` (or rerun list `POST /_sim/advance`) reads.
const MAX_PLAN_BYTES: usize = 64 * 1024;

/// What `POST /_sim/advance` may carry.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceBody {
    /// Workflow ids to rerun ([`crate::sim::reruns`]).
    #[serde(default)]
    reruns: Option<Vec<String>>,
}

/// `POST /_sim/advance`: advances every tenant and answers `{"epoch": N}`. An optional JSON body
/// `{"reruns": ["<workflow id>", …]}` reruns those workflows in the new epoch and adds
/// `"reruns": [{"id", "of", "pipeline_id"}, …]` (every rerun the advance added) to the answer; 400 with
/// a message, and no advance, when the body is not that or an id cannot be rerun. Not recorded.
async fn advance_endpoint(state: &SimState, request: Request<Incoming>) -> Reply {
    if request.method() != Method::POST {
        return method_not_allowed("POST");
    }
    let body = match Limited::new(request.into_body(), MAX_PLAN_BYTES)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(_) => return Reply::error(StatusCode::BAD_REQUEST, "Unreadable or too large body."),
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Reply::ok(&serde_json::json!({"epoch": state.advance()}));
    }
    let reruns = match serde_json::from_slice::<AdvanceBody>(&body) {
        Ok(AdvanceBody { reruns }) => reruns,
        Err(e) => {
            return Reply::error(
                StatusCode::BAD_REQUEST,
                &format!("Not an advance request ({{\"reruns\": [workflow ids]}}): {e}"),
            );
        }
    };
    let Some(reruns) = reruns else {
        return Reply::ok(&serde_json::json!({"epoch": state.advance()}));
    };
    match state.advance_with_reruns(&reruns) {
        Ok((epoch, added)) => {
            let added: Vec<serde_json::Value> = added
                .into_iter()
                .map(|r| serde_json::json!({"id": r.id, "of": r.of, "pipeline_id": r.pipeline_id}))
                .collect();
            Reply::ok(&serde_json::json!({"epoch": epoch, "reruns": added}))
        }
        Err(id) => Reply::error(
            StatusCode::BAD_REQUEST,
            &format!("Cannot rerun {id:?}: not a finished, readable workflow of any tenant."),
        ),
    }
}

/// `GET /_sim/anomalies`: per tenant, what a correct connector must report as skipped (unreachable
/// pipelines, forbidden context organisations), the abandoned holds and the reruns so far.
fn anomalies(state: &SimState) -> serde_json::Value {
    let tenants: Vec<serde_json::Value> = state
        .tenants
        .iter()
        .map(|tenant| {
            let d = tenant.dataset();
            let unreachable: Vec<serde_json::Value> = d
                .unreachable_pipelines()
                .into_iter()
                .map(|(id, why)| serde_json::json!({"id": id, "why": why}))
                .collect();
            let reruns: Vec<serde_json::Value> = d
                .reruns()
                .into_iter()
                .map(|r| {
                    serde_json::json!({
                        "id": r.id, "of": r.of, "pipeline_id": r.pipeline_id, "epoch": r.epoch,
                    })
                })
                .collect();
            serde_json::json!({
                "token": tenant.token,
                "unreachable_pipelines": unreachable,
                "forbidden_context_orgs": d.forbidden_context_orgs(),
                "abandoned_hold_pipelines": d.abandoned_hold_pipeline_ids(),
                "reruns": reruns,
            })
        })
        .collect();
    serde_json::json!({"epoch": state.epoch(), "tenants": tenants})
}

/// `GET /_sim/faults`: the plan and the counts. `POST` with a plan as JSON (every field optional, see
/// [`FaultPlan`]): runs it from now on and answers as `GET` does; 400 with a message when it is not a
/// valid plan. Not recorded.
async fn faults_endpoint(state: &SimState, request: Request<Incoming>) -> Reply {
    let report = |state: &SimState| {
        Reply::ok(&serde_json::json!({
            "plan": *state.faults.plan(),
            "injected": state.faults.injected(),
        }))
    };
    match *request.method() {
        Method::GET => report(state),
        Method::POST => {
            let body = match Limited::new(request.into_body(), MAX_PLAN_BYTES)
                .collect()
                .await
            {
                Ok(body) => body.to_bytes(),
                Err(_) => {
                    return Reply::error(StatusCode::BAD_REQUEST, "Unreadable or too large body.");
                }
            };
            let plan = match serde_json::from_slice::<FaultPlan>(&body) {
                Ok(plan) => plan,
                Err(e) => {
                    return Reply::error(
                        StatusCode::BAD_REQUEST,
                        &format!("Not a fault plan: {e}"),
                    );
                }
            };
            if let Some(problem) = plan.problem() {
                return Reply::error(StatusCode::BAD_REQUEST, &problem);
            }
            state.faults.set(plan);
            report(state)
        }
        _ => method_not_allowed("GET, POST"),
    }
}

/// `GET /_sim/rate-limit`: `{"rate_limit": {"per_second": N, "burst": B} | null, "rate_limited": N}`.
/// `POST` with `{"per_second": N, "burst": B}` (`burst` optional, default `N` rounded up) sets that
/// limit from now on, every bucket full, and `null` removes it; answers as `GET` does, or 400 with a
/// message when the body is not a valid limit. Not recorded.
async fn rate_limit_endpoint(state: &SimState, request: Request<Incoming>) -> Reply {
    let report = |state: &SimState| {
        Reply::ok(&serde_json::json!({
            "rate_limit": state.rate_limit.limit(),
            "rate_limited": state.rate_limit.limited(),
        }))
    };
    match *request.method() {
        Method::GET => report(state),
        Method::POST => {
            let body = match Limited::new(request.into_body(), MAX_PLAN_BYTES)
                .collect()
                .await
            {
                Ok(body) => body.to_bytes(),
                Err(_) => {
                    return Reply::error(StatusCode::BAD_REQUEST, "Unreadable or too large body.");
                }
            };
            let limit = match serde_json::from_slice::<Option<RateLimit>>(&body) {
                Ok(limit) => limit,
                Err(e) => {
                    return Reply::error(
                        StatusCode::BAD_REQUEST,
                        &format!(
                            "Not a rate limit ({{\"per_second\": N, \"burst\": B}} or null): {e}"
                        ),
                    );
                }
            };
            if let Some(problem) = limit.and_then(|l| l.problem()) {
                return Reply::error(StatusCode::BAD_REQUEST, &problem);
            }
            state.rate_limit.set(limit);
            report(state)
        }
        _ => method_not_allowed("GET, POST"),
    }
}

/// Where the simulator reports on the requests it served (not a CircleCI path).
pub const STATS_PATH: &str = "/_sim/stats";
/// `POST` here advances every tenant to the next epoch (not a CircleCI path).
pub const ADVANCE_PATH: &str = "/_sim/advance";
/// `GET` shows the fault plan and counts, `POST` sets a plan (not a CircleCI path).
pub const FAULTS_PATH: &str = "/_sim/faults";
/// `GET` reports the anomalies of every tenant (not a CircleCI path).
pub const ANOMALIES_PATH: &str = "/_sim/anomalies";
/// `GET` shows the rate limit and the 429s it answered, `POST` sets or removes it (not a CircleCI
/// path).
pub const RATE_LIMIT_PATH: &str = "/_sim/rate-limit";

/// How many requests were served, how many carried a `Circle-Token`, the
/// status codes answered (0: none, a `reset` fault), the epoch served, and
/// the faults injected per kind. Once a rate limit has been set (at the
/// start or since), also `"rate_limit"` (the one in force, or null) and
/// `"rate_limited"` (the 429s it answered); without one the report is as it
/// always was.
fn stats(state: &SimState) -> serde_json::Value {
    let stats = state.log.stats();
    let statuses: std::collections::BTreeMap<String, u64> = stats
        .statuses
        .iter()
        .map(|(status, n)| (status.to_string(), *n))
        .collect();
    let mut report = serde_json::json!({
        "requests": stats.requests,
        "with_circle_token": stats.with_circle_token,
        "statuses": statuses,
        "epoch": state.epoch(),
        "faults": state.faults.injected(),
        "connections": state.served.connections(),
        "body_bytes": state.served.api_body_bytes(),
        "latency_ms": state.served.latency().as_secs_f64() * 1e3,
    });
    if state.rate_limit.ever_set()
        && let Some(object) = report.as_object_mut()
    {
        object.insert(
            "rate_limit".into(),
            serde_json::json!(state.rate_limit.limit()),
        );
        object.insert(
            "rate_limited".into(),
            serde_json::json!(state.rate_limit.limited()),
        );
    }
    report
}
