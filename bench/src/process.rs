//! Measurements of `connector-harness` as a process, the way a platform
//! would run it: a cold `validate` with a warm compile cache, and a full
//! sync to a file with its checkpoints, whose peak RSS the kernel reports.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::harness::timeval;
use crate::sim::SimProcess;
use crate::stats::ms;

/// How a child process ended and what it used.
#[derive(Debug, Clone, Copy)]
pub struct ChildRun {
    pub wall: Duration,
    pub cpu: Duration,
    pub max_rss_kib: u64,
}

/// Runs `cmd` to its end, reading its resource use with `wait4`.
pub fn run_measured(cmd: &mut Command) -> Result<ChildRun> {
    let started = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot run {:?}", cmd.get_program()))?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: plain wait4 on our own child; `usage` is written by the kernel.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        if libc::wait4(pid, &mut status, 0, &mut usage) != pid {
            bail!("wait4 failed: {}", std::io::Error::last_os_error());
        }
        usage
    };
    let wall = started.elapsed();
    std::mem::forget(child); // reaped above
    let status = std::process::ExitStatus::from_raw(status);
    if !status.success() {
        bail!("{:?} failed: {status}", cmd.get_program());
    }
    Ok(ChildRun {
        wall,
        cpu: timeval(usage.ru_utime) + timeval(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss as u64,
    })
}

/// `connector-harness` next to this binary, set up for the simulator.
pub struct Cli {
    bin: PathBuf,
    cache_dir: PathBuf,
    credential: PathBuf,
    authority: String,
}

impl Cli {
    pub fn new(bin_dir: &Path, work: &Path, sim: &SimProcess) -> Result<Cli> {
        let credential = work.join("credential.json");
        std::fs::write(&credential, sim.credential_json())?;
        Ok(Cli {
            bin: bin_dir.join("connector-harness"),
            cache_dir: work.join("cache"),
            credential,
            authority: sim.authority().to_string(),
        })
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--cache-dir")
            .arg(&self.cache_dir)
            .arg("--allow-host")
            .arg(format!("http://{}", self.authority))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    }

    /// Wall times (ms) of `runs` cold `validate` processes, after one run
    /// that fills the compile cache.
    pub fn validate_times(&self, runs: usize) -> Result<Vec<f64>> {
        let validate = || {
            let mut cmd = self.command();
            cmd.arg("validate")
                .arg("--credential")
                .arg(&self.credential);
            run_measured(&mut cmd)
        };
        validate().context("validate (filling the cache)")?;
        (0..runs)
            .map(|_| validate().map(|run| ms(run.wall)))
            .collect()
    }

    /// A full sync of `stream` to `out`, checkpointing to a state file after
    /// every page (fsync'd, as in production).
    pub fn sync(&self, stream: &str, settings: &Path, out: &Path) -> Result<ChildRun> {
        let state = out.with_extension("state.json");
        let _ = std::fs::remove_file(&state);
        let mut cmd = self.command();
        cmd.arg("fetch")
            .arg("--credential")
            .arg(&self.credential)
            .arg("--settings")
            .arg(settings)
            .arg("--stream")
            .arg(stream)
            .arg("--state")
            .arg(&state)
            .arg("--out")
            .arg(out);
        run_measured(&mut cmd)
    }
}
