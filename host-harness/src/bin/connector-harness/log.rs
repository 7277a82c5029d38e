//! The CLI's log: the host library's `tracing` events on stderr, through
//! the library's [`RedactingWriter`], so no line can carry a secret.

use host_harness::logging::{RedactingWriter, SharedRedactor};
use tracing_subscriber::EnvFilter;

/// The environment variable the log filter is read from
/// (`tracing_subscriber::EnvFilter` syntax, e.g. `debug` or
/// `host_harness=trace`) when `--log` is not given.
pub const LOG_ENV: &str = "CONNECTOR_HARNESS_LOG";

/// Installs the subscriber: events passing `filter` (or, without one,
/// [`LOG_ENV`]; nothing at all without either) go to stderr, redacted.
/// Returns the handle to set the redactor through once the credential is
/// known.
pub fn init(filter: Option<&str>) -> Result<SharedRedactor, String> {
    let redactor = SharedRedactor::default();
    let filter = match filter {
        Some(f) => Some(f.to_string()),
        None => std::env::var(LOG_ENV).ok().filter(|f| !f.trim().is_empty()),
    };
    let Some(filter) = filter else {
        return Ok(redactor);
    };
    let filter =
        EnvFilter::try_new(&filter).map_err(|e| format!("invalid log filter {filter:?}: {e}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(RedactingWriter::new(std::io::stderr(), redactor.clone()))
        .with_ansi(false)
        .with_target(true)
        .try_init()
        .map_err(|e| format!("cannot install the logger: {e}"))?;
    Ok(redactor)
}
