//! Pipelines inserted at a project's head in the middle of an epoch: the data side of the
//! `head-insert` fault ([`crate::sim::faults`] has the whole story and how tests use it).
//!
//! An insertion is a new snapshot, like an advance or a deletion: [`Dataset::with_pipelines_inserted`]
//! adds settling pipelines at the head of one project, at the same epoch. They are ordinary pipelines
//! from then on (ids, numbers, job slots, and their workflows once they settle at the next epoch); the
//! snapshot only remembers which ones were inserted so a test can tell what a walk that started
//! before them could not have seen. The new snapshot keeps the old one's deleted workflows, failing
//! pipelines ([`super::failing`]) and reruns ([`super::reruns`]); inserted pipelines number their jobs
//! after the project's reruns.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;

use super::dataset::Dataset;
use super::pipeline::pipeline_id;
use super::timeline::INSERTED;

impl Dataset {
    /// This snapshot with `n` new pipelines at the head of project `p` (its index in
    /// [`Dataset::projects`]) and their ids, newest first; `None` when the project already had `max`
    /// insertions at this epoch, or has no room left before the epoch's quiet minutes.
    pub fn with_pipelines_inserted(
        &self,
        p: usize,
        n: usize,
        max: usize,
    ) -> Option<(Dataset, Vec<String>)> {
        let timeline = self.timeline.with_inserted(&self.world, p, n, max)?;
        let len = timeline.projects[p].len();
        let ids = (len - n..len)
            .rev()
            .map(|o| pipeline_id(&self.world, p, o as u32))
            .collect();
        let next = Dataset::snapshot(
            Arc::clone(&self.world),
            Arc::new(timeline),
            Arc::clone(&self.deleted),
            Arc::clone(&self.failing),
        );
        Some((next, ids))
    }

    /// The ids of the pipelines inserted during this snapshot's epoch, project by project, newest
    /// first: the ones a listing walk that started before them may legitimately not return. Pipelines
    /// inserted at earlier epochs are ordinary history by now and are not listed.
    pub fn inserted_pipeline_ids(&self) -> Vec<String> {
        (0..self.projects.len())
            .flat_map(|p| {
                let cores = self.cores(p);
                (0..cores.len())
                    .rev()
                    .filter(move |&o| {
                        cores[o].flags & INSERTED != 0 && u64::from(cores[o].birth) == self.epoch()
                    })
                    .map(move |o| pipeline_id(&self.world, p, o as u32))
            })
            .collect()
    }

    /// [`Dataset::expected`] without the records of pipelines inserted during this epoch: what a full
    /// sync that started before the insertions and never restarted a listing must return. Only the
    /// `pipelines` stream differs (inserted pipelines have no workflows yet).
    pub fn expected_without_inserted(&self, stream: &str) -> Vec<Value> {
        let inserted: BTreeSet<String> = self.inserted_pipeline_ids().into_iter().collect();
        let mut records = self.expected(stream);
        if stream == "pipelines" && !inserted.is_empty() {
            records.retain(|r| r["id"].as_str().is_none_or(|id| !inserted.contains(id)));
        }
        records
    }
}
