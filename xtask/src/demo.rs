//! `cargo xtask demo`: the whole product, end to end, against the built-in
//! CircleCI simulator (no real CircleCI is reachable from here).
//!
//! It builds the harness and the simulator, starts the simulator on a free
//! loopback port, writes a good and a bad credential into a private temporary
//! directory, and runs the real `connector-harness` binary the way an
//! operator would: schema, validate twice, a full sync of every stream, then
//! (after the simulated CircleCI moved on) an incremental sync.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::{cargo, run};

/// The simulator, killed when dropped so the demo never leaves it running.
struct Simulator {
    child: Child,
    base_url: String,
    token: String,
    projects: Vec<String>,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn run_demo(root: &Path) -> Result<()> {
    step("building the connector component, the harness and the simulator");
    run(cargo().current_dir(root).args([
        "build",
        "--release",
        "-p",
        "host-harness",
        "-p",
        "conformance",
        "--bins",
    ]))?;
    let bin = root.join("target/release");
    let harness = bin.join("connector-harness");

    let sim = start_simulator(&bin.join("circleci-sim"))?;
    println!(
        "simulator listening on {} with {} projects",
        sim.base_url,
        sim.projects.len()
    );

    let work = std::env::temp_dir().join(format!("connector-demo-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let result = walk_through(&harness, &sim, &work);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn walk_through(harness: &Path, sim: &Simulator, work: &Path) -> Result<()> {
    // The simulator speaks plain HTTP, which the allow-list admits only
    // when a rule says so.
    let allow = sim.base_url.clone();
    let addr = host_port(&allow);
    let harness_cmd = |args: &[&str]| {
        let mut cmd = Command::new(harness);
        cmd.args(["--allow-host", &allow]).args(args);
        cmd
    };

    step("connector-harness schema");
    let schema: Value = serde_json::from_slice(&output_of(&mut harness_cmd(&["schema"]))?)?;
    for field in schema["credential"]["fields"]
        .as_array()
        .into_iter()
        .flatten()
    {
        println!(
            "  {:<10} {:<14} kind={:<6} required={}",
            field["key"].as_str().unwrap_or(""),
            field["label"].as_str().unwrap_or(""),
            field["kind"].as_str().unwrap_or(""),
            field["required"]
        );
    }
    let settings: Vec<&String> = schema["settings"]["json_schema"]["properties"]
        .as_object()
        .into_iter()
        .flat_map(|p| p.keys())
        .collect();
    println!(
        "  settings (all optional): {}",
        settings
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );

    let good = write_private(
        work,
        "credential.json",
        &json!({"api_key": sim.token, "base_url": sim.base_url}),
    )?;
    let bad = write_private(
        work,
        "bad-credential.json",
        &json!({"api_key": "CCIPAT_not_a_real_token", "base_url": sim.base_url}),
    )?;

    step("connector-harness validate (good key)");
    let account: Value = serde_json::from_slice(&output_of(&mut harness_cmd(&[
        "validate",
        "--credential",
        path(&good),
    ]))?)?;
    println!(
        "  valid: account {} ({})",
        account["name"].as_str().unwrap_or("?"),
        account["id"].as_str().unwrap_or("?")
    );

    step("connector-harness validate (bad key)");
    let out = harness_cmd(&["validate", "--credential", path(&bad)]).output()?;
    println!(
        "  refused as expected: exit code {}, {}",
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    if out.status.success() {
        bail!("the bad key was accepted");
    }

    let settings = write_private(
        work,
        "settings.json",
        &json!({"project_slugs": sim.projects}),
    )?;
    let streams: Value = serde_json::from_slice(&output_of(&mut harness_cmd(&["streams"]))?)?;
    let catalog: Vec<String> = streams
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str().map(String::from))
        .collect();
    let state = work.join("sync.state.json");
    let out_dir = work.join("out");
    let fetch_all = |what: &str| -> Result<Vec<(String, usize)>> {
        step(&format!("connector-harness fetch --stream all ({what})"));
        run(&mut harness_cmd(&[
            "fetch",
            "--credential",
            path(&good),
            "--settings",
            path(&settings),
            "--stream",
            "all",
            "--state",
            path(&state),
            "--out",
            path(&out_dir),
        ]))?;
        let mut counts = Vec::new();
        for entry in std::fs::read_dir(&out_dir)? {
            let entry = entry?;
            let name = entry
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".jsonl")
                .to_string();
            counts.push((name, std::fs::read_to_string(entry.path())?.lines().count()));
        }
        // In the catalog's order (parents first), as `streams` lists them.
        counts.sort_by_key(|(name, _)| catalog.iter().position(|s| s == name));
        Ok(counts)
    };
    let first = fetch_all("first sync: everything")?;
    if let Some(line) = std::fs::read_to_string(out_dir.join("jobs.jsonl"))?
        .lines()
        .next()
    {
        let job: Value = serde_json::from_str(line)?;
        println!(
            "  a job record carries its parents: workflow_id={} pipeline_id={} project_slug={}",
            job["workflow_id"], job["pipeline_id"], job["project_slug"]
        );
    }
    // The upstream moves on: new pipelines, running work finishing.
    simulator_post(&addr, "/_sim/advance")?;
    let second = fetch_all("second sync, after CircleCI moved on: only what is new or changed")?;

    step("summary");
    println!(
        "  {:<30} {:>12} {:>12}   (full-refresh streams read everything again)",
        "stream", "first sync", "second sync"
    );
    for (stream, count) in &first {
        let again = second
            .iter()
            .find(|(s, _)| s == stream)
            .map_or(0, |(_, n)| *n);
        println!("  {stream:<30} {count:>12} {again:>12}");
    }
    let stats = simulator_stats(&addr)?;
    println!(
        "  the simulator served {} requests, {} of them with a Circle-Token header; answers by status: {}",
        stats["requests"], stats["with_circle_token"], stats["statuses"]
    );
    Ok(())
}

/// `host:port` of a base URL such as `http://127.0.0.1:8080`: where the
/// simulator's own endpoints are reached directly (a socket address, not a
/// URL).
fn host_port(base_url: &str) -> String {
    base_url
        .strip_prefix("http://")
        .unwrap_or(base_url)
        .trim_end_matches('/')
        .to_string()
}

/// The simulator's own report on what it served (`GET /_sim/stats`).
fn simulator_stats(addr: &str) -> Result<Value> {
    simulator_call(addr, "GET", "/_sim/stats")
}

/// Asks the simulator to do something (`POST /_sim/advance`).
fn simulator_post(addr: &str, path: &str) -> Result<Value> {
    simulator_call(addr, "POST", path)
}

/// One request to the simulator's own endpoints, as minimal HTTP/1.0 so
/// the demo needs no HTTP client crate.
fn simulator_call(addr: &str, method: &str, path: &str) -> Result<Value> {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(addr)?;
    conn.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    write!(
        conn,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"
    )?;
    let mut response = String::new();
    conn.read_to_string(&mut response)?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .context("no HTTP body")?;
    Ok(serde_json::from_str(body)?)
}

fn start_simulator(bin: &Path) -> Result<Simulator> {
    let mut child = Command::new(bin)
        .args(["--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    let stdout = child.stdout.take().context("simulator stdout")?;
    let mut sim = Simulator {
        child,
        base_url: String::new(),
        token: String::new(),
        projects: Vec::new(),
    };
    let mut lines = BufReader::new(stdout).lines();
    // The simulator announces itself, its token(s) and its projects, then a
    // blank line; it prints nothing after that.
    for line in lines.by_ref() {
        let line = line?;
        if let Some(url) = line.strip_prefix("listening on ") {
            sim.base_url = url.trim().to_string();
        } else if let Some(token) = line.strip_prefix("token: ") {
            if sim.token.is_empty() {
                sim.token = token.trim().to_string();
            }
        } else if let Some(project) = line.strip_prefix("project: ") {
            sim.projects.push(project.trim().to_string());
        } else if line.trim().is_empty() {
            break;
        }
    }
    if sim.base_url.is_empty() || sim.token.is_empty() || sim.projects.is_empty() {
        bail!("the simulator did not announce its address, token and projects");
    }
    Ok(sim)
}

fn output_of(cmd: &mut Command) -> Result<Vec<u8>> {
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed with {}", out.status);
    }
    Ok(out.stdout)
}

/// Writes a JSON file readable by this user only: it may hold a secret.
fn write_private(dir: &Path, name: &str, value: &Value) -> Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(name);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&path)?;
    file.write_all(serde_json::to_string_pretty(value)?.as_bytes())?;
    Ok(path)
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

fn step(what: &str) {
    println!("\n== {what}");
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_simulator_is_reached_at_host_and_port() {
        assert_eq!(super::host_port("http://127.0.0.1:8080"), "127.0.0.1:8080");
        assert_eq!(super::host_port("http://127.0.0.1:8080/"), "127.0.0.1:8080");
        assert_eq!(super::host_port("127.0.0.1:8080"), "127.0.0.1:8080");
    }
}
