//! What `circleci-sim` prints on stdout once it listens, written and read
//! by the one type here, so the binary and the tools that start it (the
//! benchmark) cannot drift apart:
//!
//! ```text
//! listening on http://127.0.0.1:PORT
//! token: TOKEN            (one line per tenant)
//! project: SLUG           (the first tenant's projects)
//!                         (a blank line ends it)
//! ```
//!
//! `cargo xtask demo` reads the same lines with its own few lines of code:
//! xtask is compiled before anything else on a fresh machine and depends on
//! no crate of the workspace's that needs hyper or tokio.

use std::io::{self, BufRead, Write};

use anyhow::{Result, bail};

/// The simulator's announcement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Announcement {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// Every tenant's token, the default tenant first.
    pub tokens: Vec<String>,
    /// The first tenant's project slugs.
    pub projects: Vec<String>,
}

impl Announcement {
    /// Writes it, blank line included, and flushes.
    pub fn write(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(out, "listening on {}", self.base_url)?;
        for token in &self.tokens {
            writeln!(out, "token: {token}")?;
        }
        for project in &self.projects {
            writeln!(out, "project: {project}")?;
        }
        writeln!(out)?;
        out.flush()
    }

    /// Reads it up to its blank line (the simulator prints nothing after).
    pub fn read(input: impl BufRead) -> Result<Announcement> {
        let mut found = Announcement::default();
        for line in input.lines() {
            let line = line?;
            if line.trim().is_empty() {
                break;
            }
            if let Some(url) = line.strip_prefix("listening on ") {
                found.base_url = url.trim().to_string();
            } else if let Some(token) = line.strip_prefix("token: ") {
                found.tokens.push(token.trim().to_string());
            } else if let Some(project) = line.strip_prefix("project: ") {
                found.projects.push(project.trim().to_string());
            }
        }
        if found.base_url.is_empty() || found.tokens.is_empty() {
            bail!("the simulator did not announce its address and token");
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_it_writes() {
        let sent = Announcement {
            base_url: "http://127.0.0.1:4242".into(),
            tokens: vec!["a".into(), "b".into()],
            projects: vec!["gh/o/r".into(), "circleci/x/y".into()],
        };
        let mut text = Vec::new();
        sent.write(&mut text).unwrap();
        text.extend_from_slice(b"not read: after the blank line\n");
        assert_eq!(Announcement::read(&text[..]).unwrap(), sent);
        assert!(
            Announcement::read(&b"token: a\n\n"[..]).is_err(),
            "no address"
        );
        assert!(Announcement::read(&b""[..]).is_err());
    }
}
