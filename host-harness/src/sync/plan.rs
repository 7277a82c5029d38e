//! Which streams a run syncs and how they are grouped: the catalog's names
//! (or `all`) parents first, streams with the same root in one walk, and
//! each stream's primary key.

use crate::bindings::StreamSpec;
use crate::error::HarnessError;

/// The walks of `streams` (planned by [`plan`]): streams with the same root
/// in the catalog's parent chains together, in the order of `streams`; the
/// walks in the order of their first stream.
pub fn walks(catalog: &[StreamSpec], streams: &[String]) -> Vec<Vec<String>> {
    let root = |name: &str| {
        let mut current = name.to_string();
        for _ in 0..=catalog.len() {
            match catalog
                .iter()
                .find(|s| s.name == current)
                .and_then(|s| s.parent.clone())
            {
                Some(parent) => current = parent,
                None => break,
            }
        }
        current
    };
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for stream in streams {
        let r = root(stream);
        match groups.iter_mut().find(|(k, _)| *k == r) {
            Some((_, group)) => group.push(stream.clone()),
            None => groups.push((r, vec![stream.clone()])),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// The streams to sync, parents before children: `all` (every stream of the
/// catalog) or a list of names, each checked against the catalog.
pub fn plan(catalog: &[StreamSpec], requested: &[String]) -> Result<Vec<String>, HarnessError> {
    let known: Vec<&str> = catalog.iter().map(|s| s.name.as_str()).collect();
    let wanted: Vec<&str> = if requested.iter().any(|r| r == "all") {
        known.clone()
    } else {
        for name in requested {
            if !known.contains(&name.as_str()) {
                return Err(HarnessError::UnknownStream(format!(
                    "unknown stream {name:?}; the streams are: all, {}",
                    known.join(", ")
                )));
            }
        }
        requested.iter().map(String::as_str).collect()
    };
    // Depth in the parent chain orders parents first; the catalog's order
    // breaks ties, so the plan is stable.
    let depth = |name: &str| {
        let mut depth = 0;
        let mut current = name;
        while let Some(parent) = catalog
            .iter()
            .find(|s| s.name == current)
            .and_then(|s| s.parent.as_deref())
        {
            depth += 1;
            current = parent;
            if depth > catalog.len() {
                break; // a cycle in a hostile catalog; the order no longer matters
            }
        }
        depth
    };
    let mut plan: Vec<(usize, usize, &str)> = Vec::new();
    for name in wanted {
        if !plan.iter().any(|(_, _, n)| *n == name) {
            let position = known.iter().position(|k| *k == name).unwrap_or(usize::MAX);
            plan.push((depth(name), position, name));
        }
    }
    plan.sort();
    Ok(plan.into_iter().map(|(_, _, n)| n.to_string()).collect())
}

/// The primary key the catalog gives `stream`; empty (no dedupe) when the
/// catalog does not list it (the guest will say what it makes of the name).
pub fn primary_key_of(catalog: &[StreamSpec], stream: &str) -> Vec<String> {
    catalog
        .iter()
        .find(|s| s.name == stream)
        .map(|s| s.primary_key.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, parent: Option<&str>) -> StreamSpec {
        StreamSpec {
            name: name.into(),
            description: String::new(),
            json_schema: "{}".into(),
            primary_key: vec!["id".into()],
            cursor_field: None,
            parent: parent.map(Into::into),
            sync_modes: vec![],
        }
    }

    #[test]
    fn plans_parents_first() {
        let catalog = [
            spec("jobs", Some("workflows")),
            spec("me", None),
            spec("workflows", Some("pipelines")),
            spec("pipelines", None),
        ];
        let all = plan(&catalog, &["all".into()]).unwrap();
        assert_eq!(all, ["me", "pipelines", "workflows", "jobs"]);
        let some = plan(
            &catalog,
            &["jobs".into(), "pipelines".into(), "jobs".into()],
        )
        .unwrap();
        assert_eq!(some, ["pipelines", "jobs"]);
        assert!(matches!(
            plan(&catalog, &["nope".into()]),
            Err(HarnessError::UnknownStream(_))
        ));
    }
}
