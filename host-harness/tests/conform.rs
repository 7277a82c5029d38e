//! `connector-harness conform` as a component's author runs it: the
//! CircleCI component passes every check against the simulator, and
//! broken components (test-programs/hostile) fail the rows that name what
//! is wrong with them, and only plausible others, with exit code 28.

use std::path::PathBuf;
use std::process::Output;

use conformance::sim::{SimConfig, Simulator};
use serde_json::{Value, json};

const TOKEN: &str = "CCIPAT_conform_test_token_27182818284";

/// Every check, in the order printed.
const CHECKS: &[&str] = &[
    "schemas_valid",
    "inputs_match_schemas",
    "catalog_valid",
    "validate_accepts",
    "validate_rejects_mangled",
    "read_records_valid",
    "resume_loses_nothing",
    "incremental_second_sync",
    "secrets_not_echoed",
    "requests_allowed",
];

struct Env {
    sim: Simulator,
    dir: PathBuf,
}

/// One run: exit code, the JSON report (when `--json`), stdout, stderr.
struct Run {
    code: Option<i32>,
    report: Value,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Each check's result and detail, by id, in order.
    fn rows(&self) -> Vec<(String, String, String)> {
        self.report["checks"]
            .as_array()
            .unwrap_or_else(|| panic!("no checks: {}\n{}", self.stdout, self.stderr))
            .iter()
            .map(|c| {
                (
                    c["id"].as_str().unwrap().to_string(),
                    c["result"].as_str().unwrap().to_string(),
                    c["detail"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// The result and detail of check `id`.
    fn row(&self, id: &str) -> (String, String) {
        self.rows()
            .into_iter()
            .find(|(i, _, _)| i == id)
            .map(|(_, r, d)| (r, d))
            .unwrap_or_else(|| panic!("no row {id}: {}", self.stdout))
    }

    /// Asserts that exactly the checks `failed` failed, `skipped` were
    /// skipped and every other passed, in the order of [`CHECKS`].
    fn assert_results(&self, failed: &[&str], skipped: &[&str]) {
        let rows = self.rows();
        let ids: Vec<&str> = rows.iter().map(|(id, _, _)| id.as_str()).collect();
        assert_eq!(ids, CHECKS, "{}", self.stdout);
        for (id, result, detail) in &rows {
            let expected = if failed.contains(&id.as_str()) {
                "fail"
            } else if skipped.contains(&id.as_str()) {
                "skip"
            } else {
                "pass"
            };
            assert_eq!(result, expected, "{id}: {detail}\n{}", self.stdout);
            assert!(!detail.is_empty(), "{id} says nothing");
        }
        assert_eq!(self.report["failed"], failed.len(), "{}", self.stdout);
        assert_eq!(self.report["skipped"], skipped.len());
        assert_eq!(
            self.report["passed"],
            CHECKS.len() - failed.len() - skipped.len()
        );
        if failed.is_empty() {
            assert_eq!(self.code, Some(0), "{}", self.stderr);
        } else {
            assert_eq!(self.code, Some(28), "{}", self.stderr);
            assert_eq!(
                self.stderr.trim(),
                format!(
                    "error: conform: {} of {} checks failed: {}",
                    failed.len(),
                    CHECKS.len(),
                    failed.join(", ")
                )
            );
        }
    }
}

impl Env {
    async fn new() -> Env {
        // Two projects of eight pipelines: the project walk takes many
        // pages, so there are states to resume from.
        let sim = Simulator::start(SimConfig::single(TOKEN, 2, 8))
            .await
            .unwrap();
        let dir = conformance::scratch::scratch_dir("harness-conform");
        Env { sim, dir }
    }

    fn write(&self, name: &str, contents: &[u8]) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path.to_str().unwrap().to_string()
    }

    fn credential(&self) -> String {
        let doc = json!({"api_key": TOKEN, "base_url": self.sim.base_url()});
        self.write("credential.json", doc.to_string().as_bytes())
    }

    fn component(&self, name: &str) -> String {
        self.write(
            &format!("{name}.wasm"),
            hostile_artifacts::get(name).unwrap(),
        )
    }

    /// `conform --json` of `component` (none: the built-in one), allowed
    /// to reach the simulator only.
    async fn conform(&self, component: Option<&str>, args: &[&str]) -> Run {
        let mut all: Vec<String> = Vec::new();
        if let Some(name) = component {
            all.extend(["--component".to_string(), self.component(name)]);
        }
        all.extend(["conform".into(), "--credential".into(), self.credential()]);
        all.extend(args.iter().map(|a| a.to_string()));
        let out = self.harness(&all).await;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        Run {
            code: out.status.code(),
            report: serde_json::from_str(&stdout).unwrap_or(Value::Null),
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    async fn harness(&self, args: &[String]) -> Output {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_connector-harness"))
            .arg("--cache-dir")
            .arg(self.dir.join("cache"))
            .args(["--allow-host", &format!("http://{}", self.sim.addr())])
            .args(args)
            .output()
            .await
            .unwrap();
        // Whatever the component does with the key, the report never
        // holds it, nor a terminal escape.
        for text in [&out.stdout, &out.stderr] {
            let text = String::from_utf8_lossy(text);
            assert!(!text.contains(TOKEN), "the key leaked: {text}");
            assert!(
                !text
                    .to_ascii_lowercase()
                    .contains(&TOKEN.to_ascii_lowercase()),
                "{text}"
            );
            assert!(!text.contains('\u{1b}'), "a raw escape: {text}");
        }
        out
    }

    async fn finish(self) {
        self.sim.shutdown().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_circleci_component_passes_every_check() {
    let env = Env::new().await;
    let run = env.conform(None, &["--json"]).await;
    run.assert_results(&[], &[]);
    assert_eq!(run.report["component"], "the built-in CircleCI connector");
    let (_, read) = run.row("read_records_valid");
    assert!(read.starts_with("13 streams in 4 walks, "), "{read}");
    let (_, resume) = run.row("resume_loses_nothing");
    assert!(
        resume.starts_with("5 resumed syncs (projects…tests (9 streams) after page 1, "),
        "{resume}"
    );
    assert!(resume.ends_with("nothing lost or repeated"), "{resume}");
    let (_, incremental) = run.row("incremental_second_sync");
    assert!(
        incremental.starts_with("6 incremental streams: "),
        "{incremental}"
    );
    let (_, mangled) = run.row("validate_rejects_mangled");
    assert_eq!(
        mangled,
        "api_key mangled: unauthorized, with no secret in the message"
    );

    // The table says the same, for people.
    let table = env.conform(None, &["--stream", "me,jobs"]).await;
    assert_eq!(table.code, Some(0), "{}", table.stderr);
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(lines[0], "conformance of the built-in CircleCI connector");
    assert!(lines[1].starts_with("check "), "{}", table.stdout);
    for (line, id) in lines[2..].iter().zip(CHECKS) {
        assert!(line.starts_with(id), "{line}");
        assert!(line.contains("  pass  "), "{line}");
    }
    assert_eq!(
        lines.last().copied(),
        Some("10 checks: 10 passed, 0 failed, 0 skipped")
    );
    // Only the walks of the streams asked for were read.
    assert!(
        table.stdout.contains("2 streams in 2 walks"),
        "{}",
        table.stdout
    );

    // A stream the catalog does not have is the operator's mistake.
    let unknown = env.conform(None, &["--stream", "nope"]).await;
    assert_eq!(unknown.code, Some(2), "{}", unknown.stderr);
    assert!(unknown.stderr.starts_with("error: usage: unknown stream"));
    env.finish().await;
}

/// `leaky` puts the key in its errors, records, state and notices;
/// `unmarked` is the same with the key described as plain text.
#[tokio::test(flavor = "multi_thread")]
async fn a_component_that_echoes_the_key_fails_the_secret_rows() {
    let env = Env::new().await;
    let leaky = env.conform(Some("leaky"), &["--json"]).await;
    let failed = [
        "validate_accepts",
        "validate_rejects_mangled",
        "read_records_valid",
        "secrets_not_echoed",
    ];
    let skipped = ["resume_loses_nothing", "incremental_second_sync"];
    leaky.assert_results(&failed, &skipped);
    let (_, secrets) = leaky.row("secrets_not_echoed");
    for place in [
        "validate's error",
        "records of items",
        "the state",
        "notices",
        "skipped items",
    ] {
        assert!(secrets.contains(place), "{place}: {secrets}");
    }
    let (_, mangled) = leaky.row("validate_rejects_mangled");
    assert!(
        mangled.contains("the error holds a secret value (the host redacted it)"),
        "{mangled}"
    );
    let (_, read) = leaky.row("read_records_valid");
    assert!(
        read.contains("the read of items failed: bad-response"),
        "{read}"
    );

    // The same behaviour, with the key not marked secret: the schema row
    // fails too, and the host redacts the key all the same.
    let unmarked = env.conform(Some("unmarked"), &["--json"]).await;
    let mut failed = failed.to_vec();
    failed.insert(0, "schemas_valid");
    unmarked.assert_results(&failed, &skipped);
    assert_eq!(
        unmarked.row("schemas_valid").1,
        "field api_key looks secret but is not marked (kind secret, writeOnly: true, x-secret: true)"
    );
    env.finish().await;
}

/// `stray` sends the key to hosts off the allow-list.
#[tokio::test(flavor = "multi_thread")]
async fn a_component_that_strays_fails_requests_allowed_naming_the_destinations() {
    let env = Env::new().await;
    let run = env.conform(Some("stray"), &["--json"]).await;
    run.assert_results(
        &[
            "validate_accepts",
            "validate_rejects_mangled",
            "read_records_valid",
            "requests_allowed",
        ],
        &["resume_loses_nothing", "incremental_second_sync"],
    );
    let (_, requests) = run.row("requests_allowed");
    for destination in ["evil.example", "169.254.169.254", "127.0.0.1:9"] {
        assert!(requests.contains(destination), "{destination}: {requests}");
    }
    assert!(
        requests.starts_with("9 requests refused (0 sent) during validate, "),
        "{requests}"
    );
    let (_, mangled) = run.row("validate_rejects_mangled");
    assert!(
        mangled.ends_with("(expected unauthorized or invalid-credential)"),
        "{mangled}"
    );
    env.finish().await;
}

/// `forgetful` keeps part of its pages in its instance instead of its
/// state, and ignores its cursor: the host cannot tell, conform can.
#[tokio::test(flavor = "multi_thread")]
async fn a_component_that_forgets_fails_resume_and_incremental() {
    let env = Env::new().await;
    let run = env.conform(Some("forgetful"), &["--json"]).await;
    // Its validate makes no request, so it cannot tell a mangled key.
    run.assert_results(
        &[
            "validate_rejects_mangled",
            "resume_loses_nothing",
            "incremental_second_sync",
        ],
        &[],
    );
    let items = hostile_artifacts::FORGETFUL_ITEMS;
    assert_eq!(
        run.row("read_records_valid").1,
        format!(
            "1 stream in 1 walk, {items} records in 8 pages: each matches its stream's \
             schema and has its primary key"
        )
    );
    let (_, resume) = run.row("resume_loses_nothing");
    // Pages 1, 3, 5 and 7 leave half an upstream page in the buffer.
    assert!(
        resume.starts_with(
            "items resumed after page 1 of 8 lost 3 records the read returned after that page (items 3)"
        ),
        "{resume}"
    );
    assert_eq!(
        run.row("incremental_second_sync").1,
        format!(
            "items: {items} of the {items} records the second sync returned were returned by the first, unchanged"
        )
    );
    assert_eq!(
        run.row("validate_rejects_mangled").1,
        "validate accepted the credential with api_key mangled"
    );
    env.finish().await;
}

/// `bad-names` has a catalog the host refuses; `benign` is well behaved
/// but too small to resume and not incremental: those rows say why they
/// were skipped.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_catalog_fails_its_row_and_skips_the_reads() {
    let env = Env::new().await;
    let run = env.conform(Some("bad-names"), &["--json"]).await;
    run.assert_results(
        &["catalog_valid", "validate_rejects_mangled"],
        &[
            "read_records_valid",
            "resume_loses_nothing",
            "incremental_second_sync",
        ],
    );
    let (_, catalog) = run.row("catalog_valid");
    assert!(
        catalog.starts_with("the catalog was refused: load: "),
        "{catalog}"
    );
    assert!(
        run.row("read_records_valid")
            .1
            .starts_with("the catalog could not be read"),
    );

    let benign = env.conform(Some("benign"), &["--json"]).await;
    benign.assert_results(
        &["validate_rejects_mangled"],
        &["resume_loses_nothing", "incremental_second_sync"],
    );
    assert_eq!(
        benign.row("resume_loses_nothing").1,
        "every read finished in one page: no intermediate state to resume from"
    );
    assert_eq!(
        benign.row("incremental_second_sync").1,
        "no incremental stream among those read"
    );
    env.finish().await;
}

/// The example connector on connector-sdk (a second component of the
/// world, sharing nothing with the CircleCI one but the SDK) passes too,
/// against its own loopback API; its streams are full refresh only.
#[tokio::test(flavor = "multi_thread")]
async fn the_example_connector_on_the_sdk_passes_every_check() {
    use conformance::jsonplaceholder::{Dataset, Server};
    const JP_TOKEN: &str = "jp_conform_test_token_31415926";
    let server = Server::start(Dataset::new(23), JP_TOKEN).await;
    let dir = conformance::scratch::scratch_dir("harness-conform-jp");
    let component = dir.join("jsonplaceholder.wasm");
    std::fs::write(
        &component,
        jsonplaceholder_artifacts::JSONPLACEHOLDER_CONNECTOR,
    )
    .unwrap();
    let credential = dir.join("credential.json");
    let doc = json!({ "api_key": JP_TOKEN, "base_url": server.base_url() });
    std::fs::write(&credential, doc.to_string()).unwrap();
    let settings = dir.join("settings.json");
    std::fs::write(&settings, r#"{"page_size": 4}"#).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_connector-harness"))
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(["--allow-host", &server.base_url()])
        .arg("--component")
        .arg(&component)
        .args(["conform", "--json", "--credential"])
        .arg(&credential)
        .arg("--settings")
        .arg(&settings)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!stdout.contains(JP_TOKEN));
    let run = Run {
        code: out.status.code(),
        report: serde_json::from_str(&stdout).unwrap_or(Value::Null),
        stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    run.assert_results(&[], &["incremental_second_sync"]);
    let (_, read) = run.row("read_records_valid");
    assert!(read.starts_with("2 streams in 1 walk, "), "{read}");
    let _ = std::fs::remove_dir_all(&dir);
}
