//! One call's step of a sync: a page of users, and, when `posts` is asked,
//! the posts of each of those users, fetched together. The state between
//! calls is the next page's number in the SDK's envelope:
//! `{"v":1,"streams":[…],"fp":"…","page":N}`.

use connector_sdk::ConnectorError;
use connector_sdk::error::quote;
use connector_sdk::model::{FetchRequest, Page, StreamRecord};
use connector_sdk::state::{claimed_version, fingerprint, invalid, parse, settings_changed};
use serde::{Deserialize, Serialize};

use crate::api::{Api, items, posts_of, users_page};
use crate::catalog::{POSTS, USERS};

/// The state's format version.
pub const VERSION: u64 = 1;
/// Users per page when the settings do not say.
pub const DEFAULT_PAGE_SIZE: u32 = 10;
/// Most users per page.
pub const MAX_PAGE_SIZE: u32 = 100;
/// Highest page number a state may hold: a bound on what a forged state
/// (or an API that never ends its list) can make a sync do.
pub const MAX_PAGE: u32 = 100_000;

/// What a request asks, checked before any request is sent.
pub struct Plan {
    /// Where `users` is among the request's streams.
    pub users: Option<u32>,
    /// Where `posts` is among the request's streams.
    pub posts: Option<u32>,
    /// Users per page (setting `page_size`).
    pub page_size: u32,
    /// The settings' fingerprint.
    pub fp: String,
}

impl Plan {
    /// Checks the streams and the settings (`{"page_size": 1..=100}`).
    pub fn new(request: &FetchRequest) -> Result<Plan, ConnectorError> {
        let mut plan = Plan {
            users: None,
            posts: None,
            page_size: DEFAULT_PAGE_SIZE,
            fp: String::new(),
        };
        if request.streams.is_empty() {
            return Err(ConnectorError::InvalidSettings(
                "no stream was asked".into(),
            ));
        }
        for (i, name) in request.streams.iter().enumerate() {
            let slot = match name.as_str() {
                USERS => &mut plan.users,
                POSTS => &mut plan.posts,
                other => {
                    return Err(ConnectorError::InvalidSettings(format!(
                        "unknown stream `{}` (the streams are users and posts)",
                        quote(other, 64)
                    )));
                }
            };
            if slot.replace(i as u32).is_some() {
                return Err(ConnectorError::InvalidSettings(format!(
                    "the stream {name} is asked twice"
                )));
            }
        }
        let text = request.settings.trim();
        if !text.is_empty() {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Settings {
                page_size: Option<u32>,
            }
            let s: Settings = serde_json::from_str(text).map_err(|e| {
                ConnectorError::InvalidSettings(format!(
                    "the settings are not {{\"page_size\": N}} ({e})"
                ))
            })?;
            plan.page_size = s.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        }
        if !(1..=MAX_PAGE_SIZE).contains(&plan.page_size) {
            return Err(ConnectorError::InvalidSettings(format!(
                "page_size must be 1 to {MAX_PAGE_SIZE}"
            )));
        }
        plan.fp = fingerprint(&format!("page_size\n{}", plan.page_size));
        Ok(plan)
    }
}

/// The state while a sync has more: the next page of users.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// [`VERSION`].
    pub v: u64,
    /// The request's streams, as it named them.
    pub streams: Vec<String>,
    /// [`Plan::fp`] when it was written.
    pub fp: String,
    /// The next page to read (2 or more).
    pub page: u32,
}

impl State {
    /// Decodes the state of a sync of `request` under `plan`.
    pub fn decode(
        text: &str,
        request: &FetchRequest,
        plan: &Plan,
    ) -> Result<State, ConnectorError> {
        if let Some(v) = claimed_version(text)
            && v != VERSION
        {
            return Err(invalid(format!(
                "the state is of version {v}, not {VERSION}; pass no state to start over"
            )));
        }
        let like = format!(r#"{{"v":{VERSION},"streams":[…],"fp":…,"page":N}}"#);
        let state: State = parse(text, "state", &like)?;
        if state.streams != request.streams {
            return Err(invalid("the state belongs to a sync of other streams"));
        }
        if state.fp != plan.fp {
            return Err(settings_changed("page_size", "this state"));
        }
        if !(2..=MAX_PAGE).contains(&state.page) {
            return Err(invalid("the state's page is out of bounds"));
        }
        Ok(state)
    }
}

/// Reads one page of users (and their posts when asked).
pub fn step(
    api: &mut Api<'_>,
    plan: &Plan,
    request: &FetchRequest,
) -> Result<Page, ConnectorError> {
    let page = match &request.state {
        Some(text) => State::decode(text, request, plan)?.page,
        None => 1,
    };
    let call = users_page(page, plan.page_size);
    let what = call.what.clone();
    let users = items(&api.get(call)?, &what)?;
    let mut records = Vec::new();
    if let Some(stream) = plan.users {
        records.extend(users.iter().map(|u| StreamRecord {
            stream,
            data: u.record.clone(),
        }));
    }
    if let Some(stream) = plan.posts {
        let in_flight = request.concurrency.max(1) as usize;
        for chunk in users.chunks(in_flight) {
            let calls: Vec<_> = chunk.iter().map(|u| posts_of(u.id)).collect();
            for (call, answer) in calls.iter().zip(api.get_all(&calls)) {
                let posts = items(&answer?, &call.what)?;
                records.extend(posts.into_iter().map(|p| StreamRecord {
                    stream,
                    data: p.record,
                }));
            }
        }
    }
    // A full page may have a next one; a short one is the last.
    let has_more = users.len() == plan.page_size as usize;
    if has_more && page >= MAX_PAGE {
        return Err(ConnectorError::BadResponse(format!(
            "the users list has more than {MAX_PAGE} pages"
        )));
    }
    let state = State {
        v: VERSION,
        streams: request.streams.clone(),
        fp: plan.fp.clone(),
        page: page + 1,
    };
    Ok(Page {
        records,
        state: has_more.then(|| serde_json::to_string(&state).expect("a state serialises")),
        has_more,
        cursors: if has_more {
            Vec::new()
        } else {
            vec![None; request.streams.len()]
        },
        ..Page::default()
    })
}
