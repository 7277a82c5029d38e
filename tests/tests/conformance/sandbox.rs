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
    assert_eq!(err.exit_code(), 16);
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
