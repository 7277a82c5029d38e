//! The part of a tenant that never changes with epochs: its user and teammates, its organisations, its
//! projects (with everything their pipelines repeat) and its contexts.
//!
//! Generated once per tenant from `(seed, tenant index)` through independent PRNG streams, so tenants
//! never share ids or logins and adding a project does not reshuffle the others. The stream tags
//! ([`streams`]) name every kind of thing drawn anywhere, reruns ([`super::reruns`]) included.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::config::TenantConfig;
use super::contexts::{Context, generate_contexts};
use super::ids::IdCodec;
use super::rng::{Rng, mix64};
use super::slug::{ProjectSlug, VcsType};
use super::time::Millis;
use super::words::{ORGS, PEOPLE, REPOS, WORKFLOWS};

/// Stream tags for [`Rng::derive`]: one per kind of thing generated, so streams never overlap.
pub(crate) mod streams {
    pub const ROTATION: u64 = 1;
    pub const TENANT: u64 = 2;
    pub const PROJECT: u64 = 3;
    pub const TIMELINE: u64 = 4;
    pub const PIPELINE: u64 = 5;
    pub const WORKFLOW: u64 = 6;
    pub const BATCH: u64 = 7;
    pub const SETTLE: u64 = 8;
    pub const TESTS: u64 = 9;
    pub const ARTIFACTS: u64 = 10;
    pub const CONTEXTS: u64 = 11;
    pub const INSERT: u64 = 12;
    pub const RERUN: u64 = 13;
}

/// A tenant's unchanging data.
#[derive(Debug)]
pub(crate) struct World {
    pub seed: u64,
    pub tenant: usize,
    pub config: TenantConfig,
    pub ids: IdCodec,
    /// `[0]` is the `/me` user; the others are teammates who trigger pipelines and approve jobs.
    pub people: Vec<Person>,
    pub orgs: Vec<Org>,
    pub projects: Vec<ProjectInfo>,
    pub contexts: Vec<Context>,
    by_key: HashMap<ProjectSlug, usize>,
    context_by_id: HashMap<String, usize>,
}

#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub id: String,
    pub login: String,
    pub name: String,
    pub avatar_url: Option<String>,
}

impl Person {
    pub fn me_json(&self) -> Value {
        json!({"id": self.id, "login": self.login, "name": self.name, "avatar_url": self.avatar_url})
    }
}

/// Which organisation of a tenant; the index into [`World::orgs`].
pub(crate) const ORG_GITHUB: usize = 0;
pub(crate) const ORG_BITBUCKET: usize = 1;
pub(crate) const ORG_CIRCLECI: usize = 2;
/// The user's own GitHub account: a collaboration with no projects.
pub(crate) const ORG_PERSONAL: usize = 3;

#[derive(Debug, Clone)]
pub(crate) struct Org {
    pub id: String,
    pub name: String,
    pub vcs: VcsType,
    /// As `/me/collaborations` prints it: `gh/<name>`, `bb/<name>` or `circleci/<id>`.
    pub slug: String,
    pub avatar_url: String,
}

impl Org {
    pub fn collaboration_json(&self) -> Value {
        let vcs_type = match self.vcs {
            VcsType::GitHub => "github",
            VcsType::Bitbucket => "bitbucket",
            VcsType::CircleCi => "circleci",
        };
        json!({"id": self.id, "vcs-type": vcs_type, "name": self.name, "avatar_url": self.avatar_url, "slug": self.slug})
    }
}

/// Where the code lives, as CircleCI names it in `vcs_info.provider` and `vcs.provider_name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    GitHub,
    Bitbucket,
    GitLab,
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Provider::GitHub => "GitHub",
            Provider::Bitbucket => "Bitbucket",
            Provider::GitLab => "GitLab",
        }
    }

    pub fn host(self) -> &'static str {
        match self {
            Provider::GitHub => "https://github.com",
            Provider::Bitbucket => "https://bitbucket.org",
            Provider::GitLab => "https://gitlab.com",
        }
    }

    pub fn review_url(self, repo_url: &str, id: u64) -> String {
        match self {
            Provider::GitHub => format!("{repo_url}/pull/{id}"),
            Provider::Bitbucket => format!("{repo_url}/pull-requests/{id}"),
            Provider::GitLab => format!("{repo_url}/-/merge_requests/{id}"),
        }
    }
}

/// Everything about a project that its pipelines, workflows and jobs repeat.
#[derive(Debug, Clone)]
pub(crate) struct ProjectInfo {
    /// The canonical slug (`gh/acme-labs/widgets`, `bb/…`, or `circleci/<org-id>/<project-id>`).
    pub slug: String,
    pub key: ProjectSlug,
    /// `GET /project/{slug}`.
    pub json: Value,
    pub id: String,
    pub org: usize,
    pub vcs: VcsType,
    pub provider: Provider,
    pub repo: String,
    pub repo_url: String,
    pub default_branch: &'static str,
    /// The pipeline number of ordinal 0 (numbers grow with ordinals).
    pub first_number: u64,
    /// The job number of job slot 0 (see [`crate::sim::timeline::PipelineCore::first_slot`]).
    pub first_job: u64,
    /// Workflow names; a pipeline with `k` workflows runs the first `k`.
    pub workflow_names: Vec<String>,
    /// The app.circleci.com path prefix of this project (`github/acme/widgets`, `circleci/<o>/<p>`).
    pub web_path: String,
}

impl World {
    /// Generates tenant number `tenant` (its position in [`super::SimConfig::tenants`]).
    pub fn generate(seed: u64, tenant: usize, config: &TenantConfig) -> World {
        let config = &config.sanitized();
        let rotation = Rng::derive(seed, &[streams::ROTATION]).below(1 << 16) as usize;
        let mut rng = Rng::derive(seed, &[streams::TENANT, tenant as u64]);

        let (login, name) = PEOPLE[(rotation + tenant) % PEOPLE.len()];
        let login = uniquify(login, tenant, PEOPLE.len());
        let user = Person {
            id: rng.uuid(),
            avatar_url: Some(avatar_url(&login)),
            login,
            name: name.to_owned(),
        };
        // Teammates trigger most pipelines; one of them has no avatar (CircleCI answers null then).
        let mut people = vec![user.clone()];
        let mut candidates: Vec<usize> = (0..PEOPLE.len())
            .filter(|&i| PEOPLE[i].0 != PEOPLE[(rotation + tenant) % PEOPLE.len()].0)
            .collect();
        for n in 0..4 {
            let (login, name) =
                PEOPLE[candidates.remove(rng.below(candidates.len() as u64) as usize)];
            let avatar = (n != 3).then(|| avatar_url(login));
            people.push(Person {
                id: rng.uuid(),
                login: login.to_owned(),
                name: name.to_owned(),
                avatar_url: avatar,
            });
        }

        let org_name = uniquify(ORGS[(rotation + tenant) % ORGS.len()], tenant, ORGS.len());
        // Bitbucket workspace ids are lowercase without dashes, so the name differs from the GitHub one.
        let bb_name = org_name.replace('-', "");
        let github_id = rng.uuid();
        let bitbucket_id = rng.uuid();
        let circleci_id = rng.uuid();
        let personal_id = rng.uuid();
        let orgs = vec![
            Org {
                slug: format!("gh/{org_name}"),
                avatar_url: avatar_url(&org_name),
                id: github_id,
                name: org_name.clone(),
                vcs: VcsType::GitHub,
            },
            Org {
                slug: format!("bb/{bb_name}"),
                avatar_url: format!("https://bitbucket.org/account/{bb_name}/avatar/"),
                id: bitbucket_id,
                name: bb_name,
                vcs: VcsType::Bitbucket,
            },
            Org {
                slug: format!("circleci/{circleci_id}"),
                avatar_url: avatar_url(&format!("{org_name}-app")),
                id: circleci_id,
                name: org_name,
                vcs: VcsType::CircleCi,
            },
            Org {
                slug: format!("gh/{}", user.login),
                avatar_url: user.avatar_url.clone().unwrap_or_default(),
                id: personal_id,
                name: user.login.clone(),
                vcs: VcsType::GitHub,
            },
        ];
        let repo_rotation = rng.below(REPOS.len() as u64) as usize;

        let max_workflows = config.workflows_per_pipeline.max.max(1);
        let projects: Vec<ProjectInfo> = (0..config.projects)
            .map(|index| {
                let repo = uniquify(
                    REPOS[(repo_rotation + index) % REPOS.len()],
                    index,
                    REPOS.len(),
                );
                let mut rng = Rng::derive(seed, &[streams::PROJECT, tenant as u64, index as u64]);
                project_info(&mut rng, index, &orgs, &repo, max_workflows)
            })
            .collect();
        let by_key = projects
            .iter()
            .enumerate()
            .map(|(i, p)| (p.key.clone(), i))
            .collect();
        let contexts = generate_contexts(seed, tenant, config, &orgs);
        let context_by_id = contexts
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.clone(), i))
            .collect();

        World {
            seed,
            tenant,
            config: config.clone(),
            ids: IdCodec::new(seed),
            people,
            orgs,
            projects,
            contexts,
            by_key,
            context_by_id,
        }
    }

    pub fn project_index(&self, key: &ProjectSlug) -> Option<usize> {
        self.by_key.get(key).copied()
    }

    pub fn context_index(&self, id: &str) -> Option<usize> {
        self.context_by_id.get(id).copied()
    }

    /// An organisation by the slug forms CircleCI accepts for `org-slug` / `owner-slug`:
    /// `gh/<name>`, `github/<name>`, `bb/<name>`, `bitbucket/<name>`, `circleci/<org-id>`.
    pub fn org_by_slug(&self, slug: &str) -> Option<usize> {
        let (vcs, name) = slug.split_once('/')?;
        let vcs = VcsType::parse(vcs)?;
        self.orgs.iter().position(|o| {
            o.vcs == vcs
                && match vcs {
                    VcsType::CircleCi => o.id == name,
                    // VCS org names are case-insensitive on GitHub and Bitbucket.
                    _ => o.name.eq_ignore_ascii_case(name),
                }
        })
    }

    pub fn org_by_id(&self, id: &str) -> Option<usize> {
        self.orgs.iter().position(|o| o.id == id)
    }
}

/// How many pipelines project number `index` gets when the configured count is `n`.
///
/// The first six projects cover every paging edge case: with `n = 45` (page size 20) the counts are
/// 45, 40, 20, 21, 1, 0 — several pages ending in a partial page, exactly one full page, one more than
/// a full page, a single item, and nothing at all. For large `n` the "exact pages" project holds the
/// multiple of 20 nearest below `n / 2`. Projects from the seventh on get exactly `n`, so that a big
/// config holds about `projects × n` pipelines.
pub fn pipeline_count(index: usize, n: usize) -> usize {
    use super::paging::PAGE_SIZE;
    if n == 0 {
        return 0;
    }
    let whole_pages = if n >= PAGE_SIZE {
        (n / 2 / PAGE_SIZE).max(1) * PAGE_SIZE
    } else {
        n
    };
    match index {
        0 => n,
        1 => n - n / 9,
        2 => whole_pages,
        3 => whole_pages + 1,
        4 => 1,
        5 => 0,
        _ => n,
    }
}

/// Which kind of slug project number `index` has: even indexes are OAuth projects (`gh` at 0, 4, 8, …,
/// `bb` at 2, 6, 10, …), odd indexes `circleci/<org-id>/<project-id>` ones (GitLab at 1, 5, 9, …,
/// GitHub App at 3, 7, 11, …).
pub fn project_kind(index: usize) -> (VcsType, Provider) {
    match index % 4 {
        0 => (VcsType::GitHub, Provider::GitHub),
        2 => (VcsType::Bitbucket, Provider::Bitbucket),
        1 => (VcsType::CircleCi, Provider::GitLab),
        _ => (VcsType::CircleCi, Provider::GitHub),
    }
}

fn project_info(
    rng: &mut Rng,
    index: usize,
    orgs: &[Org],
    repo: &str,
    max_workflows: usize,
) -> ProjectInfo {
    let (vcs, provider) = project_kind(index);
    let id = rng.uuid();
    let default_branch = if rng.chance(25) { "master" } else { "main" };
    let org_index = match vcs {
        VcsType::GitHub => ORG_GITHUB,
        VcsType::Bitbucket => ORG_BITBUCKET,
        VcsType::CircleCi => ORG_CIRCLECI,
    };
    let org = &orgs[org_index];
    let (key, organization_slug, web_path) = match vcs {
        VcsType::CircleCi => (
            ProjectSlug {
                vcs,
                org: org.id.clone(),
                repo: id.clone(),
            },
            format!("circleci/{}", org.id),
            format!("circleci/{}/{}", org.id, id),
        ),
        _ => (
            ProjectSlug {
                vcs,
                org: org.name.clone(),
                repo: repo.to_owned(),
            },
            format!("{}/{}", vcs.canonical(), org.name),
            format!(
                "{}/{}/{}",
                if vcs == VcsType::GitHub {
                    "github"
                } else {
                    "bitbucket"
                },
                org.name,
                repo
            ),
        ),
    };
    let slug = key.to_string();
    let repo_url = format!("{}/{}/{}", provider.host(), org.name, repo);
    let json = json!({
        "slug": slug,
        "name": repo,
        "id": id,
        "organization_name": org.name,
        "organization_slug": organization_slug,
        "organization_id": org.id,
        "vcs_info": {
            "vcs_url": repo_url,
            "provider": provider.name(),
            "default_branch": default_branch,
        },
    });

    // The first workflow runs in every pipeline; the others in an order of the project's own.
    let mut names: Vec<&str> = WORKFLOWS[1..].to_vec();
    for i in (1..names.len()).rev() {
        names.swap(i, rng.below(i as u64 + 1) as usize);
    }
    names.insert(0, WORKFLOWS[0]);
    let workflow_names = (0..max_workflows)
        .map(|i| uniquify(names[i % names.len()], i, names.len()))
        .collect();

    ProjectInfo {
        slug,
        key,
        json,
        id,
        org: org_index,
        vcs,
        provider,
        repo: repo.to_owned(),
        repo_url,
        default_branch,
        first_number: rng.range(1, 300),
        first_job: rng.range(1, 5_000),
        workflow_names,
        web_path,
    }
}

/// `base` for the first round of a list, `base-2`, `base-3`, … once the list is exhausted, so that names
/// stay unique however many tenants or projects are configured.
pub(crate) fn uniquify(base: &str, index: usize, list_len: usize) -> String {
    match index / list_len {
        0 => base.to_owned(),
        round => format!("{base}-{}", round + 1),
    }
}

/// A GitHub-style avatar URL, stable per login so the same person looks the same everywhere.
pub(crate) fn avatar_url(login: &str) -> String {
    format!(
        "https://avatars.githubusercontent.com/u/{}?v=4",
        1_000_000 + mix64(fnv(login)) % 90_000_000
    )
}

/// FNV-1a, to turn a name into a seed.
pub(crate) fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Milliseconds a duration in `lo..=hi` milliseconds, drawn from `rng`.
pub(crate) fn span(rng: &mut Rng, lo: Millis, hi: Millis) -> Millis {
    rng.range(lo as u64, hi as u64) as Millis
}
