//! What every call of a conformance run showed beyond its own check: where
//! a secret value of the credential turned up (`secrets_not_echoed`) and
//! what the component's requests did (`requests_allowed`).

use host_harness::HarnessError;
use host_harness::OutboundLog;
use host_harness::credential::{REDACTED, Redactor};

use super::{Row, plural};

/// How a secret value showed in a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leak {
    /// The host's redaction mark: the component put a secret there and the
    /// host replaced it (the host redacts everything a component returns,
    /// so this is how a component's leak shows).
    Redacted,
    /// The value itself: the host failed to redact it.
    Clear,
}

/// Whether `text` holds a secret: a value `clear` knows, or the host's mark.
pub fn leak_in(text: &str, clear: &Redactor) -> Option<Leak> {
    if clear.finds_in(text) {
        Some(Leak::Clear)
    } else if text.contains(REDACTED) {
        Some(Leak::Redacted)
    } else {
        None
    }
}

/// The notice the host adds to a page it redacted: the host's own words,
/// not the component's, so not a leak in the notices (the records or the
/// state it speaks of are looked at themselves).
const HOST_REDACTION_NOTICE: &str = "the host replaced a secret credential value";

/// Whether a notice is the host's account of its own redaction.
pub fn is_host_redaction_notice(notice: &str) -> bool {
    notice.starts_with(HOST_REDACTION_NOTICE)
}

/// Distinct entries a list of places or denials keeps.
const KEPT: usize = 8;

/// The run's evidence, gathered call after call.
pub struct Evidence {
    /// The credential's and the mangled credential's secret values.
    clear: Redactor,
    /// Where the host had to redact a secret, in order, distinct.
    leaks: Vec<String>,
    /// Where a secret value is in clear.
    in_clear: Vec<String>,
    /// Texts looked at: accounts, errors, records, states, notices.
    looked: u64,
    /// Requests that went to the network.
    sent: u64,
    /// Requests refused, by the policy or a per-call limit.
    refused: u64,
    /// Refusals by the policy: destination and reason, distinct.
    denials: Vec<String>,
    /// The calls that made them.
    denied_during: Vec<String>,
}

impl Evidence {
    pub fn new(clear: Redactor) -> Evidence {
        Evidence {
            clear,
            leaks: Vec::new(),
            in_clear: Vec::new(),
            looked: 0,
            sent: 0,
            refused: 0,
            denials: Vec::new(),
            denied_during: Vec::new(),
        }
    }

    /// Looks for a secret in `text`, which came from `place`.
    pub fn look(&mut self, place: &str, text: &str) {
        self.looked += 1;
        match leak_in(text, &self.clear) {
            Some(Leak::Clear) => push_distinct(&mut self.in_clear, place),
            Some(Leak::Redacted) => push_distinct(&mut self.leaks, place),
            None => {}
        }
    }

    /// What a reader found in records and states it looked at itself.
    pub fn found(&mut self, looked: u64, leaks: &[(String, Leak)]) {
        self.looked += looked;
        for (place, leak) in leaks {
            match leak {
                Leak::Clear => push_distinct(&mut self.in_clear, place),
                Leak::Redacted => push_distinct(&mut self.leaks, place),
            }
        }
    }

    /// How a secret shows in `error`'s message, if it does.
    pub fn leak(&self, error: &HarnessError) -> Option<Leak> {
        leak_in(&error.message(), &self.clear)
    }

    /// Looks for a secret in an error's message.
    pub fn error(&mut self, place: &str, error: &HarnessError) {
        self.look(place, &error.message());
    }

    /// Counts the requests of one call's (or one sync's) instance.
    pub fn requests(&mut self, during: &str, log: &OutboundLog) {
        self.sent += log.sent;
        self.refused += log.denied;
        let denials = log
            .denials
            .iter()
            .chain(log.last_denial.iter().filter(|d| !log.denials.contains(d)));
        for denial in denials {
            push_distinct(&mut self.denials, &denial.to_string());
            push_distinct(&mut self.denied_during, during);
        }
    }

    /// `secrets_not_echoed`.
    pub fn secrets_row(&self) -> Row {
        const ID: &str = "secrets_not_echoed";
        if !self.in_clear.is_empty() {
            return Row::fail(
                ID,
                format!(
                    "a secret value is in clear in {} (the host did not redact it)",
                    self.in_clear.join(", ")
                ),
            );
        }
        if !self.leaks.is_empty() {
            return Row::fail(
                ID,
                format!(
                    "the connector put a secret value of the credential into {} (the host redacted it)",
                    self.leaks.join(", ")
                ),
            );
        }
        Row::pass(
            ID,
            format!(
                "no secret value in {} (accounts, errors, records, states, notices, skipped items)",
                plural(self.looked, "text")
            ),
        )
    }

    /// `requests_allowed`.
    pub fn requests_row(&self) -> Row {
        const ID: &str = "requests_allowed";
        if !self.denials.is_empty() {
            return Row::fail(
                ID,
                format!(
                    "{} refused ({} sent) during {}: {}",
                    plural(self.refused, "request"),
                    self.sent,
                    self.denied_during.join(", "),
                    self.denials.join("; ")
                ),
            );
        }
        let mut detail = format!(
            "{}, every one to a destination on the allow-list",
            plural(self.sent, "request")
        );
        // With no refusal by the policy, any refusal was a limit's.
        if self.refused > 0 {
            detail.push_str(&format!("; {} refused by a per-call limit", self.refused));
        }
        Row::pass(ID, detail)
    }
}

fn push_distinct(list: &mut Vec<String>, item: &str) {
    if list.len() < KEPT && !list.iter().any(|i| i == item) {
        list.push(item.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_shows_redacted_or_in_clear() {
        let clear = Redactor::new(["CCIPAT_secret_value".to_string()]);
        assert_eq!(leak_in("no secret here", &clear), None);
        assert_eq!(
            leak_in("key [REDACTED] rejected", &clear),
            Some(Leak::Redacted)
        );
        assert_eq!(
            leak_in("key ccipat_SECRET_value", &clear),
            Some(Leak::Clear)
        );
        let mut evidence = Evidence::new(clear);
        evidence.look("validate's error", "key [REDACTED] rejected");
        evidence.look("validate's error", "again [REDACTED]");
        evidence.look("the account", "fine");
        let row = evidence.secrets_row();
        assert_eq!(row.outcome, super::super::Outcome::Fail);
        assert!(
            row.detail.contains("into validate's error (the host"),
            "{}",
            row.detail
        );
        assert!(is_host_redaction_notice(
            "the host replaced a secret credential value with [REDACTED] in 1 record(s)"
        ));
    }
}
