//! `flood`: `fetch` sends `GET {base_url}/api/v2/me` with the api_key as
//! `Circle-Token`, again and again, forever. Every outcome is ignored: a
//! response, an error, a refusal; nothing ends the loop. `validate` is
//! benign.
//!
//! Exercises the host's limit on requests per call (and, once requests are
//! refused quickly, its CPU/time limit): the call must end with the host's
//! error while the upstream sees a bounded number of requests.

use crate::common::{ConnectorError, Credential, FetchRequest, HttpClient, Page, base_url, field};
use core::hint::black_box;

pub use crate::common::benign::validate;

/// The behaviour's name.
pub const NAME: &str = "flood";

/// Never returns: requests until the host stops it.
pub fn fetch(
    client: &mut dyn HttpClient,
    credential: Credential,
    _request: FetchRequest,
) -> Result<Page, ConnectorError> {
    let url = format!("{}/api/v2/me", base_url(&credential));
    let token = field(&credential, "api_key").unwrap_or("").to_string();
    let headers = [("Circle-Token", token.as_str())];
    let mut sent: u64 = 0;
    loop {
        let outcome = client.get(&url, &headers);
        black_box(&outcome);
        drop(outcome);
        sent = black_box(sent.wrapping_add(1));
    }
}
