//! Syncing at the upstream's pace, through `connector-harness fetch` as a
//! platform runs it, against simulators in this process on loopback:
//!
//! - a full sync of every stream (`--stream all`) against a simulator that
//!   answers after a fixed latency, three ways: the serial way of contract
//!   0.1 (one request at a time, every stream in its own walk), and one
//!   walk per root with 4 and with 8 requests in flight; its requests
//!   against the minimum the data needs (every listing page and every
//!   item's own request once: `Dataset::minimum_requests`);
//! - the process CPU time per record of a `pipelines` sync to a file;
//! - a sync against a simulator that answers 429 above a request rate: its
//!   throughput against that rate, nothing lost.
//!
//! The simulators run on this process's runtime (their CPU is not the
//! harness's: the harness is a child process measured with `wait4`).

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};
use conformance::sim::{Dataset, RateLimit, STREAMS, SimConfig, Simulator};
use serde::Serialize;
use serde_json::{Value, json};

use crate::process::{ChildRun, run_measured};
use crate::stats::median;

/// What to measure.
#[derive(Debug, Clone)]
pub struct PaceArgs {
    /// The full sync's dataset and upstream latency.
    pub projects: usize,
    pub pipelines: usize,
    pub latency_ms: u64,
    /// The CPU-per-record dataset: projects × pipelines.
    pub cpu_projects: usize,
    pub cpu_pipelines: usize,
    pub cpu_runs: usize,
    /// The rate-limited sync: requests a second, burst; its dataset.
    pub rate: f64,
    pub burst: u32,
    pub limited_projects: usize,
    pub limited_pipelines: usize,
}

/// One way of syncing every stream.
#[derive(Debug, Clone, Serialize)]
pub struct FullSync {
    pub mode: String,
    pub requests: u64,
    pub wall_s: f64,
    pub records: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PaceFigures {
    pub projects: usize,
    pub pipelines: usize,
    pub latency_ms: u64,
    /// The requests the data needs for every stream.
    pub minimum_requests: u64,
    pub full: Vec<FullSync>,
    pub cpu_records: u64,
    pub cpu_us_per_record: f64,
    pub cpu_us_per_record_runs: Vec<f64>,
    /// The same sync through `airbyte read` and `singer` to a file: median
    /// CPU per record of each.
    pub airbyte_us_per_record: f64,
    pub singer_us_per_record: f64,
    pub rate: f64,
    pub burst: u32,
    pub limited_requests: u64,
    pub limited_429s: u64,
    pub limited_wall_s: f64,
    /// Answered requests (not 429) a second.
    pub limited_throughput: f64,
    pub limited_records_exact: bool,
}

const TOKEN: &str = "CCIPAT_bench_pace_0123456789abcdef";

pub fn measure(bin_dir: &Path, work: &Path, args: &PaceArgs) -> Result<PaceFigures> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let harness = bin_dir.join("connector-harness");
    let cache = work.join("cache");

    // Every stream, three ways, at a fixed latency.
    let sim = rt.block_on(Simulator::start(SimConfig::single(
        TOKEN,
        args.projects,
        args.pipelines,
    )))?;
    sim.set_latency(Duration::from_millis(args.latency_ms));
    let dataset = sim.dataset(TOKEN).expect("the tenant");
    let minimum = dataset.minimum_requests(&STREAMS);
    let settings = work.join("pace-settings.json");
    let credential = work.join("pace-credential.json");
    point_at(
        &sim,
        &settings,
        &credential,
        json!({ "artifact_retention_days": 0 }),
    )?;
    let cli = Cli {
        harness: &harness,
        cache: &cache,
        credential: &credential,
        settings: &settings,
    };
    let mut full = Vec::new();
    for (mode, extra) in [
        (
            "serial: 1 request at a time, stream by stream",
            &["--concurrency", "1", "--stream-by-stream"][..],
        ),
        (
            "one walk per root, 4 in flight",
            &["--concurrency", "4"][..],
        ),
        (
            "one walk per root, 8 in flight",
            &["--concurrency", "8"][..],
        ),
    ] {
        let out = work.join("pace-all");
        let before = sim.request_count();
        let run = cli.fetch(&sim, &out, "all", extra)?;
        let records = exact_records(&dataset, &out, &STREAMS)?
            .ok_or_else(|| anyhow::anyhow!("{mode}: the records are not the dataset's"))?;
        full.push(FullSync {
            mode: mode.to_string(),
            requests: sim.request_count() - before,
            wall_s: run.wall.as_secs_f64(),
            records,
        });
    }
    rt.block_on(sim.shutdown());

    // CPU per record of a pipelines sync to a file.
    let sim = rt.block_on(Simulator::start(SimConfig::single(
        TOKEN,
        args.cpu_projects,
        args.cpu_pipelines,
    )))?;
    let cpu_dataset = sim.dataset(TOKEN).expect("the tenant");
    let cpu_records = cpu_dataset.all_pipeline_ids().len() as u64;
    point_at(&sim, &settings, &credential, json!({}))?;
    let out = work.join("pace-pipelines.jsonl");
    cli.fetch(&sim, &out, "pipelines", &[])?; // warms the compile cache
    let mut per_record = Vec::new();
    for _ in 0..args.cpu_runs.max(1) {
        let run = cli.fetch(&sim, &out, "pipelines", &[])?;
        let written = std::fs::read_to_string(&out)?.lines().count() as u64;
        if written != cpu_records {
            bail!("the pipelines sync wrote {written} records, the dataset holds {cpu_records}");
        }
        per_record.push(run.cpu.as_secs_f64() * 1e6 / cpu_records as f64);
    }
    // The same through the Airbyte and Singer adapters, to a file.
    let config = work.join("pace-config.json");
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&settings)?)?;
    doc["api_key"] = json!(TOKEN);
    doc["base_url"] = json!(sim.base_url());
    std::fs::write(&config, doc.to_string())?;
    let airbyte_catalog = work.join("pace-airbyte-catalog.json");
    std::fs::write(
        &airbyte_catalog,
        json!({ "streams": [{
            "stream": { "name": "pipelines", "json_schema": {}, "supported_sync_modes": ["incremental"] },
            "sync_mode": "incremental",
            "destination_sync_mode": "append",
        }]})
        .to_string(),
    )?;
    let singer_catalog = work.join("pace-singer-catalog.json");
    std::fs::write(
        &singer_catalog,
        json!({ "streams": [{ "tap_stream_id": "pipelines", "schema": {}, "metadata": [
            { "breadcrumb": [], "metadata": { "selected": true } }
        ]}]})
        .to_string(),
    )?;
    let (config, airbyte_catalog, singer_catalog) = (
        config.to_string_lossy().into_owned(),
        airbyte_catalog.to_string_lossy().into_owned(),
        singer_catalog.to_string_lossy().into_owned(),
    );
    let mut adapters = [Vec::new(), Vec::new()];
    for _ in 0..args.cpu_runs.max(1) {
        for (i, command) in [
            &[
                "airbyte",
                "read",
                "--config",
                &config,
                "--catalog",
                &airbyte_catalog,
            ][..],
            &["singer", "--config", &config, "--catalog", &singer_catalog][..],
        ]
        .into_iter()
        .enumerate()
        {
            let run = cli.protocol(&sim, &out, command)?;
            let written = std::fs::read_to_string(&out)?
                .lines()
                .filter(|l| l.starts_with("{\"type\":\"RECORD\""))
                .count() as u64;
            if written != cpu_records {
                bail!("{command:?} wrote {written} records, the dataset holds {cpu_records}");
            }
            adapters[i].push(run.cpu.as_secs_f64() * 1e6 / cpu_records as f64);
        }
    }
    rt.block_on(sim.shutdown());

    // Over a rate limit.
    let sim = rt.block_on(Simulator::start(SimConfig {
        rate_limit: Some(RateLimit::new(args.rate, args.burst)),
        ..SimConfig::single(TOKEN, args.limited_projects, args.limited_pipelines)
    }))?;
    let limited = sim.dataset(TOKEN).expect("the tenant");
    point_at(&sim, &settings, &credential, json!({}))?;
    let streams = ["pipelines", "workflows", "jobs"];
    let out = work.join("pace-limited");
    let run = cli.fetch(&sim, &out, &streams.join(","), &["--concurrency", "8"])?;
    let requests = sim.request_count();
    let rejected = sim.rate_limited();
    let exact = exact_records(&limited, &out, &streams)?.is_some();
    rt.block_on(sim.shutdown());
    let wall = run.wall.as_secs_f64();
    Ok(PaceFigures {
        projects: args.projects,
        pipelines: args.pipelines,
        latency_ms: args.latency_ms,
        minimum_requests: minimum,
        full,
        cpu_records,
        cpu_us_per_record: median(&per_record),
        cpu_us_per_record_runs: per_record,
        airbyte_us_per_record: median(&adapters[0]),
        singer_us_per_record: median(&adapters[1]),
        rate: args.rate,
        burst: args.burst,
        limited_requests: requests,
        limited_429s: rejected,
        limited_wall_s: wall,
        limited_throughput: (requests - rejected) as f64 / wall,
        limited_records_exact: exact,
    })
}

/// `connector-harness fetch` against a simulator.
struct Cli<'a> {
    harness: &'a Path,
    cache: &'a Path,
    credential: &'a Path,
    settings: &'a Path,
}

impl Cli<'_> {
    /// Syncs `streams` to `out` (a file for one stream, else a directory),
    /// measured.
    fn fetch(
        &self,
        sim: &Simulator,
        out: &Path,
        streams: &str,
        extra: &[&str],
    ) -> Result<ChildRun> {
        let _ = std::fs::remove_dir_all(out);
        let _ = std::fs::remove_file(out);
        let mut cmd = std::process::Command::new(self.harness);
        cmd.arg("--cache-dir")
            .arg(self.cache)
            .arg("--allow-host")
            .arg(format!("http://{}", sim.addr()))
            .arg("fetch")
            .arg("--credential")
            .arg(self.credential)
            .arg("--settings")
            .arg(self.settings)
            .arg("--stream")
            .arg(streams)
            .arg("--out")
            .arg(out)
            .args(extra)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        run_measured(&mut cmd)
    }
}

impl Cli<'_> {
    /// Runs a protocol command (`airbyte read …`, `singer …`) with its
    /// stdout to `out`, measured.
    fn protocol(&self, sim: &Simulator, out: &Path, command: &[&str]) -> Result<ChildRun> {
        let mut cmd = std::process::Command::new(self.harness);
        cmd.arg("--cache-dir")
            .arg(self.cache)
            .arg("--allow-host")
            .arg(format!("http://{}", sim.addr()))
            .args(command)
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(out)?)
            .stderr(std::process::Stdio::null());
        run_measured(&mut cmd)
    }
}

/// Writes the settings (the tenant's projects, plus `extra`) and the
/// credential that point the CLI at `sim`.
fn point_at(sim: &Simulator, settings: &Path, credential: &Path, extra: Value) -> Result<()> {
    let dataset = sim.dataset(TOKEN).expect("the tenant");
    let mut doc = json!({
        "project_slugs": dataset.projects.iter().map(|p| p.slug.clone()).collect::<Vec<_>>(),
    });
    if let (Some(doc), Value::Object(extra)) = (doc.as_object_mut(), extra) {
        doc.extend(extra);
    }
    std::fs::write(settings, doc.to_string())?;
    std::fs::write(
        credential,
        json!({ "api_key": TOKEN, "base_url": sim.base_url() }).to_string(),
    )?;
    Ok(())
}

/// The records written to `dir/<stream>.jsonl` for `streams`, when they are
/// exactly the dataset's (every key once, nothing else); `None` otherwise.
fn exact_records(dataset: &Dataset, dir: &Path, streams: &[&str]) -> Result<Option<u64>> {
    let mut total = 0;
    for stream in streams {
        let text = std::fs::read_to_string(dir.join(format!("{stream}.jsonl")))?;
        let mut got = Vec::new();
        for line in text.lines() {
            got.push(Dataset::primary_key(stream, &serde_json::from_str(line)?));
        }
        let mut want = dataset.expected_keys(stream);
        got.sort();
        want.sort();
        if got != want {
            return Ok(None);
        }
        total += got.len() as u64;
    }
    Ok(Some(total))
}
