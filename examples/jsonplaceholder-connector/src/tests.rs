//! The connector against a scripted fake of the API: paging, the posts
//! fan-out, the state, and errors that never carry the key.

use connector_sdk::Source;
use connector_sdk::http::{HttpClient, HttpResponse, TransportError};
use connector_sdk::model::FetchRequest;

use crate::JsonPlaceholder;

const KEY: &str = "jp_secret_0123456789";

/// `users` users, user `u` with `u % 3` posts; every request logged.
struct Fake {
    users: u64,
    status: u16,
    log: Vec<String>,
}

impl Fake {
    fn new(users: u64) -> Fake {
        Fake {
            users,
            status: 200,
            log: Vec::new(),
        }
    }
}

impl HttpClient for Fake {
    fn get(&mut self, url: &str, headers: &[(&str, &str)]) -> Result<HttpResponse, TransportError> {
        self.log.push(url.to_string());
        let auth = headers.iter().find(|(k, _)| *k == "Authorization");
        assert_eq!(
            auth.map(|(_, v)| *v),
            Some(format!("Bearer {KEY}").as_str())
        );
        if self.status != 200 {
            let body = format!(r#"{{"message":"no access for {KEY}"}}"#);
            return Ok(HttpResponse::new(self.status, &[], &body));
        }
        let path = url.strip_prefix("http://api.test").unwrap();
        let body = if let Some(query) = path.strip_prefix("/users?") {
            let arg = |k: &str| {
                query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix(k))
                    .and_then(|v| v.strip_prefix('='))
                    .unwrap()
                    .parse::<u64>()
                    .unwrap()
            };
            let (page, limit) = (arg("_page"), arg("_limit"));
            let first = (page - 1) * limit + 1;
            let users: Vec<String> = (first..=self.users.min(first + limit - 1))
                .map(|u| format!(r#"{{"id":{u},"name":"user {u}"}}"#))
                .collect();
            format!("[{}]", users.join(","))
        } else {
            let u: u64 = path
                .strip_prefix("/users/")
                .and_then(|p| p.strip_suffix("/posts"))
                .unwrap()
                .parse()
                .unwrap();
            let posts: Vec<String> = (0..u % 3)
                .map(|p| format!(r#"{{"userId":{u},"id":{},"title":"t"}}"#, u * 10 + p))
                .collect();
            format!("[{}]", posts.join(","))
        };
        Ok(HttpResponse::new(200, &[], &body))
    }
}

fn credential() -> Vec<(String, String)> {
    vec![
        ("api_key".into(), KEY.into()),
        ("base_url".into(), "http://api.test/".into()),
    ]
}

#[test]
fn syncs_users_and_their_posts_page_by_page() {
    let mut fake = Fake::new(5);
    let mut request = FetchRequest::new(&["users", "posts"], r#"{"page_size":2}"#);
    request.concurrency = 4;
    let mut records = Vec::new();
    let mut calls = 0;
    loop {
        calls += 1;
        assert!(calls <= 10, "the sync does not end");
        let page = JsonPlaceholder::fetch(&mut fake, &credential(), &request).unwrap();
        records.extend(page.records.into_iter().map(|r| (r.stream, r.data)));
        if !page.has_more {
            assert_eq!(page.cursors, vec![None, None]);
            break;
        }
        request.state = page.state;
    }
    assert_eq!(calls, 3);
    let users: Vec<_> = records.iter().filter(|(s, _)| *s == 0).collect();
    let posts: Vec<_> = records.iter().filter(|(s, _)| *s == 1).collect();
    assert_eq!(users.len(), 5);
    assert_eq!(users[0].1, r#"{"id":1,"name":"user 1"}"#);
    // Users 1, 2, 4, 5 have 1, 2, 1, 2 posts.
    assert_eq!(posts.len(), 6);
    assert_eq!(fake.log[0], "http://api.test/users?_page=1&_limit=2");
    assert_eq!(fake.log[1], "http://api.test/users/1/posts");
}

#[test]
fn a_state_of_other_settings_or_out_of_bounds_is_refused() {
    // Users alone: three pages a call (a call's budget is a page and its
    // users' posts), so nine users take two calls.
    let mut fake = Fake::new(9);
    let mut request = FetchRequest::new(&["users"], r#"{"page_size":2}"#);
    let page = JsonPlaceholder::fetch(&mut fake, &credential(), &request).unwrap();
    assert_eq!(fake.log.len(), 3);
    let state = page.state.unwrap();
    assert!(state.contains(r#""t":"4""#), "{state}");
    request.settings = r#"{"page_size":3}"#.into();
    request.state = Some(state.clone());
    let e = JsonPlaceholder::fetch(&mut fake, &credential(), &request).unwrap_err();
    assert_eq!(e.kind(), "invalid-state");
    request.settings = r#"{"page_size":2}"#.into();
    for forged in [r#""t":"0""#, r#""t":"x""#, r#""t":"100001""#] {
        request.state = Some(state.replace(r#""t":"4""#, forged));
        let e = JsonPlaceholder::fetch(&mut fake, &credential(), &request).unwrap_err();
        assert_eq!(e.kind(), "invalid-state", "{forged}");
    }
    assert_eq!(fake.log.len(), 3, "nothing asked with a forged state");
    request.state = Some(state);
    let page = JsonPlaceholder::fetch(&mut fake, &credential(), &request).unwrap();
    assert!(!page.has_more);
    assert_eq!(page.records.len(), 3);
}

#[test]
fn errors_are_worded_for_this_api_and_never_carry_the_key() {
    let mut fake = Fake::new(1);
    fake.status = 401;
    let e = JsonPlaceholder::validate(&mut fake, &credential()).unwrap_err();
    assert_eq!(e.kind(), "unauthorized");
    assert!(
        e.message().starts_with(
            "the JSONPlaceholder API rejected the API key while reading page 1 of the users"
        ),
        "{e}"
    );
    assert!(!e.message().contains(KEY), "{e}");
    let e = JsonPlaceholder::fetch(
        &mut Fake::new(1),
        &credential(),
        &FetchRequest::new(&["comments"], ""),
    )
    .unwrap_err();
    assert_eq!(e.kind(), "invalid-settings");
}
