//! An on-disk cache of compiled components, so a process that loads the same
//! component again skips Cranelift (tens of milliseconds) and loads the
//! precompiled artifact instead (about a millisecond).
//!
//! Loading an artifact runs the native code it holds, so the cache trusts
//! nothing it did not write itself:
//!
//! - The directory must be a real directory (not a symlink) owned by the
//!   current user and writable by nobody else; it is created 0700. A
//!   directory that fails this is not used at all: the component is compiled
//!   in memory and a warning says why.
//! - Every entry carries an HMAC-SHA-256 over the component's SHA-256, the
//!   engine's compatibility hash and the artifact, keyed by a random key
//!   that only this user can read (`key`, 0600, in the directory). An entry
//!   whose tag does not verify (written by someone else, copied from another
//!   component's entry, corrupt) is never deserialised: it is replaced.
//! - Entries and the key are opened without following symlinks and must be
//!   regular files owned by the current user, not writable by others.
//! - New files are created exclusively under random names (never a
//!   predictable temporary name that a symlink could redirect), with mode
//!   0600, written, synced and renamed into place, so a crashed writer
//!   leaves no torn entry.
//!
//! An entry is named by the component's SHA-256 and the engine's
//! compatibility hash (wasmtime version, compiler settings, CPU features),
//! so a changed component or engine never finds a stale artifact; the tag
//! is what makes the name trustworthy.

use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where a component came from on this load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded a precompiled artifact whose tag verified.
    Hit,
    /// Compiled, and stored the artifact for next time.
    Miss,
    /// Compiled; no cache in use.
    Disabled,
    /// Compiled in memory: the cache directory (or its key) is not one this
    /// user alone controls, so nothing was read from or written to it.
    Untrusted,
}

/// The bytes of an entry's tag, after the artifact.
const TAG_BYTES: usize = 32;

/// The key file's name in the cache directory.
const KEY_FILE: &str = "key";

/// Bytes of the key.
const KEY_BYTES: usize = 32;

/// Larger entries are not read: a compiled connector is a few MiB.
const MAX_ENTRY_BYTES: u64 = 512 * 1024 * 1024;

/// A directory of precompiled components.
#[derive(Clone, Debug)]
pub struct CompileCache {
    dir: PathBuf,
}

impl CompileCache {
    /// A cache in `dir` (created when first written; it must be the user's
    /// own and not writable by others to be used).
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

    /// The cache's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cache file for `bytes` under `engine`.
    pub fn entry_path(&self, engine: &Engine, bytes: &[u8]) -> PathBuf {
        let digest = Sha256::digest(bytes);
        self.entry_path_for(&digest, engine_hash(engine))
    }

    fn entry_path_for(&self, component: &[u8], engine: u64) -> PathBuf {
        let name: String = component[..16].iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{name}-{engine:016x}.cwasm"))
    }

    /// Loads the compiled form of `bytes`, compiling and storing it on a
    /// miss. A cache that cannot be used only costs time, never
    /// correctness or safety: the component is then compiled in memory.
    pub fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let key = match self.trusted_key() {
            Ok(key) => key,
            Err(why) => {
                tracing::warn!(
                    dir = %self.dir.display(),
                    %why,
                    "not using the compile cache: it is not private to this user"
                );
                return Ok((Component::new(engine, bytes)?, CacheOutcome::Untrusted));
            }
        };
        let component_hash = Sha256::digest(bytes);
        let engine_hash = engine_hash(engine);
        let path = self.entry_path_for(&component_hash, engine_hash);
        let tagged = Tagged {
            key: &key,
            component: &component_hash,
            engine: engine_hash,
        };
        match read_private(&path, MAX_ENTRY_BYTES) {
            Ok(Some(entry)) => match tagged.verify(&entry) {
                Some(artifact) => {
                    // SAFETY: the artifact's tag verified under a key only
                    // this user can read: this process (or another of the
                    // same user) wrote it from `Component::serialize` of
                    // this very component under this engine's settings.
                    match unsafe { Component::deserialize(engine, artifact) } {
                        Ok(component) => return Ok((component, CacheOutcome::Hit)),
                        Err(e) => {
                            tracing::warn!(error = %e, "a cache entry did not load; recompiling")
                        }
                    }
                }
                None => tracing::warn!(
                    entry = %path.display(),
                    "a cache entry's tag does not verify (not written by this cache for this \
                     component); replacing it"
                ),
            },
            Ok(None) => {}
            Err(why) => tracing::warn!(entry = %path.display(), %why, "ignoring a cache entry"),
        }
        let component = Component::new(engine, bytes)?;
        if let Ok(artifact) = component.serialize() {
            let mut entry = artifact;
            let tag = tagged.tag(&entry);
            entry.extend_from_slice(&tag);
            if let Err(e) = write_private(&self.dir, &path, &entry) {
                tracing::debug!(error = %e, "could not store a cache entry");
            }
        }
        Ok((component, CacheOutcome::Miss))
    }

    /// The cache's key, made on first use, once the directory is known to
    /// be this user's alone.
    fn trusted_key(&self) -> Result<Vec<u8>, String> {
        create_private_dir(&self.dir).map_err(|e| format!("cannot create it: {e}"))?;
        check_private_dir(&self.dir)?;
        let path = self.dir.join(KEY_FILE);
        if let Some(key) = read_private(&path, KEY_BYTES as u64)?
            && key.len() == KEY_BYTES
        {
            return Ok(key);
        }
        let mut key = vec![0u8; KEY_BYTES];
        getrandom::getrandom(&mut key).map_err(|e| format!("no randomness for a key: {e}"))?;
        write_private(&self.dir, &path, &key).map_err(|e| format!("cannot store its key: {e}"))?;
        Ok(key)
    }
}

/// The engine's compatibility hash, as a number for file names.
fn engine_hash(engine: &Engine) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.finish()
}

/// What an entry's tag binds: the key, the component and the engine.
struct Tagged<'a> {
    key: &'a [u8],
    component: &'a [u8],
    engine: u64,
}

impl Tagged<'_> {
    fn mac(&self) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key).expect("HMAC takes any key length");
        mac.update(b"connector-harness compile cache v1\0");
        mac.update(self.component);
        mac.update(&self.engine.to_le_bytes());
        mac
    }

    fn tag(&self, artifact: &[u8]) -> [u8; TAG_BYTES] {
        let mut mac = self.mac();
        mac.update(artifact);
        mac.finalize().into_bytes().into()
    }

    /// The artifact of `entry`, if its tag verifies.
    fn verify<'e>(&self, entry: &'e [u8]) -> Option<&'e [u8]> {
        let split = entry.len().checked_sub(TAG_BYTES)?;
        let (artifact, tag) = entry.split_at(split);
        let mut mac = self.mac();
        mac.update(artifact);
        // Constant-time comparison.
        mac.verify_slice(tag).ok().map(|()| artifact)
    }
}

/// The current user.
fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Creates `dir` (and its parents) if missing; the directory itself 0700.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Whether `dir` is a directory (not a symlink to one) of this user that
/// nobody else may write to.
fn check_private_dir(dir: &Path) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(dir).map_err(|e| e.to_string())?;
    if !meta.file_type().is_dir() {
        return Err("it is not a directory (a symlink is not followed)".into());
    }
    if meta.uid() != euid() {
        return Err(format!("it is owned by uid {}, not this user", meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "its mode {:o} lets other users write to it",
            meta.mode() & 0o777
        ));
    }
    Ok(())
}

/// Reads `path` without following a symlink, if it exists: it must be a
/// regular file of this user that no one else may write, and at most
/// `max` bytes.
fn read_private(path: &Path, max: u64) -> Result<Option<Vec<u8>>, String> {
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot open it (a symlink is not followed): {e}")),
    };
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.file_type().is_file() {
        return Err("not a regular file".into());
    }
    if meta.uid() != euid() {
        return Err(format!("owned by uid {}, not this user", meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "mode {:o} lets other users write to it",
            meta.mode() & 0o777
        ));
    }
    if meta.len() > max {
        return Err(format!("{} bytes is too large", meta.len()));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(max)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    Ok(Some(bytes))
}

/// Writes `bytes` to `path` (in `dir`) through a new file of a random name
/// created exclusively with mode 0600, synced, then renamed over `path`.
fn write_private(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `path` is this user's regular file, private to it.
    fn is_private_file(path: &Path) -> bool {
        std::fs::File::open(path)
            .and_then(|f| f.metadata())
            .is_ok_and(|m| m.is_file() && m.uid() == euid() && m.mode() & 0o077 == 0)
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_tag_binds_the_key_the_component_and_the_artifact() {
        let key = [7u8; KEY_BYTES];
        let tagged = Tagged {
            key: &key,
            component: b"component-a",
            engine: 1,
        };
        let mut entry = b"artifact".to_vec();
        entry.extend_from_slice(&tagged.tag(b"artifact"));
        assert_eq!(tagged.verify(&entry), Some(&b"artifact"[..]));
        let other_component = Tagged {
            component: b"component-b",
            ..tagged
        };
        assert_eq!(
            other_component.verify(&entry),
            None,
            "another component's entry"
        );
        let other_key = [8u8; KEY_BYTES];
        let other_key = Tagged {
            key: &other_key,
            ..tagged
        };
        assert_eq!(other_key.verify(&entry), None, "written under another key");
        let mut flipped = entry.clone();
        flipped[0] ^= 1;
        assert_eq!(tagged.verify(&flipped), None, "a changed artifact");
        assert_eq!(tagged.verify(&entry[..10]), None, "a cut entry");
    }

    #[test]
    fn only_a_private_directory_is_trusted() {
        let dir = temp_dir("private");
        let cache = CompileCache::new(&dir);
        let key = cache.trusted_key().expect("a new directory is private");
        assert_eq!(key.len(), KEY_BYTES);
        assert_eq!(cache.trusted_key().unwrap(), key, "the key is kept");
        assert!(is_private_file(&dir.join(KEY_FILE)));
        let mode = std::fs::metadata(&dir).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);

        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let why = cache.trusted_key().unwrap_err();
        assert!(why.contains("lets other users write"), "{why}");

        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(dir.join(KEY_FILE), std::fs::Permissions::from_mode(0o666))
            .unwrap();
        let why = cache.trusted_key().unwrap_err();
        assert!(why.contains("lets other users write"), "{why}");
        std::fs::remove_dir_all(&dir).unwrap();

        // A symlink to a private directory is not followed.
        let real = temp_dir("real");
        create_private_dir(&real).unwrap();
        let link = temp_dir("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let why = CompileCache::new(&link).trusted_key().unwrap_err();
        assert!(why.contains("not a directory"), "{why}");
        std::fs::remove_file(&link).unwrap();
        std::fs::remove_dir_all(&real).unwrap();
    }

    #[test]
    fn a_symlinked_entry_is_not_read_and_writes_replace_it() {
        let dir = temp_dir("symlink");
        create_private_dir(&dir).unwrap();
        let target = dir.join("target");
        std::fs::write(&target, b"not yours").unwrap();
        let entry = dir.join("entry.cwasm");
        std::os::unix::fs::symlink(&target, &entry).unwrap();
        let why = read_private(&entry, 1024).unwrap_err();
        assert!(why.contains("symlink"), "{why}");
        write_private(&dir, &entry, b"mine").unwrap();
        assert_eq!(
            std::fs::read(&target).unwrap(),
            b"not yours",
            "the target is untouched"
        );
        assert_eq!(std::fs::read(&entry).unwrap(), b"mine");
        assert!(is_private_file(&entry));
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
