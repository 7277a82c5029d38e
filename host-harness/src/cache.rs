//! An on-disk cache of compiled components, so a process that loads the same
//! component again skips Cranelift (tens of milliseconds) and maps the
//! precompiled artifact instead (well under a millisecond).
//!
//! An entry is keyed by the SHA-256 of the component's bytes and by the
//! engine's compatibility hash (wasmtime version, compiler settings, CPU
//! features), so a changed component or engine never loads a stale artifact.
//! Entries are written to a temporary file and renamed into place, so a
//! crashed writer leaves no torn entry. Loading an artifact runs code that
//! the cache holds: the directory is created private to the user (0700), and
//! must stay writable by the operator only.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where a component came from on this load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded a precompiled artifact.
    Hit,
    /// Compiled, and stored the artifact for next time.
    Miss,
    /// Compiled; no cache in use.
    Disabled,
}

/// A directory of precompiled components.
#[derive(Clone, Debug)]
pub struct CompileCache {
    dir: PathBuf,
}

impl CompileCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        CompileCache { dir: dir.into() }
    }

    /// `$CONNECTOR_HARNESS_CACHE_DIR`, else `$XDG_CACHE_HOME/connector-harness`,
    /// else `$HOME/.cache/connector-harness`.
    pub fn default_dir() -> Option<PathBuf> {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        env("CONNECTOR_HARNESS_CACHE_DIR")
            .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("connector-harness")))
            .or_else(|| env("HOME").map(|d| d.join(".cache").join("connector-harness")))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cache file for `bytes` under `engine`.
    pub fn entry_path(&self, engine: &Engine, bytes: &[u8]) -> PathBuf {
        let digest = Sha256::digest(bytes);
        let component: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        self.dir
            .join(format!("{component}-{:016x}.cwasm", hasher.finish()))
    }

    /// Loads the compiled form of `bytes`, compiling and storing it on a miss.
    /// A cache that cannot be read or written only costs time, never
    /// correctness: the component is then compiled in memory.
    pub fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let path = self.entry_path(engine, bytes);
        if path.is_file() {
            // SAFETY: the file was written by `store` below from
            // `Component::serialize` of the same engine configuration (the
            // name carries the compatibility hash), in a directory created
            // private to this user.
            if let Ok(component) = unsafe { Component::deserialize_file(engine, &path) } {
                return Ok((component, CacheOutcome::Hit));
            }
            // A corrupt or foreign entry: drop it and rebuild.
            let _ = std::fs::remove_file(&path);
        }
        let component = Component::new(engine, bytes)?;
        if let Ok(artifact) = component.serialize() {
            let _ = self.store(&path, &artifact);
        }
        Ok((component, CacheOutcome::Miss))
    }

    fn store(&self, path: &Path, artifact: &[u8]) -> std::io::Result<()> {
        create_private_dir(&self.dir)?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, artifact)?;
        std::fs::rename(&tmp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}
