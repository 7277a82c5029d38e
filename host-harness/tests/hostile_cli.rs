//! The sandbox's promises as an operator meets them through the
//! `connector-harness` CLI, against hostile components built from source
//! (test-programs/hostile): each test here is a hole a red team found, and
//! fails on a host without its defence.
//!
//! - a handle flood ends with `limit-exceeded` while the process's peak RSS
//!   stays bounded (measured with `wait4`);
//! - a catalog that names streams like paths is refused, and nothing is
//!   written anywhere, inside `--out` or out;
//! - a guest's terminal escapes never reach stderr raw;
//! - output and state files are private (0600, or `--file-mode`), and a
//!   state the host refuses to save leaves the last one readable;
//! - the compile cache runs nothing it did not write itself for that very
//!   component;
//! - plain HTTP to CircleCI is refused by the default allow-list, naming
//!   the reason, before anything is resolved.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use conformance::sim::{SimConfig, Simulator};
use serde_json::json;

const TOKEN: &str = "CCIPAT_hostile_cli_token_31415926535";

struct Env {
    sim: Simulator,
    dir: PathBuf,
}

/// What a harness process did.
struct Run {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
    /// Peak resident set, from `wait4`.
    max_rss_kib: u64,
    wall: Duration,
}

impl Env {
    async fn new(label: &str) -> Env {
        let sim = Simulator::start(SimConfig::single(TOKEN, 1, 3))
            .await
            .unwrap();
        let dir =
            std::env::temp_dir().join(format!("harness-hostile-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Env { sim, dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn write(&self, name: &str, contents: &[u8]) -> String {
        let path = self.path(name);
        std::fs::write(&path, contents).unwrap();
        path.to_str().unwrap().to_string()
    }

    fn credential(&self) -> String {
        let doc = json!({"api_key": TOKEN, "base_url": self.sim.base_url()});
        self.write("credential.json", doc.to_string().as_bytes())
    }

    fn component(&self, name: &str) -> String {
        self.write(
            &format!("{name}.wasm"),
            hostile_artifacts::get(name).unwrap(),
        )
    }

    fn settings(&self, name: &str, settings: serde_json::Value) -> String {
        self.write(name, settings.to_string().as_bytes())
    }

    /// Runs the harness (allowed to reach the simulator, with a private
    /// cache), measuring its peak RSS.
    fn harness(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_connector-harness"));
        cmd.arg("--cache-dir")
            .arg(self.path("cache"))
            .args(["--allow-host", &format!("http://{}", self.sim.addr())])
            .args(args)
            .stdin(Stdio::null());
        run_measured(&mut cmd, &self.path("stdout"), &self.path("stderr"))
    }

    async fn finish(self) {
        self.sim.shutdown().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `cmd` with its output in files, and reaps it with `wait4` for its
/// own resource usage.
fn run_measured(cmd: &mut Command, stdout: &Path, stderr: &Path) -> Run {
    let started = Instant::now();
    let child = cmd
        .stdout(std::fs::File::create(stdout).unwrap())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: wait4 on our own child, which std has not reaped; `usage` is
    // written by the kernel.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        assert_eq!(libc::wait4(pid, &mut status, 0, &mut usage), pid);
        usage
    };
    std::mem::forget(child);
    Run {
        code: std::process::ExitStatus::from_raw(status)
            .code()
            .unwrap_or(-1),
        stdout: std::fs::read(stdout).unwrap(),
        stderr: std::fs::read_to_string(stderr).unwrap(),
        max_rss_kib: usage.ru_maxrss as u64,
        wall: started.elapsed(),
    }
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().mode() & 0o777
}

/// Every path under `dir`, recursively.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        out.push(path.clone());
        if path.is_dir() {
            out.extend(tree(&path));
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handle_flood_ends_at_its_limit_with_bounded_host_memory() {
    let env = Env::new("flood").await;
    let attack = env.component("attack");
    let credential = env.credential();
    // The red team's shape: a map of 3,000 values cloned and mutated over
    // and over (each step a full copy in the host); under the default
    // header-map limit it traps at once, so also a map that fits, cloned
    // until the handle limit.
    for (label, settings, limit) in [
        (
            "3,000 values",
            json!({"mode": "fields-clone", "values": 3000, "value_bytes": 20}),
            "header-bytes",
        ),
        (
            "fitting map",
            json!({"mode": "fields-clone"}),
            "host-resources",
        ),
        (
            "120 KB from-list",
            json!({"mode": "fields-big"}),
            "header-bytes",
        ),
    ] {
        let settings = env.settings("flood.json", settings);
        let run = env.harness(&[
            "--component",
            &attack,
            "fetch",
            "--credential",
            &credential,
            "--settings",
            &settings,
            "--stream",
            "items",
        ]);
        eprintln!(
            "attack {label}: exit {} after {:.2?}, peak RSS {} MiB: {}",
            run.code,
            run.wall,
            run.max_rss_kib / 1024,
            run.stderr.trim()
        );
        assert_eq!(run.code, 26, "limit-exceeded: {}", run.stderr);
        assert!(
            run.stderr
                .starts_with(&format!("error: limit-exceeded: {limit} limit of")),
            "{}",
            run.stderr
        );
        // The bound is 1,024 handles of at most 16 KiB; the process itself
        // (wasmtime, the compiled component) takes a few tens of MiB. The
        // host without the bound grew to gigabytes, or was killed.
        assert!(
            run.max_rss_kib < 256 * 1024,
            "peak RSS {} KiB",
            run.max_rss_kib
        );
    }
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stream_names_that_are_paths_are_refused_and_nothing_is_written() {
    let env = Env::new("names").await;
    let component = env.component("bad-names");
    let credential = env.credential();
    let out = env.path("out");
    std::fs::create_dir_all(&out).unwrap();
    // Another tenant's output beside ours, and what an escape would hit.
    let neighbour = env.path("jobs.jsonl");
    std::fs::write(&neighbour, b"{\"theirs\":1}\n").unwrap();
    let before = tree(&env.dir);
    for stream in ["all", "items"] {
        let run = env.harness(&[
            "--component",
            &component,
            "fetch",
            "--credential",
            &credential,
            "--stream",
            stream,
            "--out",
            out.to_str().unwrap(),
            "--state",
            env.path("state.json").to_str().unwrap(),
        ]);
        assert_eq!(run.code, 23, "load: {}", run.stderr);
        assert!(
            run.stderr.contains("the connector's catalog is refused")
                && run.stderr.contains("\"../escaped\""),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
    }
    let streams = env.harness(&["--component", &component, "streams"]);
    assert_eq!(streams.code, 23, "{}", streams.stderr);
    assert!(streams.stdout.is_empty(), "no catalog printed");
    // Nothing new anywhere but the harness's own run files.
    let after: Vec<PathBuf> = tree(&env.dir)
        .into_iter()
        .filter(|p| !p.starts_with(env.path("cache")))
        .filter(|p| !["stdout", "stderr"].iter().any(|n| p.ends_with(n)))
        .collect();
    let before: Vec<PathBuf> = before
        .into_iter()
        .filter(|p| !["stdout", "stderr"].iter().any(|n| p.ends_with(n)))
        .collect();
    assert_eq!(after, before);
    assert!(!Path::new("/tmp/hostile-absolute.jsonl").exists());
    assert_eq!(std::fs::read(&neighbour).unwrap(), b"{\"theirs\":1}\n");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_symlink_planted_in_the_output_directory_is_not_followed() {
    let env = Env::new("symlink").await;
    let credential = env.credential();
    let out = env.path("out");
    std::fs::create_dir_all(&out).unwrap();
    let victim = env.path("victim");
    std::fs::write(&victim, b"precious").unwrap();
    std::os::unix::fs::symlink(&victim, out.join("me.jsonl")).unwrap();
    let run = env.harness(&[
        "fetch",
        "--credential",
        &credential,
        "--stream",
        "me,projects",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 25, "io: {}", run.stderr);
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn terminal_controls_from_a_guest_never_reach_stderr_raw() {
    let env = Env::new("terminal").await;
    let attack = env.component("attack");
    let credential = env.credential();
    let settings = env.settings("terminal.json", json!({"mode": "terminal", "notice": true}));
    let run = env.harness(&[
        "--component",
        &attack,
        "--log",
        "debug",
        "fetch",
        "--credential",
        &credential,
        "--settings",
        &settings,
        "--stream",
        "items",
        "--no-retry",
    ]);
    assert_eq!(run.code, 17, "bad-response: {}", run.stderr);
    assert!(run.stderr.contains("\\u{1b}]0;pwned"), "{}", run.stderr);
    for c in ['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}'] {
        assert!(!run.stderr.contains(c), "{c:?} in {:?}", run.stderr);
    }
    let last = run.stderr.lines().last().unwrap();
    assert!(last.starts_with("error: bad-response: "), "{last}");
    assert!(last.contains("second line"), "one line: {last}");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn output_and_state_files_are_private_unless_the_operator_says() {
    let env = Env::new("modes").await;
    let credential = env.credential();
    // Under the usual umask, files would be 0644.
    for (extra, want) in [(None, 0o600), (Some("640"), 0o640)] {
        let out = env.path(&format!("out-{want:o}.jsonl"));
        let state = env.path(&format!("state-{want:o}.json"));
        let mut args = vec![];
        if let Some(mode) = extra {
            args.extend(["--file-mode", mode]);
        }
        args.extend([
            "fetch",
            "--credential",
            &credential,
            "--stream",
            "projects",
            "--out",
            out.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
        ]);
        let run = env.harness(&args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(mode_of(&out), want, "output");
        assert_eq!(mode_of(&state), want, "state");
    }
    let dir = env.path("dir");
    let run = env.harness(&[
        "fetch",
        "--credential",
        &credential,
        "--stream",
        "me,projects",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(mode_of(&dir.join("projects.jsonl")), 0o600);
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_state_the_host_saves_is_one_it_reads_back() {
    let env = Env::new("state").await;
    let attack = env.component("attack");
    let credential = env.credential();
    let state = env.path("state.json");
    let settings = env.settings("big.json", json!({"mode": "big-state"}));
    // The attack never says it is done: every run stops at --max-pages.
    let fetch = |extra: &[&str]| {
        let mut args = extra.to_vec();
        args.extend([
            "--component",
            &attack,
            "fetch",
            "--credential",
            &credential,
            "--settings",
            &settings,
            "--stream",
            "items",
            "--state",
            state.to_str().unwrap(),
            "--max-pages",
            "2",
        ]);
        env.harness(&args)
    };
    // A 5 MiB state is over the default page limit: refused, not saved.
    let run = fetch(&[]);
    assert_eq!(run.code, 26, "{}", run.stderr);
    assert!(run.stderr.contains("state-bytes limit"), "{}", run.stderr);
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert!(
        saved["streams"].get("items").is_none(),
        "nothing saved: {saved}"
    );
    // Allowed per page, it is saved, and the next run reads it back (the
    // host that saved a 5 MiB state then refused it as too large, exit 22,
    // could never resume).
    let run = fetch(&["--max-state-kb", "8192"]);
    assert_eq!(run.code, 24, "stopped at --max-pages: {}", run.stderr);
    assert!(std::fs::metadata(&state).unwrap().len() > 5 << 20);
    let run = fetch(&["--max-state-kb", "8192"]);
    assert_eq!(run.code, 24, "read back and resumed: {}", run.stderr);
    env.finish().await;
}

/// Whether the connector's CLI run printed the CircleCI catalog (and so
/// ran the CircleCI component, not something else under its name).
fn is_circleci_catalog(stdout: &[u8]) -> bool {
    let catalog: serde_json::Value = serde_json::from_slice(stdout).unwrap_or_default();
    catalog
        .as_array()
        .is_some_and(|s| s.iter().any(|s| s["name"] == "job_details"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_compile_cache_runs_only_what_it_wrote_for_that_component() {
    let env = Env::new("cache").await;
    let cache = env.path("cache");
    let leaky = env.component("leaky");
    let entries = || -> Vec<PathBuf> {
        tree(&cache)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
            .collect()
    };
    // Fill the cache with the connector's entry, then with leaky's.
    let run = env.harness(&["streams"]);
    assert!(is_circleci_catalog(&run.stdout), "{}", run.stderr);
    let connector_entry = entries().pop().unwrap();
    let run = env.harness(&["--component", &leaky, "streams"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let leaky_entry = entries()
        .into_iter()
        .find(|p| *p != connector_entry)
        .unwrap();
    assert_eq!(mode_of(&connector_entry), 0o600);
    assert_eq!(mode_of(&cache), 0o700);

    // leaky's compiled code copied under the connector's name: the next
    // run refuses it (its tag binds leaky) and runs the real connector.
    std::fs::copy(&leaky_entry, &connector_entry).unwrap();
    let run = env.harness(&["--log", "warn", "streams"]);
    assert!(is_circleci_catalog(&run.stdout), "{}", run.stderr);
    assert!(run.stderr.contains("does not verify"), "{}", run.stderr);
    // It was replaced by a good entry: the run after that hits the cache.
    let run = env.harness(&["--log", "warn", "streams"]);
    assert!(is_circleci_catalog(&run.stdout));
    assert!(run.stderr.is_empty(), "{}", run.stderr);

    // A symlink where an entry goes is not followed.
    std::fs::remove_file(&connector_entry).unwrap();
    std::os::unix::fs::symlink(&leaky_entry, &connector_entry).unwrap();
    let run = env.harness(&["--log", "warn", "streams"]);
    assert!(is_circleci_catalog(&run.stdout), "{}", run.stderr);
    assert!(
        !std::fs::symlink_metadata(&connector_entry)
            .unwrap()
            .file_type()
            .is_symlink(),
        "replaced by a file of its own"
    );

    // A cache directory others may write to is not used at all.
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let before = tree(&cache);
    let run = env.harness(&["--log", "warn", "--component", &leaky, "streams"]);
    assert_eq!(run.code, 0);
    assert!(
        run.stderr.contains("not private to this user"),
        "{}",
        run.stderr
    );
    assert_eq!(tree(&cache), before, "nothing read or written there");
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).unwrap();

    // An entry owned by another user is ignored (only root can make one).
    if unsafe { libc::geteuid() } == 0 {
        let owned = std::os::unix::fs::chown(&connector_entry, Some(65534), Some(65534));
        owned.unwrap();
        let run = env.harness(&["--log", "warn", "streams"]);
        assert!(is_circleci_catalog(&run.stdout));
        assert!(run.stderr.contains("not this user"), "{}", run.stderr);
        assert_eq!(
            std::fs::metadata(&connector_entry).unwrap().uid(),
            0,
            "replaced"
        );
    }
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_http_to_circleci_is_refused_by_default() {
    let env = Env::new("plain").await;
    for base_url in ["http://circleci.com", "http://circleci.com:8080"] {
        let credential = env.write(
            "plain.json",
            json!({"api_key": TOKEN, "base_url": base_url})
                .to_string()
                .as_bytes(),
        );
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_connector-harness"));
        cmd.arg("--cache-dir").arg(env.path("cache")).args([
            "validate",
            "--credential",
            &credential,
        ]);
        let run = run_measured(&mut cmd, &env.path("stdout"), &env.path("stderr"));
        assert_eq!(run.code, 16, "denied: {}", run.stderr);
        assert!(run.stderr.contains("https only"), "{}", run.stderr);
    }
    env.finish().await;
}
