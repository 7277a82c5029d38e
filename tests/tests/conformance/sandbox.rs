//! The outbound policy as the guest meets it: a request to a host that is
//! not allowed is refused inside the process and never reaches the network.

use std::sync::Arc;

use host_harness::bindings::ConnectorError;
use host_harness::{AllowList, HarnessError, OutboundPolicy};

use crate::common::{TOKEN, connector, credential, simulator};

async fn validate_with(allow: &[&str]) -> (HarnessError, usize) {
    let sim = simulator(1, 1).await;
    let policy = Arc::new(OutboundPolicy {
        allow: AllowList::parse(allow).unwrap(),
        ..OutboundPolicy::default()
    });
    let mut inst = connector().instantiate(policy).await.unwrap();
    let err = inst.validate(&credential(&sim, TOKEN)).await.unwrap_err();
    assert_eq!(inst.outbound_log().sent, 0);
    assert_eq!(inst.outbound_log().denied, 1);
    let served = sim.requests().len();
    sim.shutdown().await;
    (err, served)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_allow_list_refuses_the_simulator() {
    let (err, served) = validate_with(&["circleci.com"]).await;
    assert_eq!(served, 0, "the request must never reach the simulator");
    match &err {
        HarnessError::Connector(ConnectorError::Denied(m)) => {
            assert!(m.contains("not on the allow-list"), "{m}");
            assert!(!m.contains(TOKEN));
        }
        other => panic!("expected denied, got {other:?}"),
    }
    assert_eq!(err.kind(), "denied");
}

#[tokio::test(flavor = "multi_thread")]
async fn loopback_needs_an_exact_rule() {
    // 127.0.0.1 with another port, and a wildcard, do not open loopback.
    let (err, served) = validate_with(&["127.0.0.1:1", "*.circleci.com"]).await;
    assert_eq!(served, 0);
    assert!(
        matches!(err, HarnessError::Connector(ConnectorError::Denied(_))),
        "{err:?}"
    );
}

/// The connector with a base URL whose *name* is on the allow-list, and
/// resolves (pinned, as DNS could answer) to `addrs`.
async fn validate_by_name(
    sim: &conformance::sim::Simulator,
    addrs: &[std::net::IpAddr],
    networks: &[&str],
) -> Result<host_harness::bindings::Account, HarnessError> {
    let port = sim.addr().port();
    let name = "circleci.internal.test";
    let policy = Arc::new(OutboundPolicy {
        allow: AllowList::parse(&[format!("http://{name}:{port}")]).unwrap(),
        networks: networks.iter().map(|n| n.parse().unwrap()).collect(),
        resolver: host_harness::Resolver::pinned_only().pin(name, port, addrs.iter().copied()),
        ..OutboundPolicy::default()
    });
    let credential = host_harness::credential::Credential::from_pairs([
        ("api_key", TOKEN.to_string()),
        ("base_url", format!("http://{name}:{port}")),
    ]);
    let mut inst = connector().instantiate(policy).await.unwrap();
    inst.validate(&credential).await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_allowed_name_that_resolves_to_a_special_address_is_refused() {
    let sim = simulator(1, 1).await;
    let loopback: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let mapped: std::net::IpAddr = "::ffff:127.0.0.1".parse().unwrap();
    let metadata: std::net::IpAddr = "169.254.169.254".parse().unwrap();
    for addrs in [
        vec![loopback],
        vec![mapped],
        vec![metadata],
        vec![metadata, loopback],
    ] {
        let err = validate_by_name(&sim, &addrs, &[]).await.unwrap_err();
        match &err {
            HarnessError::Connector(ConnectorError::Denied(m)) => {
                assert!(m.contains("resolves to"), "{addrs:?}: {m}");
                assert!(!m.contains(TOKEN));
            }
            other => panic!("{addrs:?}: expected denied, got {other:?}"),
        }
    }
    assert_eq!(sim.requests().len(), 0, "nothing reached the simulator");

    // The operator opens the loopback network: the same name now works,
    // and the request reaches the simulator with the name as Host.
    let account = validate_by_name(&sim, &[loopback], &["127.0.0.0/8"])
        .await
        .expect("allowed network");
    assert!(!account.id.is_empty());
    let requests = sim.requests();
    assert!(!requests.is_empty());
    assert!(
        requests.iter().all(|r| r
            .header("host")
            .is_some_and(|h| h.starts_with("circleci.internal.test"))),
        "the Host header names the allowed host"
    );
    // An allowed network does not open the metadata address.
    let err = validate_by_name(&sim, &[metadata], &["127.0.0.0/8"])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "denied", "{err}");
}
