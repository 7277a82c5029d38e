//! Deterministic generation of each tenant's data: its user, orgs, projects and pipelines.
//!
//! Everything is derived from `(seed, tenant index, ...)` through independent PRNG streams, so the
//! same config gives byte-identical JSON and tenants never share ids or user logins. Records are stored
//! as ready-to-serve `serde_json::Value`s in the exact shape CircleCI answers with (null fields kept,
//! optional fields sometimes absent), because the connector must cope with exactly that.

use serde_json::{Value, json};

use super::config::TenantConfig;
use super::paging::PAGE_SIZE;
use super::rng::{Rng, mix64};
use super::slug::{ProjectSlug, VcsType};
use super::time::{ANCHOR, DAY, HOUR, MINUTE, Millis, rfc3339_millis};
use super::words::{BODIES, BRANCHES, CONFIG_ERRORS, ORGS, PEOPLE, REPOS, SUBJECTS};

/// Stream tags for [`Rng::derive`]: one per kind of thing generated, so streams never overlap.
const STREAM_ROTATION: u64 = 1;
const STREAM_TENANT: u64 = 2;
const STREAM_PROJECT: u64 = 3;

/// One tenant's data, as served to its token.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// `GET /me`: `{id, login, name, avatar_url}`.
    pub user: Value,
    /// In generation order; see [`pipeline_count`] and [`project_kind`] for what each index holds.
    pub projects: Vec<Project>,
    tenant: usize,
}

/// A project and its pipelines.
#[derive(Debug, Clone)]
pub struct Project {
    /// The canonical slug (`gh/acme-labs/widgets`, `bb/…`, or `circleci/<org-id>/<project-id>`).
    pub slug: String,
    /// `GET /project/{slug}`.
    pub json: Value,
    /// Newest first: `created_at` strictly decreasing, `number` decreasing.
    pub pipelines: Vec<Value>,
    key: ProjectSlug,
}

impl Dataset {
    /// Generates tenant number `tenant` (its position in [`super::SimConfig::tenants`]).
    pub fn generate(seed: u64, tenant: usize, config: &TenantConfig) -> Dataset {
        let rotation = Rng::derive(seed, &[STREAM_ROTATION]).below(1 << 16) as usize;
        let mut rng = Rng::derive(seed, &[STREAM_TENANT, tenant as u64]);

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
        let orgs = Orgs {
            github: Org {
                name: org_name.clone(),
                id: rng.uuid(),
            },
            // Bitbucket workspace ids are lowercase without dashes, so the name differs from the GitHub one.
            bitbucket: Org {
                name: org_name.replace('-', ""),
                id: rng.uuid(),
            },
            circleci: Org {
                name: org_name,
                id: rng.uuid(),
            },
        };
        let repo_rotation = rng.below(REPOS.len() as u64) as usize;

        let projects = (0..config.projects)
            .map(|index| {
                let repo = uniquify(
                    REPOS[(repo_rotation + index) % REPOS.len()],
                    index,
                    REPOS.len(),
                );
                let count = pipeline_count(index, config.pipelines_per_project);
                let mut rng = Rng::derive(seed, &[STREAM_PROJECT, tenant as u64, index as u64]);
                generate_project(&mut rng, index, &orgs, &repo, &people, count)
            })
            .collect();

        Dataset {
            user: user.to_me_json(),
            projects,
            tenant,
        }
    }

    /// The position of this tenant in the config (binds page tokens to their tenant).
    pub fn tenant_index(&self) -> usize {
        self.tenant
    }

    /// Every pipeline id of every project, project by project, newest first within a project.
    pub fn all_pipeline_ids(&self) -> Vec<String> {
        self.projects
            .iter()
            .flat_map(|p| &p.pipelines)
            .filter_map(|p| p["id"].as_str().map(str::to_owned))
            .collect()
    }

    /// Looks a project up by any slug form: canonical, `github/…`/`bitbucket/…` aliases, `%2F`-escaped.
    pub fn project(&self, slug: &str) -> Option<&Project> {
        self.project_by_key(&ProjectSlug::parse(slug)?)
    }

    pub(crate) fn project_by_key(&self, key: &ProjectSlug) -> Option<&Project> {
        self.projects.iter().find(|p| &p.key == key)
    }
}

/// How many pipelines project number `index` gets when the configured count is `n`.
///
/// The pattern repeats every 6 projects, so that a default dataset holds every paging edge case:
/// with `n = 45` (page size 20) the counts are 45, 40, 20, 21, 1, 0 — several pages ending in a partial
/// page, exactly one full page, one more than a full page, a single item, and nothing at all.
/// For large `n` the "exact pages" project holds the multiple of 20 nearest below `n / 2`.
pub fn pipeline_count(index: usize, n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    let whole_pages = if n >= PAGE_SIZE {
        (n / 2 / PAGE_SIZE).max(1) * PAGE_SIZE
    } else {
        n
    };
    match index % 6 {
        0 => n,
        1 => n - n / 9,
        2 => whole_pages,
        3 => whole_pages + 1,
        4 => 1,
        _ => 0,
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

/// Where the code lives, as CircleCI names it in `vcs_info.provider` and `vcs.provider_name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    GitHub,
    Bitbucket,
    GitLab,
}

impl Provider {
    fn name(self) -> &'static str {
        match self {
            Provider::GitHub => "GitHub",
            Provider::Bitbucket => "Bitbucket",
            Provider::GitLab => "GitLab",
        }
    }

    fn host(self) -> &'static str {
        match self {
            Provider::GitHub => "https://github.com",
            Provider::Bitbucket => "https://bitbucket.org",
            Provider::GitLab => "https://gitlab.com",
        }
    }

    fn review_url(self, repo_url: &str, id: u64) -> String {
        match self {
            Provider::GitHub => format!("{repo_url}/pull/{id}"),
            Provider::Bitbucket => format!("{repo_url}/pull-requests/{id}"),
            Provider::GitLab => format!("{repo_url}/-/merge_requests/{id}"),
        }
    }
}

#[derive(Debug, Clone)]
struct Person {
    id: String,
    login: String,
    name: String,
    avatar_url: Option<String>,
}

impl Person {
    fn to_me_json(&self) -> Value {
        json!({"id": self.id, "login": self.login, "name": self.name, "avatar_url": self.avatar_url})
    }

    fn actor_json(&self) -> Value {
        json!({"login": self.login, "avatar_url": self.avatar_url})
    }
}

struct Org {
    name: String,
    id: String,
}

/// A tenant's three orgs: one per kind of slug.
struct Orgs {
    github: Org,
    bitbucket: Org,
    circleci: Org,
}

/// `base` for the first round of a list, `base-2`, `base-3`, … once the list is exhausted, so that names
/// stay unique however many tenants or projects are configured.
fn uniquify(base: &str, index: usize, list_len: usize) -> String {
    match index / list_len {
        0 => base.to_owned(),
        round => format!("{base}-{}", round + 1),
    }
}

/// A GitHub-style avatar URL, stable per login so the same person looks the same everywhere.
fn avatar_url(login: &str) -> String {
    let hash = login.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!(
        "https://avatars.githubusercontent.com/u/{}?v=4",
        1_000_000 + mix64(hash) % 90_000_000
    )
}

/// Everything about a project that its pipelines repeat.
struct ProjectContext<'a> {
    slug: String,
    vcs: VcsType,
    provider: Provider,
    repo: &'a str,
    repo_url: String,
    default_branch: &'static str,
    people: &'a [Person],
}

fn generate_project(
    rng: &mut Rng,
    index: usize,
    orgs: &Orgs,
    repo: &str,
    people: &[Person],
    count: usize,
) -> Project {
    let (vcs, provider) = project_kind(index);
    let id = rng.uuid();
    let default_branch = if rng.chance(25) { "master" } else { "main" };
    let org = match vcs {
        VcsType::GitHub => &orgs.github,
        VcsType::Bitbucket => &orgs.bitbucket,
        VcsType::CircleCi => &orgs.circleci,
    };
    let (key, organization_slug) = match vcs {
        VcsType::CircleCi => (
            ProjectSlug {
                vcs,
                org: org.id.clone(),
                repo: id.clone(),
            },
            format!("circleci/{}", org.id),
        ),
        _ => (
            ProjectSlug {
                vcs,
                org: org.name.clone(),
                repo: repo.to_owned(),
            },
            format!("{}/{}", vcs.canonical(), org.name),
        ),
    };
    let ctx = ProjectContext {
        slug: key.to_string(),
        vcs,
        provider,
        repo,
        repo_url: format!("{}/{}/{}", provider.host(), org.name, repo),
        default_branch,
        people,
    };
    let json = json!({
        "slug": ctx.slug,
        "name": repo,
        "id": id,
        "organization_name": org.name,
        "organization_slug": organization_slug,
        "organization_id": org.id,
        "vcs_info": {
            "vcs_url": ctx.repo_url,
            "provider": provider.name(),
            "default_branch": default_branch,
        },
    });

    // Newest first: start a little before the anchor and walk back in time with irregular gaps.
    let mut created: Millis = ANCHOR - rng.range(5 * MINUTE as u64, 3 * DAY as u64) as Millis;
    let newest_number = rng.range(1, 300) + count as u64;
    let mut pipelines = Vec::with_capacity(count);
    for k in 0..count {
        pipelines.push(generate_pipeline(
            rng,
            &ctx,
            k,
            newest_number - k as u64,
            created,
        ));
        created -= rng.range(MINUTE as u64, 9 * HOUR as u64) as Millis;
    }

    Project {
        slug: ctx.slug.clone(),
        json,
        pipelines,
        key,
    }
}

/// One pipeline; `k` is its position from the newest (0 = newest).
fn generate_pipeline(
    rng: &mut Rng,
    ctx: &ProjectContext,
    k: usize,
    number: u64,
    created: Millis,
) -> Value {
    let oauth = ctx.vcs != VcsType::CircleCi;
    let actor = rng.pick(ctx.people);

    // What triggered it and on which ref.
    let roll = rng.below(100);
    let trigger_type = match roll {
        0..=85 => "webhook",
        86..=89 => "api",
        90..=93 => "explicit",
        _ => "scheduled_pipeline",
    };
    let on_feature_branch = (55..=79).contains(&roll);
    let (branch, tag) = match roll {
        _ if on_feature_branch => (Some(*rng.pick(BRANCHES)), None),
        80..=85 => (
            None,
            Some(format!(
                "v{}.{}.{}",
                1 + number / 100,
                number / 10 % 10,
                number % 10
            )),
        ),
        _ => (Some(ctx.default_branch), None),
    };
    // Most feature-branch pipelines belong to an open pull request.
    let review = (on_feature_branch && rng.chance(60)).then(|| 10 + rng.below(900));
    let fork_owner = review
        .filter(|_| rng.chance(20))
        .map(|_| rng.pick(ctx.people).login.clone());

    // Only the newest pipelines can still be settling; anything older has long since been created.
    let state = if k < 2 && rng.chance(30) {
        *rng.pick(&["setup-pending", "setup", "pending"])
    } else if rng.chance(4) {
        "errored"
    } else {
        "created"
    };
    let errors = if state == "errored" {
        json!([{"type": "config", "message": rng.pick(CONFIG_ERRORS)}])
    } else {
        json!([])
    };

    let received = created - rng.range(20, 1_500) as Millis;
    let updated = created + rng.range(40, 3_000) as Millis;
    let revision = rng.sha1_hex();
    let subject = *rng.pick(SUBJECTS);
    let body = *rng.pick(BODIES);

    let mut vcs = json!({
        "provider_name": ctx.provider.name(),
        "target_repository_url": ctx.repo_url,
        "origin_repository_url": match &fork_owner {
            Some(owner) => format!("{}/{}/{}", ctx.provider.host(), owner, ctx.repo),
            None => ctx.repo_url.clone(),
        },
        "revision": revision,
        "tag": tag,
    });
    if let Some(branch) = branch {
        // Tag pipelines carry no branch at all: the key is absent, not null.
        vcs["branch"] = json!(branch);
    }
    if trigger_type != "scheduled_pipeline" {
        // Scheduled pipelines are not tied to a commit event, so CircleCI sends no commit object.
        vcs["commit"] = json!({"subject": subject, "body": body});
    }
    match review {
        Some(id) => {
            vcs["review_id"] = json!(id.to_string());
            vcs["review_url"] = json!(ctx.provider.review_url(&ctx.repo_url, id));
        }
        // OAuth projects leave the keys out; GitHub App / GitLab projects send explicit nulls.
        None if !oauth => {
            vcs["review_id"] = Value::Null;
            vcs["review_url"] = Value::Null;
        }
        None => {}
    }

    let git = json!({
        "branch": branch.unwrap_or(""),
        "tag": tag.as_deref().unwrap_or(""),
        "ref": match (&tag, branch) {
            (Some(tag), _) => format!("refs/tags/{tag}"),
            (None, branch) => format!("refs/heads/{}", branch.unwrap_or(ctx.default_branch)),
        },
        "checkout_sha": revision,
        "checkout_url": format!("{}.git", ctx.repo_url),
        "repo_url": ctx.repo_url,
        "repo_name": ctx.repo,
        "default_branch": ctx.default_branch,
        "commit_author_name": actor.name,
        "commit_message": subject,
    });
    let trigger_parameters = if oauth {
        if trigger_type == "webhook" {
            json!({"git": git})
        } else {
            json!({})
        }
    } else {
        let (event_type, source) = match trigger_type {
            "webhook" => (
                "push",
                if ctx.provider == Provider::GitLab {
                    "gitlab"
                } else {
                    "github_app"
                },
            ),
            "scheduled_pipeline" => ("schedule", "schedule"),
            _ => ("api", "api"),
        };
        json!({
            "circleci": {
                "event_time": rfc3339_millis(received),
                "event_type": event_type,
                "trigger_type": source,
                "actor_id": actor.id,
            },
            "git": git,
        })
    };

    json!({
        "id": rng.uuid(),
        "errors": errors,
        "project_slug": ctx.slug,
        "updated_at": rfc3339_millis(updated),
        "number": number,
        "trigger_parameters": trigger_parameters,
        "state": state,
        "created_at": rfc3339_millis(created),
        "trigger": {
            "type": trigger_type,
            "received_at": rfc3339_millis(received),
            "actor": actor.actor_json(),
        },
        "vcs": vcs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::config::{DEFAULT_TOKEN, SimConfig};

    fn default_dataset() -> Dataset {
        let config = SimConfig::default();
        Dataset::generate(config.seed, 0, &config.tenants[0])
    }

    #[test]
    fn counts_cover_paging_edge_cases() {
        let counts: Vec<usize> = (0..6).map(|i| pipeline_count(i, 45)).collect();
        assert_eq!(counts, [45, 40, 20, 21, 1, 0]);
        let data = default_dataset();
        assert_eq!(
            data.projects
                .iter()
                .map(|p| p.pipelines.len())
                .collect::<Vec<_>>(),
            counts
        );
        assert_eq!(pipeline_count(2, 1000), 500);
        assert_eq!(pipeline_count(3, 1000), 501);
        assert!((0..6).all(|i| pipeline_count(i, 0) == 0));
    }

    #[test]
    fn pipelines_are_newest_first() {
        for project in default_dataset().projects {
            for pair in project.pipelines.windows(2) {
                let (newer, older) = (&pair[0], &pair[1]);
                assert!(newer["created_at"].as_str() > older["created_at"].as_str());
                assert!(newer["number"].as_u64() > older["number"].as_u64());
            }
            for pipeline in &project.pipelines {
                assert_eq!(pipeline["project_slug"], project.slug.as_str());
                assert!(
                    pipeline["vcs"].get("tag").is_some(),
                    "tag is always present, possibly null"
                );
            }
        }
    }

    #[test]
    fn slugs_alternate_between_oauth_and_circleci_forms() {
        let data = default_dataset();
        let prefixes: Vec<&str> = data
            .projects
            .iter()
            .map(|p| p.slug.split('/').next().unwrap())
            .collect();
        assert_eq!(
            prefixes,
            ["gh", "circleci", "bb", "circleci", "gh", "circleci"]
        );
        for project in &data.projects {
            assert_eq!(
                data.project(&project.slug).map(|p| &p.slug),
                Some(&project.slug)
            );
        }
        let gh = &data.projects[0].slug;
        assert!(data.project(&gh.replacen("gh/", "github/", 1)).is_some());
        assert!(data.project(&gh.replace('/', "%2F")).is_some());
        assert!(
            data.project(&data.projects[2].slug.replacen("bb/", "bitbucket/", 1))
                .is_some()
        );
    }

    #[test]
    fn tenants_are_distinct() {
        let tenant = |i| TenantConfig {
            token: format!("{DEFAULT_TOKEN}{i}"),
            projects: 6,
            pipelines_per_project: 5,
        };
        let data: Vec<Dataset> = (0..15)
            .map(|i| Dataset::generate(42, i, &tenant(i)))
            .collect();
        let mut logins: Vec<&str> = data
            .iter()
            .map(|d| d.user["login"].as_str().unwrap())
            .collect();
        let mut slugs: Vec<&str> = data
            .iter()
            .flat_map(|d| &d.projects)
            .map(|p| p.slug.as_str())
            .collect();
        let mut ids: Vec<String> = data.iter().flat_map(|d| d.all_pipeline_ids()).collect();
        for list in [&mut logins, &mut slugs] {
            let n = list.len();
            list.sort();
            list.dedup();
            assert_eq!(list.len(), n);
        }
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }
}
