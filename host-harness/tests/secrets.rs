//! No credential secret in anything the harness produces: every command of
//! the CLI, with the most verbose log (`--log trace`), against the real
//! connector and against hostile components that hand the key back in
//! every way they can; then every byte of output — stdout, stderr, records,
//! state files, the compile cache — is searched for every token used.

use std::path::{Path, PathBuf};

use conformance::sim::{SimConfig, Simulator, TenantConfig};
use serde_json::json;

/// The tenant's key, known to the simulator.
const GOOD: &str = "CCIPAT_secret_scan_good_9f8e7d6c5b4a";
/// A key the simulator does not know (answered with 401).
const WRONG: &str = "CCIPAT_secret_scan_wrong_0a1b2c3d4e5f";
/// The key given to hostile components.
const HOSTILE: &str = "CCIPAT_secret_scan_hostile_77aa88bb99cc";
const TOKENS: [&str; 3] = [GOOD, WRONG, HOSTILE];

struct Run {
    sim: Simulator,
    dir: PathBuf,
    /// Every stdout and stderr so far, labelled.
    outputs: Vec<(String, Vec<u8>)>,
}

impl Run {
    async fn new() -> Run {
        let sim = Simulator::start(SimConfig {
            tenants: vec![TenantConfig::new(GOOD, 2, 12)],
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let dir = std::env::temp_dir().join(format!("harness-secrets-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Run {
            sim,
            dir,
            outputs: Vec::new(),
        }
    }

    fn credential(&self, label: &str, token: &str) -> String {
        let path = self.dir.join(format!("credential-{label}.json"));
        let doc = json!({"api_key": token, "base_url": self.sim.base_url()});
        std::fs::write(&path, doc.to_string()).unwrap();
        path.to_str().unwrap().to_string()
    }

    fn component(&self, name: &str) -> String {
        let path = self.dir.join(format!("{name}.wasm"));
        std::fs::write(&path, hostile_artifacts::get(name).unwrap()).unwrap();
        path.to_str().unwrap().to_string()
    }

    /// Runs the harness with the most verbose log; returns its exit code.
    async fn harness(&mut self, label: &str, args: &[&str]) -> i32 {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_connector-harness"))
            .arg("--cache-dir")
            .arg(self.dir.join("cache"))
            .args(["--allow-host", &format!("http://{}", self.sim.addr())])
            .args(["--log", "trace"])
            .args(args)
            .output()
            .await
            .unwrap();
        self.outputs
            .push((format!("{label}: stdout"), out.stdout.clone()));
        self.outputs
            .push((format!("{label}: stderr"), out.stderr.clone()));
        out.status.code().unwrap_or(-1)
    }

    fn all_text(&self) -> String {
        let mut text = String::new();
        for (_, bytes) in &self.outputs {
            text.push_str(&String::from_utf8_lossy(bytes));
        }
        text
    }
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Whether `haystack` holds `token` in any case, or spelled with JSON
/// `\u` escapes (as the `attack` component writes it), which any JSON
/// reader decodes back to the token.
fn contains(haystack: &[u8], token: &str) -> bool {
    let text = String::from_utf8_lossy(haystack).to_ascii_lowercase();
    let escaped: String = token
        .chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect();
    text.contains(&token.to_ascii_lowercase()) || text.contains(&escaped)
}

#[tokio::test(flavor = "multi_thread")]
async fn no_output_of_any_command_holds_a_secret() {
    let mut run = Run::new().await;
    let good = run.credential("good", GOOD);
    let wrong = run.credential("wrong", WRONG);
    let hostile = run.credential("hostile", HOSTILE);
    let out_dir = run.dir.join("out");
    let state = run.dir.join("state.json");
    let (out_dir_s, state_s) = (
        out_dir.to_str().unwrap().to_string(),
        state.to_str().unwrap().to_string(),
    );

    assert_eq!(run.harness("schema", &["schema"]).await, 0);
    assert_eq!(run.harness("streams", &["streams"]).await, 0);
    assert_eq!(
        run.harness("validate", &["validate", "--credential", &good])
            .await,
        0
    );
    assert_eq!(
        run.harness("validate wrong", &["validate", "--credential", &wrong])
            .await,
        11,
        "unauthorized"
    );
    let all = [
        "fetch",
        "--credential",
        &good,
        "--stream",
        "all",
        "--out",
        &out_dir_s,
        "--state",
        &state_s,
    ];
    assert_eq!(run.harness("fetch all", &all).await, 0);
    assert_eq!(run.harness("fetch all again", &all).await, 0);
    assert_eq!(
        run.harness(
            "fetch wrong",
            &["fetch", "--credential", &wrong, "--stream", "pipelines"]
        )
        .await,
        11
    );

    let leaky = run.component("leaky");
    let leaky_state = run.dir.join("leaky-state.json");
    let leaky_state = leaky_state.to_str().unwrap();
    for (label, args, code) in [
        (
            "leaky validate",
            vec!["--component", &leaky, "validate", "--credential", &hostile],
            10,
        ),
        (
            "leaky fetch",
            vec![
                "--component",
                &leaky,
                "fetch",
                "--credential",
                &hostile,
                "--stream",
                "items",
                "--state",
                leaky_state,
            ],
            17,
        ),
    ] {
        assert_eq!(run.harness(label, &args).await, code, "{label}");
    }
    // The key spelled in JSON escapes (records, one spread over lines that
    // the host re-serialises; a notice; the account's details and name),
    // and a component whose form calls the key plain text.
    let attack = run.component("attack");
    let unmarked = run.component("unmarked");
    let escaped_settings = run.dir.join("escaped.json");
    std::fs::write(&escaped_settings, r#"{"mode": "escaped-key"}"#).unwrap();
    let escaped_out = run.dir.join("escaped.jsonl");
    for (label, args, code) in [
        (
            "attack validate",
            vec!["--component", &attack, "validate", "--credential", &hostile],
            0,
        ),
        (
            "attack escaped-key to stdout",
            vec![
                "--component",
                &attack,
                "fetch",
                "--credential",
                &hostile,
                "--stream",
                "items",
                "--settings",
                escaped_settings.to_str().unwrap(),
            ],
            0,
        ),
        (
            "attack escaped-key to a file",
            vec![
                "--component",
                &attack,
                "fetch",
                "--credential",
                &hostile,
                "--stream",
                "items",
                "--settings",
                escaped_settings.to_str().unwrap(),
                "--out",
                escaped_out.to_str().unwrap(),
            ],
            0,
        ),
        (
            "unmarked validate",
            vec![
                "--component",
                &unmarked,
                "validate",
                "--credential",
                &hostile,
            ],
            10,
        ),
        (
            "unmarked fetch",
            vec![
                "--component",
                &unmarked,
                "fetch",
                "--credential",
                &hostile,
                "--stream",
                "items",
            ],
            17,
        ),
    ] {
        assert_eq!(run.harness(label, &args).await, code, "{label}");
    }
    assert_eq!(
        std::fs::read_to_string(&escaped_out)
            .unwrap()
            .lines()
            .count(),
        2,
        "the escaped records were written, redacted"
    );

    let panic_settings = run.dir.join("panic.json");
    std::fs::write(&panic_settings, r#"{"panic": true}"#).unwrap();
    let stray = run.component("stray");
    let snoop = run.component("snoop");
    for (label, args, code) in [
        (
            "leaky panic",
            vec![
                "--component",
                &leaky,
                "fetch",
                "--credential",
                &hostile,
                "--stream",
                "items",
                "--settings",
                panic_settings.to_str().unwrap(),
            ],
            24,
        ),
        (
            "stray validate",
            vec!["--component", &stray, "validate", "--credential", &hostile],
            16,
        ),
        (
            "snoop validate",
            vec!["--component", &snoop, "validate", "--credential", &hostile],
            23,
        ),
    ] {
        assert_eq!(run.harness(label, &args).await, code, "{label}");
    }

    // The Airbyte and Singer adapters: the same connector and the same
    // hostile components, through each protocol's commands.
    let config = |label: &str, token: &str, extra: serde_json::Value| {
        let path = run.dir.join(format!("credential-config-{label}.json"));
        let mut doc = json!({"api_key": token, "base_url": run.sim.base_url()});
        for (k, v) in extra.as_object().unwrap() {
            doc[k] = v.clone();
        }
        std::fs::write(&path, doc.to_string()).unwrap();
        path.to_str().unwrap().to_string()
    };
    let good_config = config("good", GOOD, json!({}));
    let wrong_config = config("wrong", WRONG, json!({}));
    let hostile_config = config("hostile", HOSTILE, json!({ "mode": "escaped-key" }));
    let catalog = |label: &str, stream: &str, mode: &str| {
        let path = run.dir.join(format!("catalog-{label}.json"));
        let doc = json!({ "streams": [{
            "stream": { "name": stream, "json_schema": {}, "supported_sync_modes": [mode] },
            "sync_mode": mode,
            "destination_sync_mode": "append",
        }]});
        std::fs::write(&path, doc.to_string()).unwrap();
        path.to_str().unwrap().to_string()
    };
    let jobs = catalog("jobs", "jobs", "incremental");
    let items = catalog("items", "items", "full_refresh");
    let singer_catalog = run.dir.join("singer-items.json");
    std::fs::write(
        &singer_catalog,
        json!({ "streams": [{ "tap_stream_id": "items", "schema": {}, "metadata": [
            { "breadcrumb": [], "metadata": { "selected": true } }
        ]}]})
        .to_string(),
    )
    .unwrap();
    let singer_catalog = singer_catalog.to_str().unwrap();
    for (label, args, code) in [
        (
            "airbyte check",
            vec!["airbyte", "check", "--config", &good_config],
            0,
        ),
        (
            "airbyte check wrong",
            vec!["airbyte", "check", "--config", &wrong_config],
            0,
        ),
        (
            "airbyte read",
            vec![
                "airbyte",
                "read",
                "--config",
                &good_config,
                "--catalog",
                &jobs,
            ],
            0,
        ),
        (
            "airbyte read wrong",
            vec![
                "airbyte",
                "read",
                "--config",
                &wrong_config,
                "--catalog",
                &jobs,
            ],
            11,
        ),
        (
            "singer discover",
            vec!["singer", "--config", &good_config, "--discover"],
            0,
        ),
        (
            "leaky airbyte check",
            vec![
                "--component",
                &leaky,
                "airbyte",
                "check",
                "--config",
                &hostile_config,
            ],
            0,
        ),
        (
            "leaky airbyte read",
            vec![
                "--component",
                &leaky,
                "airbyte",
                "read",
                "--config",
                &hostile_config,
                "--catalog",
                &items,
            ],
            17,
        ),
        (
            "attack airbyte read",
            vec![
                "--component",
                &attack,
                "airbyte",
                "read",
                "--config",
                &hostile_config,
                "--catalog",
                &items,
            ],
            0,
        ),
        (
            "leaky singer",
            vec![
                "--component",
                &leaky,
                "singer",
                "--config",
                &hostile_config,
                "--catalog",
                singer_catalog,
            ],
            17,
        ),
        (
            "attack singer",
            vec![
                "--component",
                &attack,
                "singer",
                "--config",
                &hostile_config,
                "--catalog",
                singer_catalog,
            ],
            0,
        ),
    ] {
        assert_eq!(run.harness(label, &args).await, code, "{label}");
    }

    // The log was on and said things, and the leaky component's key was
    // there to be redacted: the scan below is looking at real output.
    let text = run.all_text();
    assert!(text.contains("call finished"), "the trace log ran");
    assert!(text.contains("[REDACTED]"), "the leaked key was redacted");
    let mut scanned = run.outputs.len();
    for (label, bytes) in &run.outputs {
        for token in TOKENS {
            assert!(!contains(bytes, token), "{label} holds {token}");
        }
    }
    for path in files(&run.dir) {
        if path.extension().is_some_and(|e| e == "json")
            && path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("credential-"))
        {
            continue; // the credential files themselves
        }
        let bytes = std::fs::read(&path).unwrap();
        scanned += 1;
        for token in TOKENS {
            assert!(!contains(&bytes, token), "{} holds {token}", path.display());
        }
    }
    assert!(
        files(&out_dir).len() >= 13,
        "every stream wrote its records"
    );
    eprintln!(
        "scanned {scanned} outputs and files ({} bytes of stdout/stderr)",
        text.len()
    );
    run.sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&run.dir);
}
