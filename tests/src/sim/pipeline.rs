//! One pipeline: its attributes, drawn from its own PRNG stream, and its JSON as served at an epoch.
//!
//! Attributes are plain numbers (indexes into word lists, ids of people), so drawing them is cheap
//! enough to redo on every request: nothing but a compact [`PipelineCore`] is kept per pipeline.

use serde::Serialize;
use serde_json::Value;

use super::ids::{Kind, Locator};
use super::rng::Rng;
use super::slug::VcsType;
use super::time::{Millis, rfc3339_millis};
use super::timeline::{ERRORED, PipelineCore, SETTLING, settle_time};
use super::words::{BODIES, BRANCHES, CONFIG_ERRORS, SUBJECTS};
use super::world::{Provider, World, streams};

/// What a pipeline is, independent of the epoch it is looked at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PipelineAttrs {
    /// Index into [`World::people`]: who triggered it (`[0]` is the user, for `mine=true`).
    pub actor: u8,
    trigger: &'static str,
    /// 0: a tag pipeline (no branch); 1: the default branch; `2 + i`: `BRANCHES[i]`.
    pub branch: u8,
    tag: bool,
    review: Option<u64>,
    fork_owner: Option<u8>,
    /// Drawn for every pipeline; only pipelines the timeline does not mark as settling use it.
    pub errored: bool,
    /// Which settling state a settling pipeline shows: setup-pending, setup or pending.
    pub settle_kind: u8,
    /// Workflows of a pipeline that is (or becomes) `created`.
    pub workflows: u8,
    received_ms: Millis,
    updated_ms: Millis,
    revision: [u64; 3],
    subject: u8,
    body: u8,
    error: u8,
}

pub(crate) const SETTLE_STATES: [&str; 3] = ["setup-pending", "setup", "pending"];

impl PipelineAttrs {
    pub fn draw(world: &World, project: usize, ordinal: u32) -> PipelineAttrs {
        let mut rng = Rng::derive(
            world.seed,
            &[
                streams::PIPELINE,
                world.tenant as u64,
                project as u64,
                u64::from(ordinal),
            ],
        );
        let actor = rng.below(world.people.len() as u64) as u8;
        let roll = rng.below(100);
        let trigger = match roll {
            0..=85 => "webhook",
            86..=89 => "api",
            90..=93 => "explicit",
            _ => "scheduled_pipeline",
        };
        let on_feature_branch = (55..=79).contains(&roll);
        let feature = rng.below(BRANCHES.len() as u64) as u8;
        let tag = (80..=85).contains(&roll);
        let branch = if on_feature_branch {
            2 + feature
        } else if tag {
            0
        } else {
            1
        };
        // Most feature-branch pipelines belong to an open pull request.
        let review_roll = rng.chance(60);
        let review_id = 10 + rng.below(900);
        let review = (on_feature_branch && review_roll).then_some(review_id);
        let fork_roll = rng.chance(20);
        let fork_owner = rng.below(world.people.len() as u64) as u8;
        let fork_owner = (review.is_some() && fork_roll).then_some(fork_owner);
        let errored = rng.chance(4);
        let settle_kind = rng.below(3) as u8;
        let range = world.config.workflows_per_pipeline;
        let workflows = rng.range(range.min as u64, range.max as u64) as u8;
        PipelineAttrs {
            actor,
            trigger,
            branch,
            tag,
            review,
            fork_owner,
            errored,
            settle_kind,
            workflows,
            received_ms: rng.range(20, 1_500) as Millis,
            updated_ms: rng.range(40, 3_000) as Millis,
            revision: [rng.next_u64(), rng.next_u64(), rng.next_u64() >> 32],
            subject: rng.below(SUBJECTS.len() as u64) as u8,
            body: rng.below(BODIES.len() as u64) as u8,
            error: rng.below(CONFIG_ERRORS.len() as u64) as u8,
        }
    }

    /// The branch name, `None` for tag pipelines.
    pub fn branch_name<'a>(&self, default_branch: &'a str) -> Option<&'a str> {
        branch_name(self.branch, default_branch)
    }
}

/// The name a branch code stands for (see [`PipelineAttrs::branch`]).
pub(crate) fn branch_name(code: u8, default_branch: &str) -> Option<&str> {
    match code {
        0 => None,
        1 => Some(default_branch),
        n => Some(BRANCHES[usize::from(n - 2) % BRANCHES.len()]),
    }
}

/// The branch code of a branch name, `None` if no pipeline can be on it (so a filter matches nothing).
pub(crate) fn branch_code(name: &str, default_branch: &str) -> Option<u8> {
    if name == default_branch {
        return Some(1);
    }
    BRANCHES
        .iter()
        .position(|b| *b == name)
        .map(|i| i as u8 + 2)
}

/// The pipeline's id.
pub(crate) fn pipeline_id(world: &World, project: usize, ordinal: u32) -> String {
    world.ids.encode(Locator {
        kind: Kind::Pipeline,
        tenant: world.tenant as u32,
        project: project as u32,
        ordinal,
        workflow: 0,
        job: 0,
    })
}

/// The state a pipeline shows at `epoch`: a settling pipeline settles into `created` one epoch after
/// it appeared, and only then gets its workflows.
pub(crate) fn state(core: &PipelineCore, attrs: &PipelineAttrs, epoch: u64) -> &'static str {
    if core.flags & SETTLING != 0 {
        if u64::from(core.birth) >= epoch {
            SETTLE_STATES[usize::from(attrs.settle_kind)]
        } else {
            "created"
        }
    } else if core.flags & ERRORED != 0 {
        "errored"
    } else {
        "created"
    }
}

/// `GET /pipeline/{id}` and every listing's item, as a value (for tests and comparisons).
pub(crate) fn pipeline_json(
    world: &World,
    project: usize,
    ordinal: u32,
    core: &PipelineCore,
    epoch: u64,
) -> Value {
    serde_json::to_value(pipeline_out(world, project, ordinal, core, epoch)).unwrap_or(Value::Null)
}

/// A pipeline ready to serialise: borrowed strings where it can, so a page of 20 pipelines is written
/// to the response without building a `Value` tree (pipeline listings are the hottest path).
#[derive(Debug, Serialize)]
pub(crate) struct PipelineOut<'a> {
    id: String,
    errors: Vec<PipelineError>,
    project_slug: &'a str,
    updated_at: String,
    number: u64,
    trigger_parameters: TriggerParameters<'a>,
    state: &'static str,
    created_at: String,
    trigger: Trigger<'a>,
    vcs: Vcs<'a>,
}

#[derive(Debug, Serialize)]
struct PipelineError {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'static str,
}

#[derive(Debug, Serialize)]
struct Trigger<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    received_at: String,
    actor: Actor<'a>,
}

#[derive(Debug, Serialize)]
struct Actor<'a> {
    login: &'a str,
    avatar_url: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct Vcs<'a> {
    provider_name: &'static str,
    target_repository_url: &'a str,
    origin_repository_url: String,
    revision: String,
    /// Always present, null unless a tag pipeline.
    tag: Option<String>,
    /// Absent (not null) on tag pipelines.
    #[serde(skip_serializing_if = "Option::is_none")]
    branch: Option<&'a str>,
    /// Absent on scheduled pipelines.
    #[serde(skip_serializing_if = "Option::is_none")]
    commit: Option<Commit>,
    /// Absent on OAuth projects without a review, null on the others without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    review_id: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    review_url: Option<Option<String>>,
}

#[derive(Debug, Serialize)]
struct Commit {
    subject: &'static str,
    body: &'static str,
}

#[derive(Debug, Serialize)]
struct TriggerParameters<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    circleci: Option<CircleciParameters<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    git: Option<Git<'a>>,
}

#[derive(Debug, Serialize)]
struct CircleciParameters<'a> {
    event_time: String,
    event_type: &'static str,
    trigger_type: &'static str,
    actor_id: &'a str,
}

#[derive(Debug, Serialize)]
struct Git<'a> {
    branch: &'a str,
    tag: String,
    #[serde(rename = "ref")]
    reference: String,
    checkout_sha: String,
    checkout_url: String,
    repo_url: &'a str,
    repo_name: &'a str,
    default_branch: &'a str,
    commit_author_name: &'a str,
    commit_message: &'static str,
}

pub(crate) fn pipeline_out<'a>(
    world: &'a World,
    project: usize,
    ordinal: u32,
    core: &PipelineCore,
    epoch: u64,
) -> PipelineOut<'a> {
    let info = &world.projects[project];
    let attrs = PipelineAttrs::draw(world, project, ordinal);
    let number = info.first_number + u64::from(ordinal);
    let oauth = info.vcs != VcsType::CircleCi;
    let actor = &world.people[usize::from(attrs.actor)];
    let created = core.created;
    let state = state(core, &attrs, epoch);
    let updated = if core.flags & SETTLING != 0 && state == "created" {
        settle_time(world, project, ordinal, core.birth) + attrs.updated_ms
    } else {
        created + attrs.updated_ms
    };

    let branch = attrs.branch_name(info.default_branch);
    let tag = attrs
        .tag
        .then(|| format!("v{}.{}.{}", 1 + number / 100, number / 10 % 10, number % 10));
    let errors = if state == "errored" {
        vec![PipelineError {
            kind: "config",
            message: CONFIG_ERRORS[usize::from(attrs.error)],
        }]
    } else {
        Vec::new()
    };
    let received = created - attrs.received_ms;
    let [a, b, c] = attrs.revision;
    let revision = format!("{a:016x}{b:016x}{c:08x}");
    let subject = SUBJECTS[usize::from(attrs.subject)];
    let body = BODIES[usize::from(attrs.body)];

    let (review_id, review_url) = match attrs.review {
        Some(id) => (
            Some(Some(id.to_string())),
            Some(Some(info.provider.review_url(&info.repo_url, id))),
        ),
        // OAuth projects leave the keys out; GitHub App / GitLab projects send explicit nulls.
        None if !oauth => (Some(None), Some(None)),
        None => (None, None),
    };
    let vcs = Vcs {
        provider_name: info.provider.name(),
        target_repository_url: &info.repo_url,
        origin_repository_url: match attrs.fork_owner {
            Some(owner) => format!(
                "{}/{}/{}",
                info.provider.host(),
                world.people[usize::from(owner)].login,
                info.repo
            ),
            None => info.repo_url.clone(),
        },
        revision: revision.clone(),
        tag: tag.clone(),
        branch,
        // Scheduled pipelines are not tied to a commit event, so CircleCI sends no commit object.
        commit: (attrs.trigger != "scheduled_pipeline").then_some(Commit { subject, body }),
        review_id,
        review_url,
    };

    let git = || Git {
        branch: branch.unwrap_or(""),
        tag: tag.clone().unwrap_or_default(),
        reference: match (&tag, branch) {
            (Some(tag), _) => format!("refs/tags/{tag}"),
            (None, branch) => format!("refs/heads/{}", branch.unwrap_or(info.default_branch)),
        },
        checkout_sha: revision.clone(),
        checkout_url: format!("{}.git", info.repo_url),
        repo_url: &info.repo_url,
        repo_name: &info.repo,
        default_branch: info.default_branch,
        commit_author_name: &actor.name,
        commit_message: subject,
    };
    let trigger_parameters = if oauth {
        TriggerParameters {
            circleci: None,
            git: (attrs.trigger == "webhook").then(git),
        }
    } else {
        let (event_type, source) = match attrs.trigger {
            "webhook" => (
                "push",
                if info.provider == Provider::GitLab {
                    "gitlab"
                } else {
                    "github_app"
                },
            ),
            "scheduled_pipeline" => ("schedule", "schedule"),
            _ => ("api", "api"),
        };
        TriggerParameters {
            circleci: Some(CircleciParameters {
                event_time: rfc3339_millis(received),
                event_type,
                trigger_type: source,
                actor_id: &actor.id,
            }),
            git: Some(git()),
        }
    };

    PipelineOut {
        id: pipeline_id(world, project, ordinal),
        errors,
        project_slug: &info.slug,
        updated_at: rfc3339_millis(updated),
        number,
        trigger_parameters,
        state,
        created_at: rfc3339_millis(created),
        trigger: Trigger {
            kind: attrs.trigger,
            received_at: rfc3339_millis(received),
            actor: Actor {
                login: &actor.login,
                avatar_url: actor.avatar_url.as_deref(),
            },
        },
        vcs,
    }
}
