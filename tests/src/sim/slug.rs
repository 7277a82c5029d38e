//! Project slugs: parsing every form CircleCI accepts and printing the canonical one.
//!
//! CircleCI names a project `<vcs>/<org>/<repo>`: `gh/…` and `bb/…` (with the long aliases `github/…` and
//! `bitbucket/…`) for OAuth GitHub and Bitbucket orgs, and `circleci/<org-id>/<project-id>` for GitHub App,
//! GitLab and standalone orgs. Clients may send the `/` separators URL-escaped (`gh%2Facme%2Fwidgets`).

use std::fmt;

use super::codec::percent_decode;

/// The first slug segment, with aliases folded together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VcsType {
    GitHub,
    Bitbucket,
    CircleCi,
}

impl VcsType {
    /// Accepts the short and the long spellings.
    pub fn parse(segment: &str) -> Option<Self> {
        match segment {
            "gh" | "github" => Some(VcsType::GitHub),
            "bb" | "bitbucket" => Some(VcsType::Bitbucket),
            "circleci" => Some(VcsType::CircleCi),
            _ => None,
        }
    }

    /// The short spelling, the one CircleCI prints in `slug` and `project_slug`.
    pub fn canonical(self) -> &'static str {
        match self {
            VcsType::GitHub => "gh",
            VcsType::Bitbucket => "bb",
            VcsType::CircleCi => "circleci",
        }
    }
}

/// A parsed project slug; two slugs naming the same project compare equal whatever form they came in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProjectSlug {
    pub vcs: VcsType,
    /// The org name (gh/bb) or org id (circleci).
    pub org: String,
    /// The repository name (gh/bb) or project id (circleci).
    pub repo: String,
}

impl ProjectSlug {
    /// From three already-decoded segments.
    pub fn from_segments(vcs: &str, org: &str, repo: &str) -> Option<Self> {
        if org.is_empty() || repo.is_empty() {
            return None;
        }
        Some(ProjectSlug {
            vcs: VcsType::parse(vcs)?,
            org: org.to_owned(),
            repo: repo.to_owned(),
        })
    }

    /// From slug text as a user might write it: `gh/acme/widgets`, `github/acme/widgets`,
    /// `gh%2Facme%2Fwidgets`, `circleci/<org-id>/<project-id>`.
    pub fn parse(text: &str) -> Option<Self> {
        let decoded = percent_decode(text)?;
        let mut parts = decoded.split('/');
        let (vcs, org, repo) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        Self::from_segments(vcs, org, repo)
    }
}

impl fmt::Display for ProjectSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.vcs.canonical(), self.org, self.repo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_escapes_name_the_same_project() {
        let canonical = ProjectSlug::parse("gh/acme/widgets").unwrap();
        for form in [
            "github/acme/widgets",
            "gh%2Facme%2Fwidgets",
            "github%2facme/widgets",
        ] {
            assert_eq!(
                ProjectSlug::parse(form).as_ref(),
                Some(&canonical),
                "{form}"
            );
        }
        assert_eq!(
            ProjectSlug::parse("bitbucket/a/b").unwrap().to_string(),
            "bb/a/b"
        );
        assert_eq!(canonical.to_string(), "gh/acme/widgets");
    }

    #[test]
    fn rejects_malformed_slugs() {
        for bad in [
            "gh/acme",
            "gh/acme/widgets/x",
            "gitlab/a/b",
            "gh//b",
            "gh/a/",
            "gh%2",
        ] {
            assert_eq!(ProjectSlug::parse(bad), None, "{bad}");
        }
    }
}
