//! The files the CLI reads and writes: the credential and settings files,
//! the output files or directory, and their permission bits. (The state
//! file is the library's file store, `host_harness::checkpoint::StateFile`.)

use std::path::{Path, PathBuf};

use host_harness::HarnessError;
use host_harness::catalog;
use host_harness::credential::Credential;
use host_harness::sync::{FileSink, RecordSink, WriterSink};
use serde_json::Value;

use crate::exit::CliError;

/// Credential files larger than this are refused: a credential is a few
/// short strings, anything bigger is the wrong file.
pub const MAX_CREDENTIAL_FILE_BYTES: u64 = 64 * 1024;

/// Reads and checks a credential file. Errors never quote its content.
pub fn read_credential(path: &Path) -> Result<Credential, CliError> {
    let fail = |why: String| CliError::CredentialFile(format!("{}: {why}", path.display()));
    let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    if !meta.is_file() {
        return Err(fail("not a regular file".into()));
    }
    if meta.len() > MAX_CREDENTIAL_FILE_BYTES {
        return Err(fail(format!(
            "{} bytes is larger than the {MAX_CREDENTIAL_FILE_BYTES}-byte limit for a credential file",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    Credential::from_json_bytes(&bytes).map_err(fail)
}

/// Where each stream's records go: stdout or `--out FILE` for a single
/// stream, `--out DIR/<stream>.jsonl` for several (or when FILE is a directory).
pub type SinkFor = Box<dyn FnMut(&str) -> Box<dyn RecordSink>>;

pub fn sinks(out: Option<&Path>, single: bool, mode: u32) -> Result<SinkFor, CliError> {
    match out {
        None if single => Ok(Box::new(|_: &str| {
            Box::new(WriterSink(std::io::stdout())) as Box<dyn RecordSink>
        })),
        None => Err(CliError::Usage(
            "--out DIR is required to sync several streams".into(),
        )),
        Some(path) if single && !path.is_dir() => {
            let path = path.to_path_buf();
            Ok(Box::new(move |_: &str| {
                Box::new(FileSink::new(&path).with_mode(mode)) as Box<dyn RecordSink>
            }))
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| HarnessError::Io(format!("cannot create {}: {e}", dir.display())))?;
            let dir = dir.to_path_buf();
            Ok(Box::new(move |stream: &str| {
                Box::new(
                    FileSink::new(output_path(&dir, stream))
                        .with_mode(mode)
                        .no_follow(),
                ) as Box<dyn RecordSink>
            }))
        }
    }
}

/// `DIR/<stream>.jsonl`. Stream names come from the connector's catalog,
/// which the host checked ([`catalog::check`]); checked here again, so that
/// no name can make a path that leaves `dir` however it got here.
pub fn output_path(dir: &Path, stream: &str) -> PathBuf {
    assert!(
        catalog::is_valid_stream_name(stream),
        "stream names are checked when the catalog is read"
    );
    dir.join(format!("{stream}.jsonl"))
}

/// `--file-mode`: octal permission bits, at most 0o777.
pub fn file_mode(text: &str) -> Result<u32, CliError> {
    u32::from_str_radix(text.trim().trim_start_matches("0o"), 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| {
            CliError::Usage(format!(
                "--file-mode {text:?} is not octal permission bits such as 600 or 640"
            ))
        })
}

/// The settings file as compact JSON; `{}` without one.
pub fn read_settings(path: Option<&Path>) -> Result<String, CliError> {
    let Some(path) = path else {
        return Ok("{}".to_string());
    };
    let fail = |why: String| CliError::SettingsFile(format!("{}: {why}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| fail(format!("not valid JSON ({e})")))?;
    if !value.is_object() {
        return Err(fail("must be a JSON object".into()));
    }
    Ok(value.to_string())
}
