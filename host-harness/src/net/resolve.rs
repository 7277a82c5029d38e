//! Turning a host name into the addresses the sender may connect to.
//!
//! The sender resolves a name exactly once per request, checks every address
//! it got against the policy, and connects only to those addresses: nothing
//! else resolves the name again, so an answer that changes between the check
//! and the connect (DNS rebinding) cannot slip past the check.
//!
//! A [`Resolver`] asks the system resolver (`getaddrinfo` through
//! [`tokio::net::lookup_host`]) by default. Operators and tests can pin
//! `HOST:PORT` pairs to fixed addresses, like curl's `--resolve`; pinned
//! addresses are checked like any other, so pinning a name to 127.0.0.1
//! does not by itself make loopback reachable.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};

/// Where a name's addresses come from.
#[derive(Clone, Debug, Default)]
pub struct Resolver {
    /// `(host, port)` pinned to addresses, tried before anything else.
    pinned: HashMap<(String, u16), Vec<IpAddr>>,
    /// Whether names that are not pinned go to the system resolver.
    fallback: Fallback,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Fallback {
    #[default]
    System,
    Nothing,
}

impl Resolver {
    /// The system resolver, with nothing pinned (the default).
    pub fn system() -> Self {
        Resolver::default()
    }

    /// Only pinned names resolve; any other name fails like an unknown name
    /// in DNS. For tests, and for hosts that must never touch DNS.
    pub fn pinned_only() -> Self {
        Resolver {
            pinned: HashMap::new(),
            fallback: Fallback::Nothing,
        }
    }

    /// Pins `host` on `port` to `addrs` (tried in this order), replacing
    /// any earlier pin of the same pair.
    pub fn pin(mut self, host: &str, port: u16, addrs: impl IntoIterator<Item = IpAddr>) -> Self {
        self.pinned
            .insert((normalize(host), port), addrs.into_iter().collect());
        self
    }

    /// Adds a curl-style `HOST:PORT:ADDR[,ADDR…]` pin (IPv6 addresses may
    /// be written in brackets), as given to `--resolve`.
    pub fn add_rule(&mut self, rule: &str) -> Result<(), String> {
        let (host, port, addrs) = parse_rule(rule)?;
        self.pinned.insert((host, port), addrs);
        Ok(())
    }

    /// The addresses of `host` on `port`, in the order to try them, without
    /// duplicates. An IP literal resolves to itself; an answer with no
    /// address is an error ([`io::ErrorKind::NotFound`]).
    pub async fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        let host = normalize(host);
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let found: Vec<SocketAddr> = if let Some(addrs) = self.pinned.get(&(host.clone(), port)) {
            addrs.iter().map(|ip| SocketAddr::new(*ip, port)).collect()
        } else {
            match self.fallback {
                Fallback::System => tokio::net::lookup_host((host.as_str(), port))
                    .await?
                    .collect(),
                Fallback::Nothing => Vec::new(),
            }
        };
        let mut addrs = Vec::with_capacity(found.len());
        for addr in found {
            if !addrs.contains(&addr) {
                addrs.push(addr);
            }
        }
        if addrs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{host} has no address"),
            ));
        }
        Ok(addrs)
    }
}

/// Lowercases and drops a trailing root dot, as the allow-list does.
fn normalize(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

fn parse_rule(rule: &str) -> Result<(String, u16, Vec<IpAddr>), String> {
    let bad =
        |why: &str| format!("invalid --resolve {rule:?}: {why} (expected HOST:PORT:ADDR[,ADDR…])");
    // HOST and PORT hold no colon; everything after the second is addresses,
    // which may be bare IPv6.
    let mut parts = rule.trim().splitn(3, ':');
    let (Some(host), Some(port), Some(addrs)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("missing a part"));
    };
    let host = normalize(host);
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
    {
        return Err(bad("not a host name"));
    }
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| bad("invalid port"))?;
    let addrs = addrs
        .split(',')
        .map(|a| {
            let a = a.trim();
            let a = a
                .strip_prefix('[')
                .and_then(|a| a.strip_suffix(']'))
                .unwrap_or(a);
            a.parse::<IpAddr>()
                .map_err(|_| bad(&format!("{a:?} is not an IP address")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((host, port, addrs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_curl_style_rules() {
        let (h, p, a) = parse_rule("API.Example.test.:8443:127.0.0.1,[::1],fd00::2").unwrap();
        assert_eq!((h.as_str(), p), ("api.example.test", 8443));
        assert_eq!(a, vec![ip("127.0.0.1"), ip("::1"), ip("fd00::2")]);
        for bad in [
            "",
            "host",
            "host:443",
            "host:0:1.2.3.4",
            "host:x:1.2.3.4",
            ":443:1.2.3.4",
            "host:443:",
            "host:443:nope",
            "ho/st:443:1.2.3.4",
        ] {
            let err = parse_rule(bad).unwrap_err();
            assert!(err.starts_with("invalid --resolve"), "{bad}: {err}");
        }
    }

    #[tokio::test]
    async fn pinned_names_resolve_in_order_and_others_fail() {
        let mut r =
            Resolver::pinned_only().pin("a.test", 80, [ip("10.0.0.1"), ip("10.0.0.1"), ip("::1")]);
        r.add_rule("b.test:443:192.0.2.7").unwrap();
        let got = r.resolve("A.test.", 80).await.unwrap();
        assert_eq!(
            got,
            vec!["10.0.0.1:80".parse().unwrap(), "[::1]:80".parse().unwrap()],
            "in order, without the duplicate"
        );
        assert_eq!(
            r.resolve("b.test", 443).await.unwrap(),
            vec!["192.0.2.7:443".parse().unwrap()]
        );
        let err = r.resolve("b.test", 80).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "a pin is for one port");
        assert!(r.resolve("c.test", 80).await.is_err());
        assert_eq!(
            r.resolve("127.0.0.2", 81).await.unwrap(),
            vec!["127.0.0.2:81".parse().unwrap()],
            "an IP literal is its own address"
        );
    }

    #[tokio::test]
    async fn the_system_resolver_answers_for_localhost() {
        let addrs = Resolver::system().resolve("localhost", 8080).await.unwrap();
        assert!(!addrs.is_empty());
        assert!(
            addrs
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 8080),
            "{addrs:?}"
        );
    }
}
