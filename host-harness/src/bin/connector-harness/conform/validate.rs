//! `validate_accepts` and `validate_rejects_mangled`: the credential given
//! works, and the same credential with its secret values mangled is
//! refused with a typed error that holds no secret.

use host_harness::bindings::ConnectorError;
use host_harness::credential::Credential;
use host_harness::{HarnessError, error::printable};

use super::Row;
use super::evidence::{Evidence, Leak};
use super::schemas::shown;
use crate::Host;
use crate::exit::CliError;

/// `credential` with the values of `secret_keys` mangled: the second half
/// of each value's letters and digits moved on by one (`a`→`b`, `z`→`a`,
/// `9`→`0`). Length, character classes and any prefix stay, so a connector
/// that checks a key's form still sends it, and the upstream is what
/// refuses it.
pub fn mangle(credential: &Credential, secret_keys: &[String]) -> Credential {
    let pairs = credential
        .0
        .iter()
        .map(|(key, value)| {
            if !secret_keys.contains(key) {
                return (key.clone(), value.clone());
            }
            let half = value.chars().count() / 2;
            let mut mangled: String = value
                .chars()
                .enumerate()
                .map(|(i, c)| if i < half { c } else { next(c) })
                .collect();
            if mangled == *value {
                // Nothing to move on: a value of symbols only.
                mangled.push('0');
            }
            (key.clone(), mangled)
        })
        .collect();
    Credential(pairs)
}

fn next(c: char) -> char {
    match c {
        'z' => 'a',
        'Z' => 'A',
        '9' => '0',
        c if c.is_ascii_alphanumeric() => char::from(c as u8 + 1),
        c => c,
    }
}

/// The account's text as shown: cut and printable.
fn account_text(text: &str) -> String {
    printable(&shown(text)).into_owned()
}

/// `validate_accepts`.
pub async fn accepts(
    host: &Host,
    credential: &Credential,
    evidence: &mut Evidence,
) -> Result<Row, CliError> {
    const ID: &str = "validate_accepts";
    let mut tenant = host.tenant(credential.clone()).await?;
    let result = tenant.validate().await;
    evidence.requests("validate", &tenant.outbound_log());
    Ok(match result {
        Ok(account) => {
            for text in [&account.id, &account.name, &account.details] {
                evidence.look("the account validate returned", text);
            }
            let mut faults = Vec::new();
            if account.id.trim().is_empty() {
                faults.push("the account validate returned has no id".to_string());
            }
            if serde_json::from_str::<serde_json::Value>(&account.details).is_err() {
                faults.push("the account's details are not a JSON document".to_string());
            }
            Row::from_faults(
                ID,
                &faults,
                format!(
                    "the credential is {}'s (account id {})",
                    account_text(&account.name),
                    account_text(&account.id)
                ),
            )
        }
        Err(e) => {
            evidence.error("validate's error", &e);
            Row::fail(ID, format!("validate failed: {e}"))
        }
    })
}

/// `validate_rejects_mangled`: the credential with `secret_keys` mangled
/// must fail `unauthorized` (the upstream refused it) or
/// `invalid-credential` (the connector saw it is malformed), and the
/// message must hold neither the mangled value nor the real one.
pub async fn rejects_mangled(
    host: &Host,
    mangled: &Credential,
    secret_keys: &[String],
    evidence: &mut Evidence,
) -> Result<Row, CliError> {
    const ID: &str = "validate_rejects_mangled";
    if secret_keys.is_empty() {
        return Ok(Row::skip(
            ID,
            "the credential has no secret value to mangle",
        ));
    }
    let keys = secret_keys
        .iter()
        .map(|k| shown(k))
        .collect::<Vec<_>>()
        .join(", ");
    let mut tenant = host.tenant(mangled.clone()).await?;
    let result = tenant.validate().await;
    evidence.requests("validate with a mangled credential", &tenant.outbound_log());
    Ok(match result {
        Ok(account) => {
            for text in [&account.id, &account.name, &account.details] {
                evidence.look("the account of a mangled credential", text);
            }
            Row::fail(
                ID,
                format!("validate accepted the credential with {keys} mangled"),
            )
        }
        Err(e) => {
            evidence.error("validate's error for a mangled credential", &e);
            let typed = matches!(
                e,
                HarnessError::Connector(
                    ConnectorError::Unauthorized(_) | ConnectorError::InvalidCredential(_)
                )
            );
            match (typed, evidence.leak(&e)) {
                (_, Some(Leak::Clear)) => Row::fail(
                    ID,
                    format!("{keys} mangled: the error holds a secret value in clear"),
                ),
                (_, Some(Leak::Redacted)) => Row::fail(
                    ID,
                    format!(
                        "{keys} mangled: the error holds a secret value (the host redacted it): {e}"
                    ),
                ),
                (false, None) => Row::fail(
                    ID,
                    format!("{keys} mangled: {e} (expected unauthorized or invalid-credential)"),
                ),
                (true, None) => Row::pass(
                    ID,
                    format!(
                        "{keys} mangled: {}, with no secret in the message",
                        e.kind()
                    ),
                ),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mangling_keeps_the_form_and_changes_the_value() {
        let credential = Credential::from_pairs([
            ("api_key", "CCIPAT_abz9XYZ"),
            ("base_url", "http://127.0.0.1:1"),
            ("pin", "!!!!"),
        ]);
        let keys = ["api_key".to_string(), "pin".to_string()];
        let mangled = mangle(&credential, &keys);
        assert_eq!(mangled.0[0].1, "CCIPAT_bca0YZA");
        assert_eq!(mangled.0[1].1, "http://127.0.0.1:1");
        assert_eq!(mangled.0[2].1, "!!!!0");
    }
}
