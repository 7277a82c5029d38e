//! Builds the hostile connector components (`../hostile`, one per cargo
//! feature, plus the featureless `benign` baseline) and puts them in
//! `OUT_DIR`, the pattern of wasmtime's `crates/test-programs/artifacts`
//! build script and of this workspace's `artifacts/build.rs`.
//!
//! Every build shares the connector's guest target directory,
//! `<workspace>/target/guest`: std (compiled there with `-Zbuild-std` on
//! Debian's toolchain) and the common dependencies are built once for all
//! of them and the connector. The builds run one after the other, and
//! each feature's core module lands in the same file, so after each build
//! the module's `hostile-behaviour` custom section is checked against the
//! feature asked for before the module is encoded and copied out (a stale
//! module is rebuilt once, then refused).
//!
//! The checks differ from the connector's on purpose: the components are
//! meant to be refused by the host, so each is checked only to be what it
//! claims (see `programs()`); `tests` in `src/lib.rs` check their shapes.

use anyhow::Context;
use component_build::script::{self, ScriptDirs};
use component_build::{
    CONNECTOR_ALLOWED_IMPORTS, ComponentChecks, GuestBuild, WorldCheck, build_guest,
    componentize_checked, custom_section, default_target_dir,
};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

/// The guest crate's package name.
const PACKAGE: &str = "hostile-connectors";

/// The custom section holding the behaviour's name (`BEHAVIOUR_SECTION` in
/// the guest).
const BEHAVIOUR_SECTION: &str = "hostile-behaviour";

/// One component to build.
struct Program {
    /// Its name: the feature, or `benign` for the featureless build. The
    /// component is `OUT_DIR/<name>.component.wasm`.
    name: &'static str,
    /// The feature that selects it, if any.
    feature: Option<&'static str>,
    /// What the encoded component is checked against.
    checks: ComponentChecks,
}

/// Every component, with its checks. `workspace` is the workspace root,
/// `guest` the guest crate's directory.
fn programs(workspace: &Path, guest: &Path) -> Vec<Program> {
    let connector = || ComponentChecks::connector(workspace);
    let program = |name: &'static str, checks: ComponentChecks| Program {
        name,
        feature: Some(name),
        checks,
    };
    let mut snoop_imports: Vec<String> = CONNECTOR_ALLOWED_IMPORTS
        .iter()
        .map(|s| s.to_string())
        .collect();
    snoop_imports.extend(
        [
            "wasi:cli/environment@0.2.12",
            "wasi:filesystem/types@0.2.12",
            "wasi:filesystem/preopens@0.2.12",
        ]
        .map(String::from),
    );
    vec![
        Program {
            name: "benign",
            feature: None,
            checks: connector(),
        },
        program("spin", connector()),
        program("hog", connector()),
        program("flood", connector()),
        program("stray", connector()),
        program("huge-page", connector()),
        // Its imports are the point: a wider allow-list, and no world
        // check (the world grants neither).
        program(
            "snoop",
            ComponentChecks {
                allowed_imports: Some(snoop_imports),
                world: None,
            },
        ),
        program("leaky", connector()),
        // The connector's world, version 0.1.0 (its WIT builds on the
        // connector's wit/ for the wasi packages).
        program(
            "other-version",
            ComponentChecks {
                allowed_imports: Some(
                    CONNECTOR_ALLOWED_IMPORTS
                        .iter()
                        .map(|s| s.to_string())
                        .collect(),
                ),
                world: Some(WorldCheck {
                    wit_dirs: vec![workspace.join("wit"), guest.join("wit-other-version")],
                    world: "ingest:connector/source-connector@0.1.0".into(),
                }),
            },
        ),
        program("attack", connector()),
        program("unmarked", connector()),
        program("bad-names", connector()),
        program("forgetful", connector()),
        // Not a connector at all: imports nothing.
        program(
            "other-world",
            ComponentChecks {
                allowed_imports: Some(Vec::new()),
                world: Some(WorldCheck {
                    wit_dirs: vec![guest.join("wit-other-world")],
                    world: "hostile:unrelated/unrelated@0.1.0".into(),
                }),
            },
        ),
    ]
}

fn main() -> ExitCode {
    script::main("the hostile connector components", run)
}

fn run() -> anyhow::Result<()> {
    // test-programs/artifacts → the workspace root.
    let ScriptDirs {
        out_dir, workspace, ..
    } = ScriptDirs::from_env(2)?;
    let guest = workspace.join("test-programs").join("hostile");

    // Before any `cargo:` line, so a missing toolchain shows just the
    // install commands.
    let toolchain = component_build::detect()?;

    component_build::rerun::declare_guest_inputs(
        &workspace,
        &guest,
        // Its other WITs, and the SDK it is built on.
        &[
            "wit-other-version",
            "wit-other-world",
            "../../connector-sdk",
        ],
    )?;

    let started = Instant::now();
    for program in programs(&workspace, &guest) {
        let one = Instant::now();
        let mut build = GuestBuild::new(&workspace, PACKAGE, default_target_dir(&workspace));
        build.toolchain = Some(toolchain.clone());
        build.features = program.feature.iter().map(|f| f.to_string()).collect();
        let component = build_checked(&build, &program)?;

        let file = format!("{}.component.wasm", program.name);
        script::write_atomically(&out_dir.join(&file), &component)?;
        eprintln!(
            "hostile-artifacts: {file}: {} bytes in {:.1} s",
            component.len(),
            one.elapsed().as_secs_f64()
        );
    }
    eprintln!(
        "hostile-artifacts: all components built in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Builds `program` and returns its checked component, making sure first
/// that the core module really is the behaviour asked for.
fn build_checked(build: &GuestBuild, program: &Program) -> anyhow::Result<Vec<u8>> {
    let context = || format!("component `{}`", program.name);
    for attempt in 0..2 {
        let core_module = build_guest(build).with_context(context)?;
        let module = std::fs::read(&core_module)
            .with_context(|| format!("could not read {}", core_module.display()))?;
        let marker = custom_section(&module, BEHAVIOUR_SECTION)?;
        if marker.as_deref() == Some(program.name.as_bytes()) {
            return componentize_checked(&module, &program.checks)
                .with_context(|| format!("{} is not what it should be", core_module.display()))
                .with_context(context);
        }
        let found = marker
            .map(|m| String::from_utf8_lossy(&m).into_owned())
            .unwrap_or_else(|| "no marker".into());
        if attempt == 0 {
            // Cargo kept another feature's module as fresh. Without its
            // output it must rebuild this one.
            eprintln!(
                "hostile-artifacts: {} holds `{found}`, not `{}`; rebuilding it",
                core_module.display(),
                program.name
            );
            remove_outputs(&core_module)?;
        } else {
            anyhow::bail!(
                "building `{}` gave a core module of behaviour `{found}` ({})",
                program.name,
                core_module.display()
            );
        }
    }
    unreachable!("the loop returns or fails on its second pass")
}

/// Removes the uplifted core module and its original in `deps/`.
fn remove_outputs(core_module: &Path) -> anyhow::Result<()> {
    let mut paths = vec![core_module.to_path_buf()];
    if let (Some(dir), Some(name)) = (core_module.parent(), core_module.file_name()) {
        paths.push(dir.join("deps").join(name));
    }
    for path in paths {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => anyhow::bail!("could not remove {}: {e}", path.display()),
        }
    }
    Ok(())
}
