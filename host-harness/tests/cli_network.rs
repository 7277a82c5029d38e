//! The CLI's network flags end to end: `--allow-network` and `--resolve`
//! checked and applied, and connections kept alive unless
//! `--keep-alive-idle 0` says otherwise (counted by the simulator, which
//! sees every connection the CLI opens).

use conformance::sim::{SimConfig, Simulator};
use serde_json::json;

const TOKEN: &str = "CCIPAT_cli_network_token_0a1b2c3d4e5f6a7b";

/// Settings naming the simulator tenant's projects.
fn settings(sim: &Simulator) -> String {
    let slugs: Vec<String> = sim
        .dataset(TOKEN)
        .expect("the tenant")
        .projects
        .iter()
        .map(|p| p.slug.clone())
        .collect();
    json!({ "project_slugs": slugs }).to_string()
}

#[test]
fn the_cli_refuses_bad_network_and_resolve_flags() {
    for (flag, value) in [
        ("--allow-network", "10.0.0.0"),
        ("--allow-network", "10.0.0.0/40"),
        ("--resolve", "api.example.test:443"),
        ("--resolve", "api.example.test:443:not-an-ip"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_connector-harness"))
            .args([flag, value, "schema"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(&format!("invalid {flag}")), "{stderr}");
    }
}

/// The flags end to end, through the built CircleCI component and the
/// simulator: a credential whose base URL names a host pinned to 127.0.0.1
/// is refused with the host's reason until the operator opens loopback.
#[tokio::test(flavor = "multi_thread")]
async fn the_cli_flags_pin_a_name_and_open_its_network() {
    let sim = Simulator::start(SimConfig::single(TOKEN, 1, 1))
        .await
        .unwrap();
    let port = sim.addr().port();
    let dir = conformance::scratch::scratch_dir("harness-address-policy");
    let credential = dir.join("credential.json");
    let base_url = format!("http://ci.sim.test:{port}");
    std::fs::write(
        &credential,
        serde_json::json!({"api_key": TOKEN, "base_url": base_url}).to_string(),
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_connector-harness"));
        cmd.arg("--cache-dir").arg(dir.join("cache"));
        cmd.args(["--allow-host", &format!("http://ci.sim.test:{port}")]);
        cmd.args(["--resolve", &format!("ci.sim.test:{port}:127.0.0.1")]);
        cmd.args(extra);
        cmd.arg("validate").arg("--credential").arg(&credential);
        cmd.output()
    };

    let out = run(&[]).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(16), "denied: {stderr}");
    assert!(
        stderr.contains(&format!(
            "ci.sim.test:{port} resolves to 127.0.0.1, a loopback address"
        )),
        "{stderr}"
    );
    assert!(sim.requests().is_empty(), "the simulator saw nothing");

    let out = run(&["--allow-network", "127.0.0.0/8"]).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!sim.requests().is_empty());

    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_keeps_connections_unless_told_not_to() {
    let sim = Simulator::start(SimConfig::single(TOKEN, 1, 100))
        .await
        .unwrap();
    let dir = conformance::scratch::scratch_dir("harness-keep-alive");
    let cred = dir.join("cred.json");
    let doc = json!({"api_key": TOKEN, "base_url": format!("http://{}", sim.addr())});
    std::fs::write(&cred, doc.to_string()).unwrap();
    let settings_file = dir.join("settings.json");
    std::fs::write(&settings_file, settings(&sim)).unwrap();
    let run = |extra: &'static [&'static str]| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_connector-harness"));
        cmd.arg("--cache-dir")
            .arg(dir.join("cache"))
            .args(["--allow-host", &format!("http://{}", sim.addr())])
            .args(extra)
            .args(["fetch", "--stream", "pipelines", "--credential"])
            .arg(&cred)
            .arg("--settings")
            .arg(&settings_file)
            .arg("--out")
            .arg(dir.join("out.jsonl"));
        async move { cmd.output().await.unwrap() }
    };
    for (extra, keeps) in [
        (&[][..], true),
        (&["--keep-alive-idle", "0"][..], false),
        (&["--keep-alive-idle", "0.5"][..], true),
    ] {
        let (requests_before, connections_before) = (sim.requests().len(), sim.connections());
        let out = run(extra).await;
        assert!(
            out.status.success(),
            "{extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let requests = sim.requests().len() - requests_before;
        let connections = (sim.connections() - connections_before) as usize;
        assert!(requests > 1);
        let expected = if keeps { 1 } else { requests };
        assert_eq!(connections, expected, "{extra:?}: {requests} requests");
    }
    let out = run(&["--keep-alive-idle=-1"]).await;
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--keep-alive-idle"));
    let _ = std::fs::remove_dir_all(&dir);
    sim.shutdown().await;
}
