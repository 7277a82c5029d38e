//! Which token a request presents, the ways CircleCI accepts one.
//!
//! `Circle-Token: <t>` is the documented way; `Authorization: Bearer <t>` and legacy Basic auth (token as
//! the user name) are accepted too. The `?circle-token=` query parameter is deprecated: CircleCI answers
//! 401 to it even when the token is good, and so do we, so a connector still using it is caught.

use http::HeaderMap;
use http::header::AUTHORIZATION;

use super::codec::base64_decode;

/// What the request offers as credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    /// A token from a header; it still has to match a tenant.
    Token(String),
    /// The deprecated `circle-token` query parameter.
    QueryParameter,
    /// Nothing usable.
    Missing,
}

/// Extracts the presented token. `query` is the decoded query string.
pub fn presented(headers: &HeaderMap, query: &[(String, String)]) -> Presented {
    if query.iter().any(|(name, _)| name == "circle-token") {
        return Presented::QueryParameter;
    }
    if let Some(token) = headers.get("circle-token").and_then(|v| v.to_str().ok()) {
        return non_empty(token.trim());
    }
    let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return Presented::Missing;
    };
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("bearer") {
        non_empty(rest.trim())
    } else if scheme.eq_ignore_ascii_case("basic") {
        // `base64(token:)`: the token is the user name, the password is ignored.
        let decoded = base64_decode(rest.trim()).and_then(|bytes| String::from_utf8(bytes).ok());
        match decoded {
            Some(pair) => non_empty(pair.split_once(':').map_or(pair.as_str(), |(user, _)| user)),
            None => Presented::Missing,
        }
    } else {
        Presented::Missing
    }
}

fn non_empty(token: &str) -> Presented {
    if token.is_empty() {
        Presented::Missing
    } else {
        Presented::Token(token.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn accepts_every_header_form() {
        let t = || Presented::Token("tok".into());
        assert_eq!(presented(&headers(&[("circle-token", "tok")]), &[]), t());
        assert_eq!(
            presented(&headers(&[("authorization", "Bearer tok")]), &[]),
            t()
        );
        assert_eq!(
            presented(&headers(&[("authorization", "basic dG9rOg==")]), &[]),
            t()
        );
        assert_eq!(presented(&headers(&[]), &[]), Presented::Missing);
        assert_eq!(
            presented(&headers(&[("circle-token", " ")]), &[]),
            Presented::Missing
        );
        assert_eq!(
            presented(&headers(&[("authorization", "Token tok")]), &[]),
            Presented::Missing
        );
    }

    #[test]
    fn query_parameter_is_refused_even_with_a_header() {
        let query = [("circle-token".to_owned(), "tok".to_owned())];
        assert_eq!(
            presented(&headers(&[("circle-token", "tok")]), &query),
            Presented::QueryParameter
        );
    }
}
