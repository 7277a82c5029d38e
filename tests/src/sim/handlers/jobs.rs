//! What hangs off a job number: `/project/{slug}/job/{number}`, `/project/{slug}/{number}/artifacts`,
//! `/project/{slug}/{number}/tests`.

use super::{Ctx, not_found, project_not_found};
use crate::sim::details::JobAt;
use crate::sim::reply::Reply;
use crate::sim::slug::ProjectSlug;

impl Ctx<'_> {
    /// Resolves `{slug}` and `{number}` and hands the job to `serve`. An unknown project is "Project not
    /// found"; a number that is not a build job (garbage, unknown, or an approval job's gap) is
    /// "Not Found".
    pub(super) fn with_job(
        &self,
        slug: Option<ProjectSlug>,
        number: &str,
        serve: fn(&Self, &JobAt<'_>, u64) -> Reply,
    ) -> Reply {
        let Some(project) = self.project(slug.as_ref()) else {
            return project_not_found();
        };
        let p = project.index;
        let Some(number) = number.parse::<u64>().ok() else {
            return not_found();
        };
        let Some((ordinal, plan, j)) = self.data.job_by_number(p, number) else {
            return not_found();
        };
        let job = JobAt {
            world: &self.data.world,
            p,
            ordinal,
            plan: &plan,
            j,
            t: self.data.t(),
        };
        serve(self, &job, number)
    }

    pub(super) fn job_details(&self, job: &JobAt<'_>, _number: u64) -> Reply {
        Reply::ok(&job.details_json())
    }

    pub(super) fn artifacts(&self, job: &JobAt<'_>, number: u64) -> Reply {
        let listing = self.listing("artifacts", format_args!("project={}\njob={number}", job.p));
        let items = job.artifacts_json();
        self.forward(&listing, items.len(), |i| items[i].clone())
    }

    pub(super) fn tests(&self, job: &JobAt<'_>, number: u64) -> Reply {
        let listing = self.listing("tests", format_args!("project={}\njob={number}", job.p));
        let items = job.tests_json();
        self.forward(&listing, items.len(), |i| items[i].clone())
    }
}
