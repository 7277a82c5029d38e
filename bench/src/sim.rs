//! The CircleCI simulator as a separate process, so its CPU and memory
//! never count as the harness's, and its own report (`/_sim/stats`).

use std::io::BufReader;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result};
use conformance::announcement::Announcement;

/// A running `circleci-sim`; killed when dropped.
pub struct SimProcess {
    child: Child,
    pub base_url: String,
    pub token: String,
    pub projects: Vec<String>,
}

impl SimProcess {
    /// Starts `circleci-sim` (next to this benchmark's binary) with `args`
    /// and reads its announcement: address, token, projects.
    pub fn start(bin_dir: &Path, args: &[String]) -> Result<SimProcess> {
        let bin = bin_dir.join("circleci-sim");
        let mut child = Command::new(&bin)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let stdout = child.stdout.take().context("simulator stdout")?;
        let announced = match Announcement::read(BufReader::new(stdout)) {
            Ok(announced) => announced,
            Err(e) => {
                // A simulator that said too little is not left running.
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        Ok(SimProcess {
            child,
            base_url: announced.base_url,
            token: announced.tokens.into_iter().next().unwrap_or_default(),
            projects: announced.projects,
        })
    }

    /// `127.0.0.1:PORT`.
    pub fn authority(&self) -> &str {
        self.base_url.trim_start_matches("http://")
    }

    /// The credential of the simulator's first tenant.
    pub fn credential(&self) -> Vec<(String, String)> {
        vec![
            ("api_key".to_string(), self.token.clone()),
            ("base_url".to_string(), self.base_url.clone()),
        ]
    }

    /// The credential as the CLI reads it.
    pub fn credential_json(&self) -> String {
        serde_json::json!({"api_key": self.token, "base_url": self.base_url}).to_string()
    }

    /// The simulator's own report: requests, connections, body bytes.
    pub fn stats(&self) -> Result<serde_json::Value> {
        let mut client = crate::native::NativeClient::new()?;
        let url = format!("{}/_sim/stats", self.base_url);
        let response = circleci_connector::http::HttpClient::get(&mut client, &url, &[])
            .map_err(|e| anyhow::anyhow!("cannot read the simulator's stats: {e:?}"))?;
        Ok(serde_json::from_slice(&response.body)?)
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Counters of two stats reports: what was served in between.
#[derive(Debug, Clone, Copy, Default)]
pub struct Served {
    pub requests: u64,
    pub connections: u64,
    pub body_bytes: u64,
}

impl Served {
    pub fn of(stats: &serde_json::Value) -> Served {
        let n = |k: &str| stats[k].as_u64().unwrap_or(0);
        Served {
            requests: n("requests"),
            connections: n("connections"),
            body_bytes: n("body_bytes"),
        }
    }

    pub fn since(self, before: Served) -> Served {
        Served {
            requests: self.requests - before.requests,
            // The later report's own connection was counted before it answered.
            connections: (self.connections - before.connections).saturating_sub(1),
            body_bytes: self.body_bytes - before.body_bytes,
        }
    }
}
