//! `connector-harness`: loads a source connector component in the sandbox
//! and runs one command against it (the CLI contract of DESIGN.md).
//!
//! Output is for machines on stdout (JSON, JSON Lines) and for people on
//! stderr (one line per error, never a backtrace, never a secret). The exit
//! code names the error kind; see the README's table.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use host_harness::bindings::{CredentialSpec, FieldKind, StreamSpec, SyncMode};
use host_harness::cache::CompileCache;
use host_harness::catalog;
use host_harness::checkpoint::{Checkpointer, StateFile};
use host_harness::credential::Credential;
use host_harness::error::printable;
use host_harness::limits::{self as limits, Limits};
use host_harness::logging::{self, SharedRedactor};
use host_harness::policy::DEFAULT_KEEP_ALIVE_IDLE;
use host_harness::progress::TerminalProgress;
use host_harness::retry::{self, RetryPolicy};
use host_harness::sync::{self, FileSink, Observer, Quiet, RecordSink, SyncOptions, WriterSink};
use host_harness::{
    AllowList, ConnectorInstance, HarnessError, HostConfig, IpNetwork, KeepAlive, Loader,
    OutboundPolicy, Resolver, Timeouts,
};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    name = "connector-harness",
    version,
    about = "Run an ingest:connector source component in a wasmtime sandbox"
)]
struct Cli {
    /// The component to load (default: the CircleCI connector built with this harness).
    #[arg(long, global = true, value_name = "PATH")]
    component: Option<PathBuf>,
    /// A destination the connector may reach, [SCHEME://]HOST[:PORT];
    /// repeatable. SCHEME is https (the default), http or *; HOST a name,
    /// *.DOMAIN or an IP; PORT a number or * (default: the scheme's own,
    /// 443 or 80). Replaces the default (https://circleci.com:443). Plain
    /// HTTP needs a rule that says http:// or *://. Loopback and private
    /// addresses must be named exactly; a host name that resolves to one
    /// also needs --allow-network.
    #[arg(
        long = "allow-host",
        global = true,
        value_name = "[SCHEME://]HOST[:PORT]"
    )]
    allow_hosts: Vec<String>,
    /// A network whose loopback, private, link-local or other special
    /// addresses allowed hosts may resolve to, in CIDR form (e.g.
    /// 10.20.0.0/16 for a self-hosted CircleCI Server); repeatable. Without
    /// it, a host name that resolves to such an address is refused.
    #[arg(long = "allow-network", global = true, value_name = "CIDR")]
    allow_networks: Vec<String>,
    /// Resolve HOST on PORT to these addresses instead of asking DNS, like
    /// curl's --resolve; repeatable. The addresses are checked like any
    /// other (a special one still needs --allow-network).
    #[arg(long = "resolve", global = true, value_name = "HOST:PORT:ADDR[,ADDR…]")]
    resolve: Vec<String>,
    /// Seconds to wait for a connection.
    #[arg(long, global = true, default_value_t = 10.0, value_name = "SECS")]
    connect_timeout: f64,
    /// Seconds to wait for the first byte of a response.
    #[arg(long, global = true, default_value_t = 30.0, value_name = "SECS")]
    first_byte_timeout: f64,
    /// Seconds to wait between two chunks of a response body.
    #[arg(long, global = true, default_value_t = 30.0, value_name = "SECS")]
    between_bytes_timeout: f64,
    /// Seconds a connection stays open for the next request to the same
    /// host once it is idle (0: a new connection for every request).
    #[arg(long, global = true, default_value_t = DEFAULT_KEEP_ALIVE_IDLE.as_secs_f64(), value_name = "SECS")]
    keep_alive_idle: f64,
    /// Where compiled components are cached (default: $CONNECTOR_HARNESS_CACHE_DIR,
    /// else $XDG_CACHE_HOME/connector-harness, else ~/.cache/connector-harness).
    #[arg(long, global = true, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile the component every time.
    #[arg(long, global = true)]
    no_cache: bool,
    /// Linear memory of one connector instance, in MiB.
    #[arg(long, global = true, default_value_t = limits::DEFAULT_MEMORY_BYTES >> 20, value_name = "MIB")]
    max_memory_mb: u64,
    /// Seconds one call may spend running guest code (time waiting on the network does not count).
    #[arg(long, global = true, default_value_t = limits::DEFAULT_CPU_TIME_PER_CALL.as_secs_f64(), value_name = "SECS")]
    max_cpu_secs: f64,
    /// Requests one call may make.
    #[arg(long, global = true, default_value_t = limits::DEFAULT_REQUESTS_PER_CALL, value_name = "N")]
    max_requests_per_call: u32,
    /// Size of one response body, in MiB.
    #[arg(long, global = true, default_value_t = limits::DEFAULT_RESPONSE_BODY_BYTES >> 20, value_name = "MIB")]
    max_response_mb: u64,
    /// Records in one page the connector returns.
    #[arg(long, global = true, default_value_t = limits::DEFAULT_RECORDS_PER_PAGE, value_name = "N")]
    max_records_per_page: u64,
    /// Size of one page the connector returns (records, state, notices), in MiB.
    #[arg(long, global = true, default_value_t = limits::DEFAULT_BYTES_PER_PAGE >> 20, value_name = "MIB")]
    max_page_mb: u64,
    /// Connections one instance may have open at once, busy or kept alive; a request beyond them closes an idle one, else waits up to the connect timeout, then fails.
    #[arg(long, global = true, default_value_t = limits::DEFAULT_CONCURRENT_CONNECTIONS, value_name = "N")]
    max_connections: u32,
    /// Handles one instance may hold in the host at once (header maps,
    /// requests, bodies, streams), across calls.
    #[arg(long, global = true, default_value_t = limits::DEFAULT_HOST_RESOURCES, value_name = "N")]
    max_host_resources: u32,
    /// Size of one header map the connector builds, in KiB.
    #[arg(long, global = true, default_value_t = limits::DEFAULT_HEADER_BYTES >> 10, value_name = "KIB")]
    max_header_kb: u64,
    /// Size of one request body the connector sends, in KiB.
    #[arg(long, global = true, default_value_t = limits::DEFAULT_REQUEST_BODY_BYTES >> 10, value_name = "KIB")]
    max_request_body_kb: u64,
    /// Request body bytes one call may send in all, in MiB.
    #[arg(long, global = true, default_value_t = limits::DEFAULT_REQUEST_BYTES_PER_CALL >> 20, value_name = "MIB")]
    max_request_mb_per_call: u64,
    /// Size of the state one page returns, in KiB.
    #[arg(long, global = true, default_value_t = limits::DEFAULT_STATE_BYTES >> 10, value_name = "KIB")]
    max_state_kb: u64,
    /// Wall-clock seconds one call may take, waiting on the network included.
    #[arg(long, global = true, default_value_t = limits::DEFAULT_CALL_TIME.as_secs_f64(), value_name = "SECS")]
    max_call_secs: f64,
    /// Permission bits of the output and state files the harness creates,
    /// in octal (default 600: the owner only).
    #[arg(long, global = true, default_value = "600", value_name = "OCTAL")]
    file_mode: String,
    /// A credential field whose value is secret (redacted from everything
    /// the harness prints or writes) whatever the connector's schema says;
    /// repeatable. Fields the schema marks secret, and fields whose key
    /// looks like a secret's (key, token, secret, password, …), always are.
    #[arg(long = "secret-field", global = true, value_name = "KEY")]
    secret_fields: Vec<String>,
    /// Log the host's events to stderr, e.g. `info`, `debug` or
    /// `host_harness=trace` (default: $CONNECTOR_HARNESS_LOG, else nothing).
    /// Every line is redacted of the credential's secret values.
    #[arg(long = "log", global = true, value_name = "FILTER")]
    log: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the credential schema as JSON.
    Schema,
    /// Print the stream catalog as JSON.
    Streams,
    /// Check a credential against the upstream; print the account.
    Validate {
        /// JSON object keyed by the schema's field keys.
        #[arg(long, value_name = "FILE")]
        credential: PathBuf,
    },
    /// Sync streams: records as JSON Lines, state saved after every page.
    /// Streams that share a root are read together, in one walk.
    Fetch {
        #[arg(long, value_name = "FILE")]
        credential: PathBuf,
        /// The connector's settings, a JSON object.
        #[arg(long, value_name = "FILE")]
        settings: Option<PathBuf>,
        /// A stream, a comma-separated list, or `all`; synced parents first.
        #[arg(long, value_name = "NAME[,NAME…]|all")]
        stream: String,
        /// Resume from, and checkpoint to, this file (one file for every stream).
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
        /// Write records to this file instead of stdout; with several
        /// streams, a directory that gets one `<stream>.jsonl` per stream.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Give up after this many pages.
        #[arg(long, default_value_t = 1_000_000, value_name = "N")]
        max_pages: u64,
        /// Retries of one page after a rate-limited or unavailable answer
        /// (bad-response: at most 2), waiting as the upstream asks or with
        /// exponential backoff and jitter (7: 8 attempts in all; 0: never retry).
        #[arg(long, default_value_t = retry::DEFAULT_MAX_ATTEMPTS - 1, value_name = "N")]
        max_retries: u32,
        /// Seconds one page may spend waiting over all its retries; when the
        /// next wait would pass it, the sync stops with the error (and
        /// resumes from --state on the next run).
        #[arg(long, default_value_t = retry::DEFAULT_MAX_TOTAL_WAIT.as_secs_f64(), value_name = "SECS")]
        max_retry_wait: f64,
        /// Never retry: the first error ends the stream (same as --max-retries 0).
        #[arg(long, conflicts_with = "max_retries")]
        no_retry: bool,
        /// End the stream at an item whose request still fails once its
        /// retries are spent, rather than skip it (and everything under it).
        #[arg(long)]
        no_skip: bool,
        /// Stop after this many items skipped in a row with no successful
        /// answer in between (the upstream looks down; the next run resumes).
        #[arg(long, default_value_t = sync::DEFAULT_MAX_SKIPS_IN_A_ROW, value_name = "N")]
        max_skips_in_a_row: u32,
        /// Requests the connector may keep in flight at once (at most 32,
        /// and at most --max-connections). A rate-limited answer (HTTP 429)
        /// halves it and pauses requests for its Retry-After; answers
        /// without one grow it back.
        #[arg(long, default_value_t = host_harness::pace::DEFAULT_CONCURRENCY, value_name = "N")]
        concurrency: u32,
        /// Read every stream in its own walk, re-reading the parent
        /// listings each needs, instead of reading the streams that share a
        /// root (e.g. pipelines, workflows, jobs, tests) in one walk.
        #[arg(long)]
        stream_by_stream: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&HarnessError::Io(format!("cannot start the runtime: {e}"))),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(error: &HarnessError) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(1))
}

async fn run(cli: Cli) -> Result<(), HarnessError> {
    let log = logging::init_cli(cli.log.as_deref()).map_err(HarnessError::Usage)?;
    let policy = Arc::new(policy(&cli)?);
    let cache = match (&cli.cache_dir, cli.no_cache) {
        (_, true) => None,
        (Some(dir), false) => Some(CompileCache::new(dir)),
        (None, false) => CompileCache::default_dir().map(CompileCache::new),
    };
    let limits = limits_from(&cli)?;
    let loader = Loader::new(HostConfig {
        cache,
        limits,
        enforce_cpu_time: true,
        // One tenant per process: on-demand allocation starts faster than
        // reserving a pool.
        pooling: None,
        secret_fields: cli.secret_fields.clone(),
        ..HostConfig::default()
    })?;
    let connector = match &cli.component {
        Some(path) => loader.load_file(path)?,
        None => loader.load(connector_artifacts::CIRCLECI_CONNECTOR)?,
    };
    let mut instance = connector.instantiate(policy.clone()).await?;
    match cli.command {
        Command::Schema => {
            let schema = instance.credential_schema().await?;
            print_json(&schema_json(&schema));
        }
        Command::Streams => {
            let streams = instance.streams().await?;
            print_json(&Value::Array(streams.iter().map(stream_json).collect()));
        }
        Command::Validate { credential } => {
            let credential = Credential::from_file(&credential)?;
            redact_log(&mut instance, &credential, &log).await?;
            // The instance returns the account and errors already redacted.
            let account = instance.validate(&credential).await?;
            let details: Value = serde_json::from_str(&account.details).unwrap_or(Value::Null);
            let out = json!({ "id": account.id, "name": account.name, "details": details });
            print_json(&out);
        }
        Command::Fetch {
            credential,
            settings,
            stream,
            state,
            out,
            max_pages,
            max_retries,
            max_retry_wait,
            no_retry,
            no_skip,
            max_skips_in_a_row,
            concurrency,
            stream_by_stream,
        } => {
            if !(1..=host_harness::pace::MAX_CONCURRENCY).contains(&concurrency) {
                return Err(HarnessError::Usage(format!(
                    "--concurrency must be between 1 and {}",
                    host_harness::pace::MAX_CONCURRENCY
                )));
            }
            let retry = retry_from(max_retries, max_retry_wait, no_retry)?;
            let credential = Credential::from_file(&credential)?;
            redact_log(&mut instance, &credential, &log).await?;
            let settings = read_settings(settings.as_deref())?;
            let requested: Vec<String> = stream
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            let catalog = instance.streams().await?;
            let streams = sync::plan(&catalog, &requested)?;
            let single = streams.len() == 1 && !requested.iter().any(|r| r == "all");
            let mode = file_mode(&cli.file_mode)?;
            let mut sink_for = sinks(out.as_deref(), single, mode)?;
            let mut checkpoints = match state {
                Some(path) => Checkpointer::open(StateFile::new(path).with_mode(mode))?,
                None => Checkpointer::in_memory(),
            };
            let options = SyncOptions {
                max_pages,
                retry,
                skip_failing: !no_skip,
                max_skips_in_a_row,
                concurrency: concurrency.min(cli.max_connections),
                shared_walks: !stream_by_stream,
                ..SyncOptions::default()
            };
            let terminal = std::io::stderr().is_terminal();
            let mut progress = TerminalProgress::new(std::io::stderr());
            let mut quiet = Quiet;
            let observer: &mut dyn Observer = if terminal { &mut progress } else { &mut quiet };
            let outcomes = sync::run_streams(
                &connector,
                &policy,
                &credential,
                &catalog,
                &streams,
                &settings,
                &mut checkpoints,
                sink_for.as_mut(),
                &options,
                observer,
            )
            .await;
            if terminal {
                progress.summary();
            }
            let mut first_error = None;
            for (stream, outcome) in outcomes {
                match outcome {
                    // Notices and skipped items are worth a line even in a
                    // log: once per walk, named by its first stream.
                    Ok(report) if !terminal && report.leads_walk(&stream) => {
                        let name = report.walk.join(",");
                        let name = if name.is_empty() {
                            stream.clone()
                        } else {
                            name
                        };
                        for kind in report.notices.kinds() {
                            eprintln!("notice: {name}: {kind}");
                        }
                        for item in &report.skipped_items {
                            eprintln!("skipped: {name}: {}", printable(item));
                        }
                        let unnamed = report.skipped - report.skipped_items.len() as u64;
                        if unnamed > 0 {
                            eprintln!("skipped: {name}: {unnamed} more (see --log info)");
                        }
                        if report.rate_limited > 0 {
                            eprintln!(
                                "notice: {name}: {} rate-limited answer(s): requests in flight lowered \
                                 to {} (from {})",
                                report.rate_limited, report.lowest_concurrency, report.concurrency
                            );
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if streams.len() > 1 {
                            eprintln!("error: {stream}: {e}");
                        }
                        first_error.get_or_insert(e);
                    }
                }
            }
            if let Some(e) = first_error {
                return Err(e);
            }
        }
    }
    Ok(())
}

fn policy(cli: &Cli) -> Result<OutboundPolicy, HarnessError> {
    let usage = HarnessError::Usage;
    let allow = if cli.allow_hosts.is_empty() {
        AllowList::default()
    } else {
        AllowList::parse(&cli.allow_hosts).map_err(usage)?
    };
    let secs = |name: &str, v: f64| {
        if v.is_finite() && v > 0.0 && v <= 3600.0 {
            Ok(Duration::from_secs_f64(v))
        } else {
            Err(usage(format!(
                "--{name} must be between 0 and 3600 seconds"
            )))
        }
    };
    let networks = cli
        .allow_networks
        .iter()
        .map(|n| IpNetwork::parse(n))
        .collect::<Result<Vec<_>, _>>()
        .map_err(usage)?;
    let mut resolver = Resolver::system();
    for rule in &cli.resolve {
        resolver.add_rule(rule).map_err(usage)?;
    }
    Ok(OutboundPolicy {
        allow,
        networks,
        resolver,
        timeouts: Timeouts {
            connect: secs("connect-timeout", cli.connect_timeout)?,
            first_byte: secs("first-byte-timeout", cli.first_byte_timeout)?,
            between_bytes: secs("between-bytes-timeout", cli.between_bytes_timeout)?,
        },
        keep_alive: if cli.keep_alive_idle == 0.0 {
            KeepAlive::OFF
        } else {
            KeepAlive {
                idle_timeout: secs("keep-alive-idle", cli.keep_alive_idle)?,
                ..KeepAlive::default()
            }
        },
    })
}

/// The instance limits the flags ask for.
fn limits_from(cli: &Cli) -> Result<Limits, HarnessError> {
    let usage = HarnessError::Usage;
    let mib = |name: &str, v: u64, max: u64| {
        if (1..=max).contains(&v) {
            Ok(v << 20)
        } else {
            Err(usage(format!("--{name} must be between 1 and {max}")))
        }
    };
    let count = |name: &str, v: u32| {
        if v >= 1 {
            Ok(v)
        } else {
            Err(usage(format!("--{name} must be at least 1")))
        }
    };
    let kib = |name: &str, v: u64, max: u64| {
        if (1..=max).contains(&v) {
            Ok(v << 10)
        } else {
            Err(usage(format!("--{name} must be between 1 and {max}")))
        }
    };
    let secs = |name: &str, v: f64| {
        if v.is_finite() && v > 0.0 && v <= 86_400.0 {
            Ok(Duration::from_secs_f64(v))
        } else {
            Err(usage(format!(
                "--{name} must be between 0 and 86400 seconds"
            )))
        }
    };
    Ok(Limits {
        // A 32-bit linear memory holds at most 4 GiB.
        memory_bytes: mib("max-memory-mb", cli.max_memory_mb, 4096)?,
        cpu_time_per_call: secs("max-cpu-secs", cli.max_cpu_secs)?,
        requests_per_call: count("max-requests-per-call", cli.max_requests_per_call)?,
        response_body_bytes: mib("max-response-mb", cli.max_response_mb, 1 << 20)?,
        records_per_page: match cli.max_records_per_page {
            0 => return Err(usage("--max-records-per-page must be at least 1".into())),
            n => n,
        },
        bytes_per_page: mib("max-page-mb", cli.max_page_mb, 1 << 20)?,
        concurrent_connections: count("max-connections", cli.max_connections)?,
        host_resources: count("max-host-resources", cli.max_host_resources)?,
        header_bytes: kib("max-header-kb", cli.max_header_kb, 1 << 20)?,
        request_body_bytes: kib("max-request-body-kb", cli.max_request_body_kb, 1 << 30)?,
        request_bytes_per_call: mib(
            "max-request-mb-per-call",
            cli.max_request_mb_per_call,
            1 << 20,
        )?,
        state_bytes: kib("max-state-kb", cli.max_state_kb, 16 << 10)?,
        call_time: secs("max-call-secs", cli.max_call_secs)?,
        ..Limits::default()
    })
}

/// The retry policy the flags ask for.
fn retry_from(
    max_retries: u32,
    max_wait: f64,
    no_retry: bool,
) -> Result<RetryPolicy, HarnessError> {
    if !(max_wait.is_finite() && (0.0..=86_400.0).contains(&max_wait)) {
        return Err(HarnessError::Usage(
            "--max-retry-wait must be between 0 and 86400 seconds".into(),
        ));
    }
    let retries = if no_retry { 0 } else { max_retries };
    Ok(RetryPolicy {
        max_attempts: retries.saturating_add(1),
        max_total_wait: Duration::from_secs_f64(max_wait),
        ..RetryPolicy::default()
    })
}

/// Makes the log redact this credential's secret fields (per the
/// connector's schema). Everything else the CLI prints comes from the
/// connector instance, which redacts it itself.
async fn redact_log(
    instance: &mut ConnectorInstance,
    credential: &Credential,
    log: &SharedRedactor,
) -> Result<(), HarnessError> {
    log.set(instance.redactor(credential).await?);
    Ok(())
}

/// Where each stream's records go: stdout or `--out FILE` for a single
/// stream, `--out DIR/<stream>.jsonl` for several (or when FILE is a directory).
type SinkFor = Box<dyn FnMut(&str) -> Box<dyn RecordSink>>;

fn sinks(out: Option<&Path>, single: bool, mode: u32) -> Result<SinkFor, HarnessError> {
    match out {
        None if single => Ok(Box::new(|_: &str| {
            Box::new(WriterSink(std::io::stdout())) as Box<dyn RecordSink>
        })),
        None => Err(HarnessError::Usage(
            "--out DIR is required to sync several streams".into(),
        )),
        Some(path) if single && !path.is_dir() => {
            let path = path.to_path_buf();
            Ok(Box::new(move |_: &str| {
                Box::new(FileSink::new(&path).with_mode(mode)) as Box<dyn RecordSink>
            }))
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| HarnessError::Io(format!("cannot create {}: {e}", dir.display())))?;
            let dir = dir.to_path_buf();
            Ok(Box::new(move |stream: &str| {
                Box::new(
                    FileSink::new(output_path(&dir, stream))
                        .with_mode(mode)
                        .no_follow(),
                ) as Box<dyn RecordSink>
            }))
        }
    }
}

/// `DIR/<stream>.jsonl`. Stream names come from the connector's catalog,
/// which the host checked ([`catalog::check`]); checked here again, so that
/// no name can make a path that leaves `dir` however it got here.
fn output_path(dir: &Path, stream: &str) -> PathBuf {
    assert!(
        catalog::is_valid_stream_name(stream),
        "stream names are checked when the catalog is read"
    );
    dir.join(format!("{stream}.jsonl"))
}

/// `--file-mode`: octal permission bits, at most 0o777.
fn file_mode(text: &str) -> Result<u32, HarnessError> {
    u32::from_str_radix(text.trim().trim_start_matches("0o"), 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| {
            HarnessError::Usage(format!(
                "--file-mode {text:?} is not octal permission bits such as 600 or 640"
            ))
        })
}

fn read_settings(path: Option<&Path>) -> Result<String, HarnessError> {
    let Some(path) = path else {
        return Ok("{}".to_string());
    };
    let fail = |why: String| HarnessError::SettingsFile(format!("{}: {why}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| fail(format!("not valid JSON ({e})")))?;
    if !value.is_object() {
        return Err(fail("must be a JSON object".into()));
    }
    Ok(value.to_string())
}

fn schema_json(schema: &CredentialSpec) -> Value {
    let fields: Vec<Value> = schema
        .fields
        .iter()
        .map(|f| {
            json!({
                "key": f.key,
                "label": f.label,
                "description": f.description,
                "kind": match f.kind { FieldKind::Text => "text", FieldKind::Secret => "secret", FieldKind::Url => "url" },
                "required": f.required,
                "default_value": f.default_value,
            })
        })
        .collect();
    json!({ "fields": fields, "json_schema": parse_or_string(&schema.json_schema) })
}

fn stream_json(s: &StreamSpec) -> Value {
    json!({
        "name": s.name,
        "description": s.description,
        "json_schema": parse_or_string(&s.json_schema),
        "primary_key": s.primary_key,
        "cursor_field": s.cursor_field,
        "parent": s.parent,
        "sync_modes": s.sync_modes.iter().map(|m| match m {
            SyncMode::FullRefresh => "full_refresh",
            SyncMode::Incremental => "incremental",
        }).collect::<Vec<_>>(),
    })
}

fn parse_or_string(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}
