//! `connector-bench`: how fast a tenant's connector starts, how many fit in
//! a process, and how close a sync gets to what the upstream allows.
//!
//! Run it with `cargo xtask bench` (builds everything in release first).
//! It starts the CircleCI simulator as a separate process with a large
//! dataset, then measures, in this order: the component's size, compile
//! and load times ([`harness`]); the simulator's own serving rate
//! ([`serve_rate`]); full syncs of the `jobs` stream through the harness
//! library and through the same CircleCI logic compiled natively
//! ([`native`]), alternating, several runs each; cold `connector-harness
//! validate` processes and a full `connector-harness fetch` process
//! ([`process`]); density with 1,000 tenants in a child process
//! ([`tenants`]); and a sync against a simulator that answers after a fixed
//! latency. It prints a Markdown table ([`report`]) and writes it, with the
//! figures as JSON, to `target/bench/`.

mod harness;
mod native;
mod pace;
mod process;
mod report;
mod serve_rate;
mod sim;
mod stats;
mod tenants;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use crate::harness::Harness;
use crate::report::{Figures, Machine, SyncFigures};
use crate::sim::{Served, SimProcess};
use crate::stats::{median, percentile, proc_status_kib};

/// The stream the syncs read: the deepest common fan-out (project →
/// pipelines → workflows → jobs), one request per workflow.
const STREAM: &str = "jobs";

#[derive(Parser, Debug)]
#[command(name = "connector-bench", about = "Benchmark of the connector runtime")]
struct Args {
    #[command(subcommand)]
    child: Option<ChildCommand>,
    /// Projects of the simulator's dataset.
    #[arg(long, default_value_t = 20)]
    projects: usize,
    /// Nominal pipelines per project (the default dataset has ~108,000 jobs).
    #[arg(long, default_value_t = 1000)]
    pipelines: usize,
    /// Syncs of each kind (wasm, native); figures are their medians.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Cold `validate` processes timed.
    #[arg(long, default_value_t = 20)]
    validate_runs: usize,
    /// Idle tenants instantiated for the density figures.
    #[arg(long, default_value_t = 1000)]
    tenants: usize,
    /// The latency the second simulator adds before every answer, in ms.
    #[arg(long, default_value_t = 2.0)]
    latency_ms: f64,
    /// Run the syncs without epoch interruption (so without the CPU
    /// limit), to measure what it costs; never how a tenant is run.
    #[arg(long)]
    no_cpu_limit: bool,
    /// The full sync of every stream (serial against one walk): projects.
    #[arg(long, default_value_t = 2)]
    pace_projects: usize,
    /// ... and nominal pipelines per project.
    #[arg(long, default_value_t = 8)]
    pace_pipelines: usize,
    /// ... and the latency of every answer, in ms.
    #[arg(long, default_value_t = 100)]
    pace_latency_ms: u64,
    /// The CPU-per-record sync (`pipelines`): projects × nominal pipelines
    /// (10 × 1,450 is about 10,000 pipelines).
    #[arg(long, default_value_t = 10)]
    cpu_projects: usize,
    #[arg(long, default_value_t = 1450)]
    cpu_pipelines: usize,
    /// Runs of the CPU-per-record sync; the figure is their median.
    #[arg(long, default_value_t = 5)]
    cpu_runs: usize,
    /// The rate-limited sync: requests a second the simulator allows.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// ... and in bursts of.
    #[arg(long, default_value_t = 5)]
    burst: u32,
    /// ... over projects × nominal pipelines (pipelines, workflows, jobs).
    #[arg(long, default_value_t = 3)]
    limited_projects: usize,
    #[arg(long, default_value_t = 150)]
    limited_pipelines: usize,
    /// Where the results (results.md, results.json) and scratch files go.
    #[arg(long, default_value = "target/bench")]
    out_dir: PathBuf,
}

#[derive(Subcommand, Debug)]
enum ChildCommand {
    /// (internal) One native sync of a stream (`jobs` unless told) against a running
    /// simulator, alone in its process, for a profiler.
    #[command(hide = true)]
    Native {
        #[arg(long)]
        base_url: String,
        #[arg(long)]
        token: String,
        /// The settings JSON.
        #[arg(long)]
        settings: String,
        /// The stream to sync.
        #[arg(long, default_value = STREAM)]
        stream: String,
    },
    /// (internal) Only the pace figures (full syncs, CPU per record, rate
    /// limit), printed as JSON; the other options as for the benchmark.
    #[command(hide = true)]
    Pace,
    /// (internal) The density measurement, in a process of its own.
    #[command(hide = true)]
    Tenants {
        #[arg(long)]
        count: usize,
        #[arg(long)]
        base_url: String,
        #[arg(long)]
        token: String,
        #[arg(long)]
        cache_dir: PathBuf,
        /// Use every pool slot once first (`Connector::prewarm`).
        #[arg(long)]
        prewarm: bool,
    },
}

fn main() {
    let args = Args::parse();
    let result = match &args.child {
        Some(ChildCommand::Tenants {
            count,
            base_url,
            token,
            cache_dir,
            prewarm,
        }) => runtime().and_then(|rt| {
            let density = rt.block_on(tenants::measure(
                *count, *prewarm, base_url, token, cache_dir,
            ))?;
            println!("{}", serde_json::to_string(&density)?);
            Ok(())
        }),
        Some(ChildCommand::Native {
            base_url,
            token,
            settings,
            stream,
        }) => {
            let credential = vec![
                ("api_key".to_string(), token.clone()),
                ("base_url".to_string(), base_url.clone()),
            ];
            native::sync(&credential, stream, settings, Path::new("/dev/null")).map(|run| {
                eprintln!(
                    "{} records, {} requests in {:.2?} (logic {:.2?})",
                    run.records, run.requests, run.wall, run.logic
                );
            })
        }
        Some(ChildCommand::Pace) => pace_only(&args),
        None => bench(&args),
    };
    if let Err(e) = result {
        eprintln!("connector-bench: {e:#}");
        std::process::exit(1);
    }
}

fn pace_only(args: &Args) -> Result<()> {
    let bin_dir = std::env::current_exe()?
        .parent()
        .context("the benchmark's directory")?
        .to_path_buf();
    let work = args.out_dir.join("work");
    std::fs::create_dir_all(&work)?;
    let figures = pace::measure(&bin_dir, &work, &pace_args(args))?;
    println!("{}", serde_json::to_string_pretty(&figures)?);
    Ok(())
}

fn pace_args(args: &Args) -> pace::PaceArgs {
    pace::PaceArgs {
        projects: args.pace_projects,
        pipelines: args.pace_pipelines,
        latency_ms: args.pace_latency_ms,
        cpu_projects: args.cpu_projects,
        cpu_pipelines: args.cpu_pipelines,
        cpu_runs: args.cpu_runs,
        rate: args.rate,
        burst: args.burst,
        limited_projects: args.limited_projects,
        limited_pipelines: args.limited_pipelines,
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn bench(args: &Args) -> Result<()> {
    let bin_dir = std::env::current_exe()?
        .parent()
        .context("the benchmark's directory")?
        .to_path_buf();
    let work = args.out_dir.join("work");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let component = connector_artifacts::CIRCLECI_CONNECTOR;
    // One sync is one task: a single-threaded runtime, as the CLI uses, so
    // no request pays for a hand-off between worker threads.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    step("compile and load times");
    let startup = harness::startup(component, 5, &work.join("cache-startup"))?;

    step(&format!(
        "starting the simulator: {} projects × {} pipelines",
        args.projects, args.pipelines
    ));
    let sim = SimProcess::start(
        &bin_dir,
        &[
            "--projects".into(),
            args.projects.to_string(),
            "--pipelines".into(),
            args.pipelines.to_string(),
        ],
    )?;
    let settings = serde_json::json!({ "project_slugs": sim.projects }).to_string();
    let settings_path = work.join("settings.json");
    std::fs::write(&settings_path, &settings)?;

    let harness = Harness::new(
        component,
        &work.join("cache"),
        sim.authority(),
        !args.no_cpu_limit,
    )?;
    let credential = sim.credential();
    let mut wasm_runs = Vec::new();
    let mut native_runs = Vec::new();
    for run in 1..=args.runs.max(1) {
        step(&format!(
            "sync {run}/{}: wasm, then native",
            args.runs.max(1)
        ));
        let before = Served::of(&sim.stats()?);
        let wasm =
            rt.block_on(harness.sync(&credential, STREAM, &settings, &work.join("wasm.jsonl")))?;
        let served = Served::of(&sim.stats()?).since(before);
        wasm_runs.push((wasm, served));
        let before = Served::of(&sim.stats()?);
        let native = native::sync(&credential, STREAM, &settings, &work.join("native.jsonl"))?;
        let served = Served::of(&sim.stats()?).since(before);
        native_runs.push((native, served));
    }
    let (first_wasm, first_native) = (&wasm_runs[0].0, &native_runs[0].0);
    if first_wasm.records != first_native.records || first_wasm.bytes != first_native.bytes {
        bail!(
            "the wasm and native syncs disagree: {} records ({} bytes) against {} ({} bytes)",
            first_wasm.records,
            first_wasm.bytes,
            first_native.records,
            first_native.bytes
        );
    }
    let wasm = sync_figures(
        wasm_runs
            .iter()
            .map(|(w, s)| RunFigures {
                wall: w.wall,
                waited: w.upstream_wait,
                logic: w.wasm_time,
                guest: w.guest_time,
                records: w.records,
                requests: w.requests,
                connections: w.connections,
                served: *s,
            })
            .collect(),
    );
    let native = sync_figures(
        native_runs
            .iter()
            .map(|(n, s)| RunFigures {
                wall: n.wall,
                waited: n.waited,
                logic: n.logic,
                guest: n.logic,
                records: n.records,
                requests: n.requests,
                connections: n.connections,
                served: *s,
            })
            .collect(),
    );
    let wasm_cpu_s = median(
        &wasm_runs
            .iter()
            .map(|(w, _)| w.cpu.as_secs_f64())
            .collect::<Vec<_>>(),
    );
    let ours = |f: &SyncFigures| f.ours_us_per_request;
    let logic = |f: &SyncFigures| f.logic_us_per_request;
    let bench_peak_rss_mib = proc_status_kib("VmHWM") as f64 / 1024.0;

    step("the simulator's own serving rate, replaying the sync's requests");
    let urls = &first_native.urls;
    let serve_one = serve_rate::measure(&sim, urls, 1)?;
    let serve_two = serve_rate::measure(&sim, urls, 2)?;

    step("cold `connector-harness validate` processes");
    let cli = process::Cli::new(&bin_dir, &work, &sim)?;
    let validate = cli.validate_times(args.validate_runs)?;

    step("a `connector-harness fetch` process");
    let cli_sync = cli.sync(STREAM, &settings_path, &work.join("cli.jsonl"))?;

    step(&format!(
        "{} idle tenants, in a child process",
        args.tenants
    ));
    let cold_pool = density(args.tenants, false, &sim, &work.join("cache"))?;
    step(&format!(
        "{} idle tenants from a prewarmed pool, in a child process",
        args.tenants
    ));
    let prewarmed = density(args.tenants, true, &sim, &work.join("cache"))?;
    drop(sim);

    step(&format!(
        "a sync with {} ms of upstream latency",
        args.latency_ms
    ));
    let latency = latency_sync(&rt, &bin_dir, &work, args, component)?;

    step(&format!(
        "every stream at {} ms a request: serial, then one walk with 4 and 8 in flight; CPU per \
         record; a rate-limited sync",
        args.pace_latency_ms
    ));
    let pace = pace::measure(&bin_dir, &work, &pace_args(args))?;

    let figures = Figures {
        machine: Machine::this(),
        command: if args.no_cpu_limit {
            "cargo xtask bench -- --no-cpu-limit".into()
        } else {
            "cargo xtask bench".into()
        },
        stream: STREAM.into(),
        projects: args.projects,
        pipelines_per_project: args.pipelines,
        startup,
        validate_process_ms_median: median(&validate),
        validate_process_ms_p90: percentile(&validate, 90.0),
        validate_runs: validate.len(),
        wasm_native_wall_ratio: wasm.wall_s / native.wall_s,
        wasm_native_ours_ratio: ours(&wasm) / ours(&native),
        wasm_native_logic_ratio: logic(&wasm) / logic(&native),
        wasm,
        native,
        wasm_cpu_s,
        cli_sync_wall_s: cli_sync.wall.as_secs_f64(),
        cli_sync_cpu_s: cli_sync.cpu.as_secs_f64(),
        cli_sync_records_per_sec: first_wasm.records as f64 / cli_sync.wall.as_secs_f64(),
        cli_peak_rss_mib: cli_sync.max_rss_kib as f64 / 1024.0,
        bench_peak_rss_mib,
        density: cold_pool,
        prewarmed,
        serve_one,
        serve_two,
        latency_ms: args.latency_ms,
        latency,
        pace,
    };
    let markdown = figures.markdown();
    println!("\n{markdown}");
    std::fs::write(args.out_dir.join("results.md"), &markdown)?;
    std::fs::write(
        args.out_dir.join("results.json"),
        serde_json::to_string_pretty(&figures)?,
    )?;
    eprintln!(
        "connector-bench: wrote {} and results.json",
        args.out_dir.join("results.md").display()
    );
    if figures.wasm.records < 100_000 {
        eprintln!(
            "connector-bench: note: {} records, fewer than the 100,000 the figures are meant for",
            figures.wasm.records
        );
    }
    Ok(())
}

fn step(what: &str) {
    eprintln!("connector-bench: {what}…");
}

/// One sync's raw figures.
struct RunFigures {
    wall: Duration,
    /// Time waiting on the upstream.
    waited: Duration,
    /// Time in the CircleCI logic: the guest's calls, or natively the
    /// connector's `fetch` outside its HTTP client.
    logic: Duration,
    /// Time in the connector's calls: in wasm, its code and the host
    /// functions it calls (the CPU limit's meter); natively, the logic.
    guest: Duration,
    records: u64,
    requests: u64,
    connections: u64,
    served: Served,
}

/// Medians over the runs of one kind.
fn sync_figures(runs: Vec<RunFigures>) -> SyncFigures {
    let of = |f: &dyn Fn(&RunFigures) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    let ours = |r: &RunFigures| r.wall.saturating_sub(r.waited).as_secs_f64();
    let first = &runs[0];
    SyncFigures {
        runs: runs.len(),
        wall_s: of(&|r| r.wall.as_secs_f64()),
        records: first.records,
        requests: first.requests,
        connections: first.connections,
        upstream_mb: first.served.body_bytes as f64 / 1e6,
        records_per_sec: of(&|r| r.records as f64 / r.wall.as_secs_f64()),
        upstream_mb_per_sec: of(&|r| r.served.body_bytes as f64 / 1e6 / r.wall.as_secs_f64()),
        requests_per_sec: of(&|r| r.requests as f64 / r.wall.as_secs_f64()),
        ours_share: of(&|r| ours(r) / r.wall.as_secs_f64()),
        ours_us_per_request: of(&|r| ours(r) * 1e6 / r.requests.max(1) as f64),
        logic_us_per_request: of(&|r| r.logic.as_secs_f64() * 1e6 / r.requests.max(1) as f64),
        guest_us_per_request: of(&|r| r.guest.as_secs_f64() * 1e6 / r.requests.max(1) as f64),
    }
}

/// Runs the density measurement in a child process of this binary.
fn density(
    count: usize,
    prewarm: bool,
    sim: &SimProcess,
    cache_dir: &Path,
) -> Result<tenants::Density> {
    let mut child = std::process::Command::new(std::env::current_exe()?);
    child.arg("tenants");
    if prewarm {
        child.arg("--prewarm");
    }
    let output = child
        .arg("--count")
        .arg(count.to_string())
        .arg("--base-url")
        .arg(&sim.base_url)
        .arg("--token")
        .arg(&sim.token)
        .arg("--cache-dir")
        .arg(cache_dir)
        .stderr(std::process::Stdio::inherit())
        .output()?;
    if !output.status.success() {
        bail!("the density child failed: {}", output.status);
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// A sync of one project against a simulator that waits `latency_ms`
/// before every answer: what our share is when the upstream is a network
/// away rather than a loopback hop.
fn latency_sync(
    rt: &tokio::runtime::Runtime,
    bin_dir: &Path,
    work: &Path,
    args: &Args,
    component: &[u8],
) -> Result<SyncFigures> {
    let latency_ms = args.latency_ms;
    let sim = SimProcess::start(
        bin_dir,
        &[
            "--projects".into(),
            "1".into(),
            "--pipelines".into(),
            "150".into(),
            "--latency-ms".into(),
            latency_ms.to_string(),
        ],
    )?;
    let settings = serde_json::json!({ "project_slugs": sim.projects }).to_string();
    let harness = Harness::new(
        component,
        &work.join("cache"),
        sim.authority(),
        !args.no_cpu_limit,
    )?;
    let before = Served::of(&sim.stats()?);
    let run = rt.block_on(harness.sync(
        &sim.credential(),
        STREAM,
        &settings,
        &work.join("latency.jsonl"),
    ))?;
    let served = Served::of(&sim.stats()?).since(before);
    Ok(sync_figures(vec![RunFigures {
        wall: run.wall,
        waited: run.upstream_wait,
        logic: run.wasm_time,
        guest: run.guest_time,
        records: run.records,
        requests: run.requests,
        connections: run.connections,
        served,
    }]))
}
