//! `/insights/{slug}/workflows` (summary metrics per workflow name) and
//! `/insights/{slug}/workflows/{name}` (recent runs).

use super::{Ctx, bad_request};
use crate::sim::insights::{BranchFilter, LOOKBACK, reporting_window, summary};
use crate::sim::reply::Reply;
use crate::sim::time::parse_rfc3339;

impl Ctx<'_> {
    /// `all-branches=true`, else `branch`, else the project's default branch.
    fn branch_filter(&self, default_branch: &str) -> BranchFilter {
        if self.flag("all-branches") {
            BranchFilter::All
        } else {
            BranchFilter::Only(self.param("branch").unwrap_or(default_branch).to_owned())
        }
    }

    /// `GET /insights/{slug}/workflows[?all-branches=true|branch=…][&reporting-window=…]`
    pub(super) fn insights_workflows(&self, p: usize) -> Reply {
        let info = &self.data.world.projects[p];
        let Some(window) = reporting_window(self.param("reporting-window")) else {
            return bad_request("Invalid reporting-window.");
        };
        let filter = self.branch_filter(info.default_branch);
        let runs = self.data.runs(p);
        let items = summary(&self.data.world, p, &runs, &filter, window, self.data.t());
        let listing = self.listing(
            "insights-workflows",
            format_args!("project={p}\nfilter={filter:?}\nwindow={window}"),
        );
        self.forward(&listing, items.len(), |i| items[i].clone())
    }

    /// `GET /insights/{slug}/workflows/{name}[?…][&start-date=…][&end-date=…]`: runs that started in
    /// `[start-date, end-date)`, newest first, going back at most 90 days.
    pub(super) fn insights_runs(&self, p: usize, name: &str) -> Reply {
        let info = &self.data.world.projects[p];
        let now = self.data.t();
        let parse = |key: &str| self.param(key).map(|v| parse_rfc3339(v).ok_or(v));
        let start = match parse("start-date") {
            Some(Err(_)) => {
                return bad_request("Invalid start-date: expected an RFC 3339 date-time.");
            }
            Some(Ok(t)) => Some(t),
            None => None,
        };
        let end = match parse("end-date") {
            Some(Err(_)) => {
                return bad_request("Invalid end-date: expected an RFC 3339 date-time.");
            }
            Some(Ok(t)) => Some(t),
            None => None,
        };
        match (start, end) {
            (None, Some(_)) => {
                return bad_request("start-date must be specified if end-date is provided.");
            }
            (Some(s), Some(e)) if e < s => {
                return bad_request("end-date must be after start-date.");
            }
            (Some(s), Some(e)) if e - s > LOOKBACK => {
                return bad_request("end-date can be at most 90 days after start-date.");
            }
            _ => {}
        }
        let from = start.unwrap_or(i64::MIN).max(now - LOOKBACK);
        let until = end.unwrap_or(i64::MAX);
        let filter = self.branch_filter(info.default_branch);
        let runs = self.data.runs(p);
        let selected: Vec<usize> = (0..runs.len())
            .filter(|&i| {
                let run = &runs[i];
                run.name == name
                    && run.created >= from
                    && run.created < until
                    && filter.matches(run, info.default_branch)
            })
            .collect();
        let listing = self.listing(
            "insights-runs",
            format_args!(
                "project={p}\nname={name}\nfilter={filter:?}\nstart={:?}\nend={:?}",
                self.param("start-date"),
                self.param("end-date")
            ),
        );
        self.forward(&listing, selected.len(), |i| {
            runs[selected[i]].json(info.default_branch)
        })
    }
}
