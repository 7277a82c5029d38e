//! CircleCI project slugs: parsing the forms users write and building the
//! escaped URL path.

use crate::url::percent_encode;

/// The accepted forms, quoted in error messages.
pub const ACCEPTED_FORMS: &str = "gh/<org>/<repo>, bb/<org>/<repo>, github/<org>/<repo>, \
bitbucket/<org>/<repo> or circleci/<org-id>/<project-id> (a `/` may be written %2F)";

/// A project slug: `<vcs>/<org>/<repo>`, segments unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectSlug {
    vcs: String,
    org: String,
    repo: String,
}

impl ProjectSlug {
    /// Parses one slug; the error is the reason it is not one.
    pub fn parse(input: &str) -> Result<ProjectSlug, &'static str> {
        let s = input.trim().replace("%2F", "/").replace("%2f", "/");
        let parts: Vec<&str> = s.split('/').collect();
        let [vcs, org, repo] = parts[..] else {
            return Err("a slug has exactly three parts separated by `/`");
        };
        let vcs = vcs.to_ascii_lowercase();
        if !matches!(
            vcs.as_str(),
            "gh" | "bb" | "github" | "bitbucket" | "circleci"
        ) {
            return Err(
                "unknown VCS (the first part must be gh, bb, github, bitbucket or circleci)",
            );
        }
        for seg in [org, repo] {
            if seg.is_empty() {
                return Err("a part is empty");
            }
            // Percent-encoding leaves dots alone, so `..` would climb out of
            // the project's path.
            if seg == "." || seg == ".." {
                return Err("`.` and `..` are not valid parts");
            }
            if seg.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err("a part contains whitespace or control characters");
            }
        }
        Ok(ProjectSlug {
            vcs,
            org: org.to_string(),
            repo: repo.to_string(),
        })
    }

    /// The URL path of the slug: each part percent-encoded, joined by `/`.
    pub fn path(&self) -> String {
        format!(
            "{}/{}/{}",
            percent_encode(&self.vcs),
            percent_encode(&self.org),
            percent_encode(&self.repo)
        )
    }

    /// The same project written one way: `github` → `gh`, `bitbucket` → `bb`.
    /// Used to spot duplicates and to fingerprint the list.
    pub fn canonical(&self) -> String {
        let vcs = match self.vcs.as_str() {
            "github" => "gh",
            "bitbucket" => "bb",
            v => v,
        };
        format!("{vcs}/{}/{}", self.org, self.repo)
    }
}

impl std::fmt::Display for ProjectSlug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.vcs, self.org, self.repo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_all_forms() {
        for (input, shown, path, canonical) in [
            ("gh/acme/api", "gh/acme/api", "gh/acme/api", "gh/acme/api"),
            ("bb/acme/api", "bb/acme/api", "bb/acme/api", "bb/acme/api"),
            (
                "github/acme/api",
                "github/acme/api",
                "github/acme/api",
                "gh/acme/api",
            ),
            (
                "bitbucket/acme/api",
                "bitbucket/acme/api",
                "bitbucket/acme/api",
                "bb/acme/api",
            ),
            (
                "GH/Acme/Api.js",
                "gh/Acme/Api.js",
                "gh/Acme/Api.js",
                "gh/Acme/Api.js",
            ),
            (
                "circleci/8e3c1f3a-0b1d-4d3c-9f43-7f0c1b2a3d4e/5b7a0c2d-1e2f-4a3b-8c9d-0e1f2a3b4c5d",
                "circleci/8e3c1f3a-0b1d-4d3c-9f43-7f0c1b2a3d4e/5b7a0c2d-1e2f-4a3b-8c9d-0e1f2a3b4c5d",
                "circleci/8e3c1f3a-0b1d-4d3c-9f43-7f0c1b2a3d4e/5b7a0c2d-1e2f-4a3b-8c9d-0e1f2a3b4c5d",
                "circleci/8e3c1f3a-0b1d-4d3c-9f43-7f0c1b2a3d4e/5b7a0c2d-1e2f-4a3b-8c9d-0e1f2a3b4c5d",
            ),
            (
                "gh%2Facme%2Fapi",
                "gh/acme/api",
                "gh/acme/api",
                "gh/acme/api",
            ),
            ("gh%2facme/api", "gh/acme/api", "gh/acme/api", "gh/acme/api"),
            (" gh/acme/api ", "gh/acme/api", "gh/acme/api", "gh/acme/api"),
            (
                "gh/acme/re:po?#",
                "gh/acme/re:po?#",
                "gh/acme/re%3Apo%3F%23",
                "gh/acme/re:po?#",
            ),
            (
                "gh/ac%me/a+b",
                "gh/ac%me/a+b",
                "gh/ac%25me/a%2Bb",
                "gh/ac%me/a+b",
            ),
        ] {
            let s = ProjectSlug::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(s.to_string(), shown);
            assert_eq!(s.path(), path);
            assert_eq!(s.canonical(), canonical);
        }
    }

    #[test]
    fn rejects_other_forms() {
        for bad in [
            "",
            "gh",
            "gh/acme",
            "gh/acme/api/extra",
            "gh//api",
            "gh/acme/",
            "/acme/api",
            "gl/acme/api",
            "gitlab/acme/api",
            "gh/../api",
            "gh/acme/..",
            "gh/./x",
            "gh/ac me/api",
            "gh/acme/a\tb",
        ] {
            assert!(ProjectSlug::parse(bad).is_err(), "{bad:?}");
        }
    }
}
