//! The example connector built on `connector-sdk`
//! (`examples/jsonplaceholder-connector`), compiled from source into a
//! component, loaded by the real host and synced against a loopback server
//! of the API it reads (`conformance::jsonplaceholder`): the SDK's seam,
//! proved by a second connector that shares nothing with the CircleCI one
//! but the SDK.

use std::sync::Arc;

use conformance::jsonplaceholder::{Dataset, Server};
use host_harness::bindings::FetchRequest;
use host_harness::credential::Credential;
use host_harness::{AllowList, Connector, ConnectorInstance, HostConfig, Loader, OutboundPolicy};

const TOKEN: &str = "jp_conformance_0123456789abcdef";
/// Most calls one sync may take before the test calls it a loop.
const MAX_CALLS: usize = 100;

fn connector() -> Connector {
    Loader::new(HostConfig::default())
        .expect("engine")
        .load(jsonplaceholder_artifacts::JSONPLACEHOLDER_CONNECTOR)
        .expect("the example connector loads")
}

async fn instance(server: &Server) -> ConnectorInstance {
    let policy = Arc::new(OutboundPolicy {
        allow: AllowList::parse(&[server.base_url()]).unwrap(),
        ..OutboundPolicy::default()
    });
    connector().instantiate(policy).await.expect("instantiate")
}

fn credential(server: &Server, token: &str) -> Credential {
    Credential::from_pairs([
        ("api_key", token.to_string()),
        ("base_url", server.base_url()),
    ])
}

/// Fetches `streams` page by page to the end: each stream's records, in
/// order, and the number of calls.
async fn sync(
    instance: &mut ConnectorInstance,
    credential: &Credential,
    streams: &[&str],
    settings: &str,
) -> (Vec<Vec<String>>, usize) {
    let mut request = FetchRequest {
        streams: streams.iter().map(|s| s.to_string()).collect(),
        settings: settings.to_string(),
        state: None,
        cursors: vec![None; streams.len()],
        concurrency: 4,
        skip_failing: None,
    };
    let mut records = vec![Vec::new(); streams.len()];
    for call in 1..=MAX_CALLS {
        let page = instance.fetch(credential, &request).await.expect("fetch");
        for r in page.records {
            records[r.stream as usize].push(r.data);
        }
        if !page.has_more {
            assert_eq!(page.cursors, vec![None; streams.len()]);
            return (records, call);
        }
        request.state = Some(page.state.expect("a state while there is more"));
    }
    panic!("no end after {MAX_CALLS} calls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describes_itself_and_validates_through_the_host() {
    let server = Server::start(Dataset::new(3), TOKEN).await;
    let mut instance = instance(&server).await;

    let schema = instance.credential_schema().await.unwrap();
    let keys: Vec<&str> = schema.fields.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(keys, ["api_key", "base_url"]);
    let streams = instance.streams().await.unwrap();
    let names: Vec<(&str, Option<&str>)> = streams
        .iter()
        .map(|s| (s.name.as_str(), s.parent.as_deref()))
        .collect();
    assert_eq!(names, [("users", None), ("posts", Some("users"))]);

    let account = instance
        .validate(&credential(&server, TOKEN))
        .await
        .unwrap();
    assert_eq!(account.id, server.authority());

    let wrong = "jp_wrong_token_fedcba9876543210";
    let err = instance
        .validate(&credential(&server, wrong))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "unauthorized", "{err}");
    let message = err.to_string();
    assert!(
        message.contains("the JSONPlaceholder API rejected the API key"),
        "{message}"
    );
    assert!(!message.contains(wrong), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_every_stream_exactly() {
    let data = Dataset::new(23);
    let users: Vec<String> = data.users.iter().map(|(u, _)| u.clone()).collect();
    let posts: Vec<String> = data.users.iter().flat_map(|(_, p)| p.clone()).collect();
    let server = Server::start(data, TOKEN).await;
    let mut instance = instance(&server).await;
    let cred = credential(&server, TOKEN);
    let settings = r#"{"page_size":5}"#;

    // Both streams in one walk: five pages of users, each with its users'
    // posts; each listing read once.
    let (records, calls) = sync(&mut instance, &cred, &["users", "posts"], settings).await;
    assert_eq!(calls, 5);
    assert_eq!(records[0], users);
    assert_eq!(records[1], posts);
    let requests = server.requests();
    assert_eq!(requests.len(), 5 + 23, "{requests:?}");
    assert_eq!(requests[0], "/users?_page=1&_limit=5");

    // Each stream alone gives the same records.
    let (alone, _) = sync(&mut instance, &cred, &["users"], settings).await;
    assert_eq!(alone, [users]);
    let (alone, _) = sync(&mut instance, &cred, &["posts"], settings).await;
    assert_eq!(alone, [posts]);
}
