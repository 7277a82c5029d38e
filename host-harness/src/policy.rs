//! The operator's outbound policy: which hosts a connector may reach, and how
//! long the host waits on them.
//!
//! The allow-list is the operator's, never the guest's: a credential's base
//! URL must name an allowed host or every request to it is refused. Addresses
//! that reach into the machine or its network (loopback, private, link-local
//! such as the cloud metadata service, unspecified, multicast) are refused
//! even when a broader rule would match, unless the operator named that exact
//! host; `localhost` counts as loopback.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// One allowed destination: a host name, an IP literal, or `*.domain` for
/// every subdomain; with an optional port (no port: any port).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedHost {
    host: HostPattern,
    port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum HostPattern {
    Exact(String),
    Ip(IpAddr),
    Subdomains(String),
}

impl AllowedHost {
    /// Parses `HOST[:PORT]`, `*.DOMAIN[:PORT]`, `IPV4[:PORT]` or `[IPV6][:PORT]`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bad = |why: &str| format!("invalid --allow-host {text:?}: {why}");
        if text.is_empty() {
            return Err(bad("empty"));
        }
        if text.contains("://") || text.contains('/') || text.contains('@') {
            return Err(bad("give a host and optional port, not a URL"));
        }
        let (host, port) = split_host_port(text).map_err(|why| bad(&why))?;
        let host = normalize_host(host);
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        let pattern = if let Some(domain) = host.strip_prefix("*.") {
            if domain.is_empty() || domain.contains('*') {
                return Err(bad("a wildcard must look like *.example.com"));
            }
            HostPattern::Subdomains(domain.to_string())
        } else if let Ok(ip) = host.parse::<IpAddr>() {
            HostPattern::Ip(ip)
        } else if host.contains('*') {
            return Err(bad("a wildcard must look like *.example.com"));
        } else if !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(bad("not a host name"));
        } else {
            HostPattern::Exact(host)
        };
        Ok(AllowedHost {
            host: pattern,
            port,
        })
    }

    /// Whether this rule names `host` itself (not through a wildcard).
    fn names_exactly(&self, host: &Host) -> bool {
        match (&self.host, host) {
            (HostPattern::Exact(a), Host::Name(b)) => a == b,
            (HostPattern::Ip(a), Host::Ip(b)) => canonical_ip(*a) == canonical_ip(*b),
            _ => false,
        }
    }

    fn matches(&self, host: &Host, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        match (&self.host, host) {
            (HostPattern::Subdomains(domain), Host::Name(name)) => name
                .strip_suffix(domain.as_str())
                .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1),
            _ => self.names_exactly(host),
        }
    }
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            HostPattern::Exact(h) => write!(f, "{h}")?,
            HostPattern::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
            HostPattern::Ip(ip) => write!(f, "{ip}")?,
            HostPattern::Subdomains(d) => write!(f, "*.{d}")?,
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

/// The hosts a connector may reach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowList {
    rules: Vec<AllowedHost>,
}

impl Default for AllowList {
    /// CircleCI's cloud API, and nothing else.
    fn default() -> Self {
        AllowList {
            rules: vec![AllowedHost::parse("circleci.com").expect("valid default")],
        }
    }
}

impl AllowList {
    /// An allow-list of exactly these rules (empty: nothing is reachable).
    pub fn new(rules: Vec<AllowedHost>) -> Self {
        AllowList { rules }
    }

    /// Parses each `HOST[:PORT]` rule.
    pub fn parse<S: AsRef<str>>(rules: &[S]) -> Result<Self, String> {
        let rules = rules
            .iter()
            .map(|r| AllowedHost::parse(r.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(AllowList { rules })
    }

    pub fn rules(&self) -> &[AllowedHost] {
        &self.rules
    }

    /// Decides whether a request to `authority` (`host[:port]`, as in a URL)
    /// under `scheme` may leave the process.
    pub fn check(&self, scheme: &str, authority: &str) -> Result<(), Denial> {
        let deny = |reason: DenialReason| Denial {
            destination: authority.to_string(),
            reason,
        };
        let default_port = match scheme {
            "https" => 443,
            "http" => 80,
            _ => return Err(deny(DenialReason::Scheme)),
        };
        let (host, port) = split_host_port(authority).map_err(|_| deny(DenialReason::Malformed))?;
        let host = Host::parse(host).ok_or_else(|| deny(DenialReason::Malformed))?;
        let port = port.unwrap_or(default_port);
        let Some(rule) = self.rules.iter().find(|r| r.matches(&host, port)) else {
            return Err(deny(DenialReason::NotAllowed));
        };
        if let Some(class) = host.special_class() {
            // A broad rule (a wildcard) never opens a door into the machine
            // or its network: only a rule naming this very host does.
            if !rule.names_exactly(&host) {
                return Err(deny(DenialReason::SpecialAddress(class)));
            }
        }
        Ok(())
    }
}

/// A parsed request host.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Host {
    Name(String),
    Ip(IpAddr),
}

impl Host {
    fn parse(text: &str) -> Option<Host> {
        let host = normalize_host(text);
        if host.is_empty() {
            return None;
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Some(Host::Ip(ip));
        }
        host.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
            .then_some(Host::Name(host))
    }

    fn special_class(&self) -> Option<AddressClass> {
        match self {
            Host::Ip(ip) => classify(*ip),
            Host::Name(name) if name == "localhost" || name.ends_with(".localhost") => {
                Some(AddressClass::Loopback)
            }
            Host::Name(_) => None,
        }
    }
}

/// Kinds of address that are refused unless named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressClass {
    Loopback,
    Private,
    LinkLocal,
    Unspecified,
    Multicast,
    Reserved,
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressClass::Loopback => "loopback",
            AddressClass::Private => "private",
            AddressClass::LinkLocal => "link-local",
            AddressClass::Unspecified => "unspecified",
            AddressClass::Multicast => "multicast",
            AddressClass::Reserved => "reserved",
        })
    }
}

/// Classifies an address that must not be reached without the operator
/// naming it; `None` for ordinary public addresses.
pub fn classify(ip: IpAddr) -> Option<AddressClass> {
    match canonical_ip(ip) {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressClass> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some(AddressClass::Loopback)
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        // RFC 1918 and the carrier-grade NAT range (RFC 6598).
        Some(AddressClass::Private)
    } else if ip.is_link_local() {
        // 169.254.0.0/16, the cloud metadata service among them.
        Some(AddressClass::LinkLocal)
    } else if ip.is_unspecified() || a == 0 {
        Some(AddressClass::Unspecified)
    } else if ip.is_multicast() || ip.is_broadcast() {
        Some(AddressClass::Multicast)
    } else if a >= 240 || ip.is_documentation() {
        Some(AddressClass::Reserved)
    } else {
        None
    }
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressClass> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some(AddressClass::Loopback)
    } else if ip.is_unspecified() {
        Some(AddressClass::Unspecified)
    } else if first & 0xfe00 == 0xfc00 {
        // Unique local addresses, fc00::/7.
        Some(AddressClass::Private)
    } else if first & 0xffc0 == 0xfe80 {
        Some(AddressClass::LinkLocal)
    } else if ip.is_multicast() {
        Some(AddressClass::Multicast)
    } else {
        None
    }
}

/// Folds IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-compatible forms onto the
/// IPv4 address they carry, so `[::ffff:127.0.0.1]` is loopback too.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Lowercases, strips IPv6 brackets and a trailing root dot.
fn normalize_host(host: &str) -> String {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Splits `host[:port]`, `[v6]` or `[v6]:port`.
fn split_host_port(text: &str) -> Result<(&str, Option<u16>), String> {
    let parse_port = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("invalid port {p:?}"))
    };
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| "unclosed [".to_string())?;
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(parse_port(port)?))),
                None => Err("junk after ]".to_string()),
            },
        };
    }
    match text.rsplit_once(':') {
        // A bare IPv6 address without brackets has several colons.
        Some((host, _)) if host.contains(':') => Ok((text, None)),
        Some((host, port)) => Ok((host, Some(parse_port(port)?))),
        None => Ok((text, None)),
    }
}

/// Why a request was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    /// The `host[:port]` the guest asked for.
    pub destination: String,
    pub reason: DenialReason,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DenialReason {
    NotAllowed,
    SpecialAddress(AddressClass),
    Scheme,
    Malformed,
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dest = &self.destination;
        match &self.reason {
            DenialReason::NotAllowed => {
                write!(
                    f,
                    "{dest} is not on the allow-list (add it with --allow-host)"
                )
            }
            DenialReason::SpecialAddress(class) => write!(
                f,
                "{dest} is a {class} address, refused unless named exactly with --allow-host"
            ),
            DenialReason::Scheme => write!(f, "{dest}: only http and https are allowed"),
            DenialReason::Malformed => write!(f, "{dest:?} is not a valid host"),
        }
    }
}

/// How long the host waits on the upstream. Guests may ask for shorter
/// timeouts, never longer ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub first_byte: Duration,
    pub between_bytes: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(30),
            between_bytes: Duration::from_secs(30),
        }
    }
}

/// Everything the host enforces on a connector's outbound requests.
#[derive(Clone, Debug, Default)]
pub struct OutboundPolicy {
    pub allow: AllowList,
    pub timeouts: Timeouts,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(rules: &[&str]) -> AllowList {
        AllowList::parse(rules).unwrap()
    }

    #[test]
    fn default_allows_only_circleci() {
        let l = AllowList::default();
        assert!(l.check("https", "circleci.com").is_ok());
        assert!(l.check("https", "CircleCI.com.").is_ok());
        assert!(l.check("https", "circleci.com:443").is_ok());
        assert!(l.check("https", "evil.com").is_err());
        assert!(l.check("https", "circleci.com.evil.com").is_err());
        assert!(l.check("https", "api.circleci.com").is_err());
        assert!(l.check("ftp", "circleci.com").is_err());
    }

    #[test]
    fn ports_are_checked_when_given() {
        let l = list(&["127.0.0.1:8080"]);
        assert!(l.check("http", "127.0.0.1:8080").is_ok());
        assert!(l.check("http", "127.0.0.1:8081").is_err());
        assert!(l.check("http", "127.0.0.1").is_err());
    }

    #[test]
    fn special_addresses_need_an_exact_rule() {
        let l = list(&["*.example.com", "ci.example.com"]);
        assert!(l.check("https", "a.example.com").is_ok());
        assert!(l.check("https", "example.com").is_err());
        for dest in [
            "127.0.0.1",
            "10.0.0.1",
            "169.254.169.254",
            "[::1]",
            "[::ffff:127.0.0.1]",
            "localhost",
            "0.0.0.0",
        ] {
            let err = l.check("http", dest).unwrap_err();
            assert_eq!(err.reason, DenialReason::NotAllowed, "{dest}");
        }
        let l = list(&["127.0.0.1", "[::1]:9000", "localhost"]);
        assert!(l.check("http", "127.0.0.1:1234").is_ok());
        assert!(l.check("http", "[::ffff:127.0.0.1]:1234").is_ok());
        assert!(l.check("http", "[::1]:9000").is_ok());
        assert!(l.check("http", "localhost:80").is_ok());
        assert!(l.check("http", "127.0.0.2").is_err());
    }

    #[test]
    fn classifies_addresses() {
        let c = |s: &str| classify(s.parse().unwrap());
        assert_eq!(c("127.8.9.10"), Some(AddressClass::Loopback));
        assert_eq!(c("192.168.1.1"), Some(AddressClass::Private));
        assert_eq!(c("172.16.0.1"), Some(AddressClass::Private));
        assert_eq!(c("100.64.0.1"), Some(AddressClass::Private));
        assert_eq!(c("169.254.169.254"), Some(AddressClass::LinkLocal));
        assert_eq!(c("fe80::1"), Some(AddressClass::LinkLocal));
        assert_eq!(c("fd00::1"), Some(AddressClass::Private));
        assert_eq!(c("::ffff:10.1.2.3"), Some(AddressClass::Private));
        assert_eq!(c("0.0.0.0"), Some(AddressClass::Unspecified));
        assert_eq!(c("::"), Some(AddressClass::Unspecified));
        assert_eq!(c("8.8.8.8"), None);
        assert_eq!(c("2606:4700::1"), None);
    }

    #[test]
    fn rejects_malformed_rules() {
        for bad in [
            "",
            "https://circleci.com",
            "a/b",
            "*",
            "a.*.com",
            "host:0",
            "host:x",
            "[::1",
            "u@h",
        ] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            AllowedHost::parse("[::1]:80").unwrap().to_string(),
            "[::1]:80"
        );
        assert_eq!(
            AllowedHost::parse("*.Example.com").unwrap().to_string(),
            "*.example.com"
        );
    }
}
