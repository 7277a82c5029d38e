//! Finding (and, where we may, installing) a Rust toolchain that can build
//! for `wasm32-unknown-unknown`.
//!
//! Two kinds of toolchain work, tried in this order:
//!
//! 1. **Prebuilt std**: the toolchain that `cargo` on `PATH` would use (normally
//!    rustup's) ships `lib/rustlib/wasm32-unknown-unknown` in its sysroot, so a
//!    plain `cargo build --release --target wasm32-unknown-unknown` works,
//!    linked by the bundled `rust-lld`.
//! 2. **Debian, std built from source**: Debian's `rustc-web`, `cargo-web`,
//!    `rust-web-src` and `lld-N` packages give `/usr/bin/cargo`,
//!    `/usr/bin/rustc`, the std sources and `wasm-ld`, but no prebuilt wasm
//!    std. Cargo's `-Zbuild-std` (allowed on a stable compiler by
//!    `RUSTC_BOOTSTRAP=1`) compiles std for the target, and `wasm-ld` links.
//!
//! When neither is present, [`detect`] fails with a [`ToolchainMissing`] that
//! names the exact commands to run. [`ensure_installed`] goes one step further
//! when it is allowed to (root on Debian): it installs the Debian packages.
//!
//! We never run `rustup target add` ourselves: on machines without access to
//! rustup's download server it hangs instead of failing.

use anyhow::{Context, Result, anyhow, bail};
use std::ffi::OsString;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The target every guest is built for. Not `wasm32-wasip2`: that target
/// needs wasi-libc, and it would make the component import WASI interfaces
/// (filesystem, environment, clocks) that the connector's world does not
/// grant. `wasm32-unknown-unknown` imports only what the WIT world uses.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// The rustup way to get a wasm-capable toolchain.
pub const RUSTUP_INSTALL_COMMAND: &str = "rustup target add wasm32-unknown-unknown";

/// The Debian packages that make up the build-std toolchain.
pub const DEBIAN_PACKAGES: &[&str] = &["rustc-web", "cargo-web", "rust-web-src", "lld-22"];

/// The Debian way to get a wasm-capable toolchain (as root).
pub const DEBIAN_INSTALL_COMMAND: &str =
    "apt-get update && apt-get install -y rustc-web cargo-web rust-web-src lld-22";

/// Where Debian's toolchain lives. Fixed paths, on purpose: rustup's
/// `~/.cargo/bin` normally comes first on `PATH`, so looking `cargo` up by
/// name would find rustup's proxy instead.
const DEBIAN_CARGO: &str = "/usr/bin/cargo";
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
const DEBIAN_RUST_SRC: &str = "/usr/lib/rustlib/src/rust";
const DEBIAN_LLVM_ROOT: &str = "/usr/lib";

/// Probes (`rustc --print sysroot`) should answer in milliseconds; a bound
/// keeps a misconfigured rustup proxy (one that tries to download) from
/// hanging the whole build.
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

/// A toolchain that can build a crate for [`WASM_TARGET`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Toolchain {
    /// The toolchain of `cargo` on `PATH` has a prebuilt std for the target.
    Prebuilt {
        /// The program run as cargo (looked up on `PATH`, like the outer build).
        cargo: PathBuf,
        /// The sysroot that holds `lib/rustlib/wasm32-unknown-unknown`.
        sysroot: PathBuf,
    },
    /// Debian's toolchain: std is compiled from source with `-Zbuild-std`
    /// and linked with LLVM's `wasm-ld`.
    DebianBuildStd {
        /// `/usr/bin/cargo`.
        cargo: PathBuf,
        /// `/usr/bin/rustc`, passed as `RUSTC` so the choice does not depend
        /// on `PATH` order.
        rustc: PathBuf,
        /// The std sources (`/usr/lib/rustlib/src/rust`).
        rust_src: PathBuf,
        /// The LLVM `bin` directory that holds `wasm-ld` (the newest found).
        llvm_bin: PathBuf,
    },
}

impl Toolchain {
    /// `cargo build --release --target wasm32-unknown-unknown` for this
    /// toolchain, with the environment it needs. The caller adds the package,
    /// manifest, target dir and profile, and scrubs inherited variables.
    pub fn cargo_build_command(&self) -> Command {
        match self {
            Toolchain::Prebuilt { cargo, .. } => {
                let mut cmd = Command::new(cargo);
                cmd.args(["build", "--release", "--target", WASM_TARGET]);
                cmd
            }
            Toolchain::DebianBuildStd {
                cargo,
                rustc,
                llvm_bin,
                ..
            } => {
                let mut cmd = Command::new(cargo);
                // wasm-ld is found through PATH (the linker is named, not a
                // path, so rustc picks the right linker flavor); /usr/bin
                // comes next so Debian's tools win over rustup's proxies.
                cmd.env(
                    "PATH",
                    prepend_path(&[llvm_bin.as_path(), Path::new("/usr/bin")]),
                )
                // -Zbuild-std is unstable; this is how a stable compiler
                // accepts it. It affects only this inner build.
                .env("RUSTC_BOOTSTRAP", "1")
                .env("RUSTC", rustc)
                .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", "wasm-ld")
                .args([
                    "build",
                    "--release",
                    "-Zbuild-std=std,panic_abort",
                    "--target",
                    WASM_TARGET,
                ]);
                cmd
            }
        }
    }

    /// One line for logs: which toolchain and where.
    pub fn describe(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Toolchain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Toolchain::Prebuilt { cargo, sysroot } => write!(
                f,
                "prebuilt {WASM_TARGET} std ({} with sysroot {})",
                cargo.display(),
                sysroot.display()
            ),
            Toolchain::DebianBuildStd {
                cargo, llvm_bin, ..
            } => write!(
                f,
                "Debian toolchain with -Zbuild-std ({}, linker {}/wasm-ld)",
                cargo.display(),
                llvm_bin.display()
            ),
        }
    }
}

/// No toolchain can build for [`WASM_TARGET`]. Its message says what was
/// looked at and exactly what to install, both the rustup and the Debian way.
#[derive(Debug, Clone)]
pub struct ToolchainMissing {
    /// Why each candidate was rejected, one entry per candidate.
    pub findings: Vec<String>,
}

impl fmt::Display for ToolchainMissing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "no Rust toolchain that can build for {WASM_TARGET} was found:"
        )?;
        for finding in &self.findings {
            writeln!(f, "  - {finding}")?;
        }
        writeln!(f, "Install one of these, then build again:")?;
        writeln!(f, "  with rustup:       {RUSTUP_INSTALL_COMMAND}")?;
        write!(
            f,
            "  on Debian as root: {DEBIAN_INSTALL_COMMAND}\n\
             \x20                    (the project's `cargo xtask` commands do this for you when run as root)"
        )
    }
}

impl std::error::Error for ToolchainMissing {}

/// Finds a toolchain that can build for [`WASM_TARGET`]: rustup's (or
/// whichever `cargo`/`rustc` are on `PATH`) with a prebuilt std first, then
/// Debian's with build-std. Installs nothing.
///
/// The error, when neither is usable, is a [`ToolchainMissing`] (reachable
/// with `downcast_ref`) listing the commands to run.
pub fn detect() -> Result<Toolchain> {
    let mut findings = Vec::new();
    match detect_prebuilt() {
        Ok(toolchain) => return Ok(toolchain),
        Err(why) => findings.push(format!("toolchain of `cargo` on PATH: {why:#}")),
    }
    match detect_debian(Path::new(DEBIAN_LLVM_ROOT)) {
        Ok(toolchain) => return Ok(toolchain),
        Err(why) => findings.push(format!("Debian toolchain: {why:#}")),
    }
    Err(anyhow::Error::new(ToolchainMissing { findings }))
}

/// Like [`detect`], but when nothing is found and this process may install
/// system packages (root on Debian), installs Debian's toolchain with
/// `apt-get` (its output streamed to our stderr) and detects again.
///
/// Meant for interactive entry points such as the project's xtask, never for
/// build scripts: installing system packages is not a build step's business.
pub fn ensure_installed() -> Result<Toolchain> {
    let missing = match detect() {
        Ok(toolchain) => return Ok(toolchain),
        Err(err) => err,
    };
    if !is_debian() {
        return Err(missing.context("not a Debian system, so nothing was installed"));
    }
    match effective_uid() {
        Some(0) => {}
        Some(uid) => {
            return Err(missing.context(format!(
                "running as uid {uid}, not root, so the Debian packages were not installed"
            )));
        }
        None => {
            return Err(missing.context(
                "could not tell whether this process runs as root, so nothing was installed",
            ));
        }
    }

    eprintln!(
        "component-build: no {WASM_TARGET} toolchain found; installing Debian's ({})",
        DEBIAN_PACKAGES.join(" ")
    );
    run_apt(&["update"], DEBIAN_INSTALL_COMMAND)?;
    let mut install = vec!["install", "-y"];
    install.extend_from_slice(DEBIAN_PACKAGES);
    run_apt(&install, DEBIAN_INSTALL_COMMAND)?;

    detect().context("the Debian packages were installed, but the toolchain is still not usable")
}

/// Runs `apt-get ARGS` non-interactively, streaming its output to stderr,
/// failing on a non-zero exit with `by_hand`, the command to run to see why
/// (also used by the tests' Python set-up, which installs Debian packages
/// the same way).
pub fn run_apt(args: &[&str], by_hand: &str) -> Result<()> {
    eprintln!("component-build: running apt-get {}", args.join(" "));
    let status = Command::new("apt-get")
        .args(args)
        // Never stop at a debconf question: there is nobody to answer it.
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        // Our stdout may be a build script's directive channel or JSON; keep
        // apt's chatter on stderr.
        .stdout(Stdio::from(std::io::stderr()))
        .stderr(Stdio::inherit())
        .status()
        .context("could not run apt-get")?;
    if !status.success() {
        bail!(
            "`apt-get {}` failed ({status}); run `{by_hand}` by hand to see why",
            args.join(" ")
        );
    }
    Ok(())
}

/// Case (a): the sysroot of the `rustc` that `cargo` on `PATH` would use has
/// the target's std.
fn detect_prebuilt() -> Result<Toolchain> {
    // `cargo` finds `rustc` next to itself/on PATH (rustup's proxies pick the
    // same toolchain for both), and the inner build runs with `RUSTC` unset,
    // so asking `rustc` on PATH gives the sysroot the inner cargo will use.
    let mut probe = Command::new("rustc");
    probe.args(["--print", "sysroot"]).env_remove("RUSTC");
    let sysroot = run_probe(probe).context("`rustc --print sysroot` failed")?;
    let sysroot = PathBuf::from(sysroot.trim());
    let target_lib = sysroot.join("lib/rustlib").join(WASM_TARGET);
    if !target_lib.is_dir() {
        bail!(
            "sysroot {} has no {} (the {WASM_TARGET} std is not installed)",
            sysroot.display(),
            target_lib.display()
        );
    }
    Ok(Toolchain::Prebuilt {
        cargo: PathBuf::from("cargo"),
        sysroot,
    })
}

/// Case (b): Debian's cargo, rustc, std sources and a `wasm-ld`.
fn detect_debian(llvm_root: &Path) -> Result<Toolchain> {
    let mut missing = Vec::new();
    for tool in [DEBIAN_CARGO, DEBIAN_RUSTC] {
        if !Path::new(tool).is_file() {
            missing.push(format!("{tool} not found"));
        }
    }
    // `library/std` is what build-std compiles; the directory alone can exist
    // without it when rust-web-src is half removed.
    let std_src = Path::new(DEBIAN_RUST_SRC).join("library/std");
    if !std_src.is_dir() {
        missing.push(format!("{} not found (std sources)", std_src.display()));
    }
    let llvm_bin = newest_wasm_ld_dir(llvm_root);
    if llvm_bin.is_none() {
        missing.push(format!(
            "no wasm-ld under {}/llvm-*/bin",
            llvm_root.display()
        ));
    }
    match llvm_bin {
        Some(llvm_bin) if missing.is_empty() => Ok(Toolchain::DebianBuildStd {
            cargo: PathBuf::from(DEBIAN_CARGO),
            rustc: PathBuf::from(DEBIAN_RUSTC),
            rust_src: PathBuf::from(DEBIAN_RUST_SRC),
            llvm_bin,
        }),
        _ => Err(anyhow!("{}", missing.join("; "))),
    }
}

/// The `bin` directory of the newest `llvm-N` under `llvm_root` that has a
/// `wasm-ld`. Newest by version number, so `llvm-22` beats `llvm-9`.
pub fn newest_wasm_ld_dir(llvm_root: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(llvm_root).ok()?;
    let mut best: Option<(Vec<u64>, PathBuf)> = None;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(version) = name.to_str().and_then(llvm_dir_version) else {
            continue;
        };
        let bin = entry.path().join("bin");
        if !bin.join("wasm-ld").is_file() {
            continue;
        }
        if best.as_ref().is_none_or(|(v, _)| version > *v) {
            best = Some((version, bin));
        }
    }
    best.map(|(_, bin)| bin)
}

/// `llvm-22` → `[22]`, `llvm-18.1` → `[18, 1]`; anything else → `None`.
pub(crate) fn llvm_dir_version(name: &str) -> Option<Vec<u64>> {
    let version = name.strip_prefix("llvm-")?;
    version.split('.').map(|part| part.parse().ok()).collect()
}

/// `dirs` followed by the current `PATH`.
fn prepend_path(dirs: &[&Path]) -> OsString {
    let mut all: Vec<PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
    if let Some(path) = std::env::var_os("PATH") {
        all.extend(std::env::split_paths(&path));
    }
    // Only fails if a directory contains the separator; ours do not, and a
    // PATH that already held such an entry could not have been split.
    std::env::join_paths(all).unwrap_or_else(|_| std::env::var_os("PATH").unwrap_or_default())
}

/// Whether this is a Debian (or Debian-based) system.
pub fn is_debian() -> bool {
    Path::new("/etc/debian_version").exists()
}

/// The effective user id, from `/proc/self/status` (no libc needed), or from
/// `id -u` where there is no procfs.
pub fn effective_uid() -> Option<u32> {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(uid) = parse_effective_uid(&status)
    {
        return Some(uid);
    }
    let out = Command::new("id").arg("-u").output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

/// The effective uid from `/proc/self/status` text: the second number of
/// the `Uid:` line (real, effective, saved, filesystem).
pub(crate) fn parse_effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Runs a short probe command and returns its stdout, bounded by
/// [`PROBE_TIMEOUT`]; its stderr goes into the error when it fails.
fn run_probe(mut cmd: Command) -> Result<String> {
    let program = format!("{:?}", cmd.get_program());
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not run {program}"))?;
    // Read the pipes on threads so a chatty child cannot block on a full
    // pipe while we wait for it.
    let stdout = child.stdout.take().map(read_on_thread);
    let stderr = child.stderr.take().map(read_on_thread);
    let deadline = Instant::now() + PROBE_TIMEOUT;
    let status = loop {
        match child.try_wait().context("waiting for a probe")? {
            Some(status) => break status,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("{program} did not answer within {PROBE_TIMEOUT:?}");
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let stdout = stdout
        .map(|h| h.join().unwrap_or_default())
        .unwrap_or_default();
    let stderr = stderr
        .map(|h| h.join().unwrap_or_default())
        .unwrap_or_default();
    if !status.success() {
        bail!("{program} failed ({status}): {}", stderr.trim());
    }
    Ok(stdout)
}

fn read_on_thread(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llvm_versions_compare_numerically() {
        assert_eq!(llvm_dir_version("llvm-22"), Some(vec![22]));
        assert_eq!(llvm_dir_version("llvm-18.1"), Some(vec![18, 1]));
        assert_eq!(llvm_dir_version("llvm"), None);
        assert_eq!(llvm_dir_version("llvm-x"), None);
        assert!(llvm_dir_version("llvm-22") > llvm_dir_version("llvm-9"));
    }

    #[test]
    fn newest_wasm_ld_wins() {
        let root = std::env::temp_dir().join(format!("cb-llvm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (dir, has_wasm_ld) in [("llvm-9", true), ("llvm-22", true), ("llvm-30", false)] {
            let bin = root.join(dir).join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            if has_wasm_ld {
                std::fs::write(bin.join("wasm-ld"), b"").unwrap();
            }
        }
        assert_eq!(newest_wasm_ld_dir(&root), Some(root.join("llvm-22/bin")));
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(newest_wasm_ld_dir(&root), None);
    }

    #[test]
    fn effective_uid_is_the_second_field() {
        let status = "Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t0\t0\t0\t0\n";
        assert_eq!(parse_effective_uid(status), Some(0));
        assert_eq!(parse_effective_uid("Name:\tx\n"), None);
    }

    #[test]
    fn missing_toolchain_names_both_install_commands() {
        let msg = ToolchainMissing {
            findings: vec!["a".into(), "b".into()],
        }
        .to_string();
        assert!(
            msg.contains("rustup target add wasm32-unknown-unknown"),
            "{msg}"
        );
        assert!(
            msg.contains("apt-get install -y rustc-web cargo-web rust-web-src lld-22"),
            "{msg}"
        );
        assert!(msg.contains("apt-get update"), "{msg}");
    }

    #[test]
    fn debian_command_sets_build_std_environment() {
        let toolchain = Toolchain::DebianBuildStd {
            cargo: DEBIAN_CARGO.into(),
            rustc: DEBIAN_RUSTC.into(),
            rust_src: DEBIAN_RUST_SRC.into(),
            llvm_bin: "/usr/lib/llvm-22/bin".into(),
        };
        let cmd = toolchain.cargo_build_command();
        let args: Vec<_> = cmd.get_args().collect();
        assert!(args.contains(&"-Zbuild-std=std,panic_abort".as_ref()));
        let envs: Vec<_> = cmd.get_envs().collect();
        assert!(envs.contains(&("RUSTC_BOOTSTRAP".as_ref(), Some("1".as_ref()))));
        let path = envs.iter().find(|(k, _)| *k == "PATH").unwrap().1.unwrap();
        assert!(
            path.to_str()
                .unwrap()
                .starts_with("/usr/lib/llvm-22/bin:/usr/bin")
        );
    }
}
