//! Project automation, run as `cargo xtask <command>`:
//!
//! - `test`: installs the wasm toolchain if this machine lacks it, then runs
//!   every test of the workspace (the component is built from source by
//!   `connector-artifacts`' build script on the way), and fails if the
//!   tests' output holds an API token ([`scan`]).
//! - `demo`: the same set-up, then starts the CircleCI simulator and walks
//!   the harness through schema → validate (good and bad key) → fetch
//!   projects and pipelines, and prints a summary.
//! - `bench`: the same set-up, then builds the harness, the simulator and
//!   the benchmark in release and runs `connector-bench` (BENCHMARKS.md);
//!   extra arguments go to it (`cargo xtask bench -- --help`).
//! - `toolchain`: only the set-up.
//!
//! Everything a newcomer needs is here, so the README's two commands work on
//! a fresh machine.

mod demo;
mod scan;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("demo") => ensure_toolchain().and_then(|()| demo::run_demo(&workspace_root())),
        Some("bench") => bench(&args[1..]),
        Some("toolchain") => ensure_toolchain(),
        _ => {
            eprintln!(
                "usage: cargo xtask <test [cargo test args…] | demo | bench [connector-bench args…] | toolchain>"
            );
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("xtask: {e:#}");
        std::process::exit(1);
    }
}

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits inside the workspace")
        .to_path_buf()
}

/// Makes sure a wasm32 toolchain is present, installing Debian's if we may.
fn ensure_toolchain() -> Result<()> {
    let toolchain = component_build::toolchain::ensure_installed()?;
    eprintln!("xtask: wasm toolchain: {}", toolchain.describe());
    Ok(())
}

/// Builds the host library without its default features, then runs the
/// whole test suite in release mode (the harness, the simulator and
/// wasmtime are built once, in one profile, for tests and demo alike).
fn test(extra: &[String]) -> Result<()> {
    ensure_toolchain()?;
    // The host library as an embedder takes it: without the CLI and the
    // built-in component, so without clap or the wasm toolchain. Built
    // (not checked) so its dependencies are the ones the tests link.
    run(cargo().current_dir(workspace_root()).args([
        "build",
        "--release",
        "-p",
        "host-harness",
        "--no-default-features",
        "--lib",
    ]))?;
    let mut cmd = cargo();
    cmd.current_dir(workspace_root())
        .args(["test", "--release", "--workspace"])
        .args(extra);
    scan::run_and_scan(&mut cmd)
}

/// Builds the benchmark and what it drives (the CLI, the simulator), then
/// runs it from the workspace root so its results land in `target/bench/`.
fn bench(extra: &[String]) -> Result<()> {
    ensure_toolchain()?;
    let root = workspace_root();
    run(cargo().current_dir(&root).args([
        "build",
        "--release",
        "-p",
        "connector-bench",
        "-p",
        "host-harness",
        "-p",
        "conformance",
        "--bins",
    ]))?;
    let extra = extra.strip_prefix(&["--".to_string()]).unwrap_or(extra);
    run(Command::new(root.join("target/release/connector-bench"))
        .current_dir(&root)
        .args(extra))
}

/// The cargo that runs xtask (rustup's), not whatever is first on PATH.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs a command to completion, failing with its exit status.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !status.success() {
        bail!("{:?} failed with {status}", cmd.get_program());
    }
    Ok(())
}
