//! `spin`: `validate` and `fetch` never return. They burn CPU in a loop
//! that does no I/O, never allocates and cannot be optimised away
//! (`black_box`).
//!
//! Exercises the host's per-call CPU/time limit (wasmtime epoch
//! interruption or fuel): the call must end with the host's limit error,
//! not hang the host or its other tenants.

use crate::common::HttpClient;
use crate::common::{Account, ConnectorError, Credential, FetchRequest, Page};
use core::hint::black_box;

/// The behaviour's name.
pub const NAME: &str = "spin";

/// Never returns.
pub fn validate(
    _client: &mut dyn HttpClient,
    _credential: Credential,
) -> Result<Account, ConnectorError> {
    burn()
}

/// Never returns.
pub fn fetch(
    _client: &mut dyn HttpClient,
    _credential: Credential,
    _request: FetchRequest,
) -> Result<Page, ConnectorError> {
    burn()
}

/// A pseudo-random walk, forever.
fn burn() -> ! {
    let mut x: u64 = black_box(1);
    loop {
        x = black_box(
            x.wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407),
        );
    }
}
