//! Finding a walk's roots when the settings do not name them: the
//! organisations of `/me/collaborations`, and the projects of their recent
//! pipelines (see the module docs of [`crate::engine`]). One request per
//! step: discovery is a few pages per organisation, read before any root.

use super::walker::{Step, Walker};
use super::{DISCOVERY_PAGES, Root, STALE_TOKEN_HINT, restart_notice, strike_notice};
use crate::error::ConnectorError;
use crate::json;
use crate::slug::ProjectSlug;
use crate::state::{Discovery, MAX_RESTARTS, MAX_STRIKES, MAX_TOKEN_LEN, usable_id};

/// Most discovered projects listed by name in a notice.
const NOTICE_NAMES: usize = 20;

impl Walker<'_, '_> {
    /// The roots, when known without (more) requests.
    pub(super) fn resolve_roots(&self) -> Result<Option<Vec<Root>>, ConnectorError> {
        let s = self.settings;
        if self.tree.projects() {
            if !s.project_slugs.is_empty() {
                return Ok(Some(s.project_slugs.iter().map(Root::project).collect()));
            }
            let Some(stored) = &self.run.roots else {
                return Ok(None);
            };
            let roots = stored
                .iter()
                .map(|text| {
                    ProjectSlug::parse(text).map(|s| Root::project(&s)).map_err(|_| {
                        ConnectorError::InvalidState(
                            "the state lists a project that is not a project slug; pass no state to \
                             start over"
                                .into(),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some(roots))
        } else if let Some(org) = &s.org_slug {
            Ok(Some(vec![Root::org(org, None)]))
        } else {
            let ids = self.run.oid.as_ref();
            Ok(self.run.roots.as_ref().map(|orgs| {
                orgs.iter()
                    .enumerate()
                    .map(|(k, o)| Root::org(o, ids.and_then(|ids| ids.get(k))))
                    .collect()
            }))
        }
    }

    /// One step of finding the roots: reading `/me/collaborations`, or one
    /// page of an organisation's pipelines, or concluding.
    pub(super) fn discover(&mut self) -> Result<Step, ConnectorError> {
        if self.sent >= super::MAX_REQUESTS {
            return Ok(Step::Budget);
        }
        if !self.tree.projects() {
            // Organisation roots: the collaborations.
            let orgs = self.collaborations()?;
            self.ok += 1;
            if orgs.is_empty() {
                self.notices.push(
                    "no organisation to read: org_slug is not set and /me/collaborations is empty"
                        .into(),
                );
            }
            // Contexts are listed by owner id where every organisation has
            // one (owner-slug does not work for personal accounts).
            let ids: Option<Vec<String>> = orgs.iter().map(|(_, id)| id.clone()).collect();
            self.run.oid = ids.filter(|ids| !ids.is_empty());
            self.run.roots = Some(orgs.into_iter().map(|(slug, _)| slug).collect());
            return Ok(Step::More);
        }
        let mut disc = self.run.disc.take().unwrap_or_else(|| Discovery {
            orgs: self.settings.org_slug.clone().map(|o| vec![o]),
            ..Discovery::default()
        });
        let result = self.discover_step(&mut disc);
        if result.is_err() || self.run.roots.is_none() {
            self.run.disc = Some(disc);
        }
        result
    }

    fn discover_step(&mut self, disc: &mut Discovery) -> Result<Step, ConnectorError> {
        let Some(orgs) = disc.orgs.clone() else {
            let orgs = self.collaborations()?;
            self.ok += 1;
            disc.orgs = Some(orgs.into_iter().map(|(slug, _)| slug).collect());
            return Ok(Step::More);
        };
        let Some(org) = orgs.get(disc.o) else {
            self.conclude(disc, &orgs);
            return Ok(Step::More);
        };
        let what = format!("pipelines of organisation {org} (project discovery)");
        let mut query = vec![("org-slug", org.as_str())];
        if let Some(t) = &disc.t {
            query.push(("page-token", t));
        }
        self.sent += 1;
        let body = match self.api.get("/pipeline", &query, &what) {
            Ok(body) => body,
            // A token's 404: asked again, then (stale) the organisation is
            // scanned again from its newest pipeline, keeping the projects
            // found so far. As for listings (see the module docs).
            Err(e @ ConnectorError::NotFound(_)) if disc.t.is_some() => {
                self.ok += 1;
                if disc.s < MAX_STRIKES {
                    disc.s += 1;
                    self.notices.push(strike_notice(&what, disc.s));
                    return Ok(Step::Yield);
                }
                if disc.r >= MAX_RESTARTS {
                    self.skipped.push(format!(
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
                self.notices.push(restart_notice(&what, disc.r));
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
            let created = super::ts(f, "created_at");
            if let (Some(start), Some(created)) = (self.settings.start_ts(), created)
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
                    if !notices.contains(&n) && !self.notices.contains(&n) {
                        notices.push(n);
                    }
                }
            }
        }
        if let Some(next) = &page.next_page_token
            && next.len() > MAX_TOKEN_LEN
        {
            return Err(ConnectorError::BadResponse(format!(
                "the next_page_token for {what} is longer than {MAX_TOKEN_LEN} bytes"
            )));
        }
        self.ok += 1;
        self.notices.append(&mut notices);
        disc.found = found;
        disc.s = 0;
        disc.n = disc.n.saturating_add(1);
        let more_pages = self.settings.start_date.is_some() || disc.n < DISCOVERY_PAGES;
        match page.next_page_token {
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
    fn conclude(&mut self, disc: &mut Discovery, orgs: &[String]) {
        let mut roots = std::mem::take(&mut disc.found);
        let found = roots.len();
        for s in 0..self.wanted.len() {
            if self.wanted[s].is_none() || !self.tree.incremental(s) {
                continue;
            }
            let Some(Some(cursor)) = self.cursors.get(s) else {
                continue;
            };
            for (key, marks) in &cursor.projects {
                // Only keys this connector writes: canonical project slugs.
                let slug = ProjectSlug::parse(key).is_ok_and(|s| s.canonical() == *key);
                if marks.lwm.is_some() && slug && usable_id(key) && !roots.contains(key) {
                    roots.push(key.clone());
                }
            }
        }
        let mut names = roots
            .iter()
            .take(NOTICE_NAMES)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if roots.len() > NOTICE_NAMES {
            names.push_str(&format!(" and {} more", roots.len() - NOTICE_NAMES));
        }
        let scanned = orgs.join(", ");
        let window = match self.settings.start_date {
            Some(_) => "the pipelines created since start_date".to_string(),
            None => format!("the newest {} pipelines", DISCOVERY_PAGES * 20),
        };
        self.notices.push(if roots.is_empty() {
            format!(
                "project discovery found no project in {window} of {}: name the projects in project_slugs",
                if scanned.is_empty() {
                    "any organisation (/me/collaborations is empty)"
                } else {
                    &scanned
                }
            )
        } else {
            let extra = roots.len() - found;
            let kept = if extra > 0 {
                format!(", plus {extra} with pipelines unfinished at the last sync")
            } else {
                String::new()
            };
            format!("project discovery found {found} project(s) in {window} of {scanned}{kept}: {names}")
        });
        self.run.roots = Some(roots);
    }

    /// Skips the organisation being scanned, the host having given up on
    /// its request (`why`); `/me/collaborations` is no item to skip.
    pub(super) fn give_up_discovery(
        &mut self,
        why: &str,
        not_an_item: impl Fn(&str) -> ConnectorError,
    ) -> Result<(), ConnectorError> {
        let mut disc = self.run.disc.take().unwrap_or_else(|| Discovery {
            orgs: self.settings.org_slug.clone().map(|o| vec![o]),
            ..Discovery::default()
        });
        let org = match &disc.orgs {
            Some(orgs) if self.tree.projects() => orgs.get(disc.o).cloned(),
            _ => None,
        };
        let Some(org) = org else {
            self.run.disc = self.tree.projects().then_some(disc);
            return Err(not_an_item("/me/collaborations"));
        };
        self.skipped.push(format!(
            "project discovery in organisation {org}: {why}; its projects are not read in this sync"
        ));
        next_org(&mut disc);
        self.run.disc = Some(disc);
        self.ok += 1;
        Ok(())
    }

    /// The organisations of `/me/collaborations`, in order, once each: their
    /// slug and, when usable, their id.
    fn collaborations(&mut self) -> Result<Vec<(String, Option<String>)>, ConnectorError> {
        let what = "your organisations (/me/collaborations)";
        self.sent += 1;
        let body = self.api.get("/me/collaborations", &[], what)?;
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
}

/// Moves discovery on to the next organisation.
fn next_org(disc: &mut Discovery) {
    disc.o += 1;
    disc.t = None;
    disc.n = 0;
    disc.r = 0;
    disc.s = 0;
}
