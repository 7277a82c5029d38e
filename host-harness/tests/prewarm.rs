//! `Connector::prewarm`: the pool's slots are used once and given back.

use host_harness::{HostConfig, Loader, OutboundPolicy, Pooling};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread")]
async fn prewarmed_slots_are_all_free_again() {
    let loader = Loader::new(HostConfig {
        pooling: Some(Pooling::for_instances(3)),
        ..HostConfig::default()
    })
    .unwrap();
    let connector = loader
        .load(connector_artifacts::CIRCLECI_CONNECTOR)
        .unwrap();
    connector.prewarm(3).await.unwrap();
    // Every slot is free again: three instances fit, a fourth does not.
    let policy = Arc::new(OutboundPolicy::default());
    let mut live = Vec::new();
    for _ in 0..3 {
        live.push(connector.instantiate(policy.clone()).await.unwrap());
    }
    assert!(connector.instantiate(policy.clone()).await.is_err());
    drop(live);
    // More slots than the pool has: refused, and nothing is kept.
    assert!(connector.prewarm(4).await.is_err());
    connector.prewarm(3).await.unwrap();
}
