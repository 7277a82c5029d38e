//! The walk: users → posts, a tree of the SDK's traversal engine
//! ([`connector_sdk::engine`]), which reads it one bounded piece per call
//! and keeps its state. This module says only what is this API's: the
//! listings and their requests ([`Users`]), how the users list pages (by
//! page number, [`PageNumbers`]; the posts come whole, [`Whole`]), and
//! what a call may do: one page of users and the posts of its users.

use connector_sdk::ConnectorError;
use connector_sdk::engine::{
    self, At, Budget, Cx, Given, Id, Item, On404, Paging, Req, Root, Tree, Walk,
};
use connector_sdk::error::quote;
use connector_sdk::json::{self, ListPage, Record};
use connector_sdk::model::{FetchRequest, Page};
use connector_sdk::state::fingerprint;
use serde::Deserialize;

use crate::api::Api;
use crate::catalog::{POSTS, USERS};

/// Users per page when the settings do not say.
pub const DEFAULT_PAGE_SIZE: u32 = 10;
/// Most users per page.
pub const MAX_PAGE_SIZE: u32 = 100;
/// Highest page number a state may hold: a bound on what a forged state
/// (or an API that never ends its list) can make a sync do.
pub const MAX_PAGE: u32 = 100_000;
/// The settings the states' fingerprint covers, as messages name them.
pub const FINGERPRINTED: &str = "page_size";

/// The tree's slots (and kinds of listing): the users' own listing, and
/// each user's posts.
const USERS_SLOT: usize = 0;
const POSTS_SLOT: usize = 1;

/// What a request asks, checked before any request is sent.
pub struct Plan {
    /// Each asked stream's slot in the tree, in the request's order.
    pub slots: Vec<usize>,
    /// Users per page (setting `page_size`).
    pub page_size: u32,
    /// The settings' fingerprint.
    pub fp: String,
}

impl Plan {
    /// Checks the streams and the settings (`{"page_size": 1..=100}`).
    pub fn new(request: &FetchRequest) -> Result<Plan, ConnectorError> {
        if request.streams.is_empty() {
            return Err(ConnectorError::InvalidSettings(
                "no stream was asked".into(),
            ));
        }
        let mut slots = Vec::with_capacity(request.streams.len());
        for name in &request.streams {
            let slot = match name.as_str() {
                USERS => USERS_SLOT,
                POSTS => POSTS_SLOT,
                other => {
                    return Err(ConnectorError::InvalidSettings(format!(
                        "unknown stream `{}` (the streams are users and posts)",
                        quote(other, 64)
                    )));
                }
            };
            if slots.contains(&slot) {
                return Err(ConnectorError::InvalidSettings(format!(
                    "the stream {name} is asked twice"
                )));
            }
            slots.push(slot);
        }
        let mut page_size = DEFAULT_PAGE_SIZE;
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
            page_size = s.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        }
        if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
            return Err(ConnectorError::InvalidSettings(format!(
                "page_size must be 1 to {MAX_PAGE_SIZE}"
            )));
        }
        Ok(Plan {
            slots,
            page_size,
            fp: fingerprint(&format!("page_size\n{page_size}")),
        })
    }
}

/// Pages asked by number (`_page=N`, from 1, first in the query) whose
/// answer is a bare JSON array: a full page may have a next one, a short
/// one is the last. The token kept in the state is the next page's number.
pub struct PageNumbers {
    /// Users per page: what makes a page full.
    pub size: u32,
}

impl Paging for PageNumbers {
    fn ask(
        &self,
        token: Option<&str>,
        query: &mut Vec<(&'static str, String)>,
    ) -> Result<(), ConnectorError> {
        let page = match token {
            None => 1,
            Some(token) => token
                .parse::<u32>()
                .ok()
                .filter(|n| (2..=MAX_PAGE).contains(n))
                .ok_or_else(|| {
                    ConnectorError::InvalidState(
                        "the state's page is out of bounds; pass no state to start over".into(),
                    )
                })?,
        };
        query.insert(0, ("_page", page.to_string()));
        Ok(())
    }

    fn read<'a>(
        &self,
        body: &'a [u8],
        token: Option<&str>,
        what: &str,
    ) -> Result<ListPage<'a>, ConnectorError> {
        let items = json::array(body, what)?;
        let page: u32 = token.and_then(|t| t.parse().ok()).unwrap_or(1);
        let next = if items.len() == self.size as usize {
            if page >= MAX_PAGE {
                return Err(ConnectorError::BadResponse(format!(
                    "the users list has more than {MAX_PAGE} pages"
                )));
            }
            Some((page + 1).to_string())
        } else {
            None
        };
        Ok(ListPage { items, next })
    }
}

/// A list that comes whole, as one bare JSON array.
pub struct Whole;

impl Paging for Whole {
    fn ask(
        &self,
        _: Option<&str>,
        _: &mut Vec<(&'static str, String)>,
    ) -> Result<(), ConnectorError> {
        Ok(())
    }

    fn read<'a>(
        &self,
        body: &'a [u8],
        _: Option<&str>,
        what: &str,
    ) -> Result<ListPage<'a>, ConnectorError> {
        Ok(ListPage {
            items: json::array(body, what)?,
            next: None,
        })
    }
}

/// Users → posts: `GET /users?_page=N&_limit=L`, then each user's
/// `GET /users/{id}/posts`.
pub struct Users {
    pages: PageNumbers,
}

impl Users {
    /// The tree for pages of `page_size` users.
    pub fn new(page_size: u32) -> Users {
        Users {
            pages: PageNumbers { size: page_size },
        }
    }
}

impl Tree for Users {
    type Item = Id;
    type Settings = ();

    fn streams(&self) -> &'static [&'static str] {
        &[USERS, POSTS]
    }

    fn level(&self, slot: usize) -> usize {
        slot + 1
    }

    fn kind_level(&self, kind: u8) -> usize {
        match usize::from(kind) {
            USERS_SLOT => 1,
            POSTS_SLOT => 2,
            _ => 0,
        }
    }

    fn feeds(&self, kind: u8) -> &'static [usize] {
        match usize::from(kind) {
            USERS_SLOT => &[USERS_SLOT, POSTS_SLOT],
            POSTS_SLOT => &[POSTS_SLOT],
            _ => &[],
        }
    }

    fn root_kinds(&self, wants: &dyn Fn(usize) -> bool) -> Vec<u8> {
        if wants(USERS_SLOT) || wants(POSTS_SLOT) {
            vec![USERS_SLOT as u8]
        } else {
            Vec::new()
        }
    }

    fn request(&self, kind: u8, _: &Root, heads: &[Id]) -> Req<'_> {
        if usize::from(kind) == USERS_SLOT {
            return Req {
                path: "/users".into(),
                query: vec![("_limit", self.pages.size.to_string())],
                what: "the users".into(),
                paging: Some(&self.pages),
                on_404: On404::Fail,
            };
        }
        // Ids come from the users' answers as unsigned integers.
        let user = heads.first().map_or("", |h| h.id());
        Req {
            path: format!("/users/{user}/posts"),
            query: Vec::new(),
            what: format!("the posts of user {user}"),
            paging: Some(&Whole),
            on_404: On404::Skip("the user was deleted after it was listed"),
        }
    }

    fn page(
        &self,
        at: &At<'_, Id>,
        items: &[Record<'_>],
        cx: &mut Cx<'_, Id, ()>,
    ) -> Result<(), ConnectorError> {
        let slot = usize::from(at.kind);
        for item in items {
            let id = json::u64_field(&item.fields, "id").ok_or_else(|| {
                ConnectorError::BadResponse(format!(
                    "{}: an item has no unsigned integer `id`",
                    at.what
                ))
            })?;
            cx.emit(slot, item.text.clone());
            if slot == USERS_SLOT && cx.wants(POSTS_SLOT) {
                cx.open(POSTS_SLOT as u8, Id::new(id.to_string()));
            }
        }
        Ok(())
    }
}

/// Reads one page of users (and their posts when asked): the engine's
/// budget is one request for the page and one per user.
pub fn step(
    api: &mut Api<'_>,
    plan: &Plan,
    request: &FetchRequest,
) -> Result<Page, ConnectorError> {
    let tree = Users::new(plan.page_size);
    let roots = Given(vec![Root {
        key: "users".into(),
        path: String::new(),
        name: "the API".into(),
        id: None,
    }]);
    let walk = Walk {
        tree: &tree,
        settings: &(),
        roots: &roots,
        slots: &plan.slots,
        fp: plan.fp.clone(),
        covers: FINGERPRINTED,
        lookback: 0,
        budget: Budget {
            requests: 1 + plan.page_size as usize,
            ..Budget::default()
        },
    };
    engine::fetch(api, &walk, request)
}
