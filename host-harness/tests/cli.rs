//! The `connector-harness` binary as an operator runs it: its output, its
//! exit codes, its files, against the simulator on loopback.

use std::path::{Path, PathBuf};
use std::process::Output;

use conformance::sim::{SimConfig, Simulator};
use serde_json::{Value, json};

const TOKEN: &str = "CCIPAT_cli_test_token_5f4e3d2c1b0a";

struct Env {
    sim: Simulator,
    dir: PathBuf,
}

impl Env {
    async fn new(projects: usize, pipelines: usize) -> Env {
        let sim = Simulator::start(SimConfig::single(TOKEN, projects, pipelines))
            .await
            .unwrap();
        let dir = conformance::scratch::scratch_dir("harness-cli");
        Env { sim, dir }
    }

    fn file(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn credential(&self, token: &str) -> PathBuf {
        let doc = json!({"api_key": token, "base_url": self.sim.base_url()});
        self.file(
            &format!("cred-{}.json", token.len()),
            doc.to_string().as_bytes(),
        )
    }

    /// Runs the harness allowed to reach the simulator, with a private cache.
    async fn harness(&self, args: &[&str]) -> Output {
        self.harness_allowing(&[&format!("http://{}", self.sim.addr())], args)
            .await
    }

    async fn harness_allowing(&self, allow: &[&str], args: &[&str]) -> Output {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_connector-harness"));
        cmd.arg("--cache-dir").arg(self.dir.join("cache"));
        for host in allow {
            cmd.args(["--allow-host", host]);
        }
        let out = cmd.args(args).output().await.unwrap();
        // Whatever happened, the key is in no output.
        for stream in [&out.stdout, &out.stderr] {
            assert!(
                !String::from_utf8_lossy(stream).contains(TOKEN),
                "the key leaked: {}",
                String::from_utf8_lossy(stream)
            );
        }
        out
    }

    async fn finish(self) {
        self.sim.shutdown().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The error line: one line, `error: <kind>: …`.
fn assert_error(out: &Output, code: i32, kind: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line, no backtrace: {err}");
    assert!(err.starts_with(&format!("error: {kind}: ")), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_prints_the_account_and_caches_the_compiled_component() {
    let env = Env::new(1, 1).await;
    let cred = env.credential(TOKEN);
    let out = env.harness(&["validate", "--credential", p(&cred)]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let account: Value = serde_json::from_slice(&out.stdout).unwrap();
    let user = env.sim.dataset(TOKEN).unwrap().user.clone();
    assert_eq!(account["id"], user["id"]);
    assert_eq!(account["details"], user);

    let cached = || {
        std::fs::read_dir(env.dir.join("cache"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "cwasm")
            })
            .count()
    };
    assert_eq!(cached(), 1, "the compiled component is cached");
    let out = env.harness(&["validate", "--credential", p(&cred)]).await;
    assert!(out.status.success());
    assert_eq!(cached(), 1, "the second run reuses it");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn each_error_kind_has_its_exit_code() {
    let env = Env::new(1, 1).await;
    let wrong = env.credential("CCIPAT_wrong_key_for_the_cli");
    assert_error(
        &env.harness(&["validate", "--credential", p(&wrong)]).await,
        11,
        "unauthorized",
    );

    let spaced = env.file(
        "spaced.json",
        json!({"api_key": format!("{TOKEN} x"), "base_url": env.sim.base_url()})
            .to_string()
            .as_bytes(),
    );
    assert_error(
        &env.harness(&["validate", "--credential", p(&spaced)]).await,
        10,
        "invalid-credential",
    );

    let cred = env.credential(TOKEN);
    let out = env
        .harness_allowing(&[], &["validate", "--credential", p(&cred)])
        .await;
    assert_error(&out, 16, "denied");
    assert!(stderr(&out).contains("allow-list"));

    let not_json = env.file(
        "not-json.json",
        format!("{{\"api_key\": \"{TOKEN}\"").as_bytes(),
    );
    assert_error(
        &env.harness(&["validate", "--credential", p(&not_json)])
            .await,
        20,
        "credential-file",
    );
    let not_utf8 = env.file("not-utf8.json", b"{\"api_key\": \"\xff\xfe\"}");
    assert_error(
        &env.harness(&["validate", "--credential", p(&not_utf8)])
            .await,
        20,
        "credential-file",
    );
    let huge = env.file("huge.json", &vec![b' '; 100 * 1024]);
    assert_error(
        &env.harness(&["validate", "--credential", p(&huge)]).await,
        20,
        "credential-file",
    );

    let settings = env.file("settings.json", br#"{"project_slugs": ["gh/x"]}"#);
    assert_error(
        &env.harness(&[
            "fetch",
            "--credential",
            p(&cred),
            "--settings",
            p(&settings),
            "--stream",
            "pipelines",
        ])
        .await,
        18,
        "invalid-settings",
    );
    let state = env.file("state.json", b"{not a state");
    let settings = env.file("settings2.json", br#"{"project_slugs": ["gh/x/y"]}"#);
    assert_error(
        &env.harness(&[
            "fetch",
            "--credential",
            p(&cred),
            "--settings",
            p(&settings),
            "--stream",
            "pipelines",
            "--state",
            p(&state),
        ])
        .await,
        22,
        "state-file",
    );
    assert_error(
        &env.harness(&["--component", p(&state), "schema"]).await,
        23,
        "load",
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fetch_writes_json_lines_and_a_state_file() {
    let env = Env::new(3, 30).await;
    let cred = env.credential(TOKEN);
    let slugs: Vec<String> = env
        .sim
        .dataset(TOKEN)
        .unwrap()
        .projects
        .iter()
        .map(|p| p.slug.clone())
        .collect();
    let settings = env.file(
        "settings.json",
        json!({"project_slugs": slugs}).to_string().as_bytes(),
    );
    let out_file = env.dir.join("pipelines.jsonl");
    let state = env.dir.join("pipelines.state.json");
    let args = [
        "fetch",
        "--credential",
        p(&cred),
        "--settings",
        p(&settings),
        "--stream",
        "pipelines",
        "--state",
        p(&state),
        "--out",
        p(&out_file),
    ];
    let out = env.harness(&args).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "records go to --out");

    let expected = env.sim.dataset(TOKEN).unwrap().all_pipeline_ids();
    let lines = std::fs::read_to_string(&out_file).unwrap();
    let ids: Vec<String> = lines
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids.len(), expected.len());
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "no duplicates");

    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(saved["format"], "ingest-connector-state");
    assert_eq!(saved["streams"]["pipelines"]["has_more"], false);

    // Pipelines sync incrementally: the next run starts from the saved
    // cursor, finds nothing new, and its output holds just that.
    assert!(
        saved["streams"]["pipelines"]["state"]
            .as_str()
            .unwrap()
            .contains("cursor")
    );
    let out = env.harness(&args).await;
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap().lines().count(),
        0
    );
    // Without the state file it is a full sync again.
    std::fs::remove_file(&state).unwrap();
    let out = env.harness(&args).await;
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap().lines().count(),
        expected.len()
    );

    // Without --out the records go to stdout.
    let out = env
        .harness(&["fetch", "--credential", p(&cred), "--stream", "me"])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let me: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(me, env.sim.dataset(TOKEN).unwrap().user);
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn schema_and_streams_print_json() {
    let env = Env::new(1, 1).await;
    let out = env.harness(&["schema"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let schema: Value = serde_json::from_slice(&out.stdout).unwrap();
    let credential = &schema["credential"];
    assert_eq!(credential["fields"][0]["key"], "api_key");
    assert_eq!(credential["fields"][0]["kind"], "secret");
    assert_eq!(
        credential["json_schema"]["properties"]["api_key"]["writeOnly"],
        true
    );
    let settings = &schema["settings"]["json_schema"];
    assert_eq!(settings["type"], "object");
    assert_eq!(settings["properties"]["lookback_days"]["default"], 14);
    assert_eq!(settings["additionalProperties"], false);

    let out = env.harness(&["streams"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let streams: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = streams
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for name in ["me", "projects", "pipelines"] {
        assert!(names.contains(&name), "{names:?}");
    }
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn several_streams_go_to_one_file_each_with_one_state_file() {
    let env = Env::new(3, 25).await;
    let cred = env.credential(TOKEN);
    let slugs: Vec<String> = env
        .sim
        .dataset(TOKEN)
        .unwrap()
        .projects
        .iter()
        .map(|p| p.slug.clone())
        .collect();
    let settings = env.file(
        "settings.json",
        json!({"project_slugs": slugs}).to_string().as_bytes(),
    );
    let out_dir = env.dir.join("out");
    let state = env.dir.join("sync.state.json");
    let out = env
        .harness(&[
            "fetch",
            "--credential",
            p(&cred),
            "--settings",
            p(&settings),
            "--stream",
            "pipelines,projects",
            "--state",
            p(&state),
            "--out",
            p(&out_dir),
        ])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).is_empty(),
        "quiet when stderr is not a terminal: {}",
        stderr(&out)
    );
    let count = |stream: &str| {
        std::fs::read_to_string(out_dir.join(format!("{stream}.jsonl")))
            .unwrap()
            .lines()
            .count()
    };
    assert_eq!(count("projects"), 3);
    assert_eq!(
        count("pipelines"),
        env.sim.dataset(TOKEN).unwrap().all_pipeline_ids().len()
    );
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let streams: Vec<&String> = saved["streams"].as_object().unwrap().keys().collect();
    assert_eq!(streams, ["pipelines", "projects"]);

    assert_error(
        &env.harness(&[
            "fetch",
            "--credential",
            p(&cred),
            "--stream",
            "pipelines,nope",
            "--out",
            p(&out_dir),
        ])
        .await,
        2,
        "usage",
    );
    assert_error(
        &env.harness(&["fetch", "--credential", p(&cred), "--stream", "all"])
            .await,
        2,
        "usage",
    );
    env.finish().await;
}

/// A scheduler that writes each run to its own file, with one state file
/// for all: a run that stopped part-way is resumed by the next run into its
/// new file, which says so, and every record is in exactly one of the two.
#[tokio::test(flavor = "multi_thread")]
async fn a_resumed_sync_writes_into_a_new_output_file() {
    let env = Env::new(2, 30).await;
    let cred = env.credential(TOKEN);
    let state = env.dir.join("jobs.state.json");
    let run = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "fetch",
            "--credential",
            p(&cred),
            "--stream",
            "jobs",
            "--state",
            p(&state),
        ];
        args.extend(extra);
        args.extend(["--out", p(out)]);
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let first = env.dir.join("run-0001.jsonl");
    let args = run(&first, &["--max-pages", "2"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = env.harness(&args).await;
    assert_eq!(
        out.status.code(),
        Some(24),
        "stopped part-way: {}",
        stderr(&out)
    );
    let second = env.dir.join("run-0002.jsonl");
    let args = run(&second, &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = env.harness(&args).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(
        said.contains("resumed into a new output file") && said.contains(&*first.to_string_lossy()),
        "{said}"
    );
    let ids = |path: &Path| -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let (a, b) = (ids(&first), ids(&second));
    assert!(!a.is_empty() && !b.is_empty());
    let mut all = a.clone();
    all.extend(b);
    let unique: std::collections::BTreeSet<String> = all.iter().cloned().collect();
    assert_eq!(unique.len(), all.len(), "no record in both files");
    let want: std::collections::BTreeSet<String> = env
        .sim
        .dataset(TOKEN)
        .unwrap()
        .expected_keys("jobs")
        .into_iter()
        .collect();
    assert_eq!(unique, want, "every record in one of them");
    env.finish().await;
}
