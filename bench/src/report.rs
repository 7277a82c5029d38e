//! Every figure of one benchmark run, the targets beside them, and
//! their rendering as a Markdown table (what BENCHMARKS.md quotes) and JSON.

use std::fmt::Write;

use serde::Serialize;

use crate::harness::Startup;
use crate::serve_rate::ServeRate;
use crate::tenants::Density;

/// The machine the figures were measured on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
}

impl Machine {
    pub fn this() -> Machine {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpu = read("/proc/cpuinfo")
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .map(|r| r.trim_start_matches([' ', '\t', ':']).to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let memory_kib: f64 = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|r| r.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: memory_kib / 1024.0 / 1024.0,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
        }
    }
}

/// A sync's figures (medians over the runs, except where said).
#[derive(Debug, Clone, Serialize)]
pub struct SyncFigures {
    pub runs: usize,
    pub wall_s: f64,
    pub records: u64,
    pub requests: u64,
    pub connections: u64,
    pub upstream_mb: f64,
    pub records_per_sec: f64,
    pub upstream_mb_per_sec: f64,
    pub requests_per_sec: f64,
    /// Share of wall time outside waiting on the upstream.
    pub ours_share: f64,
    /// Wall time outside waiting on the upstream, per request.
    pub ours_us_per_request: f64,
    /// Time in the CircleCI logic, per request.
    pub logic_us_per_request: f64,
    /// Time in the connector's calls per request, host functions included.
    pub guest_us_per_request: f64,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub machine: Machine,
    pub command: String,
    pub stream: String,
    pub projects: usize,
    pub pipelines_per_project: usize,
    pub startup: Startup,
    pub validate_process_ms_median: f64,
    pub validate_process_ms_p90: f64,
    pub validate_runs: usize,
    pub wasm: SyncFigures,
    pub native: SyncFigures,
    pub wasm_native_wall_ratio: f64,
    pub wasm_native_ours_ratio: f64,
    pub wasm_native_logic_ratio: f64,
    /// CPU time of the benchmark process during a wasm sync (all threads).
    pub wasm_cpu_s: f64,
    pub cli_sync_wall_s: f64,
    pub cli_sync_cpu_s: f64,
    pub cli_sync_records_per_sec: f64,
    pub cli_peak_rss_mib: f64,
    pub bench_peak_rss_mib: f64,
    /// Density from a cold pool: the memory figures.
    pub density: Density,
    /// The same from a pool prewarmed with `Connector::prewarm`.
    pub prewarmed: Density,
    pub serve_one: ServeRate,
    pub serve_two: ServeRate,
    pub latency_ms: f64,
    pub latency: SyncFigures,
    pub pace: crate::pace::PaceFigures,
}

/// One target of the issue and whether this run met it.
struct Target {
    what: &'static str,
    goal: String,
    measured: String,
    met: bool,
}

impl Figures {
    fn targets(&self) -> Vec<Target> {
        let pct = |x: f64| format!("{:.1} %", x * 100.0);
        vec![
            Target {
                what: "our share of sync wall time (loopback simulator, no added latency)",
                goal: "≤ 10 %".into(),
                measured: pct(self.wasm.ours_share),
                met: self.wasm.ours_share <= 0.10,
            },
            Target {
                what: "our share of sync wall time (simulator answering after a fixed latency)",
                goal: "≤ 10 %".into(),
                measured: format!("{} at {} ms", pct(self.latency.ours_share), self.latency_ms),
                met: self.latency.ours_share <= 0.10,
            },
            Target {
                what: "wasm/native on the CircleCI logic (guest calls against native `fetch` outside its HTTP client)",
                goal: "≤ 1.5×".into(),
                measured: format!("{:.2}×", self.wasm_native_logic_ratio),
                met: self.wasm_native_logic_ratio <= 1.5,
            },
            Target {
                what: "instantiate one tenant (pooling, prewarmed pool), median",
                goal: "≤ 20 µs".into(),
                measured: format!(
                    "{:.1} µs ({:.1} µs from a cold pool)",
                    self.prewarmed.instantiate_us_median, self.density.instantiate_us_median
                ),
                met: self.prewarmed.instantiate_us_median <= 20.0,
            },
            Target {
                what: "cold `connector-harness validate` process, warm cache, median",
                goal: "≤ 25 ms".into(),
                measured: format!("{:.1} ms", self.validate_process_ms_median),
                met: self.validate_process_ms_median <= 25.0,
            },
            Target {
                what: "memory per idle tenant (after one validate each)",
                goal: "≤ 1 MiB".into(),
                measured: format!("{:.0} KiB", self.density.kib_per_validated()),
                met: self.density.kib_per_validated() <= 1024.0,
            },
            Target {
                what: "requests of a full sync of every stream, against the minimum the data needs (one walk, 8 in flight)",
                goal: "≤ 1.05×".into(),
                measured: format!(
                    "{:.3}× (serial: {:.2}×)",
                    self.pace_ratio(2),
                    self.pace_ratio(0)
                ),
                met: self.pace_ratio(2) <= 1.05,
            },
            Target {
                what: "wall time of that sync at 100 ms a request, serial against one walk with 8 in flight",
                goal: "≥ 6× faster".into(),
                measured: format!("{:.1}× faster", self.pace_speedup(2)),
                met: self.pace_speedup(2) >= 6.0,
            },
            Target {
                what: "process CPU per record, `connector-harness fetch --stream pipelines --out FILE`",
                goal: "≤ 14 µs".into(),
                measured: format!("{:.1} µs", self.pace.cpu_us_per_record),
                met: self.pace.cpu_us_per_record <= 14.0,
            },
            Target {
                what: "throughput of a sync over a simulator's rate limit, nothing lost",
                goal: "≥ 80 % of the rate".into(),
                measured: format!(
                    "{:.0} % ({:.1} of {} requests/s{})",
                    self.pace.limited_throughput * 100.0 / self.pace.rate,
                    self.pace.limited_throughput,
                    self.pace.rate,
                    if self.pace.limited_records_exact {
                        ""
                    } else {
                        "; records **not exact**"
                    }
                ),
                met: self.pace.limited_throughput >= 0.8 * self.pace.rate
                    && self.pace.limited_records_exact,
            },
            Target {
                what: "component size",
                goal: "≤ 400 KiB".into(),
                measured: format!("{:.0} KiB", self.startup.component_bytes as f64 / 1024.0),
                met: self.startup.component_bytes <= 400 * 1024,
            },
        ]
    }

    /// Requests of full sync `i` over the minimum.
    fn pace_ratio(&self, i: usize) -> f64 {
        self.pace
            .full
            .get(i)
            .map_or(f64::NAN, |f| f.requests as f64)
            / self.pace.minimum_requests as f64
    }

    /// How much faster full sync `i` is than the serial one.
    fn pace_speedup(&self, i: usize) -> f64 {
        let wall = |i: usize| self.pace.full.get(i).map_or(f64::NAN, |f| f.wall_s);
        wall(0) / wall(i)
    }

    /// The run as Markdown: the machine, the targets, every figure.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let m = &self.machine;
        let _ = writeln!(
            s,
            "Machine: {}, {} cores, {:.1} GiB, Linux {}. Command: `{}`.\n",
            m.cpu, m.cores, m.memory_gib, m.kernel, self.command
        );
        let _ = writeln!(s, "| target | goal | measured | met |\n|---|---|---|---|");
        for t in self.targets() {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                t.what,
                t.goal,
                t.measured,
                if t.met { "yes" } else { "**no**" }
            );
        }
        let st = &self.startup;
        let d = &self.density;
        let w = &self.wasm;
        let n = &self.native;
        let l = &self.latency;
        let rows: Vec<(String, String)> = vec![
            ("dataset".into(), format!(
                "{} projects × {} pipelines; stream `{}`: {} records, {} requests, {:.1} MB of upstream JSON",
                self.projects, self.pipelines_per_project, self.stream, w.records, w.requests, w.upstream_mb
            )),
            ("component size".into(), format!("{} bytes ({:.0} KiB); precompiled {:.1} MiB", st.component_bytes, st.component_bytes as f64 / 1024.0, st.precompiled_bytes as f64 / 1048576.0)),
            ("`Component::new` (compile)".into(), format!("{:.1} ms", st.compile_ms)),
            ("`Component::deserialize` (precompiled)".into(), format!("{:.2} ms", st.deserialize_ms)),
            ("`Loader::load`, warm cache (read, deserialize, check, link)".into(), format!("{:.2} ms", st.load_cached_ms)),
            ("instantiate per tenant, pooling, cold pool (median / p90 / mean)".into(), format!(
                "{:.1} / {:.1} / {:.1} µs over {} tenants", d.instantiate_us_median, d.instantiate_us_p90, d.instantiate_us_mean, d.tenants
            )),
            ("instantiate per tenant, pool prewarmed by `Connector::prewarm` (median / p90 / mean)".into(), format!(
                "{:.1} / {:.1} / {:.1} µs; prewarming {} slots kept {:.1} MiB resident ({:.0} KiB per slot)",
                self.prewarmed.instantiate_us_median, self.prewarmed.instantiate_us_p90, self.prewarmed.instantiate_us_mean,
                self.prewarmed.tenants,
                (self.prewarmed.rss_loaded_kib.saturating_sub(self.prewarmed.rss_cold_kib)) as f64 / 1024.0,
                (self.prewarmed.rss_loaded_kib.saturating_sub(self.prewarmed.rss_cold_kib)) as f64 / self.prewarmed.tenants.max(1) as f64
            )),
            ("instantiate + drop, slot used before (median)".into(), format!("{:.1} µs", d.reinstantiate_us_median)),
            ("cold `validate` process, warm cache (median / p90)".into(), format!(
                "{:.1} / {:.1} ms over {} runs", self.validate_process_ms_median, self.validate_process_ms_p90, self.validate_runs
            )),
            ("full sync through the harness (wasm), median of runs".into(), format!(
                "{:.2} s: {:.0} records/s, {:.1} MB/s upstream JSON, {:.0} requests/s ({} runs)",
                w.wall_s, w.records_per_sec, w.upstream_mb_per_sec, w.requests_per_sec, w.runs
            )),
            ("requests per connection (keep-alive)".into(), format!(
                "{:.0} ({} requests on {} connections)", w.requests as f64 / w.connections.max(1) as f64, w.requests, w.connections
            )),
            ("share of sync wall time outside upstream waits (ours)".into(), format!(
                "{:.1} % ({:.1} µs per request)", w.ours_share * 100.0, w.ours_us_per_request
            )),
            ("CPU of the process during the wasm sync (all threads)".into(), format!("{:.2} s ({:.0} % of its wall time)", self.wasm_cpu_s, self.wasm_cpu_s / w.wall_s * 100.0)),
            ("the guest's calls per request: its wasm code; with the host functions it calls".into(), format!("{:.1} µs; {:.1} µs", w.logic_us_per_request, w.guest_us_per_request)),
            ("same logic native, same data, median of runs".into(), format!(
                "{:.2} s: {:.0} records/s; ours {:.1} % ({:.1} µs per request, of which the logic {:.1} µs)",
                n.wall_s, n.records_per_sec, n.ours_share * 100.0, n.ours_us_per_request, n.logic_us_per_request
            )),
            ("wasm/native: the logic; time outside upstream waits; sync wall time".into(), format!(
                "{:.2}×; {:.2}×; {:.2}×", self.wasm_native_logic_ratio, self.wasm_native_ours_ratio, self.wasm_native_wall_ratio
            )),
            (format!("with {} ms upstream latency ({} records)", self.latency_ms, l.records), format!(
                "ours {:.1} % ({:.1} µs per request), {:.0} requests/s", l.ours_share * 100.0, l.ours_us_per_request, l.requests_per_sec
            )),
            ("`connector-harness fetch --out --state` process (fsync per page)".into(), format!(
                "{:.2} s ({:.2} s CPU), {:.0} records/s, peak RSS {:.1} MiB", self.cli_sync_wall_s, self.cli_sync_cpu_s, self.cli_sync_records_per_sec, self.cli_peak_rss_mib
            )),
            ("peak RSS of the benchmark process (harness library, both syncs)".into(), format!("{:.1} MiB", self.bench_peak_rss_mib)),
            (format!("memory per idle tenant, {} tenants", d.tenants), format!(
                "{:.0} KiB instantiated; {:.0} KiB after one validate each (RSS {:.1} → {:.1} → {:.1} MiB)",
                d.kib_per_instantiated(), d.kib_per_validated(),
                d.rss_loaded_kib as f64 / 1024.0, d.rss_instantiated_kib as f64 / 1024.0, d.rss_validated_kib as f64 / 1024.0
            )),
            ("simulator serving rate, the sync's requests replayed (1 / 2 keep-alive connections)".into(), format!(
                "{:.0} / {:.0} requests/s ({:.1} / {:.1} MB/s)",
                self.serve_one.requests_per_sec, self.serve_two.requests_per_sec, self.serve_one.mb_per_sec, self.serve_two.mb_per_sec
            )),
        ];
        let _ = writeln!(s, "\n| figure | value |\n|---|---|");
        for (k, v) in rows {
            let _ = writeln!(s, "| {k} | {v} |");
        }
        let p = &self.pace;
        let _ = writeln!(
            s,
            "\nEvery stream (`--stream all`), {} projects × {} pipelines, the simulator answering after {} ms; \
             the data needs {} requests:\n\n| sync | requests | × minimum | records | wall | × faster |\n|---|---|---|---|---|---|",
            p.projects, p.pipelines, p.latency_ms, p.minimum_requests
        );
        for (i, f) in p.full.iter().enumerate() {
            let _ = writeln!(
                s,
                "| {} | {} | {:.3} | {} | {:.1} s | {:.1} |",
                f.mode,
                f.requests,
                self.pace_ratio(i),
                f.records,
                f.wall_s,
                self.pace_speedup(i)
            );
        }
        let _ = writeln!(
            s,
            "\n| figure | value |\n|---|---|\n| CPU per record, `fetch --stream pipelines --out FILE`, {} records (median of {}) | {:.1} µs (runs: {}) |\n| the same through `airbyte read` / `singer`, stdout to a file | {:.1} µs / {:.1} µs |\n| over a rate limit of {}/s (burst {}): pipelines, workflows, jobs, 8 in flight | {} requests ({} answered 429) in {:.1} s: {:.1} answered/s; records exact: {} |",
            p.cpu_records,
            p.cpu_us_per_record_runs.len(),
            p.cpu_us_per_record,
            p.cpu_us_per_record_runs
                .iter()
                .map(|x| format!("{x:.1}"))
                .collect::<Vec<_>>()
                .join(", "),
            p.airbyte_us_per_record,
            p.singer_us_per_record,
            p.rate,
            p.burst,
            p.limited_requests,
            p.limited_429s,
            p.limited_wall_s,
            p.limited_throughput,
            p.limited_records_exact
        );
        s
    }
}
