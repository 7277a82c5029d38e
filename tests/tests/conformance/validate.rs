//! `validate`: a good key gives the account, a wrong one CircleCI's
//! `unauthorized`, and a malformed credential `invalid-credential` without a
//! single request leaving the sandbox.

use host_harness::HarnessError;
use host_harness::bindings::ConnectorError;
use host_harness::credential::Credential;

use crate::common::{TOKEN, credential, instance, simulator};

#[tokio::test(flavor = "multi_thread")]
async fn a_good_key_returns_the_account() {
    let sim = simulator(2, 3).await;
    let account = instance(&sim)
        .await
        .validate(&credential(&sim, TOKEN))
        .await
        .unwrap();
    let user = sim.dataset(TOKEN).unwrap().user.clone();
    assert_eq!(account.id, user["id"].as_str().unwrap());
    assert_eq!(account.name, user["login"].as_str().unwrap());
    let details: serde_json::Value = serde_json::from_str(&account.details).unwrap();
    assert_eq!(details, user);

    let requests = sim.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, "/api/v2/me");
    assert_eq!(requests[0].header("circle-token"), Some(TOKEN));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_key_is_unauthorized_with_circlecis_message() {
    let sim = simulator(1, 1).await;
    let wrong = "CCIPAT_wrong_key_9876543210";
    let err = instance(&sim)
        .await
        .validate(&credential(&sim, wrong))
        .await
        .unwrap_err();
    match &err {
        HarnessError::Connector(ConnectorError::Unauthorized(message)) => {
            assert!(message.contains("Invalid token provided."), "{message}");
            assert!(!message.contains(wrong));
        }
        other => panic!("expected unauthorized, got {other:?}"),
    }
    assert_eq!(err.kind(), "unauthorized");
    assert_eq!(sim.requests().len(), 1);
    assert_eq!(sim.requests()[0].header("circle-token"), Some(wrong));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_credentials_are_refused_before_any_request() {
    let sim = simulator(1, 1).await;
    let base = sim.base_url();
    let hostport = base.trim_start_matches("http://").to_string();
    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("missing key", vec![("base_url", base.clone())]),
        (
            "empty key",
            vec![("api_key", String::new()), ("base_url", base.clone())],
        ),
        (
            "blank key",
            vec![("api_key", "   ".into()), ("base_url", base.clone())],
        ),
        (
            "key with a space",
            vec![
                ("api_key", "CCIPAT_abc def".into()),
                ("base_url", base.clone()),
            ],
        ),
        (
            "key with a tab",
            vec![
                ("api_key", "CCIPAT_abc\tdef".into()),
                ("base_url", base.clone()),
            ],
        ),
        (
            "header injection",
            vec![
                ("api_key", "CCIPAT_abc\r\nX-Evil: 1".into()),
                ("base_url", base.clone()),
            ],
        ),
        (
            "key with a control character",
            vec![
                ("api_key", "CCIPAT_abc\u{7f}".into()),
                ("base_url", base.clone()),
            ],
        ),
        (
            "key with a NUL",
            vec![
                ("api_key", "CCIPAT_abc\0".into()),
                ("base_url", base.clone()),
            ],
        ),
        (
            "non-ASCII key",
            vec![("api_key", "CCIPAT_clé".into()), ("base_url", base.clone())],
        ),
        (
            "ftp base URL",
            vec![
                ("api_key", TOKEN.into()),
                ("base_url", format!("ftp://{hostport}")),
            ],
        ),
        (
            "no scheme",
            vec![("api_key", TOKEN.into()), ("base_url", hostport.clone())],
        ),
        (
            "user-info",
            vec![
                ("api_key", TOKEN.into()),
                ("base_url", format!("http://user:pw@{hostport}")),
            ],
        ),
        (
            "query",
            vec![
                ("api_key", TOKEN.into()),
                ("base_url", format!("{base}/?x=1")),
            ],
        ),
        (
            "fragment",
            vec![
                ("api_key", TOKEN.into()),
                ("base_url", format!("{base}/#top")),
            ],
        ),
        (
            "no host",
            vec![("api_key", TOKEN.into()), ("base_url", "http://".into())],
        ),
        (
            "unknown field",
            vec![
                ("api_key", TOKEN.into()),
                ("base_url", base.clone()),
                ("password", "x".into()),
            ],
        ),
    ];
    let mut instance = instance(&sim).await;
    for (case, pairs) in cases {
        let secret = pairs
            .iter()
            .find(|(k, _)| *k == "api_key")
            .map(|(_, v)| v.clone());
        let err = instance
            .validate(&Credential::from_pairs(pairs))
            .await
            .unwrap_err();
        match &err {
            HarnessError::Connector(ConnectorError::InvalidCredential(message)) => {
                assert!(!message.is_empty(), "{case}");
                if let Some(secret) = secret.filter(|s| s.trim().len() > 6) {
                    assert!(
                        !message.contains(&secret),
                        "{case}: the key leaked into {message:?}"
                    );
                }
            }
            other => panic!("{case}: expected invalid-credential, got {other:?}"),
        }
        assert_eq!(err.kind(), "invalid-credential", "{case}");
    }
    assert!(
        sim.requests().is_empty(),
        "no request may be sent for a malformed credential: {:?}",
        sim.requests()
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_base_url_with_a_trailing_slash_works() {
    let sim = simulator(1, 1).await;
    let cred = Credential::from_pairs([
        ("api_key", TOKEN.to_string()),
        ("base_url", format!("{}/", sim.base_url())),
    ]);
    instance(&sim).await.validate(&cred).await.unwrap();
    assert_eq!(sim.requests()[0].path, "/api/v2/me");
    sim.shutdown().await;
}
