//! A small absolute-URL parser and percent-encoder.
//!
//! Hand-written instead of the `url` crate to keep the component small; it
//! handles exactly what a connector needs: `http`/`https`, a host name,
//! IPv4 or bracketed IPv6 literal, an optional port, a path and a query.

/// The URL schemes a connector speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `http://`: only for destinations the host allows in clear.
    Http,
    /// `https://`.
    Https,
}

/// A parsed absolute URL. `host` is lower-cased and keeps the brackets of an
/// IPv6 literal (`[::1]`); `path` is either empty or starts with `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// The host, lower-cased.
    pub host: String,
    /// The port, when the URL names one.
    pub port: Option<u16>,
    /// The path, as written (escapes kept).
    pub path: String,
    /// What follows `?`, as written.
    pub query: Option<String>,
}

/// Why a string is not an acceptable URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlError {
    /// Not of the form `scheme://…`.
    NotAbsolute,
    /// A scheme other than http or https.
    UnsupportedScheme,
    /// `user:pass@` before the host.
    UserInfo,
    /// Nothing between `://` and the path.
    NoHost,
    /// Characters a host name cannot have, or a malformed IPv6 literal.
    BadHost,
    /// A port that is not a number in 1..=65535.
    BadPort,
    /// A `#fragment`.
    Fragment,
    /// Whitespace, control or non-ASCII characters.
    InvalidChar,
}

impl Url {
    /// Parses an absolute http(s) URL. Fragments are rejected rather than
    /// dropped: nothing a connector builds or accepts should carry one.
    pub fn parse(input: &str) -> Result<Url, UrlError> {
        if !input.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(UrlError::InvalidChar);
        }
        let (scheme, rest) = input.split_once("://").ok_or(UrlError::NotAbsolute)?;
        let scheme = if scheme.eq_ignore_ascii_case("http") {
            Scheme::Http
        } else if scheme.eq_ignore_ascii_case("https") {
            Scheme::Https
        } else if !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        {
            return Err(UrlError::UnsupportedScheme);
        } else {
            return Err(UrlError::NotAbsolute);
        };
        if rest.contains('#') {
            return Err(UrlError::Fragment);
        }
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if authority.contains('@') {
            return Err(UrlError::UserInfo);
        }
        if authority.is_empty() {
            return Err(UrlError::NoHost);
        }
        let (host, port) = split_host_port(authority)?;
        let (path, query) = match tail.split_once('?') {
            Some((p, q)) => (p, Some(q.to_string())),
            None => (tail, None),
        };
        Ok(Url {
            scheme,
            host,
            port,
            path: path.to_string(),
            query,
        })
    }

    /// `host[:port]`, as sent in the request's authority.
    pub fn authority(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{}", self.host, p),
            None => self.host.clone(),
        }
    }

    /// Path (at least `/`) plus `?query` when there is one.
    pub fn path_with_query(&self) -> String {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        match &self.query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_string(),
        }
    }

    /// `scheme://authority`.
    pub fn origin(&self) -> String {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        format!("{scheme}://{}", self.authority())
    }
}

fn split_host_port(authority: &str) -> Result<(String, Option<u16>), UrlError> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or(UrlError::BadHost)?;
        let ok = addr.contains(':')
            && addr
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if !ok {
            return Err(UrlError::BadHost);
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(UrlError::BadHost)?),
        };
        (&authority[..addr.len() + 2], port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(UrlError::NoHost);
    }
    if !host.starts_with('[') {
        // One trailing dot (a fully qualified name) is fine; empty labels are not.
        let name = host.strip_suffix('.').unwrap_or(host);
        let ok = !name.is_empty()
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if !ok {
            return Err(UrlError::BadHost);
        }
    }
    let port = match port {
        None => None,
        Some(p) => {
            let valid = !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
            match p.parse::<u16>() {
                Ok(n) if valid && n != 0 => Some(n),
                _ => return Err(UrlError::BadPort),
            }
        }
    };
    Ok((host.to_ascii_lowercase(), port))
}

/// Percent-encodes everything except RFC 3986 unreserved characters
/// (`A-Z a-z 0-9 - . _ ~`), so the result is safe as one path segment or
/// one query value.
pub fn percent_encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_ports_and_paths() {
        let u = Url::parse("https://Example.com").unwrap();
        assert_eq!(
            (u.scheme, u.host.as_str(), u.port, u.path.as_str()),
            (Scheme::Https, "example.com", None, "")
        );
        assert_eq!(u.path_with_query(), "/");
        let u = Url::parse("http://ci.example.com:8080/acme/api/v2/me?a=b%20c").unwrap();
        assert_eq!(u.authority(), "ci.example.com:8080");
        assert_eq!(u.path, "/acme/api/v2/me");
        assert_eq!(u.query.as_deref(), Some("a=b%20c"));
        assert_eq!(u.path_with_query(), "/acme/api/v2/me?a=b%20c");
        assert_eq!(u.origin(), "http://ci.example.com:8080");
        let u = Url::parse("HTTP://127.0.0.1:1/").unwrap();
        assert_eq!(
            (u.scheme, u.authority().as_str(), u.path.as_str()),
            (Scheme::Http, "127.0.0.1:1", "/")
        );
        assert_eq!(
            Url::parse("https://example.com./x").unwrap().host,
            "example.com."
        );
    }

    #[test]
    fn parses_ipv6_literals() {
        let u = Url::parse("http://[::1]:8080/x").unwrap();
        assert_eq!(u.host, "[::1]");
        assert_eq!(u.port, Some(8080));
        assert_eq!(u.authority(), "[::1]:8080");
        let u = Url::parse("https://[2001:DB8::7]").unwrap();
        assert_eq!(u.authority(), "[2001:db8::7]");
        assert_eq!(Url::parse("http://[::1"), Err(UrlError::BadHost));
        assert_eq!(Url::parse("http://[zz::1]/"), Err(UrlError::BadHost));
        assert_eq!(Url::parse("http://[::1]x/"), Err(UrlError::BadHost));
        assert_eq!(Url::parse("http://[]/"), Err(UrlError::BadHost));
    }

    #[test]
    fn rejects_bad_urls() {
        use UrlError::*;
        for (input, err) in [
            ("example.com", NotAbsolute),
            ("://example.com", NotAbsolute),
            ("ftp://example.com", UnsupportedScheme),
            ("https://user:pass@example.com", UserInfo),
            ("https://token@example.com/", UserInfo),
            ("https://", NoHost),
            ("https:///path", NoHost),
            ("https://:443/", NoHost),
            ("https://ci example.com", InvalidChar),
            ("https://ci.example.com\n", InvalidChar),
            ("https://cï.example.com", InvalidChar),
            ("https://ci.example.com#frag", Fragment),
            ("https://ci..example.com", BadHost),
            ("https://.example.com", BadHost),
            ("https://ci.exa!mple.com", BadHost),
            ("https://a:b:c/", BadPort),
            ("https://ci.example.com:/", BadPort),
            ("https://ci.example.com:0/", BadPort),
            ("https://ci.example.com:65536/", BadPort),
            ("https://ci.example.com:+80/", BadPort),
            ("https://ci.example.com:http/", BadPort),
        ] {
            assert_eq!(Url::parse(input), Err(err), "{input}");
        }
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved() {
        assert_eq!(percent_encode("aZ09-._~"), "aZ09-._~");
        assert_eq!(
            percent_encode("a/b c?d&e=f%g+h#"),
            "a%2Fb%20c%3Fd%26e%3Df%25g%2Bh%23"
        );
        assert_eq!(percent_encode("é"), "%C3%A9");
    }
}
