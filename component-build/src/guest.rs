//! Building a guest crate into a core WebAssembly module.
//!
//! The guest is built by a cargo invocation of its own, with its own target
//! directory (the pattern of wasmtime's `crates/test-programs/artifacts`
//! build script): the outer build holds a lock on its target directory while
//! build scripts run, so sharing it would deadlock, and the guest's target and
//! profile have nothing in common with the host's anyway.
//!
//! Everything the outer cargo (or a build script) leaks into the environment
//! that would change what the inner cargo does is removed first; see
//! [`is_leaked_build_var`].

use crate::toolchain::{self, Toolchain, WASM_TARGET};
use anyhow::{Context, Result, bail};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The guest's release profile, passed as `CARGO_PROFILE_RELEASE_*`
/// variables so the workspace's `[profile.release]` can stay tuned for the
/// host. Speed first: the guest's code runs for every page of every sync,
/// and opt-level 3 costs CPU time far less than `s` for somewhat more
/// bytes (BENCHMARKS.md has both figures).
pub const GUEST_PROFILE: &[(&str, &str)] = &[
    ("CARGO_PROFILE_RELEASE_OPT_LEVEL", "3"),
    ("CARGO_PROFILE_RELEASE_LTO", "true"),
    ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1"),
    // No unwinding in the guest: a panic traps, and the host sees a trap.
    ("CARGO_PROFILE_RELEASE_PANIC", "abort"),
    // Strips symbols and the name section; custom sections such as
    // wit-bindgen's `component-type:*` are kept, the encoder needs them.
    ("CARGO_PROFILE_RELEASE_STRIP", "true"),
    ("CARGO_PROFILE_RELEASE_DEBUG", "false"),
];

/// Variables removed from the inner cargo's environment, by exact name.
///
/// They are set by an outer cargo for the build script that calls us, or by
/// tools wrapping the outer build (clippy, sccache, coverage), and describe
/// the *host* build: its target dir, target, compiler, flags, jobserver,
/// package and profile. Left in place, the inner cargo would build into the
/// outer target dir (and block on its lock), compile for the host's flags,
/// run clippy on the guest, and so on.
pub const LEAKED_VARS: &[&str] = &[
    // Where and for what to build: we pass our own --target-dir and --target.
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_BUILD_DIR",
    "CARGO_BUILD_TARGET",
    // Host compiler flags; wrong (or fatal, e.g. -C target-cpu) for wasm.
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTDOCFLAGS",
    "CARGO_ENCODED_RUSTDOCFLAGS",
    // The outer compiler and wrappers (clippy-driver, sccache, miri).
    "RUSTC",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_RUSTC",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
    "RUSTDOC",
    "RUSTC_LINKER",
    // Set again by the Debian toolchain when it needs it.
    "RUSTC_BOOTSTRAP",
    // The outer jobserver: its file descriptors are not guaranteed to be
    // open in this process (xtask, tests), and a dangling one makes cargo warn
    // or fail. The inner cargo runs its own job pool instead.
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
    "MFLAGS",
    // What cargo tells a build script about the package being built.
    "CARGO",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_MANIFEST_LINKS",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
    "OUT_DIR",
    "TARGET",
    "HOST",
    "PROFILE",
    "OPT_LEVEL",
    "DEBUG",
    "NUM_JOBS",
];

/// Variables removed from the inner cargo's environment, by prefix: the
/// outer package's metadata, cfgs, features, `links` metadata, cargo's
/// internal variables, and profile overrides meant for the host (the guest's
/// profile is [`GUEST_PROFILE`]).
pub const LEAKED_PREFIXES: &[&str] = &[
    "CARGO_PKG_",
    "CARGO_CFG_",
    "CARGO_FEATURE_",
    "CARGO_PROFILE_",
    "DEP_",
    "__CARGO_",
];

/// Whether `name` is a variable from the outer build that must not reach the
/// inner cargo.
pub fn is_leaked_build_var(name: &str) -> bool {
    LEAKED_VARS.contains(&name) || LEAKED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Removes every leaked build variable present in this process's
/// environment from `cmd`, except those `cmd` sets explicitly (the toolchain
/// sets `RUSTC`, `RUSTC_BOOTSTRAP`, `PATH` on purpose).
pub fn scrub_env(cmd: &mut Command) {
    let explicit: Vec<_> = cmd
        .get_envs()
        .filter(|(_, value)| value.is_some())
        .map(|(key, _)| key.to_os_string())
        .collect();
    for (key, _) in std::env::vars_os() {
        let leaked = key.to_str().is_some_and(is_leaked_build_var);
        if leaked && !explicit.contains(&key) {
            cmd.env_remove(&key);
        }
    }
}

/// What to build and where.
#[derive(Debug, Clone)]
pub struct GuestBuild {
    /// The workspace that contains the guest (its `Cargo.toml` and
    /// `Cargo.lock` are used; cargo runs in this directory so its
    /// `.cargo/config.toml` applies).
    pub workspace_root: PathBuf,
    /// The guest's package name, e.g. `circleci-connector`.
    pub package: String,
    /// The inner build's own target directory, e.g. `<workspace>/target/guest`.
    /// Never the outer build's: the outer cargo holds its lock.
    pub target_dir: PathBuf,
    /// The `[lib] name` if it differs from the package name with `-` → `_`.
    pub lib_name: Option<String>,
    /// The toolchain to use; `None` detects one with [`toolchain::detect`].
    pub toolchain: Option<Toolchain>,
    /// Pass `--locked`: the inner cargo may read `Cargo.lock` but never
    /// rewrite it (the outer cargo, possibly another version, owns it).
    pub locked: bool,
    /// Cargo features of the guest package to enable (`--features`); none
    /// by default.
    pub features: Vec<String>,
    /// Pass `--no-default-features`.
    pub no_default_features: bool,
}

impl GuestBuild {
    /// A build of `package` in `workspace_root` into `target_dir`, with the
    /// toolchain detected and `Cargo.lock` read-only.
    pub fn new(
        workspace_root: impl Into<PathBuf>,
        package: impl Into<String>,
        target_dir: impl Into<PathBuf>,
    ) -> Self {
        GuestBuild {
            workspace_root: workspace_root.into(),
            package: package.into(),
            target_dir: target_dir.into(),
            lib_name: None,
            toolchain: None,
            locked: true,
            features: Vec::new(),
            no_default_features: false,
        }
    }

    /// The name of the cdylib's output file, without extension.
    fn lib_name(&self) -> String {
        self.lib_name
            .clone()
            .unwrap_or_else(|| self.package.replace('-', "_"))
    }

    /// Where cargo puts the core module.
    pub fn artifact_path(&self) -> PathBuf {
        self.target_dir
            .join(WASM_TARGET)
            .join("release")
            .join(format!("{}.wasm", self.lib_name()))
    }

    /// The full inner cargo command for `toolchain`.
    pub fn command(&self, toolchain: &Toolchain) -> Command {
        let mut cmd = toolchain.cargo_build_command();
        cmd.arg("--package")
            .arg(&self.package)
            .arg("--manifest-path")
            .arg(self.workspace_root.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&self.target_dir)
            .current_dir(&self.workspace_root);
        if self.locked {
            cmd.arg("--locked");
        }
        if !self.features.is_empty() {
            // Qualified with the package, so they can only mean its features.
            let features: Vec<String> = self
                .features
                .iter()
                .map(|f| format!("{}/{f}", self.package))
                .collect();
            cmd.arg("--features").arg(features.join(","));
        }
        if self.no_default_features {
            cmd.arg("--no-default-features");
        }
        for (key, value) in GUEST_PROFILE {
            cmd.env(key, value);
        }

        scrub_env(&mut cmd);
        cmd
    }
}

/// Builds the guest and returns the path of its core `.wasm` module.
///
/// Cargo's output is streamed to this process's stderr (its stdout too: in a
/// build script, stdout carries `cargo:` directives). On failure the error
/// repeats cargo's `error` lines, so it stands on its own when the stream was
/// not seen.
pub fn build_guest(build: &GuestBuild) -> Result<PathBuf> {
    let toolchain = match &build.toolchain {
        Some(toolchain) => toolchain.clone(),
        None => toolchain::detect()?,
    };
    let manifest = build.workspace_root.join("Cargo.toml");
    if !manifest.is_file() {
        bail!("no workspace manifest at {}", manifest.display());
    }
    std::fs::create_dir_all(&build.target_dir).with_context(|| {
        format!(
            "could not create the guest target dir {}",
            build.target_dir.display()
        )
    })?;

    let mut cmd = build.command(&toolchain);
    eprintln!(
        "component-build: building `{}`{} for {WASM_TARGET} with {toolchain}",
        build.package,
        if build.features.is_empty() {
            String::new()
        } else {
            format!(" (features {})", build.features.join(", "))
        }
    );
    eprintln!("component-build: running {}", describe_command(&cmd));

    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::io::stderr()))
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start {:?}", cmd.get_program()))?;
    let error_lines = child.stderr.take().map(tee_to_stderr).unwrap_or_default();
    let status = child
        .wait()
        .context("waiting for the guest's cargo build")?;
    if !status.success() {
        let mut msg = format!(
            "`cargo build` of guest `{}` failed ({status}); its full output is above",
            build.package
        );
        for line in &error_lines {
            msg.push_str("\n  ");
            msg.push_str(line);
        }
        if build.locked && error_lines.iter().any(|l| l.contains("--locked")) {
            // Seen when a manifest changes between the outer cargo's
            // resolution and this build (someone editing a Cargo.toml).
            msg.push_str(
                "\nhint: Cargo.lock does not match the workspace's manifests (was a \
                 Cargo.toml edited during the build?). The guest build never rewrites \
                 Cargo.lock; build again and the outer cargo will update it first.",
            );
        }
        bail!(msg);
    }

    let artifact = build.artifact_path();
    if !artifact.is_file() {
        bail!(
            "cargo built `{}` but {} does not exist (is the crate a `cdylib`? set \
             `lib_name` if its [lib] name differs from the package name)",
            build.package,
            artifact.display()
        );
    }
    Ok(artifact)
}

/// Copies a child's stderr to ours line by line as it arrives and keeps the
/// lines that carry errors (at most a screenful) for the error message.
fn tee_to_stderr(pipe: std::process::ChildStderr) -> Vec<String> {
    const KEEP: usize = 40;
    let mut kept = Vec::new();
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::new();
    let stderr = std::io::stderr();
    loop {
        line.clear();
        // A read error ends the copy, not the build: the exit status below
        // still decides success.
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        // Best effort: a closed stderr must not stop the build.
        let _ = stderr.lock().write_all(&line);
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        if text.starts_with("error") && kept.len() < KEEP {
            kept.push(text.to_string());
        }
    }
    kept
}

/// `VAR=value … program args…` for the variables the command sets (removals
/// left out: there are many and they say nothing useful).
fn describe_command(cmd: &Command) -> String {
    let mut parts = Vec::new();
    for (key, value) in cmd.get_envs() {
        if let Some(value) = value {
            parts.push(format!("{}={}", show(key), show(value)));
        }
    }
    parts.push(show(cmd.get_program()));
    parts.extend(cmd.get_args().map(show));
    parts.join(" ")
}

fn show(s: &OsStr) -> String {
    let s = s.to_string_lossy();
    if s.contains(' ') {
        format!("'{s}'")
    } else {
        s.into_owned()
    }
}

/// The default target dir for guests of the workspace at `workspace_root`:
/// `<workspace>/target/guest`, next to (never inside) the outer builds'
/// profile directories, so debug and release host builds share one guest
/// build.
pub fn default_target_dir(workspace_root: &Path) -> PathBuf {
    workspace_root.join("target").join("guest")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaked_vars_are_recognized() {
        for var in [
            "CARGO_TARGET_DIR",
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "RUSTC_WORKSPACE_WRAPPER",
            "CARGO_MAKEFLAGS",
            "CARGO_PKG_NAME",
            "CARGO_CFG_TARGET_ARCH",
            "CARGO_FEATURE_DEFAULT",
            "CARGO_PROFILE_RELEASE_LTO",
            "OUT_DIR",
            "DEBUG",
            "NUM_JOBS",
            "DEP_Z_INCLUDE",
        ] {
            assert!(is_leaked_build_var(var), "{var}");
        }
        for var in [
            "PATH",
            "HOME",
            "CARGO_HOME",
            "RUSTUP_TOOLCHAIN",
            "CARGO_NET_OFFLINE",
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER",
        ] {
            assert!(!is_leaked_build_var(var), "{var}");
        }
    }

    #[test]
    fn command_keeps_toolchain_and_profile_env() {
        let build = GuestBuild::new("/ws", "circleci-connector", "/ws/target/guest");
        let toolchain = Toolchain::DebianBuildStd {
            cargo: "/usr/bin/cargo".into(),
            rustc: "/usr/bin/rustc".into(),
            rust_src: "/usr/lib/rustlib/src/rust".into(),
            llvm_bin: "/usr/lib/llvm-22/bin".into(),
        };
        let cmd = build.command(&toolchain);
        let envs: Vec<_> = cmd.get_envs().collect();
        // Set explicitly, so never scrubbed even though they are "leaked"
        // names when inherited.
        assert!(envs.contains(&("RUSTC".as_ref(), Some("/usr/bin/rustc".as_ref()))));
        assert!(envs.contains(&("RUSTC_BOOTSTRAP".as_ref(), Some("1".as_ref()))));
        assert!(envs.contains(&(
            "CARGO_PROFILE_RELEASE_OPT_LEVEL".as_ref(),
            Some("3".as_ref())
        )));
        let args: Vec<_> = cmd.get_args().map(|a| a.to_str().unwrap()).collect();
        assert!(args.contains(&"--locked"));
        assert!(
            args.windows(2)
                .any(|w| w == ["--target-dir", "/ws/target/guest"])
        );
        assert_eq!(
            build.artifact_path(),
            Path::new("/ws/target/guest/wasm32-unknown-unknown/release/circleci_connector.wasm")
        );
        // No feature flags unless asked for.
        assert!(!args.contains(&"--features"));
        assert!(!args.contains(&"--no-default-features"));
    }

    #[test]
    fn features_are_qualified_with_the_package() {
        let mut build = GuestBuild::new("/ws", "hostile-connectors", "/ws/target/guest");
        build.features = vec!["spin".into(), "huge-page".into()];
        build.no_default_features = true;
        let cmd = build.command(&Toolchain::Prebuilt {
            cargo: "cargo".into(),
            sysroot: "/sysroot".into(),
        });
        let args: Vec<_> = cmd.get_args().map(|a| a.to_str().unwrap()).collect();
        assert!(
            args.windows(2).any(|w| w
                == [
                    "--features",
                    "hostile-connectors/spin,hostile-connectors/huge-page"
                ]),
            "{args:?}"
        );
        assert!(args.contains(&"--no-default-features"));
    }
}
