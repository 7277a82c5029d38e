//! Finding a walk's roots when the settings do not name them: the
//! organisations of `/me/collaborations`, and the projects of their recent
//! pipelines (see the module docs of [`crate::walk`]). The engine's
//! discovery hook ([`connector_sdk::engine::Roots::discover`]): one request
//! per step, a few pages per organisation, read before any root.

use connector_sdk::engine::{
    Discover, MAX_RESTARTS, MAX_STRIKES, MAX_TOKEN_LEN, STALE_TOKEN_HINT, Step, not_an_item,
    restart_notice, strike_notice, ts, usable_id,
};

use super::{CiRoots, DISCOVERY_PAGES};
use crate::error::ConnectorError;
use crate::json;
use crate::slug::ProjectSlug;
use crate::state::Discovery;

/// Most discovered projects listed by name in a notice.
const NOTICE_NAMES: usize = 20;

/// One step of finding the roots: reading `/me/collaborations`, or one
/// page of an organisation's pipelines, or concluding.
pub(super) fn step(
    roots: &CiRoots<'_>,
    d: &mut Discover<'_, Discovery>,
) -> Result<Step, ConnectorError> {
    if !roots.projects {
        // Organisation roots: the collaborations.
        let orgs = collaborations(d)?;
        d.answered();
        if orgs.is_empty() {
            d.notices.push(
                "no organisation to read: org_slug is not set and /me/collaborations is empty"
                    .into(),
            );
        }
        // Contexts are listed by owner id where every organisation has
        // one (owner-slug does not work for personal accounts).
        let ids: Option<Vec<String>> = orgs.iter().map(|(_, id)| id.clone()).collect();
        let ids = ids.filter(|ids| !ids.is_empty());
        d.found(orgs.into_iter().map(|(slug, _)| slug).collect(), ids);
        return Ok(Step::More);
    }
    let mut disc = d.progress.take().unwrap_or_else(|| Discovery {
        orgs: roots.settings.org_slug.clone().map(|o| vec![o]),
        ..Discovery::default()
    });
    let result = scan(roots, d, &mut disc);
    if result.is_err() || !d.is_found() {
        *d.progress = Some(disc);
    }
    result
}

/// One step of project discovery with its progress `disc`.
fn scan(
    roots: &CiRoots<'_>,
    d: &mut Discover<'_, Discovery>,
    disc: &mut Discovery,
) -> Result<Step, ConnectorError> {
    let settings = roots.settings;
    let Some(orgs) = disc.orgs.clone() else {
        let orgs = collaborations(d)?;
        d.answered();
        disc.orgs = Some(orgs.into_iter().map(|(slug, _)| slug).collect());
        return Ok(Step::More);
    };
    let Some(org) = orgs.get(disc.o) else {
        conclude(roots, d, disc, &orgs);
        return Ok(Step::More);
    };
    let what = format!("pipelines of organisation {org} (project discovery)");
    let mut query = vec![("org-slug", org.as_str())];
    if let Some(t) = &disc.t {
        query.push(("page-token", t));
    }
    let body = match d.get("/pipeline", &query, &what) {
        Ok(body) => body,
        // A token's 404: asked again, then (stale) the organisation is
        // scanned again from its newest pipeline, keeping the projects
        // found so far. As for listings (see the engine's docs).
        Err(e @ ConnectorError::NotFound(_)) if disc.t.is_some() => {
            d.answered();
            if disc.s < MAX_STRIKES {
                disc.s += 1;
                d.notices.push(strike_notice(&what, disc.s));
                return Ok(Step::Yield);
            }
            if disc.r >= MAX_RESTARTS {
                d.skipped.push(format!(
                    "{what}: {}: {} ({STALE_TOKEN_HINT}); its projects are not read in this sync",
                    e.kind(),
                    e.message()
                ));
                next_org(disc);
                return Ok(Step::More);
            }
            disc.r += 1;
            disc.s = 0;
            disc.t = None;
            disc.n = 0;
            d.notices.push(restart_notice(&what, disc.r));
            return Ok(Step::More);
        }
        Err(e) => return Err(e),
    };
    let page = json::list_page(&body, &what)?;
    let mut found = disc.found.clone();
    let mut notices = Vec::new();
    let mut stop = false;
    for item in &page.items {
        let f = &item.fields;
        let created = ts(f, "created_at");
        if let (Some(start), Some(created)) = (settings.start_ts(), created)
            && created < start
        {
            stop = true;
            break;
        }
        let Some(text) = json::string_field(f, "project_slug") else {
            continue;
        };
        match ProjectSlug::parse(&text) {
            Ok(slug) if usable_id(&slug.canonical()) => {
                let key = slug.canonical();
                if !found.contains(&key) {
                    found.push(key);
                }
            }
            _ => {
                let n = format!(
                    "project discovery skipped `{}`: not a project slug this connector reads",
                    crate::error::quote(&text, 100)
                );
                if !notices.contains(&n) && !d.notices.contains(&n) {
                    notices.push(n);
                }
            }
        }
    }
    if let Some(next) = &page.next
        && next.len() > MAX_TOKEN_LEN
    {
        return Err(ConnectorError::BadResponse(format!(
            "the next_page_token for {what} is longer than {MAX_TOKEN_LEN} bytes"
        )));
    }
    d.answered();
    d.notices.append(&mut notices);
    disc.found = found;
    disc.s = 0;
    disc.n = disc.n.saturating_add(1);
    let more_pages = settings.start_date.is_some() || disc.n < DISCOVERY_PAGES;
    match page.next {
        Some(next) if !stop && more_pages && Some(&next) != disc.t.as_ref() => {
            disc.t = Some(next);
        }
        _ => next_org(disc),
    }
    Ok(Step::More)
}

/// Every organisation scanned: the projects are known. Projects of the
/// cursors with unfinished pipelines are added after those found, so
/// that their unfinished work is read even when they went quiet.
fn conclude(
    roots: &CiRoots<'_>,
    d: &mut Discover<'_, Discovery>,
    disc: &mut Discovery,
    orgs: &[String],
) {
    let mut projects = std::mem::take(&mut disc.found);
    let found = projects.len();
    for key in d.unfinished() {
        // Only keys this connector writes: canonical project slugs.
        let slug = ProjectSlug::parse(key).is_ok_and(|s| s.canonical() == *key);
        if slug && usable_id(key) && !projects.contains(key) {
            projects.push(key.clone());
        }
    }
    let mut names = projects
        .iter()
        .take(NOTICE_NAMES)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if projects.len() > NOTICE_NAMES {
        names.push_str(&format!(" and {} more", projects.len() - NOTICE_NAMES));
    }
    let scanned = orgs.join(", ");
    let window = match roots.settings.start_date {
        Some(_) => "the pipelines created since start_date".to_string(),
        None => format!("the newest {} pipelines", DISCOVERY_PAGES * 20),
    };
    d.notices.push(if projects.is_empty() {
        format!(
            "project discovery found no project in {window} of {}: name the projects in project_slugs",
            if scanned.is_empty() {
                "any organisation (/me/collaborations is empty)"
            } else {
                &scanned
            }
        )
    } else {
        let extra = projects.len() - found;
        let kept = if extra > 0 {
            format!(", plus {extra} with pipelines unfinished at the last sync")
        } else {
            String::new()
        };
        format!("project discovery found {found} project(s) in {window} of {scanned}{kept}: {names}")
    });
    d.found(projects, None);
}

/// Skips the organisation being scanned, the host having given up on its
/// request (`why`); `/me/collaborations` is no item to skip.
pub(super) fn give_up(
    roots: &CiRoots<'_>,
    d: &mut Discover<'_, Discovery>,
    why: &str,
) -> Result<(), ConnectorError> {
    let mut disc = d.progress.take().unwrap_or_else(|| Discovery {
        orgs: roots.settings.org_slug.clone().map(|o| vec![o]),
        ..Discovery::default()
    });
    let org = match &disc.orgs {
        Some(orgs) if roots.projects => orgs.get(disc.o).cloned(),
        _ => None,
    };
    let Some(org) = org else {
        *d.progress = roots.projects.then_some(disc);
        return Err(not_an_item(why, "/me/collaborations"));
    };
    d.skipped.push(format!(
        "project discovery in organisation {org}: {why}; its projects are not read in this sync"
    ));
    next_org(&mut disc);
    *d.progress = Some(disc);
    d.answered();
    Ok(())
}

/// The organisations of `/me/collaborations`, in order, once each: their
/// slug and, when usable, their id.
fn collaborations(
    d: &mut Discover<'_, Discovery>,
) -> Result<Vec<(String, Option<String>)>, ConnectorError> {
    let what = "your organisations (/me/collaborations)";
    let body = d.get("/me/collaborations", &[], what)?;
    let mut orgs: Vec<(String, Option<String>)> = Vec::new();
    for item in json::array(&body, what)? {
        let f = &item.fields;
        if let Some(slug) = json::string_field(f, "slug")
            && usable_id(&slug)
            && !orgs.iter().any(|(s, _)| *s == slug)
        {
            let id = json::string_field(f, "id").filter(|id| usable_id(id));
            orgs.push((slug, id));
        }
    }
    Ok(orgs)
}

/// Moves discovery on to the next organisation.
fn next_org(disc: &mut Discovery) {
    disc.o += 1;
    disc.t = None;
    disc.n = 0;
    disc.r = 0;
    disc.s = 0;
}
