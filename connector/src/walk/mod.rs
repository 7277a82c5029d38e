//! CircleCI's walks on the SDK's traversal engine
//! ([`connector_sdk::engine`], whose docs describe the walk: the frontier,
//! requests in flight, bounded calls, stale page tokens, items that fail,
//! the marks of incremental streams). Every stream that fans out belongs
//! to a tree ([`CiTree`]): the project tree
//! ([`crate::streams::project_tree`]: projects → pipelines → workflows →
//! jobs → details, tests, artifacts; projects → insights workflows → runs)
//! or the organisation tree ([`crate::streams::contexts`]: organisations →
//! contexts → environment variables). This module holds what the engine
//! leaves to CircleCI:
//!
//! - how CircleCI's lists page ([`PAGES`]: `page-token`, `items`,
//!   `next_page_token`) and how a request of a tree is written ([`list`],
//!   [`object`]);
//! - the roots ([`CiRoots`]): `project_slugs` or `org_slug` when the
//!   settings name them, else discovered (`walk/discover.rs`);
//! - the settings a walk runs under: its fingerprint, its lookback window.
//!
//! # What fails on real accounts
//!
//! Pipelines past CircleCI's retention (their workflows answer 404, or list
//! with a null id), pipelines that answer a persistent 500 on CircleCI
//! Server, workflows deleted after they were listed, jobs whose details are
//! gone: the engine skips each (a 404 at once, anything else once the host
//! gives up), names it, and keeps it for the next sync of an incremental
//! stream. A root's own listing answers 404 for a project the settings name
//! with a hint ([`PROJECT_404_HINT`]) and is an error; a discovered
//! project's, or an organisation's contexts (which may also answer 403:
//! they may need admin rights), are skipped.
//!
//! # Incremental sync and the lookback window
//!
//! Each incremental stream has its own cursor: per project the newest
//! pipeline seen (`hwm`) and the oldest one with unfinished work (`lwm`),
//! and `as_of`. A walk reads a project back to the earliest window of its
//! streams: `hwm - lookback_days` for a stream that read it before,
//! everything (to `start_date`) for one that did not. Within it, what a
//! stream emits is decided by its own cursor (see
//! [`crate::streams::project_tree`]). Reruns add workflows to pipelines that
//! finished long ago and approvals are granted days later, while the
//! pipeline objects do not change: listing the window's workflows again is
//! how they arrive. Work still unfinished before the window (an approval
//! nobody grants) is treated as final and no longer pins the project: a
//! notice says so. An incremental sync costs its window, not the age of the
//! oldest unfinished item.
//!
//! # Roots and project discovery
//!
//! Project roots are `project_slugs`; without it the projects are
//! discovered (`walk/discover.rs`): the organisations are `org_slug`, else every
//! `slug` of `/me/collaborations`; each is scanned through
//! `/pipeline?org-slug=…` (newest first) until `start_date`, else for
//! [`DISCOVERY_PAGES`] pages, and the distinct `project_slug`s seen, in order
//! of first appearance, are the projects (projects of the cursors with
//! unfinished pipelines are added after them). Organisation roots are
//! `org_slug`, else every collaboration (with its id). Discovered roots live
//! in the state until the walk ends.

mod discover;

use connector_sdk::engine::{self, Budget, Discover, On404, Req, Roots, Step, TokenPages, Walk};

use crate::api::Api;
use crate::error::ConnectorError;
use crate::model::{FetchRequest, Page};
use crate::settings::{FINGERPRINTED, Settings};
use crate::slug::ProjectSlug;
use crate::state::{Discovery, Item};
use crate::url::percent_encode;

pub use connector_sdk::engine::{Last, MAX_REQUESTS, Root, Tree, seg, ts};

/// What a CircleCI tree's page handler reads and writes.
pub type Cx<'a> = engine::Cx<'a, Item, Settings>;
/// Where an answer of a CircleCI tree comes from.
pub type At<'a> = engine::At<'a, Item>;

/// A CircleCI tree: the engine's [`Tree`] over CircleCI's items and
/// settings, rooted at projects or at organisations.
pub trait CiTree: Tree<Item = Item, Settings = Settings> {
    /// Whether the roots are projects (else organisations).
    fn projects(&self) -> bool;
}

/// How every CircleCI list pages: `?page-token=…`, answered with
/// `{"items": [...], "next_page_token": "…" | null}`.
pub static PAGES: TokenPages = TokenPages {
    key: "page-token",
    items: crate::json::ITEMS,
    next: crate::json::NEXT_PAGE_TOKEN,
    upstream: "CircleCI",
};

/// Pages of an organisation's pipelines that discovery scans when no
/// `start_date` is set (20 a page: its newest 1,000 pipelines).
pub const DISCOVERY_PAGES: u64 = 50;
/// Appended to not-found errors for a project the settings name.
pub const PROJECT_404_HINT: &str = "; check the slug, and that the API key is a personal API token \
(project tokens get 404 from API v2)";
/// The project tree's counter ([`engine::Cx::counts`]) of approval jobs not
/// asked for details, tests or artifacts.
pub const APPROVALS: usize = 0;
/// The project tree's counter of jobs whose artifacts were not asked for:
/// older than CircleCI keeps artifacts.
pub const EXPIRED_ARTIFACTS: usize = 1;
/// Why CircleCI lists items without a usable id.
pub const NULL_IDS: &str = "CircleCI lists workflows past its retention with a null id";

/// The request of a paged CircleCI list at `path` (under `/api/v2`,
/// already escaped); `what` names it in messages.
pub fn list(path: String, what: String) -> Req<'static> {
    Req {
        path,
        query: Vec::new(),
        what,
        paging: Some(&PAGES),
        on_404: On404::Fail,
    }
}

/// The request of a single CircleCI object at `path`.
pub fn object(path: String, what: String) -> Req<'static> {
    Req {
        paging: None,
        ..list(path, what)
    }
}

/// A project root, keyed by its canonical slug.
pub fn project_root(slug: &ProjectSlug) -> Root {
    Root {
        key: slug.canonical(),
        path: slug.path(),
        name: slug.to_string(),
        id: None,
    }
}

/// An organisation root, with its id when it is known (discovered from
/// `/me/collaborations`).
pub fn org_root(org: &str, id: Option<&String>) -> Root {
    Root {
        key: org.to_string(),
        path: percent_encode(org),
        name: org.to_string(),
        id: id.cloned(),
    }
}

/// The roots of a CircleCI walk: named by the settings, or discovered.
pub struct CiRoots<'a> {
    settings: &'a Settings,
    /// Whether the roots are projects (else organisations).
    projects: bool,
}

impl Roots for CiRoots<'_> {
    type Progress = Discovery;

    fn given(&self) -> Option<Vec<Root>> {
        let s = self.settings;
        if self.projects {
            (!s.project_slugs.is_empty())
                .then(|| s.project_slugs.iter().map(project_root).collect())
        } else {
            s.org_slug.as_deref().map(|org| vec![org_root(org, None)])
        }
    }

    fn found(&self, keys: &[String], ids: Option<&[String]>) -> Result<Vec<Root>, ConnectorError> {
        if !self.projects {
            return Ok(keys
                .iter()
                .enumerate()
                .map(|(k, o)| org_root(o, ids.and_then(|ids| ids.get(k))))
                .collect());
        }
        keys.iter()
            .map(|text| {
                ProjectSlug::parse(text)
                    .map(|s| project_root(&s))
                    .map_err(|_| {
                        ConnectorError::InvalidState(
                            "the state lists a project that is not a project slug; pass no state to \
                             start over"
                                .into(),
                        )
                    })
            })
            .collect()
    }

    fn root(&self, key: &str) -> Result<Root, ConnectorError> {
        ProjectSlug::parse(key)
            .ok()
            .filter(|slug| slug.canonical() == *key)
            .map(|slug| project_root(&slug))
            .ok_or_else(|| {
                ConnectorError::InvalidState(
                    "the state keeps a skipped item of something that is not a project; pass no state \
                     to start over"
                        .into(),
                )
            })
    }

    /// Project discovery keeps its progress and no ids; organisations are
    /// found in one request, with their ids.
    fn fits(&self, progress: bool, ids: bool) -> bool {
        if self.projects { !ids } else { !progress }
    }

    fn discover(&self, d: &mut Discover<'_, Discovery>) -> Result<Step, ConnectorError> {
        discover::step(self, d)
    }

    fn give_up(&self, d: &mut Discover<'_, Discovery>, why: &str) -> Result<(), ConnectorError> {
        discover::give_up(self, d, why)
    }
}

/// One bounded step of a walk of `tree` for the request's streams, whose
/// slots in the tree are `slots` (in the request's order).
pub fn fetch(
    api: &mut Api<'_>,
    settings: &Settings,
    tree: &'static dyn CiTree,
    slots: &[usize],
    request: &FetchRequest,
) -> Result<Page, ConnectorError> {
    let roots = CiRoots {
        settings,
        projects: tree.projects(),
    };
    let walk = Walk {
        tree,
        settings,
        roots: &roots,
        slots,
        fp: settings.fingerprint(),
        covers: FINGERPRINTED,
        lookback: settings.lookback(),
        budget: Budget::default(),
    };
    engine::fetch(api, &walk, request)
}
