//! The operator's flags made into the host library's configuration: the
//! outbound policy, the instance limits and the retry policy, each value
//! checked (a flag out of range is a usage error naming the flag).

use std::time::Duration;

use host_harness::limits::Limits;
use host_harness::retry::RetryPolicy;
use host_harness::{AllowList, IpNetwork, KeepAlive, OutboundPolicy, Resolver, Timeouts};

use crate::Cli;
use crate::exit::CliError;

/// The outbound policy the flags ask for.
pub fn policy(cli: &Cli) -> Result<OutboundPolicy, CliError> {
    let usage = CliError::Usage;
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
pub fn limits_from(cli: &Cli) -> Result<Limits, CliError> {
    let usage = CliError::Usage;
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
pub fn retry_from(
    max_retries: u32,
    max_wait: f64,
    no_retry: bool,
) -> Result<RetryPolicy, CliError> {
    if !(max_wait.is_finite() && (0.0..=86_400.0).contains(&max_wait)) {
        return Err(CliError::Usage(
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
