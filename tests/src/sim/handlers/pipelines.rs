//! Pipelines and workflows: `/project/{slug}/pipeline`, `/pipeline?org-slug=`, `/pipeline/{id}`,
//! `/pipeline/{id}/workflow` (with the unreachable pipelines' 500, 404 and null ids,
//! [`crate::sim::unreachable`]), `/workflow/{id}`, `/workflow/{id}/job`.

use http::StatusCode;
use serde_json::Value;

use super::{Ctx, not_found};
use crate::sim::ids::Kind;
use crate::sim::observe::{jobs_json, workflow_json};
use crate::sim::pipeline::branch_code;
use crate::sim::reply::Reply;
use crate::sim::retention::Expiry;
use crate::sim::unreachable::Reach;

impl Ctx<'_> {
    /// `GET /project/{slug}/pipeline[?branch=…][&page-token=…]`, newest first. Page tokens are stable
    /// cursors, or offsets from the head while a `head-insert` fault is planned.
    pub(super) fn project_pipelines(&self, p: usize) -> Reply {
        let branch = self.param("branch");
        let info = &self.data.world.projects[p];
        let cores = self.data.cores(p);
        // A branch no pipeline can be on matches nothing (code `None`).
        let code = branch.map(|b| branch_code(b, info.default_branch));
        let listing = self.listing(
            "project-pipelines",
            format_args!("project={}\nbranch={branch:?}", info.slug),
        );
        let keep = |i: usize| code.is_none_or(|c| c == Some(cores[i].branch));
        let render = |i: usize| self.data.pipeline_out(p, i as u32);
        if self.state.faults.offset_cursors() {
            self.newest_first_by_offset(&listing, cores.len(), keep, render)
        } else {
            self.newest_first(&listing, cores.len(), keep, render)
        }
    }

    /// `GET /pipeline[?org-slug=…][&mine=true]`: the pipelines of the organisation's followed projects,
    /// merged newest first. An organisation the user cannot see has no followed projects.
    pub(super) fn org_pipelines(&self) -> Reply {
        let org_slug = self.param("org-slug");
        let mine = self.flag("mine");
        let org = match org_slug {
            Some(slug) => match self.data.world.org_by_slug(slug) {
                Some(org) => Some(org),
                None => {
                    return Reply::ok(&serde_json::json!({"items": [], "next_page_token": null}));
                }
            },
            None => None,
        };
        let order = self.data.org_order(org);
        let listing = self.listing("org-pipelines", format_args!("org={org:?}\nmine={mine}"));
        let cores = |i: usize| {
            let (p, o) = order[i];
            &self.data.cores(p as usize)[o as usize]
        };
        self.newest_first(
            &listing,
            order.len(),
            |i| !mine || cores(i).actor == 0,
            |i| {
                let (p, o) = order[i];
                self.data.pipeline_out(p as usize, o)
            },
        )
    }

    /// `GET /pipeline/{id}`
    pub(super) fn pipeline(&self, id: &str) -> Reply {
        match self.data.locate(id, Kind::Pipeline) {
            Some(at) => {
                Reply::ok_serialize(&self.data.pipeline_out(at.project as usize, at.ordinal))
            }
            None => not_found(),
        }
    }

    /// `GET /pipeline/{id}/workflow`, newest first (reruns first). A failing pipeline answers 500
    /// and one past retention 404 on every page (before the page token is looked at), or lists its
    /// workflows with null ids.
    pub(super) fn pipeline_workflows(&self, id: &str) -> Reply {
        let Some(at) = self.data.locate(id, Kind::Pipeline) else {
            return not_found();
        };
        let (p, ordinal) = (at.project as usize, at.ordinal);
        let reach = self.data.reach(p, ordinal);
        match reach {
            Reach::Failing => {
                return Reply::error(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error.");
            }
            Reach::Expired(Expiry::NotFound) => return not_found(),
            Reach::Expired(Expiry::NullIds) | Reach::Readable => {}
        }
        let null_ids = reach != Reach::Readable;
        let workflows = self.data.workflow_indexes(p, ordinal);
        let listing = self.listing("pipeline-workflows", format_args!("pipeline={id}"));
        let t = self.data.t();
        self.forward(&listing, workflows.len(), |i| {
            let plan = self.data.plan(p, ordinal, workflows[i]);
            let mut workflow = workflow_json(&self.data.world, p, ordinal, &plan, t);
            if null_ids {
                workflow["id"] = Value::Null;
            }
            workflow
        })
    }

    /// `GET /workflow/{id}`; "Not Found" for a workflow deleted after listing.
    pub(super) fn workflow(&self, id: &str) -> Reply {
        let Some(at) = self.data.locate_readable_workflow(id) else {
            return not_found();
        };
        let (p, ordinal) = (at.project as usize, at.ordinal);
        let plan = self.data.plan(p, ordinal, at.workflow);
        Reply::ok(&workflow_json(
            &self.data.world,
            p,
            ordinal,
            &plan,
            self.data.t(),
        ))
    }

    /// `GET /workflow/{id}/job`, in workflow order; "Not Found" on every page for a workflow deleted
    /// after listing (checked before the page token, so any token gets the 404).
    pub(super) fn workflow_jobs(&self, id: &str) -> Reply {
        let Some(at) = self.data.locate_readable_workflow(id) else {
            return not_found();
        };
        let (p, ordinal) = (at.project as usize, at.ordinal);
        let plan = self.data.plan(p, ordinal, at.workflow);
        let jobs = jobs_json(&self.data.world, p, ordinal, &plan, self.data.t());
        let listing = self.listing("workflow-jobs", format_args!("workflow={id}"));
        self.forward(&listing, jobs.len(), |i| jobs[i].clone())
    }
}
