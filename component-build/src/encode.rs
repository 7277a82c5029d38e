//! Turning a core module into a component, and checking what a component
//! imports and exports.
//!
//! The checks matter more than the encoding: wit-component merges *every*
//! `component-type` custom section found in the module, including those of
//! dependencies such as the `wasip2` crate, so a guest that calls any WASI
//! API (a clock, the filesystem, the environment) gets that interface as an
//! import even though its WIT world never mentions it. [`check_imports`]
//! catches that against an explicit allow-list, and [`check_world`] checks
//! the component against the world it claims to implement.

use anyhow::{Context, Result, bail};
use std::path::Path;
use wasmparser::{Encoding, Parser, Payload};
use wit_component::ComponentEncoder;
use wit_parser::{Resolve, WorldId};

/// The world every connector component implements.
pub const CONNECTOR_WORLD: &str = "ingest:connector/source-connector@0.3.0";

/// What a connector component may import: HTTP out and the I/O interfaces
/// HTTP bodies and futures are made of, at the exact versions the guests
/// are built against. Read from `wit/allowed-imports.txt`, the one list the
/// host's loader reads too.
pub static CONNECTOR_ALLOWED_IMPORTS: std::sync::LazyLock<Vec<&'static str>> =
    std::sync::LazyLock::new(|| {
        include_str!("../../wit/allowed-imports.txt")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    });

/// Encodes a core module (with its embedded `component-type` metadata, as
/// wit-bindgen produces it) into a component, validating the result.
pub fn encode_component(core_module: &[u8]) -> Result<Vec<u8>> {
    if Parser::is_component(core_module) {
        bail!("the input is already a component, not a core module");
    }
    if !Parser::is_core_wasm(core_module) {
        bail!("the input is not a WebAssembly module (bad magic number or version)");
    }
    ComponentEncoder::default()
        .module(core_module)
        .context(
            "wit-component rejected the core module (does it embed component-type \
             metadata, i.e. was it built with wit-bindgen?)",
        )?
        .validate(true)
        .encode()
        .context("wit-component could not turn the core module into a valid component")
}

/// The names of a component's top-level imports, in order, e.g.
/// `wasi:http/types@0.2.12`.
pub fn component_imports(component: &[u8]) -> Result<Vec<String>> {
    top_level_names(component, Direction::Imports)
}

/// The names of a component's top-level exports, in order, e.g.
/// `ingest:connector/source@0.3.0`.
pub fn component_exports(component: &[u8]) -> Result<Vec<String>> {
    top_level_names(component, Direction::Exports)
}

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Imports,
    Exports,
}

/// Walks the component's sections. Nested modules and components have
/// import and export sections of their own (the core module imports
/// `wasi:http/types@0.2.12` functions, shims import by index); only the
/// outermost ones are what a host must provide or may call.
fn top_level_names(component: &[u8], direction: Direction) -> Result<Vec<String>> {
    let mut names = Vec::new();
    // Number of nested modules/components we are inside.
    let mut depth = 0usize;
    let mut seen_header = false;
    for payload in Parser::new(0).parse_all(component) {
        let payload = payload.context("the component is not well-formed WebAssembly")?;
        match payload {
            Payload::Version { encoding, .. } if !seen_header => {
                seen_header = true;
                if encoding != Encoding::Component {
                    bail!("this is a core WebAssembly module, not a component");
                }
            }
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader)
                if depth == 0 && direction == Direction::Imports =>
            {
                for import in reader {
                    let import = import.context("malformed component import")?;
                    names.push(import.name.full_name().into_owned());
                }
            }
            Payload::ComponentExportSection(reader)
                if depth == 0 && direction == Direction::Exports =>
            {
                for export in reader {
                    let export = export.context("malformed component export")?;
                    names.push(export.name.full_name().into_owned());
                }
            }
            _ => {}
        }
    }
    Ok(names)
}

/// Whether the import `name` is covered by an entry of `allowed`.
///
/// An entry matches the name itself; an entry ending in `/`, `:` or `@`
/// (`wasi:io/`) matches every name it starts; an entry without a version
/// (`wasi:io/poll`) matches every version of that interface. Plain prefixes
/// do not match across a version boundary: `wasi:http/types@0.2.1` does not
/// allow `wasi:http/types@0.2.12`.
pub fn import_allowed(name: &str, allowed: &[&str]) -> bool {
    allowed.iter().any(|entry| {
        name == *entry
            || (name.starts_with(entry)
                && (entry.ends_with(['/', ':', '@']) || name[entry.len()..].starts_with('@')))
    })
}

/// Fails if the component imports anything not covered by `allowed` (see
/// [`import_allowed`]), naming each offending import.
pub fn check_imports(component: &[u8], allowed: &[&str]) -> Result<()> {
    let imports = component_imports(component).context("could not list the component's imports")?;
    let offending: Vec<&String> = imports
        .iter()
        .filter(|name| !import_allowed(name, allowed))
        .collect();
    if offending.is_empty() {
        return Ok(());
    }
    let list = |names: &mut dyn Iterator<Item = &str>| {
        names
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    bail!(
        "the component imports {} outside the allow-list: {}\n\
         allowed: {}\n\
         An unexpected WASI import usually means the guest (or a crate it uses, \
         such as `wasip2` or std) calls that API; remove the call rather than \
         widen the list.",
        if offending.len() == 1 {
            "an interface"
        } else {
            "interfaces"
        },
        list(&mut offending.iter().map(|s| s.as_str())),
        list(&mut allowed.iter().copied()),
    )
}

/// Loads the WIT package in `wit_dir` (with its `deps/`) and selects
/// `world`, a fully qualified name such as [`CONNECTOR_WORLD`].
pub fn load_world(wit_dir: &Path, world: &str) -> Result<(Resolve, WorldId)> {
    let mut resolve = Resolve::default();
    let (package, _sources) = resolve
        .push_dir(wit_dir)
        .with_context(|| format!("could not load the WIT package in {}", wit_dir.display()))?;
    let world_id = resolve
        .select_world(&[package], Some(world))
        .with_context(|| format!("no world `{world}` in {}", wit_dir.display()))?;
    Ok((resolve, world_id))
}

/// Like [`load_world`], for a world whose packages are spread over several
/// WIT directories: they are loaded in order, and each may use the packages
/// of those before it. So a directory holding just one package (without a
/// `deps/` of its own) can build on the connector's `wit/` and its WASI
/// dependencies. `world` is looked up among all of them.
pub fn load_world_from(wit_dirs: &[&Path], world: &str) -> Result<(Resolve, WorldId)> {
    if wit_dirs.is_empty() {
        bail!("no WIT directory given to look up world `{world}` in");
    }
    let mut resolve = Resolve::default();
    let mut packages = Vec::new();
    for dir in wit_dirs {
        let (package, _sources) = resolve
            .push_dir(dir)
            .with_context(|| format!("could not load the WIT package in {}", dir.display()))?;
        packages.push(package);
    }
    let world_id = resolve
        .select_world(&packages, Some(world))
        .with_context(|| {
            let dirs: Vec<String> = wit_dirs.iter().map(|d| d.display().to_string()).collect();
            format!("no world `{world}` in {}", dirs.join(", "))
        })?;
    Ok((resolve, world_id))
}

/// The contents of the first custom section named `name` in a core module
/// or component, at any depth (a component's core modules included), or
/// `None` if there is none.
pub fn custom_section(wasm: &[u8], name: &str) -> Result<Option<Vec<u8>>> {
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.context("not well-formed WebAssembly")?;
        if let Payload::CustomSection(reader) = payload
            && reader.name() == name
        {
            return Ok(Some(reader.data().to_vec()));
        }
    }
    Ok(None)
}

/// Checks that the component is a valid implementation of `world`: it
/// imports nothing the world does not offer and exports everything the world
/// requires, with matching types (wit-component's `targets`).
pub fn check_world(component: &[u8], resolve: &Resolve, world: WorldId) -> Result<()> {
    let name = &resolve.worlds[world].name;
    wit_component::targets(resolve, world, component, false)
        .with_context(|| format!("the component does not target the world `{name}`"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use wit_component::{StringEncoding, dummy_module, embed_component_metadata};
    use wit_parser::ManglingAndAbi;

    fn wit_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit")
    }

    /// The connector's WIT plus a test package with extra worlds built on it.
    fn resolve_with_test_worlds() -> Resolve {
        let (mut resolve, _) = load_world(&wit_dir(), CONNECTOR_WORLD).unwrap();
        resolve
            .push_str(
                "test.wit",
                r#"
                package test:worlds;

                /// Only what the allow-list grants, and the connector's exports.
                world io-only {
                    import wasi:io/streams@0.2.12;
                    import wasi:io/poll@0.2.12;
                    export ingest:connector/types@0.3.0;
                    export ingest:connector/source@0.3.0;
                }

                /// The connector's world plus the filesystem.
                world with-filesystem {
                    include ingest:connector/source-connector@0.3.0;
                    import wasi:filesystem/preopens@0.2.12;
                }
                "#,
            )
            .unwrap();
        resolve
    }

    /// A component that imports every function of `world`'s imports and
    /// exports a stub of each of its exports.
    fn dummy_component(resolve: &Resolve, world: &str) -> Vec<u8> {
        encode_component(&dummy_core_module(resolve, world)).unwrap()
    }

    /// The core module [`dummy_component`] encodes, with its metadata.
    fn dummy_core_module(resolve: &Resolve, world: &str) -> Vec<u8> {
        let world = world_id(resolve, world);
        let mut module = dummy_module(resolve, world, ManglingAndAbi::Standard32);
        embed_component_metadata(&mut module, resolve, world, StringEncoding::UTF8, false).unwrap();
        module
    }

    /// A fresh directory under the system's temp dir.
    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cb-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A world by its fully qualified name. `select_world` wants some main
    /// package even for qualified names; any will do.
    fn world_id(resolve: &Resolve, name: &str) -> WorldId {
        let any = resolve.packages.iter().next().unwrap().0;
        resolve.select_world(&[any], Some(name)).unwrap()
    }

    #[test]
    fn connector_world_loads() {
        let (resolve, world) = load_world(&wit_dir(), CONNECTOR_WORLD).unwrap();
        assert_eq!(resolve.worlds[world].name, "source-connector");
    }

    #[test]
    fn unknown_world_is_a_clear_error() {
        let err = load_world(&wit_dir(), "ingest:connector/nope@0.3.0").unwrap_err();
        assert!(format!("{err:#}").contains("nope"), "{err:#}");
    }

    #[test]
    fn allowed_imports_pass() {
        let resolve = resolve_with_test_worlds();
        let component = dummy_component(&resolve, "test:worlds/io-only");
        let mut imports = component_imports(&component).unwrap();
        imports.sort();
        assert_eq!(
            imports,
            [
                "wasi:io/error@0.2.12",
                "wasi:io/poll@0.2.12",
                "wasi:io/streams@0.2.12",
            ],
        );
        check_imports(&component, &CONNECTOR_ALLOWED_IMPORTS).unwrap();
        assert_eq!(
            component_exports(&component).unwrap(),
            [
                "ingest:connector/types@0.3.0",
                "ingest:connector/source@0.3.0"
            ]
        );
    }

    #[test]
    fn filesystem_import_is_rejected_by_name() {
        let resolve = resolve_with_test_worlds();
        let component = dummy_component(&resolve, "test:worlds/with-filesystem");
        let err = check_imports(&component, &CONNECTOR_ALLOWED_IMPORTS).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("`wasi:filesystem/preopens@0.2.12`"), "{msg}");
        assert!(msg.contains("`wasi:filesystem/types@0.2.12`"), "{msg}");
        // Allowed imports are listed as allowed, never as offending.
        let offending = msg.lines().next().unwrap();
        assert!(!offending.contains("wasi:http/outgoing-handler"), "{msg}");
    }

    #[test]
    fn world_check_accepts_the_world_and_rejects_extra_imports() {
        let resolve = resolve_with_test_worlds();
        let connector = world_id(&resolve, CONNECTOR_WORLD);

        let good = dummy_component(&resolve, CONNECTOR_WORLD);
        check_world(&good, &resolve, connector).unwrap();

        let bad = dummy_component(&resolve, "test:worlds/with-filesystem");
        let err = check_world(&bad, &resolve, connector).unwrap_err();
        assert!(format!("{err:#}").contains("source-connector"), "{err:#}");
    }

    #[test]
    fn a_dummy_of_the_full_world_imports_the_clock_and_is_rejected() {
        // wasi:http/types uses `duration` from wasi:clocks/monotonic-clock,
        // so the elaborated world imports the clock. A module that *calls*
        // it (the dummy calls everything) must be rejected: the connector has
        // no business reading clocks.
        let resolve = resolve_with_test_worlds();
        let component = dummy_component(&resolve, CONNECTOR_WORLD);
        let err = check_imports(&component, &CONNECTOR_ALLOWED_IMPORTS).unwrap_err();
        assert!(
            format!("{err:#}").contains("`wasi:clocks/monotonic-clock@0.2.12`"),
            "{err:#}"
        );
    }

    #[test]
    fn allow_list_matching() {
        let allowed = [
            "wasi:io/",
            "wasi:http/types@0.2.12",
            "wasi:clocks/wall-clock",
        ];
        assert!(import_allowed("wasi:io/poll@0.2.12", &allowed));
        assert!(import_allowed("wasi:http/types@0.2.12", &allowed));
        assert!(import_allowed("wasi:clocks/wall-clock@0.2.0", &allowed));
        assert!(!import_allowed("wasi:http/types@0.2.120", &allowed));
        assert!(!import_allowed(
            "wasi:http/outgoing-handler@0.2.12",
            &allowed
        ));
        assert!(!import_allowed("wasi:io-extra/x", &allowed));
        assert!(!import_allowed("wasi:clocks/wall-clock-ish", &allowed));
    }

    #[test]
    fn non_components_are_clear_errors() {
        let resolve = resolve_with_test_worlds();
        let world = world_id(&resolve, CONNECTOR_WORLD);
        let module = dummy_module(&resolve, world, ManglingAndAbi::Standard32);

        let err = component_imports(&module).unwrap_err();
        assert!(
            format!("{err:#}").contains("core WebAssembly module"),
            "{err:#}"
        );
        assert!(component_imports(b"not wasm").is_err());
        assert!(encode_component(b"not wasm").is_err());

        // No component-type metadata: wit-component cannot know the world.
        let plain = dummy_module(&resolve, world, ManglingAndAbi::Standard32);
        let err = encode_component(&plain).unwrap_err();
        assert!(format!("{err:#}").contains("wit-component"), "{err:#}");

        let component = dummy_component(&resolve, CONNECTOR_WORLD);
        let err = encode_component(&component).unwrap_err();
        assert!(
            format!("{err:#}").contains("already a component"),
            "{err:#}"
        );
    }

    #[test]
    fn a_world_can_span_several_wit_dirs() {
        // A package with no deps/ of its own, using wasi:http from the
        // connector's WIT.
        let dir = temp_dir("wit-other");
        std::fs::write(
            dir.join("other.wit"),
            "package test:other@0.2.0;\n\
             interface things { get: func() -> string; }\n\
             world other { import wasi:http/outgoing-handler@0.2.12; export things; }\n",
        )
        .unwrap();
        let wit = wit_dir();
        let (resolve, world) = load_world_from(&[&wit, &dir], "test:other/other@0.2.0").unwrap();
        assert_eq!(resolve.worlds[world].name, "other");
        // The worlds of the earlier directories can be selected too.
        load_world_from(&[&wit, &dir], CONNECTOR_WORLD).unwrap();
        // Alone, the package cannot resolve wasi:http.
        let err = load_world_from(&[&dir], "test:other/other@0.2.0").unwrap_err();
        assert!(format!("{err:#}").contains("wasi:http"), "{err:#}");
        let err = load_world_from(&[], CONNECTOR_WORLD).unwrap_err();
        assert!(format!("{err:#}").contains("no WIT directory"), "{err:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn custom_sections_are_found_by_name() {
        // A core module holding one custom section `mark` = "spin".
        let mut module = b"\0asm\x01\0\0\0".to_vec();
        module.extend_from_slice(&[0, 9, 4]);
        module.extend_from_slice(b"markspin");
        assert_eq!(custom_section(&module, "mark").unwrap().unwrap(), b"spin");
        assert_eq!(custom_section(&module, "other").unwrap(), None);
        assert!(custom_section(b"not wasm", "mark").is_err());

        // Inside a component, at any depth (here in the core module).
        let resolve = resolve_with_test_worlds();
        let mut core = dummy_core_module(&resolve, CONNECTOR_WORLD);
        core.extend_from_slice(&[0, 9, 4]);
        core.extend_from_slice(b"markhog!");
        let component = encode_component(&core).unwrap();
        assert_eq!(
            custom_section(&component, "mark").unwrap().unwrap(),
            b"hog!"
        );
    }

    #[test]
    fn checks_can_be_relaxed_one_by_one() {
        use crate::{ComponentChecks, WorldCheck, componentize, componentize_checked};
        let resolve = resolve_with_test_worlds();
        let wit = wit_dir();
        let connector = dummy_core_module(&resolve, "test:worlds/io-only");
        let with_fs = dummy_core_module(&resolve, "test:worlds/with-filesystem");

        // The connector's checks, spelled both ways.
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let strict = ComponentChecks::connector(&workspace);
        assert_eq!(
            strict,
            ComponentChecks::new(
                &CONNECTOR_ALLOWED_IMPORTS,
                &[&workspace.join("wit")],
                CONNECTOR_WORLD
            )
        );
        componentize_checked(&connector, &strict).unwrap();
        componentize(
            &connector,
            &wit,
            CONNECTOR_WORLD,
            &CONNECTOR_ALLOWED_IMPORTS,
        )
        .unwrap();
        let err = componentize_checked(&with_fs, &strict).unwrap_err();
        assert!(format!("{err:#}").contains("wasi:filesystem"), "{err:#}");

        // No check: anything that encodes passes.
        let component = componentize_checked(&with_fs, &ComponentChecks::none()).unwrap();
        assert!(
            component_imports(&component)
                .unwrap()
                .iter()
                .any(|i| i.starts_with("wasi:filesystem/"))
        );

        // A wider allow-list without a world check.
        let mut allowed: Vec<String> = CONNECTOR_ALLOWED_IMPORTS
            .iter()
            .map(|s| s.to_string())
            .collect();
        allowed.extend(["wasi:filesystem/".into(), "wasi:clocks/".into()]);
        let imports_only = ComponentChecks {
            allowed_imports: Some(allowed),
            world: None,
        };
        componentize_checked(&with_fs, &imports_only).unwrap();

        // The world check alone still refuses the filesystem.
        let world_only = ComponentChecks {
            allowed_imports: None,
            world: Some(WorldCheck {
                wit_dirs: vec![wit.clone()],
                world: CONNECTOR_WORLD.into(),
            }),
        };
        let err = componentize_checked(&with_fs, &world_only).unwrap_err();
        assert!(format!("{err:#}").contains("source-connector"), "{err:#}");

        // "Imports nothing" is an allow-list too.
        let nothing = ComponentChecks {
            allowed_imports: Some(Vec::new()),
            world: None,
        };
        assert!(componentize_checked(&connector, &nothing).is_err());
    }
}
