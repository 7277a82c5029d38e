//! Crash and resume: `connector-harness fetch --stream all` is killed with
//! SIGKILL at pseudo-random moments of a sync, then rerun with the same
//! state file, again and again until a run finishes. The output files must
//! then hold every record of the dataset exactly once: the state file says
//! which streams the interrupted run finished (skipped on the rerun) and,
//! for the one in flight, how long its output was at the last checkpoint
//! (cut back to it, so a page written but not checkpointed is not kept
//! twice, and a line torn by the kill disappears).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use conformance::sim::{Dataset, STREAMS, SimConfig, Simulator, TenantConfig};
use serde_json::json;

const TOKEN: &str = "CCIPAT_crash_test_4b3a29180716";
/// The kills are seeded, so a failure can be replayed.
const SEED: u64 = 0x5eed_c0de;
/// Reruns allowed before the test gives up (it normally needs far fewer).
const MAX_RUNS: usize = 150;

/// A small deterministic generator (xorshift) for the kill delays.
struct Delays(u64);

impl Delays {
    /// The next delay, from 5 to 300 ms.
    fn next(&mut self) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_millis(5 + self.0 % 296)
    }
}

fn keys_of(path: &Path, stream: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{stream}: a torn or invalid line ({e}): {line}"));
            Dataset::primary_key(stream, &value)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sync_killed_again_and_again_ends_with_every_record_exactly_once() {
    let sim = Simulator::start(SimConfig {
        tenants: vec![TenantConfig::new(TOKEN, 5, 40)],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = std::env::temp_dir().join(format!("harness-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let credential = dir.join("credential.json");
    std::fs::write(
        &credential,
        json!({"api_key": TOKEN, "base_url": sim.base_url()}).to_string(),
    )
    .unwrap();
    let (out, state) = (dir.join("out"), dir.join("state.json"));
    let args = [
        "--cache-dir",
        dir.join("cache").to_str().unwrap(),
        "--allow-host",
        &format!("http://{}", sim.addr()),
        "fetch",
        "--credential",
        credential.to_str().unwrap(),
        "--stream",
        "all",
        "--out",
        out.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ]
    .map(String::from);

    let mut delays = Delays(SEED);
    let (mut kills, mut runs) = (0, 0);
    let started = Instant::now();
    loop {
        assert!(runs < MAX_RUNS, "no run finished in {MAX_RUNS} tries");
        runs += 1;
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_connector-harness"))
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Later runs get a little longer, so a slow machine (where starting
        // the process eats most of a short delay) still finishes.
        let delay = delays.next() + Duration::from_millis(10 * runs as u64);
        match tokio::time::timeout(delay, child.wait()).await {
            Ok(status) => {
                let status = status.unwrap();
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    use tokio::io::AsyncReadExt;
                    pipe.read_to_string(&mut stderr).await.unwrap();
                }
                assert!(status.success(), "run {runs} failed: {stderr}");
                break;
            }
            Err(_) => {
                // SIGKILL: no chance to flush, clean up or save anything.
                child.kill().await.unwrap();
                kills += 1;
            }
        }
    }
    let wall = started.elapsed();

    let dataset = sim.dataset(TOKEN).unwrap();
    let mut records = 0;
    let mut per_stream = BTreeMap::new();
    for stream in STREAMS {
        let got = keys_of(&out.join(format!("{stream}.jsonl")), stream);
        let unique: BTreeSet<&String> = got.iter().collect();
        assert_eq!(
            unique.len(),
            got.len(),
            "{stream}: {} duplicate record(s) after {kills} kills",
            got.len() - unique.len()
        );
        let want: BTreeSet<String> = dataset.expected_keys(stream).into_iter().collect();
        let got: BTreeSet<String> = got.into_iter().collect();
        assert_eq!(got, want, "{stream}: lost or foreign records");
        records += got.len();
        per_stream.insert(stream, got.len());
    }
    eprintln!(
        "crash/resume: {kills} SIGKILLs, {runs} runs, {records} records in {} streams, each exactly once ({:.1} s)",
        per_stream.len(),
        wall.as_secs_f64()
    );
    assert!(kills >= 3, "the sync was interrupted a few times at least");
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
