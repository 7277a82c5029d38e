//! `hog`: `fetch` allocates without bound: 1 MiB chunks, each filled with
//! non-zero bytes (so every page is really touched) and kept, forever.
//! `validate` is benign.
//!
//! Exercises the host's memory limit (a `ResourceLimiter` or the pooling
//! allocator's maximum): `memory.grow` must fail or trap. When it fails the
//! allocator's error handler aborts, so the guest traps; either way the call
//! must end with the host's error and the host must not run out of memory.

use crate::common::HttpClient;
use crate::common::{ConnectorError, Credential, FetchRequest, Page};
use core::hint::black_box;

pub use crate::common::benign::validate;

/// The behaviour's name.
pub const NAME: &str = "hog";

/// Size of each allocation.
pub const CHUNK: usize = 1 << 20;

/// Never returns: allocates until the host stops it.
pub fn fetch(
    _client: &mut dyn HttpClient,
    _credential: Credential,
    _request: FetchRequest,
) -> Result<Page, ConnectorError> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let chunk = vec![0xA5u8; CHUNK];
        hoard.push(black_box(chunk));
        black_box(&mut hoard);
    }
}
