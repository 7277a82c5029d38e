//! What a build script that builds a guest must tell cargo, so that it (and
//! the guest's own cargo, which keeps its own fingerprints) reruns exactly
//! when an input changes: every file and directory of the guest's sources
//! and WIT, the manifests and lock file, and the environment that picks the
//! toolchain. Shared by `connector-artifacts` and `hostile-artifacts`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::ENV_INPUTS;

/// Declares the inputs of the guest crate at `guest` in the workspace at
/// `workspace`: its `src/`, the workspace's `wit/`, the `extra_trees`
/// (other directories the guest reads), and the manifests.
pub fn declare_guest_inputs(workspace: &Path, guest: &Path, extra_trees: &[&str]) -> Result<()> {
    rerun_tree(&guest.join("src"))?;
    for tree in extra_trees {
        rerun_tree(&guest.join(tree))?;
    }
    rerun_tree(&workspace.join("wit"))?;
    for file in [
        guest.join("Cargo.toml"),
        guest.join("build.rs"),
        workspace.join("Cargo.toml"),
        workspace.join("Cargo.lock"),
        workspace.join(".cargo/config.toml"),
    ] {
        // A path that does not exist would make cargo rerun us every time.
        if file.exists() {
            rerun_if_changed(&file);
        }
    }
    for var in ENV_INPUTS {
        println!("cargo:rerun-if-env-changed={var}");
    }
    Ok(())
}

/// Every file and directory under `dir`: files for edits, directories for
/// files added or removed.
fn rerun_tree(dir: &Path) -> Result<()> {
    rerun_if_changed(dir);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .and_then(|entries| entries.map(|e| e.map(|e| e.path())).collect())
        .with_context(|| format!("could not list {}", dir.display()))?;
    paths.sort();
    for path in paths {
        if path.is_dir() {
            rerun_tree(&path)?;
        } else {
            rerun_if_changed(&path);
        }
    }
    Ok(())
}

fn rerun_if_changed(path: &Path) {
    println!("cargo:rerun-if-changed={}", path.display());
}
