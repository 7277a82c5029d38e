//! The simulator's own serving rate, so it is never the unseen bottleneck:
//! native keep-alive clients replay the exact requests of a `jobs` sync
//! (recorded by the native run) as fast as the simulator answers them.

use std::time::{Duration, Instant};

use anyhow::Result;
use circleci_connector::http::HttpClient;

use crate::native::NativeClient;
use crate::sim::SimProcess;

/// Requests per second and upstream MB/s the simulator served.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct ServeRate {
    pub connections: usize,
    pub requests: u64,
    pub requests_per_sec: f64,
    pub mb_per_sec: f64,
}

/// `connections` threads, each on its own keep-alive connection, sharing
/// out `urls` (thread `i` sends every `connections`-th one from `i`).
pub fn measure(sim: &SimProcess, urls: &[String], connections: usize) -> Result<ServeRate> {
    let connections = connections.max(1);
    let started = Instant::now();
    let bytes: Result<Vec<u64>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..connections)
            .map(|first| {
                scope.spawn(move || -> Result<u64> {
                    let mut client = NativeClient::new()?;
                    let mut bytes = 0;
                    for url in urls.iter().skip(first).step_by(connections) {
                        let response = client
                            .get(url, &[("Circle-Token", &sim.token)])
                            .map_err(|e| anyhow::anyhow!("GET {url}: {e:?}"))?;
                        bytes += response.body.len() as u64;
                    }
                    Ok(bytes)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .map_err(|_| anyhow::anyhow!("a load thread panicked"))?
            })
            .collect()
    });
    let elapsed = started
        .elapsed()
        .max(Duration::from_micros(1))
        .as_secs_f64();
    let requests = urls.len() as u64;
    let bytes: u64 = bytes?.iter().sum();
    Ok(ServeRate {
        connections,
        requests,
        requests_per_sec: requests as f64 / elapsed,
        mb_per_sec: bytes as f64 / elapsed / 1e6,
    })
}
