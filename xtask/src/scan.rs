//! The last line of defence for secrets: `cargo xtask test` copies the test
//! run's whole output to the terminal and keeps it, then searches it for
//! anything shaped like the API tokens the tests use (`CCIPAT_…`, the shape
//! of a CircleCI personal token). Any hit fails the run, naming the line
//! number but not the token.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;

use anyhow::{Context, Result, bail};

/// What every token in the tests starts with.
const TOKEN_PREFIX: &str = "CCIPAT_";
/// Characters after the prefix for a match to count as a token, not a
/// mention of the prefix.
const TOKEN_MIN_TAIL: usize = 8;

/// Runs `cmd`, teeing its stdout and stderr, and fails if it failed or if
/// its output holds a token.
pub fn run_and_scan(cmd: &mut Command) -> Result<()> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    let kept = Arc::new(Mutex::new(Vec::<u8>::new()));
    let out = tee(child.stdout.take(), kept.clone(), false);
    let err = tee(child.stderr.take(), kept.clone(), true);
    let status = child.wait().context("waiting for cargo test")?;
    let _ = out.join();
    let _ = err.join();
    let text = kept.lock().unwrap_or_else(|p| p.into_inner());
    let hits = token_lines(&String::from_utf8_lossy(&text));
    if !hits.is_empty() {
        bail!(
            "the test output holds {} API token(s), on output line(s) {:?}: a secret leaked into a log, an error or a record",
            hits.len(),
            hits
        );
    }
    eprintln!(
        "xtask: scanned {} bytes of test output: no token",
        text.len()
    );
    if !status.success() {
        bail!("cargo test failed with {status}");
    }
    Ok(())
}

fn tee<R: Read + Send + 'static>(
    pipe: Option<R>,
    kept: Arc<Mutex<Vec<u8>>>,
    to_stderr: bool,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let Some(mut pipe) = pipe else { return };
        let mut buffer = [0u8; 16 * 1024];
        loop {
            let n = match pipe.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let chunk = &buffer[..n];
            // Best effort: a closed terminal must not stop the tests.
            let _ = if to_stderr {
                std::io::stderr().write_all(chunk)
            } else {
                std::io::stdout().write_all(chunk)
            };
            kept.lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(chunk);
        }
    })
}

/// The 1-based numbers of the lines holding a token.
fn token_lines(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            line.match_indices(TOKEN_PREFIX).any(|(at, _)| {
                line[at + TOKEN_PREFIX.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .count()
                    >= TOKEN_MIN_TAIL
            })
        })
        .map(|(i, _)| i + 1)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_tokens_not_mentions() {
        let text = "ok\nleak: CCIPAT_sim_1a2b3c4d5e\nprefix CCIPAT_ alone\nCCIPAT_short\n";
        assert_eq!(token_lines(text), vec![2]);
    }
}
