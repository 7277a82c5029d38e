//! `connector-harness`: loads a source connector component in the sandbox
//! and runs one command against it, as one tenant of the host library.
//!
//! Output is for machines on stdout (JSON, JSON Lines) and for people on
//! stderr (one line per error, never a backtrace, never a secret). The exit
//! code names the error kind ([`exit`]; the README's table). The CLI owns
//! what only a command line has: its flags ([`flags`]), its files
//! ([`files`]), its log ([`log`]) and its progress display ([`progress`]);
//! everything else is the library's.

mod conform;
mod exit;
mod files;
mod flags;
mod json_schema;
mod log;
mod progress;
mod protocols;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use host_harness::bindings::{CredentialSpec, FieldKind, StreamSpec, SyncMode};
use host_harness::cache::CompileCache;
use host_harness::checkpoint::{Checkpointer, StateFile};
use host_harness::credential::Credential;
use host_harness::error::printable;
use host_harness::limits;
use host_harness::logging::SharedRedactor;
use host_harness::policy::DEFAULT_KEEP_ALIVE_IDLE;
use host_harness::retry;
use host_harness::sync::{self, Observer, Quiet, SyncOptions};
use host_harness::{
    Connector, HarnessError, HostConfig, Loader, OutboundPolicy, Tenant, TenantSpec,
};
use serde_json::{Value, json};

use crate::exit::CliError;
use crate::progress::TerminalProgress;

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
    #[command(flatten)]
    Own(Own),
    /// The connector as an Airbyte source: spec, check, discover, read
    /// (Airbyte protocol messages on stdout).
    #[command(subcommand)]
    Airbyte(protocols::airbyte::AirbyteCommand),
    /// The connector as a Singer tap: --discover, or a sync of the
    /// catalog's selected streams (Singer messages on stdout).
    Singer(protocols::singer::SingerArgs),
    /// Check the component against the contract, as Airbyte's acceptance
    /// tests check a source: schemas, catalog, validate, full, resumed and
    /// incremental reads, secrets, requests. A table (or --json); exit 28
    /// when a check fails.
    Conform(conform::ConformArgs),
}

/// The harness's own commands: JSON on stdout, records as JSON Lines.
#[derive(Subcommand)]
enum Own {
    /// Print the credential and settings schemas as JSON.
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

/// What the protocol adapters need of the command line: the loaded
/// connector, its outbound policy and the log, to make tenants with.
pub struct Host {
    connector: Connector,
    policy: Arc<OutboundPolicy>,
    log: SharedRedactor,
}

impl Host {
    /// A tenant of `credential`; its secrets are redacted from the log
    /// from now on.
    pub async fn tenant(&self, credential: Credential) -> Result<Tenant, HarnessError> {
        let mut tenant = self
            .connector
            .tenant(TenantSpec {
                id: "cli".into(),
                credential,
                policy: self.policy.clone(),
                limits: None,
                concurrency: None,
            })
            .await?;
        self.log.set(tenant.redactor().await?);
        Ok(tenant)
    }

    /// The connector's credential form and settings schema.
    pub async fn schemas(&self) -> Result<(CredentialSpec, Value), CliError> {
        let mut probe = self.tenant(Credential::default()).await?;
        let credential = probe.credential_schema().await?;
        let settings = probe.settings_schema().await?;
        let settings = serde_json::from_str(&settings).map_err(|_| {
            HarnessError::Load("the connector's settings schema is not JSON".into())
        })?;
        Ok((credential, settings))
    }

    /// The tenant of a protocol's config file, and the config split.
    pub async fn configured_tenant(
        &self,
        path: &std::path::Path,
    ) -> Result<(Tenant, protocols::Config), CliError> {
        let config = protocols::read_json(path, "config")?;
        let (credential, settings) = self.schemas().await?;
        let mut config = protocols::split_config(&config, &credential, &settings)?;
        let credential = std::mem::take(&mut config.credential);
        Ok((self.tenant(credential).await?, config))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return fail(&CliError::Host(HarnessError::Io(format!(
                "cannot start the runtime: {e}"
            ))));
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(error: &CliError) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(error.exit_code())
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let log = log::init(cli.log.as_deref()).map_err(CliError::Usage)?;
    let policy = Arc::new(flags::policy(&cli)?);
    let cache = match (&cli.cache_dir, cli.no_cache) {
        (_, true) => None,
        (Some(dir), false) => Some(CompileCache::new(dir)),
        (None, false) => CompileCache::default_dir().map(CompileCache::new),
    };
    let limits = flags::limits_from(&cli)?;
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
    let host = Host {
        connector,
        policy,
        log,
    };
    match cli.command {
        Command::Airbyte(command) => protocols::airbyte::run(command, &host).await,
        Command::Singer(args) => protocols::singer::run(args, &host).await,
        Command::Conform(args) => conform::run(args, &host, cli.component.as_deref()).await,
        Command::Own(command) => own(command, &host, &cli.file_mode).await,
    }
}

/// Runs one of the harness's own commands, as one tenant.
async fn own(command: Own, host: &Host, file_mode: &str) -> Result<(), CliError> {
    // The commands that need no credential run as a tenant without one.
    let credential = match &command {
        Own::Schema | Own::Streams => Default::default(),
        Own::Validate { credential } | Own::Fetch { credential, .. } => {
            files::read_credential(credential)?
        }
    };
    let concurrency = match &command {
        Own::Fetch { concurrency, .. } => {
            if !(1..=host_harness::pace::MAX_CONCURRENCY).contains(concurrency) {
                return Err(CliError::Usage(format!(
                    "--concurrency must be between 1 and {}",
                    host_harness::pace::MAX_CONCURRENCY
                )));
            }
            Some(*concurrency)
        }
        _ => None,
    };
    let mut tenant = host
        .connector
        .tenant(TenantSpec {
            id: "cli".into(),
            credential,
            policy: host.policy.clone(),
            limits: None,
            concurrency,
        })
        .await?;
    match command {
        Own::Schema => {
            let credential = tenant.credential_schema().await?;
            let settings = tenant.settings_schema().await?;
            print_json(&json!({
                "credential": credential_json(&credential),
                "settings": { "json_schema": parse_or_string(&settings) },
            }));
        }
        Own::Streams => {
            let streams = tenant.streams().await?;
            print_json(&Value::Array(streams.iter().map(stream_json).collect()));
        }
        Own::Validate { .. } => {
            // The log redacts the credential's secrets from here on; the
            // tenant returns the account and errors already redacted.
            host.log.set(tenant.redactor().await?);
            let account = tenant.validate().await?;
            let details: Value = serde_json::from_str(&account.details).unwrap_or(Value::Null);
            let out = json!({ "id": account.id, "name": account.name, "details": details });
            print_json(&out);
        }
        Own::Fetch {
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
            stream_by_stream,
            ..
        } => {
            let retry = flags::retry_from(max_retries, max_retry_wait, no_retry)?;
            host.log.set(tenant.redactor().await?);
            let settings = files::read_settings(settings.as_deref())?;
            let requested: Vec<String> = stream
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            let catalog = tenant.streams().await?;
            let streams = sync::plan(&catalog, &requested)?;
            let single = streams.len() == 1 && !requested.iter().any(|r| r == "all");
            let mode = files::file_mode(file_mode)?;
            let mut sink_for = files::sinks(out.as_deref(), single, mode)?;
            let mut checkpoints = match state {
                Some(path) => Checkpointer::open(StateFile::new(path).with_mode(mode))?,
                None => Checkpointer::in_memory(),
            };
            let options = SyncOptions {
                max_pages,
                retry,
                skip_failing: !no_skip,
                max_skips_in_a_row,
                shared_walks: !stream_by_stream,
                ..SyncOptions::default()
            };
            let terminal = std::io::stderr().is_terminal();
            let mut progress = TerminalProgress::new(std::io::stderr());
            let mut quiet = Quiet;
            let observer: &mut dyn Observer = if terminal { &mut progress } else { &mut quiet };
            let outcomes = tenant
                .sync_streams(
                    &streams,
                    &settings,
                    &mut checkpoints,
                    sink_for.as_mut(),
                    &options,
                    observer,
                )
                .await?;
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
                return Err(e.into());
            }
        }
    }
    Ok(())
}

fn credential_json(schema: &CredentialSpec) -> Value {
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
