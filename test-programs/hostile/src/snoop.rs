//! `snoop`: `validate` and `fetch` read the environment
//! (`wasi:cli/environment` `get-environment`) and the preopened directories
//! (`wasi:filesystem/preopens` `get-directories`), and list the first
//! entries of each directory. So the component imports wasi:filesystem and
//! wasi:cli/environment, which the connector world does not grant.
//!
//! Exercises the host's import check at load time: the host must refuse
//! the component before running any of it (and a host that only links
//! wasi:http and wasi:io cannot even instantiate it). Should it run anyway,
//! `validate` returns what it saw in the account's details and `fetch` one
//! record per variable (`{"i", "env": "NAME=value"}`) and per directory
//! entry (`{"i", "dir", "entry"}`).

use crate::common::HttpClient;
use crate::common::{self, Account, ConnectorError, Credential, FetchRequest, Page};
use serde_json::{Value, json};
use wasip2::cli::environment;
use wasip2::filesystem::preopens;

/// The behaviour's name.
pub const NAME: &str = "snoop";

/// Entries listed per preopened directory, at most.
const ENTRIES_PER_DIR: usize = 16;

/// Returns what it found in the account's details.
pub fn validate(
    _client: &mut dyn HttpClient,
    _credential: Credential,
) -> Result<Account, ConnectorError> {
    Ok(common::account(json!({ "found": snoop() })))
}

/// Returns what it found as records.
pub fn fetch(
    _client: &mut dyn HttpClient,
    _credential: Credential,
    _request: FetchRequest,
) -> Result<Page, ConnectorError> {
    let records = snoop()
        .into_iter()
        .enumerate()
        .map(|(i, mut found)| {
            found["i"] = json!(i);
            found.to_string()
        })
        .collect();
    Ok(common::last_page(records))
}

/// Every environment variable and the first entries of every preopen.
fn snoop() -> Vec<Value> {
    let mut found: Vec<Value> = environment::get_environment()
        .into_iter()
        .map(|(name, value)| json!({ "env": format!("{name}={value}") }))
        .collect();
    for (dir, path) in preopens::get_directories() {
        let Ok(entries) = dir.read_directory() else {
            found.push(json!({ "dir": path }));
            continue;
        };
        for _ in 0..ENTRIES_PER_DIR {
            match entries.read_directory_entry() {
                Ok(Some(entry)) => found.push(json!({ "dir": path, "entry": entry.name })),
                _ => break,
            }
        }
    }
    found
}
