//! Word lists the dataset generator draws names from.
//!
//! Names follow the platforms' rules (GitHub logins and org names: letters, digits and single hyphens;
//! repository names: `[A-Za-z0-9._-]`; git branch names may hold `/`, `+`, `&` and non-ASCII), so a
//! connector that forgets to escape them is caught.

/// GitHub organisations (one per tenant, rotated by seed).
pub const ORGS: &[&str] = &[
    "acme-labs",
    "globex-eng",
    "initech",
    "umbrella-dev",
    "hooli-xyz",
    "stark-industries",
    "wayne-ent",
    "cyberdyne",
    "tyrell-corp",
    "soylent-co",
];

/// Repository names; unique within a tenant, suffixed when a tenant has more projects than names.
pub const REPOS: &[&str] = &[
    "widgets",
    "api-gateway",
    "billing_service",
    "web.frontend",
    "infra-terraform",
    "mobile-app",
    "data_lake",
    "cli",
    "docs.site",
    "ml-pipeline",
    "auth-service",
    "design-system",
];

/// (login, display name) of people; the first pick of a tenant is its `/me` user, the next few its teammates.
pub const PEOPLE: &[(&str, &str)] = &[
    ("jdoe", "Jane Doe"),
    ("rkumar", "Ravi Kumar"),
    ("mgarcia", "María García"),
    ("chen-wei", "Chen Wei"),
    ("oadeyemi", "Olu Adeyemi"),
    ("lnovak", "Lena Novák"),
    ("tnguyen", "Thanh Nguyen"),
    ("sjohansson", "Sven Johansson"),
    ("akowalski", "Anna Kowalski"),
    ("hsato", "Haruto Sato"),
    ("fbrennan", "Fiona Brennan"),
    ("dmwangi", "David Mwangi"),
];

/// Feature branch names, including the characters that need escaping in a query string.
pub const BRANCHES: &[&str] = &[
    "feature/login-page",
    "fix/flaky-integration-test",
    "chore/bump-deps",
    "dependabot/npm_and_yarn/axios-1.7.4",
    "renovate/lodash-4.x",
    "release/2026.04",
    "fix/c++-build",
    "feat/ümlaut-support",
    "docs/readme&contributing",
    "experiment",
];

/// Commit subjects.
pub const SUBJECTS: &[&str] = &[
    "Fix off-by-one in pagination",
    "Add retry with backoff to the uploader",
    "Bump axios from 1.7.2 to 1.7.4",
    "Refactor config loading",
    "Update README",
    "Merge pull request from feature/login-page",
    "Remove dead code",
    "Speed up CI by caching node_modules",
    "Handle empty responses \"gracefully\"",
    "Revert \"Enable parallel test splitting\"",
    "WIP",
    "Ünïcode in commit subjects: ✓",
];

/// Commit bodies; most are empty, as in real histories.
pub const BODIES: &[&str] = &[
    "",
    "",
    "",
    "Co-authored-by: Ravi Kumar <ravi@example.com>",
    "The previous implementation dropped the last page.\n\nCloses #42.",
    "Signed-off-by: Jane Doe <jane@example.com>",
];

/// Messages of pipelines in the `errored` state.
pub const CONFIG_ERRORS: &[&str] = &[
    "Config does not conform to schema: {:workflows {:build {:jobs [{:test {:requires (not (sequential? \"build\"))}}]}}}",
    "Unable to parse YAML\nmapping values are not allowed here\n in 'string', line 12, column 14:",
    "Cannot find a definition for job named deploy",
];
