//! What the server itself did, for benchmarks: connections accepted and bytes of API answers sent,
//! and the latency it adds before each API answer to stand in for a real network.
//!
//! A benchmark against a simulator on the same machine must be able to tell the simulator's share from
//! the connector's (requests per connection shows whether keep-alive works; body bytes give MB/s of
//! upstream JSON), and to ask what the connector does when every answer takes as long as a real
//! round trip to CircleCI would. None of this changes an answer's bytes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counters and the added latency; all lock-free, read on every request.
#[derive(Debug, Default)]
pub struct Served {
    connections: AtomicU64,
    api_body_bytes: AtomicU64,
    latency_us: AtomicU64,
}

impl Served {
    pub fn connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    pub fn answered(&self, body_bytes: usize) {
        self.api_body_bytes
            .fetch_add(body_bytes as u64, Ordering::Relaxed);
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Body bytes of the API answers sent so far (not counting `/_sim/*` or faulted answers).
    pub fn api_body_bytes(&self) -> u64 {
        self.api_body_bytes.load(Ordering::Relaxed)
    }

    /// How long each API answer waits before it is sent (zero by default).
    pub fn latency(&self) -> Duration {
        Duration::from_micros(self.latency_us.load(Ordering::Relaxed))
    }

    pub fn set_latency(&self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_us.store(us, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_latency() {
        let served = Served::default();
        assert_eq!(served.latency(), Duration::ZERO);
        served.connection();
        served.answered(10);
        served.answered(5);
        served.set_latency(Duration::from_millis(3));
        assert_eq!(served.connections(), 1);
        assert_eq!(served.api_body_bytes(), 15);
        assert_eq!(served.latency(), Duration::from_millis(3));
    }
}
