//! `circleci-sim`: runs the CircleCI API v2 simulator as a standalone server, for manual runs of the
//! connector harness against it.
//!
//! Prints `listening on http://127.0.0.1:PORT` as its first stdout line (scripts wait for it), then one
//! `token: <TOKEN>` line per accepted token, one `project: <SLUG>` line per project of the
//! first tenant, a blank line, and serves until SIGINT or SIGTERM.
//!
//! The data moves on one epoch per `POST /_sim/advance` (answered with `{"epoch": N}`), or every
//! `--advance-every` seconds: new pipelines appear and running work ends, as on a live CircleCI.
//!
//! Anomalies of real accounts (all off by default; see `conformance::sim::{retention, failing, holds,
//! reruns, contexts}` and `--help`): `--history-days` stretches history, `--retention-days` expires
//! old pipelines (their workflow listing answers 404 or lists null ids), `--failing-pipelines` makes
//! some answer a persistent 500, `--abandoned-holds` leaves approvals on hold forever,
//! `--forbid-contexts` answers 403 on an organisation's contexts and `--personal-owner-slug-404`
//! refuses the personal account's `owner-slug`. `POST /_sim/advance` with
//! `{"reruns": ["<workflow id>", …]}` reruns finished workflows in the new epoch; `GET
//! /_sim/anomalies` says what a correct connector must skip.
//!
//! Faults (rate limits, server errors, resets, slow or broken bodies, stale page tokens, pipelines
//! inserted mid-walk) are injected with `--fault KIND:RATE[@ENDPOINT,…]` and the `--fault-*` knobs,
//! or at run time with `POST /_sim/faults` (a JSON plan; `GET` shows it and the counts); see
//! `conformance::sim::faults` and `--help`.
//!
//! A rate limit per token (off by default; `conformance::sim::ratelimit`): `--rate-limit N[/BURST]`
//! gives each token a bucket of BURST requests (default N) refilled at N a second in real time; a
//! request that finds it empty is answered `429 {"message":"Rate limit exceeded."}` with
//! `Retry-After` and `RateLimit-*`/`X-RateLimit-*` headers. `POST /_sim/rate-limit` with
//! `{"per_second": N, "burst": B}` or `null` changes it at run time, `GET /_sim/rate-limit` and
//! `/_sim/stats` count the 429s.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;
use conformance::announcement::Announcement;
use conformance::sim::config::{
    DEFAULT_PIPELINES_PER_PROJECT, DEFAULT_PROJECTS, DEFAULT_SEED, DEFAULT_TOKEN,
};
use conformance::sim::faults::ENDPOINTS;
use conformance::sim::{
    Count, FaultKind, FaultPlan, FaultRule, RateLimit, SimConfig, Simulator, TenantConfig,
};

/// A deterministic CircleCI API v2 simulator (loopback only).
#[derive(Debug, Parser)]
#[command(name = "circleci-sim", version, after_long_help = fault_help())]
struct Args {
    /// Address to bind; must be loopback (127.0.0.1, ::1 or localhost).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to bind; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Seed of the generated data; the same seed gives byte-identical responses.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
    /// Projects per tenant.
    #[arg(long, default_value_t = DEFAULT_PROJECTS)]
    projects: usize,
    /// Nominal pipelines per project (actual counts vary per project to cover paging edge cases).
    #[arg(long, default_value_t = DEFAULT_PIPELINES_PER_PROJECT)]
    pipelines: usize,
    /// An accepted API token; repeat for several tenants, each with its own data. Defaults to one
    /// built-in token.
    #[arg(long = "token", value_name = "TOKEN")]
    tokens: Vec<String>,
    /// Workflows per pipeline, `N` or `MIN-MAX`.
    #[arg(long, value_name = "MIN-MAX", value_parser = parse_count, default_value = "1-3")]
    workflows: Count,
    /// Build jobs per workflow (besides an approval job), `N` or `MIN-MAX`.
    #[arg(long, value_name = "MIN-MAX", value_parser = parse_count, default_value = "2-6")]
    jobs: Count,
    /// Percentage of workflows with an approval job.
    #[arg(long, value_name = "PERCENT", default_value_t = 12)]
    approval_percent: u8,
    /// Test results of a test-running job, `N` or `MIN-MAX`.
    #[arg(long, value_name = "MIN-MAX", value_parser = parse_count, default_value = "0-40")]
    tests: Count,
    /// Artifacts of a job that ran, `N` or `MIN-MAX`.
    #[arg(long, value_name = "MIN-MAX", value_parser = parse_count, default_value = "0-5")]
    artifacts: Count,
    /// Contexts per organisation, `N` or `MIN-MAX`.
    #[arg(long, value_name = "MIN-MAX", value_parser = parse_count, default_value = "3-6")]
    contexts: Count,
    /// Environment variables per context, `N` or `MIN-MAX`.
    #[arg(long, value_name = "MIN-MAX", value_parser = parse_count, default_value = "0-8")]
    env_vars: Count,
    /// How many of each project's newest pipelines may still be running at epoch 0.
    #[arg(long, value_name = "N", default_value_t = 3)]
    live_pipelines: usize,
    /// New pipelines per project at each advance, `N` or `MIN-MAX`.
    #[arg(long, value_name = "MIN-MAX", value_parser = parse_count, default_value = "0-2")]
    new_pipelines: Count,
    /// Expire pipelines created more than this many days before the simulated "now": their workflow
    /// listing answers 404 (even ordinals) or lists workflows with null ids (odd ones). Off by default.
    #[arg(long, value_name = "DAYS")]
    retention_days: Option<u32>,
    /// Spread each project's historic pipelines so the oldest is about this many days old (default:
    /// minutes to hours apart, a few days in all).
    #[arg(long, value_name = "DAYS")]
    history_days: Option<u32>,
    /// Pipelines per tenant whose workflow listing answers a persistent 500 (picked deterministically).
    #[arg(long, value_name = "N", default_value_t = 0)]
    failing_pipelines: usize,
    /// Historic pipelines per project whose first workflow waits forever on an unapproved approval.
    #[arg(long, value_name = "N", default_value_t = 0)]
    abandoned_holds: usize,
    /// Organisation whose contexts answer 403 "Permission denied", by its index in
    /// /me/collaborations (0 GitHub, 1 Bitbucket, 2 CircleCI, 3 the personal account); repeatable.
    #[arg(long = "forbid-contexts", value_name = "ORG_INDEX")]
    forbid_contexts: Vec<usize>,
    /// `GET /context?owner-slug=` of the personal account answers 404 (owner-id still works).
    #[arg(long)]
    personal_owner_slug_404: bool,
    /// Wait this many milliseconds before every API answer, standing in for the round trip to a real
    /// CircleCI (0: answer at once).
    #[arg(long, value_name = "MS", default_value_t = 0.0)]
    latency_ms: f64,
    /// Advance to the next epoch every this many seconds (never by default).
    #[arg(long, value_name = "SECS")]
    advance_every: Option<u64>,
    /// Limit each token to N requests a second (decimals allowed) in bursts of BURST (default N,
    /// rounded up), as a token bucket in real time: a request that finds it empty is answered 429 with
    /// Retry-After and RateLimit-*/X-RateLimit-* headers. No limit by default.
    #[arg(long, value_name = "N[/BURST]", value_parser = parse_rate_limit)]
    rate_limit: Option<RateLimit>,
    /// Inject a fault into API answers: KIND at RATE (0-1 or N%), on every endpoint or only the listed
    /// ones (endpoint or stream names); repeatable, e.g. `--fault 429-json:0.1 --fault
    /// reset:0.05@jobs,tests`. `--help` lists the kinds and endpoints.
    #[arg(long = "fault", value_name = "KIND:RATE[@ENDPOINT,…]", value_parser = parse_fault)]
    faults: Vec<FaultRule>,
    /// Seed of the fault draws: the same seed and requests give the same faults.
    #[arg(long, value_name = "N", default_value_t = 0)]
    fault_seed: u64,
    /// The most times in a row one request is faulted; the next attempt is served clean.
    #[arg(long, value_name = "N", default_value_t = FaultPlan::default().max_consecutive)]
    fault_max_consecutive: u32,
    /// The wait a 429's Retry-After / RateLimit-Reset / X-RateLimit-Reset announces.
    #[arg(long, value_name = "SECS", default_value_t = FaultPlan::default().wait_secs)]
    fault_wait: u64,
    /// How long `slow-first-byte` waits before answering.
    #[arg(long, value_name = "MS", default_value_t = FaultPlan::default().first_byte_delay_ms)]
    fault_first_byte_delay: u64,
    /// How long `stall-body` goes silent mid-body before closing.
    #[arg(long, value_name = "MS", default_value_t = FaultPlan::default().stall_ms)]
    fault_stall: u64,
    /// Pipelines one `head-insert` adds at the head of a project.
    #[arg(long, value_name = "N", default_value_t = FaultPlan::default().head_insert_count)]
    fault_insert_count: u32,
    /// Insertions a project gets at most per epoch.
    #[arg(long, value_name = "N", default_value_t = FaultPlan::default().head_insert_max)]
    fault_insert_max: u32,
}

fn parse_rate_limit(text: &str) -> Result<RateLimit, String> {
    RateLimit::parse(text).ok_or_else(|| {
        format!(
            "{text:?} is not N[/BURST] with 0 < N <= {} and 1 <= BURST <= {}",
            conformance::sim::ratelimit::MAX_RATE,
            conformance::sim::ratelimit::MAX_BURST
        )
    })
}

fn parse_fault(text: &str) -> Result<FaultRule, String> {
    FaultRule::parse(text)
}

/// The kinds, hints and endpoints `--fault` takes, for `--help`.
fn fault_help() -> String {
    format!(
        "\
Faults (--fault KIND:RATE[@ENDPOINT,…]; only /api/v2 answers fault, never /_sim/*):
  429-json[+HINT]         429 {{\"message\":\"Rate limit exceeded.\"}}
  429-text[+HINT]         429 text/plain `Rate limited.`
  429-empty[+HINT]        429 with an empty body
  429-empty-object[+HINT] 429 `{{}}`
    HINT (default retry-after): {hints}
    (waits are --fault-wait seconds; HTTP-date and Unix forms count from the simulated Date)
  500 502 503 504         that status, JSON {{\"message\": …}}
  502-html 504-html       that status, an nginx HTML error page
  reset                   the connection is closed with an RST, no response
  slow-first-byte         the answer after --fault-first-byte-delay ms of silence
  stall-body              half the body, --fault-stall ms of silence, then close
  truncate-length         Content-Length of the whole body, half of it, then close
  truncate-chunked        chunked, two thirds of the body, then close without the last chunk
  garbage-json            200 with a body that is not JSON
  cut-json                the real answer with its body cut in half mid-object
  stale-page-token        requests with a page-token: 404 {{\"message\":\"Not Found\"}}
  head-insert             project pipeline pages after the first: --fault-insert-count new
                          pipelines appear at the head first (pages then use offsets, so a
                          naive pager sees repeats)
Endpoints (stream names work too: pipelines, workflows, jobs, job_details, tests, …):
  {endpoints}
A request's fault depends on --fault-seed, the request and its attempt number only; the rates of
the faults that can hit one endpoint add up to at most 1, and no request fails more than
--fault-max-consecutive times in a row. GET /_sim/faults shows the plan and the counts (also in
/_sim/stats), POST /_sim/faults sets a new one, e.g.
  {{\"seed\": 7, \"rules\": [{{\"kind\": \"reset\", \"rate\": 0.05, \"endpoints\": [\"jobs\"]}}]}}

Anomalies of real accounts (not faults: they answer the same every time; all off by default):
  --history-days DAYS     historic pipelines spread over DAYS (default: a few days)
  --retention-days DAYS   pipelines older than DAYS keep being listed, but GET /pipeline/{{id}}/workflow
                          answers 404 {{\"message\":\"Not Found\"}} (even pipeline ordinals) or lists the
                          workflows with \"id\": null (odd ones); more expire as epochs pass
  --failing-pipelines N   N pipelines per tenant answer 500 {{\"message\":\"Internal server error.\"}} on
                          GET /pipeline/{{id}}/workflow, every page, forever
  --abandoned-holds N     N historic pipelines per project whose first workflow is on_hold forever
                          (approval on_hold, the jobs after it blocked)
  --forbid-contexts ORG   GET /context for organisation ORG (0-3, as in /me/collaborations) answers
                          403 {{\"message\":\"Permission denied\"}}; repeatable
  --personal-owner-slug-404
                          GET /context?owner-slug=<personal account> answers 404 (owner-id works)
Reruns: POST /_sim/advance with {{\"reruns\": [\"<workflow id>\", …]}} adds, in the new epoch, a new
workflow (same name, new jobs and job numbers, finished when first seen) to each one's pipeline, and
answers {{\"epoch\": N, \"reruns\": [{{\"id\", \"of\", \"pipeline_id\"}}, …]}}.
GET /_sim/anomalies lists per tenant the unreachable pipelines (expired-404, expired-null-ids,
failing-500), the forbidden context organisations, the abandoned holds and the reruns.

Rate limit (--rate-limit N[/BURST]; off by default): each token has a bucket of BURST requests
(default N), full at the start and refilled at N a second in real time; /_sim/* is never limited.
A request that finds its bucket empty is answered, before any fault,
  429 {{\"message\":\"Rate limit exceeded.\"}}
  Retry-After: S, RateLimit-Limit: BURST, RateLimit-Remaining: 0, RateLimit-Reset: S
  and X-RateLimit-Limit / X-RateLimit-Remaining / X-RateLimit-Reset with the same values
(S: whole seconds until a token is back, rounded up, at least 1); other answers then carry the
six RateLimit headers with the tokens left and the seconds until the bucket is full.
POST /_sim/rate-limit with {{\"per_second\": N, \"burst\": B}} (burst optional) or null sets or removes
it (every bucket full again); GET /_sim/rate-limit and /_sim/stats (\"rate_limited\") count the 429s.",
        hints = FaultKind::hint_names().join(", "),
        endpoints = ENDPOINTS.join(", "),
    )
}

fn parse_count(text: &str) -> Result<Count, String> {
    Count::parse(text).ok_or_else(|| format!("{text:?} is not N or MIN-MAX with MIN <= MAX"))
}

fn loopback_ip(host: &str) -> Result<IpAddr> {
    let ip = match host {
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        other => other
            .parse()
            .with_context(|| format!("--host {other:?} is not an IP address"))?,
    };
    if !ip.is_loopback() {
        bail!(
            "refusing to bind {ip}: circleci-sim only listens on loopback (127.0.0.1, ::1 or localhost)"
        );
    }
    Ok(ip)
}

async fn wait_for_signal() -> Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.context("waiting for SIGINT")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One readable line (with its causes) instead of anyhow's debug dump with a backtrace.
            eprintln!("circleci-sim: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<()> {
    let ip = loopback_ip(&args.host)?;
    let tokens = if args.tokens.is_empty() {
        vec![DEFAULT_TOKEN.to_owned()]
    } else {
        args.tokens
    };
    let config = SimConfig {
        seed: args.seed,
        tenants: tokens
            .iter()
            .map(|token| TenantConfig {
                workflows_per_pipeline: args.workflows,
                jobs_per_workflow: args.jobs,
                approval_percent: args.approval_percent,
                tests_per_job: args.tests,
                artifacts_per_job: args.artifacts,
                contexts_per_org: args.contexts,
                env_vars_per_context: args.env_vars,
                live_pipelines: args.live_pipelines,
                new_pipelines_per_epoch: args.new_pipelines,
                retention_days: args.retention_days,
                history_days: args.history_days,
                failing_pipelines: args.failing_pipelines,
                abandoned_holds: args.abandoned_holds,
                forbidden_context_orgs: args.forbid_contexts.clone(),
                personal_owner_slug_not_found: args.personal_owner_slug_404,
                ..TenantConfig::new(token, args.projects, args.pipelines)
            })
            .collect(),
        faults: FaultPlan {
            seed: args.fault_seed,
            rules: args.faults,
            max_consecutive: args.fault_max_consecutive,
            wait_secs: args.fault_wait,
            first_byte_delay_ms: args.fault_first_byte_delay,
            stall_ms: args.fault_stall,
            head_insert_count: args.fault_insert_count,
            head_insert_max: args.fault_insert_max,
        },
        rate_limit: args.rate_limit,
    };

    let sim = Simulator::start_on(config, SocketAddr::new(ip, args.port)).await?;
    if args.latency_ms > 0.0 {
        let latency = std::time::Duration::try_from_secs_f64(args.latency_ms / 1e3)
            .context("--latency-ms out of range")?;
        sim.set_latency(latency);
    }
    // The first tenant's projects, so a demo or an operator can name them
    // in settings.
    let projects = tokens
        .first()
        .and_then(|t| sim.dataset(t))
        .map(|dataset| dataset.projects.iter().map(|p| p.slug.clone()).collect())
        .unwrap_or_default();
    Announcement {
        base_url: sim.base_url(),
        tokens: tokens.clone(),
        projects,
    }
    .write(&mut std::io::stdout().lock())?;

    let signal = wait_for_signal();
    let mut signal = std::pin::pin!(signal);
    match args.advance_every.filter(|&s| s > 0) {
        Some(secs) => {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(secs));
            every.tick().await; // the first tick is immediate
            loop {
                tokio::select! {
                    result = &mut signal => { result?; break; }
                    _ = every.tick() => { sim.advance(); }
                }
            }
        }
        None => signal.await?,
    }
    sim.shutdown().await;
    Ok(())
}
