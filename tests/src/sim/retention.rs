//! How old a tenant's data is, and what CircleCI does with it past retention.
//!
//! History: by default a project's historic pipelines are minutes to hours apart, a few days in all
//! ([`crate::sim::timeline`]). [`TenantConfig::history_days`] stretches them ([`stretch_history`]) so
//! the oldest was created about that many days before epoch 0's "now", keeping their order and the
//! live window untouched, so tests can have pipelines weeks or months old.
//!
//! Retention: CircleCI keeps pipeline data 90 days to 2 years. With
//! [`TenantConfig::retention_days`] set, a pipeline created more than that many days before an
//! epoch's "now" ([`crate::sim::time::epoch_time`]) is *expired* at that epoch (so more expire as
//! epochs pass). It is still listed by `GET /project/{slug}/pipeline` and readable by
//! `GET /pipeline/{id}`, unchanged, but its workflow listing is gone, in one of two ways split by the
//! pipeline's ordinal in its project ([`Expiry`]):
//! - even ordinals: `GET /pipeline/{id}/workflow` answers `404 {"message":"Not Found"}` on every page
//!   (checked before the page token);
//! - odd ordinals: it lists the pipeline's workflows as usual except that each one's `"id"` is `null`
//!   (a pipeline without workflows lists nothing).
//!
//! Everything below an expired pipeline is gone too: `GET /workflow/{id}`, `GET /workflow/{id}/job`
//! and the job-number endpoints answer 404 for its workflows and jobs (a connector cannot learn those
//! ids anyway). Insights are untouched (CircleCI aggregates them separately). The right answers
//! ([`crate::sim::expected`]) leave out every workflow, job, job detail, test and artifact of an
//! expired pipeline (a workflow with a null id is not a record), and
//! [`crate::sim::Dataset::unreachable_pipelines`] names the pipelines a connector must report as
//! skipped ([`crate::sim::unreachable`]).

use super::config::TenantConfig;
use super::dataset::Dataset;
use super::time::{ANCHOR, DAY, Millis, SECOND};

/// How an expired pipeline's workflow listing answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// `404 {"message":"Not Found"}` on every page.
    NotFound,
    /// The workflows, each with `"id": null`.
    NullIds,
}

/// How pipeline `ordinal` created at `created` shows its workflows at `now`: `None` while it is kept.
pub(crate) fn expiry(
    config: &TenantConfig,
    ordinal: u32,
    created: Millis,
    now: Millis,
) -> Option<Expiry> {
    let days = config.retention_days?;
    (created < now - Millis::from(days) * DAY).then_some(if ordinal.is_multiple_of(2) {
        Expiry::NotFound
    } else {
        Expiry::NullIds
    })
}

/// The oldest creation time still kept at epoch 0 plus `margin`, or `None` when nothing expires:
/// what is created at or after it stays kept for at least `margin` of simulated time.
pub(crate) fn kept_at_start(config: &TenantConfig, margin: Millis) -> Option<Millis> {
    config
        .retention_days
        .map(|days| ANCHOR - Millis::from(days) * DAY + margin)
}

/// Stretches (or shrinks) a project's history to `days`: `newest_first` holds the creation times (and
/// flags) of its pipelines, newest first, the first `live` of them in the live window. The live window
/// and the newest historic pipeline keep their times; the gaps between older historic pipelines are
/// scaled together so the oldest lands `days` days before [`ANCHOR`] (at least a second apart).
pub(crate) fn stretch_history(newest_first: &mut [(Millis, u8)], live: usize, days: u32) {
    let n = newest_first.len();
    if n <= live + 1 {
        return;
    }
    let gaps: Vec<Millis> = (live + 1..n)
        .map(|k| newest_first[k - 1].0 - newest_first[k].0)
        .collect();
    let total: i128 = gaps.iter().map(|&g| i128::from(g)).sum();
    let newest_historic = newest_first[live].0;
    let target =
        (Millis::from(days) * DAY - (ANCHOR - newest_historic)).max(gaps.len() as Millis * SECOND);
    let mut t = newest_historic;
    for (k, gap) in (live + 1..n).zip(gaps) {
        let scaled = (i128::from(gap) * i128::from(target) / total.max(1)) as Millis;
        t -= scaled.max(SECOND);
        newest_first[k].0 = t;
    }
}

impl Dataset {
    /// Whether (and how) pipeline `ordinal` of project `p` is past retention at this epoch.
    pub(crate) fn expiry(&self, p: usize, ordinal: u32) -> Option<Expiry> {
        let core = &self.cores(p)[ordinal as usize];
        expiry(&self.world.config, ordinal, core.created, self.t())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::time::{HOUR, MINUTE};

    #[test]
    fn stretching_keeps_order_and_reaches_the_span() {
        let mut times: Vec<(Millis, u8)> = (0..30)
            .map(|k| (ANCHOR - HOUR - k as Millis * 7 * MINUTE, 0))
            .collect();
        let live = 2;
        let before = times.clone();
        stretch_history(&mut times, live, 60);
        assert_eq!(times[..=live], before[..=live]);
        assert!(times.windows(2).all(|w| w[0].0 > w[1].0));
        let oldest = ANCHOR - times[29].0;
        assert!((oldest - 60 * DAY).abs() < MINUTE, "{oldest}");
        let config = TenantConfig {
            retention_days: Some(30),
            ..TenantConfig::default()
        };
        assert_eq!(
            expiry(&config, 4, ANCHOR - 31 * DAY, ANCHOR),
            Some(Expiry::NotFound)
        );
        assert_eq!(
            expiry(&config, 5, ANCHOR - 31 * DAY, ANCHOR),
            Some(Expiry::NullIds)
        );
        assert_eq!(expiry(&config, 5, ANCHOR - 29 * DAY, ANCHOR), None);
        assert_eq!(expiry(&TenantConfig::default(), 5, 0, ANCHOR), None);
    }
}
