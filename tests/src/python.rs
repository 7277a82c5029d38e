//! Real Python clients for the host's Airbyte and Singer output.
//!
//! `connector-harness airbyte ...` and `connector-harness singer` claim to
//! speak the Airbyte protocol and to be a Singer tap. This module lets a test
//! prove it with the other side's own code, installed from PyPI at the exact
//! versions of `tests/python/requirements.txt` and `tests/python/constraints.txt`:
//!
//! - [`airbyte_validate`] runs `tests/python/airbyte_messages.py`, which
//!   validates every line with Airbyte's pydantic models
//!   (`airbyte_protocol.models.AirbyteMessage`, package
//!   `airbyte-protocol-models-pdv2`) and returns its JSON summary;
//!   [`airbyte_check_configured_catalog`] and [`airbyte_check_state`] do the
//!   same for the files Airbyte passes to `read --catalog` and `read --state`.
//! - [`singer_target`] pipes a tap's stdout into the real `target-jsonl`
//!   (which validates every RECORD against its stream's SCHEMA) through
//!   `tests/python/singer_target.py`, and returns the rows it wrote.
//!
//! The interpreter is a virtualenv made once under the cargo target
//! directory (`<target>/python-interop/venv`, see [`venv`]): `python3 -m venv`,
//! then `pip install` of the pinned closure. It is made again when the
//! requirements, the constraints or the base interpreter change (the venv
//! keeps a stamp of them), and a lock file keeps concurrent test binaries
//! from building it twice. When Python's `venv`/`ensurepip` is missing on
//! Debian and this process runs as root, `python3-venv` is installed with
//! `apt-get`; otherwise the error says what to install.
//!
//! Nothing here skips: no Python, no network to PyPI or a script that
//! rejects its input is an `Err`, and a test that uses it fails.

use anyhow::{Context, Result, anyhow, bail};
use component_build::toolchain::run_apt;
use serde_json::Value;
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

/// Names the base interpreter the virtualenv is made from. Unset: Debian's
/// `/usr/bin/python3` where it exists, else `python3` on `PATH`.
pub const BASE_PYTHON_ENV: &str = "CONFORMANCE_PYTHON";

/// The Debian package that gives Debian's Python its `venv` and `ensurepip`.
pub const DEBIAN_VENV_PACKAGE: &str = "python3-venv";

/// The Debian way to get `venv` and `ensurepip` (as root).
pub const DEBIAN_INSTALL_COMMAND: &str = "apt-get update && apt-get install -y python3-venv";

/// The packages pip installs first (at their versions in constraints.txt),
/// so that the two sdists of the closure are built by pinned tools with
/// `--no-build-isolation` rather than by whatever setuptools is newest.
const BOOTSTRAP_PACKAGES: &[&str] = &["pip", "setuptools", "wheel"];

/// The file in the venv that records what it was made from.
const STAMP_FILE: &str = "conformance-stamp.txt";

/// The pinned virtualenv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Venv {
    /// The virtualenv's directory (`<target>/python-interop/venv`).
    pub dir: PathBuf,
    /// Its interpreter, `<dir>/bin/python`.
    pub python: PathBuf,
    /// Its `bin` directory, which holds the packages' console scripts
    /// (`target-jsonl` among them).
    pub bin_dir: PathBuf,
}

/// A script of `tests/python/` that ran but exited non-zero (it rejected its
/// input, or could not run), or printed something that is not JSON.
#[derive(Debug, Clone)]
pub struct ScriptFailed {
    /// The script's file name, e.g. `airbyte_messages.py`.
    pub script: String,
    /// Its arguments after the script name.
    pub args: Vec<String>,
    /// Its exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// What it printed on stdout.
    pub stdout: String,
    /// What it printed on stderr: the reason, for the scripts of this crate.
    pub stderr: String,
}

impl fmt::Display for ScriptFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = match self.code {
            Some(code) => format!("exit code {code}"),
            None => "killed by a signal".to_string(),
        };
        write!(f, "{} {} failed ({code})", self.script, self.args.join(" "))?;
        if !self.stderr.trim().is_empty() {
            write!(f, "; stderr:\n{}", self.stderr.trim_end())?;
        }
        if !self.stdout.trim().is_empty() {
            write!(f, "\nstdout:\n{}", self.stdout.trim_end())?;
        }
        Ok(())
    }
}

impl std::error::Error for ScriptFailed {}

/// `tests/python/`: the scripts, requirements and constraints.
pub fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python")
}

/// The cargo target directory: `CARGO_TARGET_DIR` when it is absolute, else
/// the ancestor of the running executable that holds cargo's `CACHEDIR.TAG`,
/// else the workspace's `target/`.
pub fn target_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf();
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from)
        && dir.is_absolute()
    {
        return dir;
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe
            .ancestors()
            .skip(1)
            .find(|a| a.join("CACHEDIR.TAG").is_file())
    {
        return dir.to_path_buf();
    }
    workspace.join("target")
}

/// The pinned virtualenv, made (or remade) on first use in this process.
///
/// Creating it takes pip's time once per machine and pin set (seconds with a
/// warm pip cache); later calls, and later test binaries, reuse it. A failure
/// is remembered: every later call in this process returns the same error.
pub fn venv() -> Result<&'static Venv> {
    static VENV: OnceLock<std::result::Result<Venv, String>> = OnceLock::new();
    VENV.get_or_init(|| {
        ensure_venv(&target_dir().join("python-interop")).map_err(|e| format!("{e:#}"))
    })
    .as_ref()
    .map_err(|e| anyhow!("the pinned Python virtualenv is not usable: {e}"))
}

/// Validates Airbyte protocol output (JSON lines, e.g. a connector's stdout)
/// with `airbyte_messages.py messages`: every line must be a valid
/// `AirbyteMessage`. Returns the script's summary (`counts`, `records`,
/// `traces_per_stream`, `states`, `spec`, `catalog`, `connection_status`,
/// `unknown_fields`, ...; the script's docstring has the whole shape). An
/// invalid line is an `Err` wrapping [`ScriptFailed`] whose stderr names the
/// line and the pydantic error.
pub fn airbyte_validate(lines: impl AsRef<[u8]>) -> Result<Value> {
    run_script("airbyte_messages.py", &["messages", "-"], lines.as_ref())
}

/// Validates one `ConfiguredAirbyteCatalog` (the JSON text of the file given
/// to `read --catalog`). Returns `{"streams": [{name, sync_mode,
/// destination_sync_mode, cursor_field?, primary_key?, namespace?}],
/// "catalog": <parsed back>, "unknown_fields": {...}}`.
pub fn airbyte_check_configured_catalog(json: impl AsRef<[u8]>) -> Result<Value> {
    run_script(
        "airbyte_messages.py",
        &["check-configured-catalog", "-"],
        json.as_ref(),
    )
}

/// Validates an Airbyte state file (the JSON array of `AirbyteStateMessage`
/// given to `read --state`). Returns `{"count", "types", "streams": {name:
/// stream_state}, "states", "unknown_fields"}`.
pub fn airbyte_check_state(json: impl AsRef<[u8]>) -> Result<Value> {
    run_script("airbyte_messages.py", &["check-state", "-"], json.as_ref())
}

/// Pipes a Singer tap's stdout into the real `target-jsonl` (through
/// `singer_target.py`). Returns `{"rows": {stream: rows written},
/// "files", "final_state", "input_counts"}`; target-jsonl rejecting the
/// stream (a RECORD that violates its SCHEMA, a RECORD before its SCHEMA, a
/// line that is not JSON) is an `Err` wrapping [`ScriptFailed`] with its
/// traceback.
pub fn singer_target(tap_stdout: impl AsRef<[u8]>) -> Result<Value> {
    run_script("singer_target.py", &["-"], tap_stdout.as_ref())
}

/// Runs `tests/python/<script> ARGS` with the venv's interpreter (isolated
/// mode, `-I`), `stdin` on its standard input, and parses its stdout as one
/// JSON value. A non-zero exit, or stdout that is not JSON, is an `Err`
/// wrapping [`ScriptFailed`].
pub fn run_script(script: &str, args: &[&str], stdin: &[u8]) -> Result<Value> {
    let venv = venv()?;
    let path = python_dir().join(script);
    if !path.is_file() {
        bail!("no script {}", path.display());
    }
    let mut child = Command::new(&venv.python)
        .arg("-I")
        .arg(&path)
        .args(args)
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not run {} {}", venv.python.display(), path.display()))?;
    // Feed stdin from another thread: the script may write before it has
    // read everything, and both pipes have bounded buffers.
    let mut input = child.stdin.take().expect("stdin is piped");
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        // A script that exits early closes its end; its exit code tells why.
        let _ = input.write_all(&data);
    });
    let output = child
        .wait_with_output()
        .with_context(|| format!("waiting for {script}"))?;
    let _ = feeder.join();
    let failed = || ScriptFailed {
        script: script.to_string(),
        args: args.iter().map(|a| a.to_string()).collect(),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    if !output.status.success() {
        return Err(anyhow::Error::new(failed()));
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|e| anyhow::Error::new(failed()).context(format!("{script} printed no JSON: {e}")))
}

/// Makes `<root>/venv` unless it is already made from the same inputs.
fn ensure_venv(root: &Path) -> Result<Venv> {
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let base = base_python();
    let identity = python_identity(&base)?;
    let python_dir = python_dir();
    let requirements = python_dir.join("requirements.txt");
    let constraints = python_dir.join("constraints.txt");
    let read =
        |p: &Path| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()));
    // What the venv is made from; it is made again when any of it changes.
    let stamp_for = |identity: &str| -> Result<String> {
        Ok(format!(
            "base interpreter: {identity}\n--- requirements.txt\n{}\n--- constraints.txt\n{}",
            read(&requirements)?,
            read(&constraints)?,
        ))
    };
    let stamp = stamp_for(&identity)?;
    let dir = root.join("venv");
    let venv = Venv {
        python: dir.join("bin").join("python"),
        bin_dir: dir.join("bin"),
        dir: dir.clone(),
    };
    let stamp_path = dir.join(STAMP_FILE);
    let current = |stamp: &str| {
        venv.python.is_file() && std::fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp)
    };
    if current(&stamp) {
        return Ok(venv);
    }

    // One builder at a time, across processes; the others wait, then find it made.
    let lock_path = root.join("venv.lock");
    let lock = std::fs::File::create(&lock_path)
        .with_context(|| format!("creating {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("locking {}", lock_path.display()))?;
    if current(&stamp) {
        return Ok(venv);
    }

    let started = Instant::now();
    eprintln!(
        "conformance::python: making the pinned virtualenv {} from {} ({identity})",
        dir.display(),
        base.display()
    );
    ensure_venv_module(&base)?;
    // Installing python3-venv may have upgraded the interpreter itself.
    let stamp = stamp_for(&python_identity(&base)?)?;
    // The stamp goes first, so a venv half-removed or half-made is never current.
    let _ = std::fs::remove_file(&stamp_path);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("removing the old {}", dir.display()))?;
    }
    let dir_arg = dir.as_os_str();
    run_logged(Command::new(&base).args([OsStr::new("-m"), OsStr::new("venv"), dir_arg]))
        .context("`python3 -m venv` failed")?;
    let pip = || {
        let mut cmd = Command::new(&venv.python);
        cmd.args(["-m", "pip"])
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .env("PIP_NO_INPUT", "1");
        cmd
    };
    run_logged(
        pip()
            .args(["install", "--no-input", "-c"])
            .arg(&constraints)
            .args(BOOTSTRAP_PACKAGES),
    )
    .context("installing the pinned pip, setuptools and wheel from PyPI failed")?;
    run_logged(
        pip()
            .args(["install", "--no-input", "--no-build-isolation", "-r"])
            .arg(&requirements)
            .arg("-c")
            .arg(&constraints),
    )
    .with_context(|| format!("installing {} from PyPI failed", requirements.display()))?;
    run_logged(pip().arg("check")).context("`pip check` found broken requirements in the venv")?;
    let frozen = run_logged(pip().args(["freeze", "--all"]))?;
    check_frozen(&frozen, &read(&constraints)?)?;

    let tmp = dir.join(format!("{STAMP_FILE}.tmp"));
    std::fs::write(&tmp, &stamp).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &stamp_path)
        .with_context(|| format!("writing {}", stamp_path.display()))?;
    eprintln!(
        "conformance::python: virtualenv made in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(venv)
}

/// The interpreter the venv is made from (see [`BASE_PYTHON_ENV`]).
fn base_python() -> PathBuf {
    if let Some(python) = std::env::var_os(BASE_PYTHON_ENV) {
        return PathBuf::from(python);
    }
    let debian = Path::new("/usr/bin/python3");
    if debian.exists() {
        return debian.to_path_buf();
    }
    PathBuf::from("python3")
}

/// `sys.executable` and `sys.version` of the base interpreter, which must be
/// Python 3.9 or newer (pydantic 2's floor).
fn python_identity(base: &Path) -> Result<String> {
    let out = Command::new(base)
        .args([
            "-I",
            "-c",
            "import sys; print(sys.executable, sys.version.replace('\\n', ' ')); \
             sys.exit(0 if sys.version_info >= (3, 9) else 3)",
        ])
        .stdin(Stdio::null())
        .output()
        .with_context(|| {
            format!(
                "could not run {} (set {BASE_PYTHON_ENV} to a Python 3 interpreter, or install \
                 Python 3: `apt-get install -y python3 python3-venv` on Debian)",
                base.display()
            )
        })?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match out.status.code() {
        Some(0) => Ok(text),
        Some(3) => bail!(
            "{} is {text}: Python 3.9 or newer is needed",
            base.display()
        ),
        _ => bail!(
            "{} failed to start ({}): {}",
            base.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    }
}

/// Makes sure `base -m venv` can work: its `venv` and `ensurepip` modules
/// import. Debian ships `ensurepip` apart, in `python3-venv`, which is
/// installed here when this process runs as root on Debian.
fn ensure_venv_module(base: &Path) -> Result<()> {
    let probe = || -> Result<()> {
        let out = Command::new(base)
            .args(["-I", "-c", "import venv, ensurepip"])
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("could not run {}", base.display()))?;
        if out.status.success() {
            return Ok(());
        }
        bail!(
            "{} cannot make a virtualenv (`import venv, ensurepip` failed: {})",
            base.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )
    };
    let missing = match probe() {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    if !is_debian() {
        return Err(missing.context(
            "not a Debian system, so nothing was installed: install Python's venv module \
             (with ensurepip), or point CONFORMANCE_PYTHON at a Python that has it",
        ));
    }
    match effective_uid() {
        Some(0) => {}
        Some(uid) => {
            return Err(missing.context(format!(
                "running as uid {uid}, not root, so {DEBIAN_VENV_PACKAGE} was not installed: \
                 run `{DEBIAN_INSTALL_COMMAND}` as root"
            )));
        }
        None => {
            return Err(missing.context(format!(
                "could not tell whether this process runs as root, so nothing was installed: \
                 run `{DEBIAN_INSTALL_COMMAND}` as root"
            )));
        }
    }
    eprintln!("conformance::python: {missing:#}; installing Debian's {DEBIAN_VENV_PACKAGE}");
    eprintln!("conformance::python: installing {DEBIAN_VENV_PACKAGE} with apt-get");
    run_apt(&["update"], DEBIAN_INSTALL_COMMAND)?;
    run_apt(
        &["install", "-y", DEBIAN_VENV_PACKAGE],
        DEBIAN_INSTALL_COMMAND,
    )?;
    probe().context(format!(
        "{DEBIAN_VENV_PACKAGE} was installed, but {} still cannot make a virtualenv",
        base.display()
    ))
}

fn is_debian() -> bool {
    Path::new("/etc/debian_version").exists()
}

/// The effective user id, from `/proc/self/status` (no libc needed), or from
/// `id -u` where there is no procfs.
fn effective_uid() -> Option<u32> {
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
fn parse_effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Runs a setup command with its output captured; returns its stdout, or an
/// error that carries the end of both streams.
fn run_logged(cmd: &mut Command) -> Result<String> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not run {shown}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "{shown} failed ({}):\n{}\n{}",
            out.status,
            tail(&stdout, 4000),
            tail(&String::from_utf8_lossy(&out.stderr), 4000)
        );
    }
    Ok(stdout)
}

fn tail(text: &str, max: usize) -> &str {
    let text = text.trim_end();
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// A distribution name as pip compares them (PEP 503), with its pin.
fn normalised_pins(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once("==") {
            Some((name, version)) => format!(
                "{}=={}",
                name.trim().to_ascii_lowercase().replace(['_', '.'], "-"),
                version.trim()
            ),
            None => l.to_ascii_lowercase(),
        })
        .collect()
}

/// The venv holds exactly the closure of constraints.txt, nothing more or less.
fn check_frozen(frozen: &str, constraints: &str) -> Result<()> {
    let installed = normalised_pins(frozen);
    let pinned = normalised_pins(constraints);
    if installed == pinned {
        return Ok(());
    }
    let extra: Vec<_> = installed.difference(&pinned).collect();
    let missing: Vec<_> = pinned.difference(&installed).collect();
    bail!(
        "the venv does not hold exactly tests/python/constraints.txt: installed but not pinned \
         {extra:?}; pinned but not installed {missing:?} (regenerate constraints.txt as \
         tests/python/README.md says)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_uid_is_the_second_field() {
        assert_eq!(
            parse_effective_uid("Name:\tx\nUid:\t1000\t0\t0\t0\n"),
            Some(0)
        );
        assert_eq!(parse_effective_uid("Name:\tx\n"), None);
    }

    #[test]
    fn pins_compare_by_normalised_name() {
        let frozen = "typing_extensions==4.16.0\nPyYAML==6.0\n";
        let constraints = "# header\ntyping-extensions==4.16.0  # why\npyyaml==6.0\n\n";
        check_frozen(frozen, constraints).unwrap();
        let err = check_frozen("typing_extensions==4.15.0\n", constraints).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("typing-extensions==4.15.0"), "{msg}");
        assert!(msg.contains("pyyaml==6.0"), "{msg}");
    }

    #[test]
    fn script_failure_shows_stderr() {
        let e = ScriptFailed {
            script: "airbyte_messages.py".into(),
            args: vec!["messages".into(), "-".into()],
            code: Some(1),
            stdout: String::new(),
            stderr: "line 2: not JSON\n".into(),
        };
        let msg = e.to_string();
        assert!(msg.contains("exit code 1"), "{msg}");
        assert!(msg.contains("line 2: not JSON"), "{msg}");
    }

    #[test]
    fn tail_keeps_the_end_on_a_char_boundary() {
        assert_eq!(tail("abc\n", 10), "abc");
        assert_eq!(tail("ééé", 3), "é");
    }
}
