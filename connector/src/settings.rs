//! The `settings` JSON object of a fetch request.
//!
//! Every key is optional. Without `project_slugs` the projects are
//! discovered (see [`crate::walk`]). Unknown keys are errors so a typo
//! never silently reads the wrong thing.

use crate::error::{ConnectorError, quote};
use crate::slug::{ACCEPTED_FORMS, ProjectSlug};
use serde_json::Value;

pub const VALID_KEYS: &str =
    "project_slugs, org_slug, start_date, lookback_days, artifact_retention_days";

/// Default of `lookback_days`: two weeks. Reruns ("rerun workflow from
/// failed", automatic reruns) come within hours or days of the run they
/// repeat, and an approval left waiting over a weekend, a holiday or a
/// sprint is approved within two weeks far more often than later; each day
/// of window costs every incremental sync one request per pipeline of that
/// day, to list its workflows again.
pub const DEFAULT_LOOKBACK_DAYS: u32 = 14;
/// The settings [`Settings::fingerprint`] covers, as messages name them.
pub const FINGERPRINTED: &str = "project_slugs, org_slug or start_date";
/// Default of `artifact_retention_days`: CircleCI keeps artifacts at most
/// 30 days.
pub const DEFAULT_ARTIFACT_RETENTION_DAYS: u32 = 30;
/// The largest `lookback_days` and `artifact_retention_days` accepted.
const MAX_DAYS: u64 = 3650;

/// The settings as a JSON Schema 2020-12 document (the contract's
/// `settings-schema`): what [`Settings::parse`] accepts, with the same
/// bounds and defaults (tested below). Plain types only (no `anyOf`), so
/// that platforms which render forms from it (Airbyte, Meltano) can.
const JSON_SCHEMA: &str = r#"{
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "CircleCI settings",
    "type": "object",
    "additionalProperties": false,
    "properties": {
        "project_slugs": {
            "type": "array",
            "title": "Projects",
            "description": "Projects to read, as gh/<org>/<repo>, bb/<org>/<repo>, github/<org>/<repo>, bitbucket/<org>/<repo> or circleci/<org-id>/<project-id> (a / may be written %2F). Leave empty to read every project that has pipelines in the organisations below.",
            "items": { "type": "string", "minLength": 1 },
            "uniqueItems": true
        },
        "org_slug": {
            "type": "string",
            "title": "Organisation",
            "description": "An organisation slug such as gh/my-org: the organisation whose projects are discovered (when no projects are listed) and whose contexts are read. Leave empty for every organisation the API key's user belongs to.",
            "minLength": 1,
            "pattern": "^\\S+$"
        },
        "start_date": {
            "type": "string",
            "title": "Start date",
            "description": "Pipelines created before this RFC 3339 date-time are not read, e.g. 2024-01-31T00:00:00Z. Leave empty to read all the history CircleCI keeps.",
            "format": "date-time",
            "examples": ["2024-01-31T00:00:00Z"]
        },
        "lookback_days": {
            "type": "integer",
            "title": "Lookback window (days)",
            "description": "Incremental syncs read again the workflows of the pipelines created this many days before the newest one seen, so that reruns and late approvals arrive; work left unfinished for longer is taken as final.",
            "minimum": 1,
            "maximum": 3650,
            "default": 14
        },
        "artifact_retention_days": {
            "type": "integer",
            "title": "Artifact retention (days)",
            "description": "Artifacts of jobs that stopped more than this many days before the newest data seen are not asked for (CircleCI has deleted them); 0 asks for every job's.",
            "minimum": 0,
            "maximum": 3650,
            "default": 30
        }
    }
}"#;

/// [`JSON_SCHEMA`], minified.
pub fn json_schema() -> String {
    crate::json::minify(JSON_SCHEMA)
}

/// Parsed settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Projects to read, in the order given (duplicates rejected). Empty
    /// (absent, `null` or `[]`): the projects are discovered.
    pub project_slugs: Vec<ProjectSlug>,
    /// An organization slug such as `gh/acme`: the organisation whose
    /// projects are discovered and whose contexts are read. Absent: every
    /// organisation of `/me/collaborations`.
    pub org_slug: Option<String>,
    /// Earliest date of interest, as Unix seconds: pipelines created before
    /// it are not read (nor scanned by project discovery).
    pub start_date: Option<i64>,
    /// Incremental syncs list again the workflows of every pipeline created
    /// in this many days before the newest pipeline seen (reruns add
    /// workflows to old pipelines; holds get approved late); unfinished work
    /// older than that is treated as final. Default
    /// [`DEFAULT_LOOKBACK_DAYS`].
    pub lookback_days: u32,
    /// Artifacts of jobs that stopped more than this many days before the
    /// newest data seen are not asked for (CircleCI has deleted them); 0 asks
    /// for every job's. Default [`DEFAULT_ARTIFACT_RETENTION_DAYS`].
    pub artifact_retention_days: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            project_slugs: Vec::new(),
            org_slug: None,
            start_date: None,
            lookback_days: DEFAULT_LOOKBACK_DAYS,
            artifact_retention_days: DEFAULT_ARTIFACT_RETENTION_DAYS,
        }
    }
}

fn invalid(msg: impl Into<String>) -> ConnectorError {
    ConnectorError::InvalidSettings(msg.into())
}

impl Settings {
    /// Parses the settings document; an empty string counts as `{}`.
    pub fn parse(text: &str) -> Result<Settings, ConnectorError> {
        if text.trim().is_empty() {
            return Ok(Settings::default());
        }
        let value: Value = serde_json::from_str(text)
            .map_err(|e| invalid(format!("settings are not valid JSON ({e})")))?;
        let Value::Object(map) = value else {
            return Err(invalid(
                "settings must be a JSON object such as {\"project_slugs\": [\"gh/my-org/my-repo\"]}",
            ));
        };
        let mut settings = Settings::default();
        for (key, value) in &map {
            // `null` means "not set", as forms often send it.
            if value.is_null()
                && matches!(
                    key.as_str(),
                    "project_slugs"
                        | "org_slug"
                        | "start_date"
                        | "lookback_days"
                        | "artifact_retention_days"
                )
            {
                continue;
            }
            match key.as_str() {
                "project_slugs" => settings.project_slugs = parse_slugs(value)?,
                "org_slug" => {
                    let s = value.as_str().map(str::trim).unwrap_or_default();
                    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
                        return Err(invalid(
                            "org_slug must be a non-empty string such as \"gh/my-org\"",
                        ));
                    }
                    settings.org_slug = Some(s.to_string());
                }
                "start_date" => {
                    let t = value
                        .as_str()
                        .and_then(|s| crate::time::parse_rfc3339(s.trim()));
                    settings.start_date = Some(t.ok_or_else(|| {
                        invalid("start_date must be an RFC 3339 date-time such as \"2024-01-31T00:00:00Z\"")
                    })?);
                }
                "lookback_days" => {
                    settings.lookback_days = days(value, "lookback_days", 1)?;
                }
                "artifact_retention_days" => {
                    settings.artifact_retention_days = days(value, "artifact_retention_days", 0)?;
                }
                other => {
                    return Err(invalid(format!(
                        "unknown setting `{}`; the valid settings are {VALID_KEYS}",
                        quote(other, 64)
                    )));
                }
            }
        }
        Ok(settings)
    }

    /// A short fingerprint of everything in the settings that shapes a
    /// sync (the project list, `org_slug`, `start_date`), stored in states so
    /// that a state is never applied under other settings. FNV-1a 64 of a
    /// canonical text ([`connector_sdk::state::fingerprint`]).
    /// Writing a slug another way (`github/…`, `%2F`) keeps the fingerprint.
    pub fn fingerprint(&self) -> String {
        let mut text = String::from("slugs");
        for slug in &self.project_slugs {
            text.push('\n');
            text.push_str(&slug.canonical());
        }
        text.push_str("\norg\n");
        text.push_str(self.org_slug.as_deref().unwrap_or(""));
        text.push_str("\nstart\n");
        if let Some(t) = self.start_date {
            text.push_str(&t.to_string());
        }
        connector_sdk::state::fingerprint(&text)
    }

    /// `lookback_days` as a duration.
    pub fn lookback(&self) -> crate::time::Ts {
        i64::from(self.lookback_days) * crate::time::DAY
    }

    /// `artifact_retention_days` as a duration, `None` when it is 0 (off).
    pub fn artifact_retention(&self) -> Option<crate::time::Ts> {
        (self.artifact_retention_days > 0)
            .then(|| i64::from(self.artifact_retention_days) * crate::time::DAY)
    }

    /// `start_date` as a [`crate::time::Ts`].
    pub fn start_ts(&self) -> Option<crate::time::Ts> {
        self.start_date
            .map(|s| s.saturating_mul(crate::time::NANOS))
    }
}

/// A whole number of days from `min` to [`MAX_DAYS`].
fn days(value: &Value, key: &str, min: u64) -> Result<u32, ConnectorError> {
    value
        .as_u64()
        .filter(|d| (min..=MAX_DAYS).contains(d))
        .and_then(|d| u32::try_from(d).ok())
        .ok_or_else(|| {
            invalid(format!(
                "{key} must be a whole number of days from {min} to {MAX_DAYS}"
            ))
        })
}

fn parse_slugs(value: &Value) -> Result<Vec<ProjectSlug>, ConnectorError> {
    let Value::Array(items) = value else {
        return Err(invalid(
            "project_slugs must be a list of strings such as [\"gh/my-org/my-repo\"]",
        ));
    };
    let mut slugs: Vec<ProjectSlug> = Vec::with_capacity(items.len());
    // Each slug's canonical form, made once: settings are parsed on every
    // call, and comparing by formatting both sides made this quadratic in
    // allocations (a measurable share of a sync with many projects).
    let mut canonical: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Some(text) = item.as_str() else {
            return Err(invalid(format!("project_slugs[{i}] must be a string")));
        };
        let slug = ProjectSlug::parse(text).map_err(|why| {
            invalid(format!(
                "project_slugs[{i}] `{}` is not a project slug: {why}; accepted forms: {ACCEPTED_FORMS}",
                quote(text, 100)
            ))
        })?;
        let key = slug.canonical();
        if let Some(j) = canonical.iter().position(|k| *k == key) {
            return Err(invalid(format!(
                "project_slugs[{i}] `{slug}` is the same project as project_slugs[{j}]; list each project once"
            )));
        }
        canonical.push(key);
        slugs.push(slug);
    }
    Ok(slugs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match Settings::parse(text) {
            Err(ConnectorError::InvalidSettings(m)) => m,
            other => panic!("expected invalid-settings for {text}, got {other:?}"),
        }
    }

    /// The schema and the parser agree: the same keys, defaults and bounds,
    /// and what the schema gives as an example parses.
    #[test]
    fn the_schema_describes_what_parse_accepts() {
        let schema: Value = serde_json::from_str(&json_schema()).unwrap();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(schema["additionalProperties"], false);
        let props = schema["properties"].as_object().unwrap();
        let keys: Vec<&str> = props.keys().map(String::as_str).collect();
        let mut valid: Vec<&str> = VALID_KEYS.split(", ").collect();
        valid.sort_unstable();
        assert_eq!(keys, valid);
        assert_eq!(props["lookback_days"]["default"], DEFAULT_LOOKBACK_DAYS);
        assert_eq!(
            props["artifact_retention_days"]["default"],
            DEFAULT_ARTIFACT_RETENTION_DAYS
        );
        for (key, min) in [("lookback_days", 1), ("artifact_retention_days", 0)] {
            assert_eq!(props[key]["minimum"], min);
            assert_eq!(props[key]["maximum"], MAX_DAYS);
            let at = |d: u64| Settings::parse(&format!(r#"{{"{key}":{d}}}"#));
            assert!(at(min).is_ok() && at(MAX_DAYS).is_ok(), "{key}");
            assert!(at(MAX_DAYS + 1).is_err(), "{key}");
            if min > 0 {
                assert!(at(min - 1).is_err(), "{key}");
            }
        }
        let example = props["start_date"]["examples"][0].as_str().unwrap();
        assert!(Settings::parse(&format!(r#"{{"start_date":"{example}"}}"#)).is_ok());
        let described = props["project_slugs"]["description"].as_str().unwrap();
        for form in ["gh/<org>/<repo>", "circleci/<org-id>/<project-id>", "%2F"] {
            assert!(
                ACCEPTED_FORMS.contains(form) && described.contains(form),
                "{form}"
            );
        }
        // No combinators: form renderers cannot draw them.
        for word in ["anyOf", "oneOf", "allOf", "\"not\""] {
            assert!(!json_schema().contains(word), "{word}");
        }
    }

    #[test]
    fn parses_all_keys() {
        let s = Settings::parse(
            r#"{"project_slugs":["gh/a/b","circleci%2Fo%2Fp"],"org_slug":"gh/a","start_date":"2024-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(s.project_slugs.len(), 2);
        assert_eq!(s.project_slugs[1].to_string(), "circleci/o/p");
        assert_eq!(s.org_slug.as_deref(), Some("gh/a"));
        assert_eq!(s.start_date, Some(1_704_067_200));
        assert_eq!(Settings::parse("").unwrap(), Settings::default());
        assert_eq!(Settings::parse("{}").unwrap(), Settings::default());
        assert_eq!(
            Settings::parse(r#"{"org_slug":null,"project_slugs":null}"#).unwrap(),
            Settings::default()
        );
    }

    #[test]
    fn rejects_bad_settings() {
        assert!(err("{").starts_with("settings are not valid JSON"));
        assert!(err("[]").starts_with("settings must be a JSON object"));
        assert_eq!(
            err(r#"{"projects":["gh/a/b"]}"#),
            "unknown setting `projects`; the valid settings are project_slugs, org_slug, start_date, lookback_days, artifact_retention_days"
        );
        assert!(err(r#"{"project_slugs":"gh/a/b"}"#).starts_with("project_slugs must be a list"));
        assert_eq!(
            err(r#"{"project_slugs":["gh/a/b",3]}"#),
            "project_slugs[1] must be a string"
        );
        let m = err(r#"{"project_slugs":["gl/a/b"]}"#);
        assert!(
            m.starts_with("project_slugs[0] `gl/a/b` is not a project slug: unknown VCS"),
            "{m}"
        );
        assert!(m.contains("circleci/<org-id>/<project-id>"), "{m}");
        assert!(err(r#"{"project_slugs":["gh/a"]}"#).contains("exactly three parts"));
        assert_eq!(
            err(r#"{"project_slugs":["gh/a/b","github/a/b"]}"#),
            "project_slugs[1] `github/a/b` is the same project as project_slugs[0]; list each project once"
        );
        assert!(err(r#"{"org_slug":5}"#).starts_with("org_slug must be"));
        assert!(err(r#"{"org_slug":""}"#).starts_with("org_slug must be"));
        assert!(
            err(r#"{"start_date":"2024-01-01"}"#).starts_with("start_date must be an RFC 3339")
        );
        assert!(err(r#"{"start_date":1700000000}"#).starts_with("start_date must be an RFC 3339"));
        for bad in ["0", "-1", "1.5", "\"7\"", "3651"] {
            assert!(
                err(&format!(r#"{{"lookback_days":{bad}}}"#)).starts_with("lookback_days must be"),
                "{bad}"
            );
        }
        assert!(
            err(r#"{"artifact_retention_days":-1}"#).starts_with("artifact_retention_days must be")
        );
    }

    #[test]
    fn the_windows_have_defaults_and_stay_out_of_the_fingerprint() {
        let s = Settings::parse("{}").unwrap();
        assert_eq!((s.lookback_days, s.artifact_retention_days), (14, 30));
        let s = Settings::parse(r#"{"lookback_days":3,"artifact_retention_days":0}"#).unwrap();
        assert_eq!(s.lookback(), 3 * crate::time::DAY);
        assert_eq!(s.artifact_retention(), None);
        // Changing a window changes what is read again, not what a state means.
        assert_eq!(s.fingerprint(), Settings::default().fingerprint());
    }

    #[test]
    fn fingerprints_what_shapes_a_sync() {
        let fp = |t: &str| Settings::parse(t).unwrap().fingerprint();
        let a = fp(r#"{"project_slugs":["gh/a/b","gh/a/c"]}"#);
        assert_eq!(a, fp(r#"{"project_slugs":["github/a/b","gh%2Fa%2Fc"]}"#));
        assert_ne!(a, fp(r#"{"project_slugs":["gh/a/c","gh/a/b"]}"#));
        assert_ne!(
            a,
            fp(r#"{"project_slugs":["gh/a/b","gh/a/c"],"org_slug":"gh/a"}"#)
        );
        assert_ne!(
            a,
            fp(r#"{"project_slugs":["gh/a/b","gh/a/c"],"start_date":"2024-01-01T00:00:00Z"}"#)
        );
        assert_eq!(fp("{}"), fp(r#"{"project_slugs":[]}"#));
        assert_ne!(fp("{}"), fp(r#"{"org_slug":"gh/a"}"#));
        assert_eq!(a.len(), 16);
    }
}
