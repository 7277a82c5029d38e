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

/// Workflow names; each project uses a few of them, the first in every pipeline.
pub const WORKFLOWS: &[&str] = &[
    "build-and-test",
    "deploy",
    "nightly",
    "lint",
    "release",
    "security-scan",
    "docs",
    "e2e",
];

/// Build job names; distinct within a workflow.
pub const BUILD_JOBS: &[&str] = &[
    "build",
    "lint",
    "unit-tests",
    "integration-tests",
    "e2e-tests",
    "security-scan",
    "package",
    "docker-build",
    "deploy-staging",
    "smoke-test",
    "deploy-production",
    "publish-docs",
    "test-python-3.12",
    "test-node-22",
];

/// Approval job names (type `approval`).
pub const APPROVAL_JOBS: &[&str] = &["hold", "approve-deploy", "manual-approval"];

/// (resource class, executor type, credits per minute).
pub const RESOURCE_CLASSES: &[(&str, &str, u64)] = &[
    ("medium", "docker", 10),
    ("medium", "docker", 10),
    ("small", "docker", 5),
    ("large", "docker", 20),
    ("xlarge", "docker", 40),
    ("medium", "machine", 10),
    ("large", "machine", 20),
    ("macos.m1.medium.gen1", "macos", 150),
];

/// Context names, each with the environment variable names it plausibly holds.
pub const CONTEXTS: &[(&str, &[&str])] = &[
    (
        "aws-production",
        &[
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_DEFAULT_REGION",
            "AWS_ROLE_ARN",
        ],
    ),
    (
        "aws-staging",
        &[
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_DEFAULT_REGION",
        ],
    ),
    (
        "docker-hub",
        &["DOCKER_LOGIN", "DOCKER_PASSWORD", "DOCKER_REGISTRY"],
    ),
    (
        "slack-notifications",
        &[
            "SLACK_ACCESS_TOKEN",
            "SLACK_DEFAULT_CHANNEL",
            "SLACK_WEBHOOK",
        ],
    ),
    ("npm-publish", &["NPM_TOKEN", "NPM_REGISTRY_URL"]),
    (
        "gcp-deploy",
        &[
            "GCLOUD_SERVICE_KEY",
            "GOOGLE_PROJECT_ID",
            "GOOGLE_COMPUTE_ZONE",
        ],
    ),
    ("sonarcloud", &["SONAR_TOKEN", "SONAR_HOST_URL"]),
    (
        "github-release",
        &["GITHUB_TOKEN", "GPG_KEY", "GPG_PASSPHRASE"],
    ),
    ("datadog", &["DD_API_KEY", "DD_APP_KEY", "DD_SITE"]),
    (
        "vault",
        &[
            "VAULT_ADDR",
            "VAULT_ROLE_ID",
            "VAULT_SECRET_ID",
            "VAULT_NAMESPACE",
        ],
    ),
];

/// Extra variable names for contexts asked to hold more than their plausible set.
pub const EXTRA_VARIABLES: &[&str] = &[
    "API_BASE_URL",
    "SENTRY_DSN",
    "CODECOV_TOKEN",
    "DATABASE_URL",
    "REDIS_URL",
    "FEATURE_FLAGS_KEY",
    "LICENSE_KEY",
    "PAGERDUTY_ROUTING_KEY",
];

/// Modules test names are made from.
pub const TEST_MODULES: &[&str] = &[
    "auth", "billing", "api", "cli", "core", "storage", "search", "sync", "ui", "utils",
];

/// What a test checks.
pub const TEST_SUBJECTS: &[&str] = &[
    "returns 404 for unknown ids",
    "retries on 429 with backoff",
    "parses RFC 3339 timestamps",
    "handles an empty page",
    "rejects an expired token",
    "renders the login form",
    "keeps the cursor monotonic",
    "escapes slashes in slugs",
    "streams large responses",
    "rounds credits up",
];

/// Failure messages of failed tests.
pub const TEST_FAILURES: &[&str] = &[
    "AssertionError: expected 200 to equal 404",
    "TimeoutError: test exceeded 5000 ms",
    "expected: \"2026-05-01T12:00:00Z\"\n     got: \"2026-05-01T12:00:00.000Z\"",
    "NullPointerException at Parser.java:88",
    "assert response.status_code == 200\nE  assert 500 == 200",
];

/// Artifact paths (relative to the job's working directory).
pub const ARTIFACTS: &[&str] = &[
    "coverage/index.html",
    "coverage/lcov.info",
    "test-results/junit.xml",
    "dist/app.tar.gz",
    "screenshots/login page.png",
    "logs/build.log",
    "reports/security/trivy.json",
    "bin/cli-linux-amd64",
];
