//! Builds guest crates into WebAssembly components and checks them.
//!
//! The pipeline, used by the `connector-artifacts` build script and by the
//! project's xtask:
//!
//! 1. [`toolchain`]: find a toolchain that can build for
//!    `wasm32-unknown-unknown` (or say exactly what to install).
//! 2. [`guest`]: build the guest crate with its own cargo invocation, target
//!    dir and size-oriented profile, into a core module.
//! 3. [`encode`]: turn the core module into a component with wit-component,
//!    then refuse it if it imports anything outside an allow-list or does not
//!    implement its WIT world.
//!
//! [`build_connector`] runs all three for the CircleCI connector;
//! [`componentize`] runs step 3 for any core module. [`build_component_checked`]
//! and [`componentize_checked`] do the same with checks of the caller's
//! choosing ([`ComponentChecks`]), for guests that are not connectors or are
//! not meant to pass (the hostile test programs).

pub mod encode;
pub mod guest;
pub mod rerun;
pub mod script;
pub mod toolchain;

pub use encode::{
    CONNECTOR_ALLOWED_IMPORTS, CONNECTOR_WORLD, check_imports, check_world, component_exports,
    component_imports, custom_section, encode_component, import_allowed, load_world,
    load_world_from,
};
pub use guest::{GuestBuild, build_guest, default_target_dir};
pub use toolchain::{Toolchain, ToolchainMissing, detect, ensure_installed};

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The connector guest's package name.
pub const CONNECTOR_PACKAGE: &str = "circleci-connector";

/// Environment variables that decide which toolchain is found and how it
/// behaves, for build scripts to declare with `cargo:rerun-if-env-changed`.
/// (Everything in [`guest::LEAKED_VARS`] is removed, not read.)
pub const ENV_INPUTS: &[&str] = &["PATH", "RUSTUP_TOOLCHAIN", "RUSTUP_HOME", "CARGO_HOME"];

/// A component built from a guest crate, encoded and checked.
#[derive(Debug, Clone)]
pub struct BuiltComponent {
    /// The core module cargo produced.
    pub core_module: PathBuf,
    /// The component's bytes.
    pub component: Vec<u8>,
    /// Its top-level imports (all within the allow-list, when there was one).
    pub imports: Vec<String>,
    /// Its top-level exports.
    pub exports: Vec<String>,
}

/// Encodes `core_module` into a component and checks it: imports within
/// `allowed_imports`, and a valid implementation of `world` (a fully
/// qualified name) from the WIT package in `wit_dir`.
pub fn componentize(
    core_module: &[u8],
    wit_dir: &Path,
    world: &str,
    allowed_imports: &[&str],
) -> Result<Vec<u8>> {
    componentize_checked(
        core_module,
        &ComponentChecks::new(allowed_imports, &[wit_dir], world),
    )
}

/// What a component is checked against once encoded; each check can be
/// left out. [`componentize`] and [`build_component`] run both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentChecks {
    /// The import allow-list (entries as in [`import_allowed`]); `None`
    /// skips the import check. `Some(vec![])` means "imports nothing".
    pub allowed_imports: Option<Vec<String>>,
    /// The world the component must implement; `None` skips the world
    /// check.
    pub world: Option<WorldCheck>,
}

/// A world to check a component against: [`load_world_from`]`(wit_dirs,
/// world)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorldCheck {
    /// WIT directories, loaded in order; each may use the packages of the
    /// ones before it.
    pub wit_dirs: Vec<PathBuf>,
    /// The world's fully qualified name, e.g. [`CONNECTOR_WORLD`].
    pub world: String,
}

impl ComponentChecks {
    /// Both checks: imports within `allowed_imports`, and `world` from
    /// `wit_dirs`.
    pub fn new(allowed_imports: &[&str], wit_dirs: &[&Path], world: &str) -> Self {
        ComponentChecks {
            allowed_imports: Some(allowed_imports.iter().map(|s| s.to_string()).collect()),
            world: Some(WorldCheck {
                wit_dirs: wit_dirs.iter().map(|d| d.to_path_buf()).collect(),
                world: world.to_string(),
            }),
        }
    }

    /// What the CircleCI connector is checked against: imports within
    /// [`CONNECTOR_ALLOWED_IMPORTS`], world [`CONNECTOR_WORLD`] from
    /// `<workspace>/wit`.
    pub fn connector(workspace_root: &Path) -> Self {
        Self::new(
            &CONNECTOR_ALLOWED_IMPORTS,
            &[&workspace_root.join("wit")],
            CONNECTOR_WORLD,
        )
    }

    /// No check at all: the component only has to encode and validate.
    pub fn none() -> Self {
        Self::default()
    }
}

/// Encodes `core_module` into a component (always validated) and runs the
/// `checks` that are set: imports first, then the world.
pub fn componentize_checked(core_module: &[u8], checks: &ComponentChecks) -> Result<Vec<u8>> {
    let component = encode_component(core_module)?;
    if let Some(allowed) = &checks.allowed_imports {
        let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
        check_imports(&component, &allowed)?;
    }
    if let Some(check) = &checks.world {
        let dirs: Vec<&Path> = check.wit_dirs.iter().map(PathBuf::as_path).collect();
        let (resolve, world_id) = load_world_from(&dirs, &check.world)?;
        check_world(&component, &resolve, world_id)?;
    }
    Ok(component)
}

/// Builds the CircleCI connector of the workspace at `workspace_root` into
/// `target_dir` (see [`default_target_dir`]) and returns the checked
/// component: world [`CONNECTOR_WORLD`] from `<workspace>/wit`, imports
/// limited to [`CONNECTOR_ALLOWED_IMPORTS`].
pub fn build_connector(workspace_root: &Path, target_dir: &Path) -> Result<BuiltComponent> {
    let build = GuestBuild::new(workspace_root, CONNECTOR_PACKAGE, target_dir);
    build_component(
        &build,
        &workspace_root.join("wit"),
        CONNECTOR_WORLD,
        &CONNECTOR_ALLOWED_IMPORTS,
    )
}

/// Builds any guest (see [`GuestBuild`]) and runs [`componentize`] on it.
pub fn build_component(
    build: &GuestBuild,
    wit_dir: &Path,
    world: &str,
    allowed_imports: &[&str],
) -> Result<BuiltComponent> {
    build_component_checked(
        build,
        &ComponentChecks::new(allowed_imports, &[wit_dir], world),
    )
}

/// Builds any guest (see [`GuestBuild`]) and runs [`componentize_checked`]
/// on it.
pub fn build_component_checked(
    build: &GuestBuild,
    checks: &ComponentChecks,
) -> Result<BuiltComponent> {
    let core_module = build_guest(build)?;
    let bytes = std::fs::read(&core_module)
        .with_context(|| format!("could not read {}", core_module.display()))?;
    let component = componentize_checked(&bytes, checks)
        .with_context(|| format!("{} is not an acceptable component", core_module.display()))?;
    Ok(BuiltComponent {
        imports: component_imports(&component)?,
        exports: component_exports(&component)?,
        core_module,
        component,
    })
}
