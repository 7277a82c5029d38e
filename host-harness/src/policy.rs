//! The operator's outbound policy: which hosts a connector may reach, which
//! special networks it may reach through them, how long the host waits, and
//! how long it keeps a connection open for the next request.
//!
//! The allow-list is the operator's, never the guest's: a credential's base
//! URL must name an allowed host or every request to it is refused.
//!
//! A request is checked twice. [`AllowList::check`] judges the host *name*
//! before anything touches the network; then the sender resolves the name
//! once and [`OutboundPolicy::check_address`] judges every address it got,
//! before connecting to any. Addresses that reach into the machine or its
//! network (loopback, private, link-local such as the cloud metadata
//! service, unspecified, multicast, reserved; see [`classify`]) are refused
//! unless the operator allowed that very address:
//!
//! - an allow-list rule that is the IP literal itself (`--allow-host
//!   127.0.0.1:8080`);
//! - `localhost` (or `NAME.localhost`) named exactly, which allows loopback
//!   addresses for that name only;
//! - an allowed network in CIDR form (`--allow-network 10.20.0.0/16`).
//!
//! A host *name* on the allow-list, even one named exactly, never allows a
//! special address by itself: that is what stops a name that is allowed
//! from being re-pointed (DNS rebinding) at 127.0.0.1 or 169.254.169.254.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

pub use crate::net::Resolver;
use crate::net::address::canonical_ip;
pub use crate::net::address::{AddressClass, IpNetwork, classify};

/// One allowed destination: a scheme, a host (a name, an IP literal, or
/// `*.domain` for every subdomain) and a port.
///
/// Written `[SCHEME://]HOST[:PORT]`: the scheme is `https`, `http` or `*`
/// (either), and without one a rule admits https only, so the credential
/// never travels in clear unless the operator wrote `http://` (or `*://`).
/// The port is a number or `*` (any); without one, the scheme's own port
/// (443 for https, 80 for http), as in a URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: SchemeRule,
    host: HostPattern,
    port: PortRule,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SchemeRule {
    Https,
    Http,
    Any,
}

impl SchemeRule {
    fn admits(self, https: bool) -> bool {
        match self {
            SchemeRule::Https => https,
            SchemeRule::Http => !https,
            SchemeRule::Any => true,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PortRule {
    /// The scheme's own port: 443 for https, 80 for http.
    SchemeDefault,
    Exact(u16),
    Any,
}

impl PortRule {
    fn admits(self, port: u16, https: bool) -> bool {
        match self {
            PortRule::SchemeDefault => port == default_port(https),
            PortRule::Exact(p) => p == port,
            PortRule::Any => true,
        }
    }
}

/// The port a URL of that scheme means when it names none.
fn default_port(https: bool) -> u16 {
    if https { 443 } else { 80 }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum HostPattern {
    Exact(String),
    Ip(IpAddr),
    Subdomains(String),
}

impl AllowedHost {
    /// Parses `[SCHEME://]HOST[:PORT]`, where HOST is a name, `*.DOMAIN`,
    /// `IPV4` or `[IPV6]`, SCHEME is `https` (the default), `http` or `*`,
    /// and PORT a number or `*`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bad = |why: &str| format!("invalid --allow-host {text:?}: {why}");
        if text.is_empty() {
            return Err(bad("empty"));
        }
        let (scheme, rest) = match text.split_once("://") {
            None => (SchemeRule::Https, text),
            Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
                "https" => (SchemeRule::Https, rest),
                "http" => (SchemeRule::Http, rest),
                "*" => (SchemeRule::Any, rest),
                _ => return Err(bad("the scheme must be https, http or *")),
            },
        };
        if rest.contains('/') || rest.contains('@') {
            return Err(bad("give [SCHEME://]HOST[:PORT], without a path or user"));
        }
        let (host, port) = match rest.strip_suffix(":*") {
            Some(host) => (host, PortRule::Any),
            None => {
                let (host, port) = split_host_port(rest).map_err(|why| bad(&why))?;
                (host, port.map_or(PortRule::SchemeDefault, PortRule::Exact))
            }
        };
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
            scheme,
            host: pattern,
            port,
        })
    }

    /// Whether this rule is the IP address `ip` (in any of its forms) and
    /// admits `port` under the destination's scheme.
    fn is_address(&self, ip: IpAddr, port: u16, https: bool) -> bool {
        self.scheme.admits(https)
            && self.port.admits(port, https)
            && matches!(self.host, HostPattern::Ip(rule) if canonical_ip(rule) == canonical_ip(ip))
    }

    /// Whether this rule names `host` itself (not through a wildcard).
    fn names_exactly(&self, host: &Host) -> bool {
        match (&self.host, host) {
            (HostPattern::Exact(a), Host::Name(b)) => a == b,
            (HostPattern::Ip(a), Host::Ip(b)) => canonical_ip(*a) == canonical_ip(*b),
            _ => false,
        }
    }

    /// Whether the rule's host pattern admits `host`, whatever the scheme
    /// and port.
    fn matches_host(&self, host: &Host) -> bool {
        match (&self.host, host) {
            (HostPattern::Subdomains(domain), Host::Name(name)) => name
                .strip_suffix(domain.as_str())
                .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1),
            _ => self.names_exactly(host),
        }
    }

    fn matches(&self, host: &Host, port: u16, https: bool) -> bool {
        self.scheme.admits(https) && self.port.admits(port, https) && self.matches_host(host)
    }
}

impl fmt::Display for AllowedHost {
    /// The rule in full: `https://circleci.com:443`, `*://*.example.com:*`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scheme {
            SchemeRule::Https => write!(f, "https://")?,
            SchemeRule::Http => write!(f, "http://")?,
            SchemeRule::Any => write!(f, "*://")?,
        }
        match &self.host {
            HostPattern::Exact(h) => write!(f, "{h}")?,
            HostPattern::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
            HostPattern::Ip(ip) => write!(f, "{ip}")?,
            HostPattern::Subdomains(d) => write!(f, "*.{d}")?,
        }
        match self.port {
            PortRule::SchemeDefault => Ok(()),
            PortRule::Exact(port) => write!(f, ":{port}"),
            PortRule::Any => write!(f, ":*"),
        }
    }
}

/// The hosts a connector may reach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowList {
    rules: Vec<AllowedHost>,
}

/// The default allow-list's one rule: CircleCI's cloud API over https on
/// its standard port.
pub const DEFAULT_ALLOWED_HOST: &str = "https://circleci.com:443";

impl Default for AllowList {
    /// CircleCI's cloud API over https on port 443 ([`DEFAULT_ALLOWED_HOST`]),
    /// and nothing else: plain HTTP needs a rule of its own.
    fn default() -> Self {
        AllowList {
            rules: vec![AllowedHost::parse(DEFAULT_ALLOWED_HOST).expect("valid default")],
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

    /// The list's rules, in order.
    pub fn rules(&self) -> &[AllowedHost] {
        &self.rules
    }

    /// Decides, on the name alone, whether a request to `authority`
    /// (`host[:port]`, as in a URL) under `scheme` may go on to be resolved;
    /// what it resolves to is judged by [`OutboundPolicy::check_address`].
    pub fn check(&self, scheme: &str, authority: &str) -> Result<Destination, Denial> {
        let deny = |reason: DenialReason| Denial {
            destination: authority.to_string(),
            reason,
        };
        let https = match scheme {
            "https" => true,
            "http" => false,
            _ => return Err(deny(DenialReason::Scheme)),
        };
        let default_port = default_port(https);
        let (host, port) = split_host_port(authority).map_err(|_| deny(DenialReason::Malformed))?;
        let host = Host::parse(host).ok_or_else(|| deny(DenialReason::Malformed))?;
        let port = port.unwrap_or(default_port);
        let mut matching = self
            .rules
            .iter()
            .filter(|r| r.matches(&host, port, https))
            .peekable();
        if matching.peek().is_none() {
            // Say so when only the scheme is wrong: plain HTTP to a host
            // allowed over https is the likely mistake (and the risky one).
            let https_only = !https
                && self
                    .rules
                    .iter()
                    .any(|r| r.scheme == SchemeRule::Https && r.matches_host(&host));
            return Err(deny(if https_only {
                DenialReason::PlainHttp
            } else {
                DenialReason::NotAllowed
            }));
        }
        if let Some(class) = host.special_class() {
            // A broad rule (a wildcard) never opens a door into the machine
            // or its network: only a rule naming this very host does.
            if !matching.any(|rule| rule.names_exactly(&host)) {
                return Err(deny(DenialReason::SpecialAddress(class)));
            }
        }
        Ok(Destination {
            authority: authority.to_string(),
            name: match &host {
                Host::Name(name) => name.clone(),
                Host::Ip(ip) => ip.to_string(),
            },
            https,
            // A name that is itself loopback (`localhost`) got here only
            // through a rule naming it exactly (checked just above).
            loopback_name: matches!(host, Host::Name(_))
                && host.special_class() == Some(AddressClass::Loopback),
            host,
            port,
        })
    }

    /// Whether a rule is the IP literal `ip` and admits `port` under the
    /// scheme.
    fn names_address(&self, ip: IpAddr, port: u16, https: bool) -> bool {
        self.rules.iter().any(|r| r.is_address(ip, port, https))
    }
}

/// A request whose host name the allow-list let through: where the sender
/// resolves and connects, and what the name check found out for the
/// address check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    /// `host[:port]` as the guest wrote it, for messages.
    authority: String,
    /// The host, normalized.
    name: String,
    host: Host,
    port: u16,
    https: bool,
    /// `localhost` or `*.localhost`, named exactly by a rule.
    loopback_name: bool,
}

impl Destination {
    /// The host to resolve and, for https, to verify and send as SNI:
    /// lowercase, without IPv6 brackets or a trailing dot.
    pub fn host(&self) -> &str {
        &self.name
    }

    /// The address, when the host is an IP literal (nothing to resolve).
    pub fn ip(&self) -> Option<IpAddr> {
        match self.host {
            Host::Ip(ip) => Some(ip),
            Host::Name(_) => None,
        }
    }

    /// The port, the scheme's default when the URL gave none.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the request goes over TLS.
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// `host[:port]` as the guest wrote it.
    pub fn authority(&self) -> &str {
        &self.authority
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
    /// Why it was refused.
    pub reason: DenialReason,
}

/// Why a request was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DenialReason {
    /// No rule matches the host.
    NotAllowed,
    /// The host is a special address (or `localhost`) matched only by a
    /// wildcard.
    SpecialAddress(AddressClass),
    /// The host name resolved to a special address the operator did not
    /// allow; the whole request is refused before any connection.
    ResolvesToSpecial {
        /// The special address.
        address: IpAddr,
        /// What kind of address it is.
        class: AddressClass,
    },
    /// Neither http nor https.
    Scheme,
    /// Plain HTTP to a host the allow-list admits over https only.
    PlainHttp,
    /// The authority is not a host.
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
                "{dest} is {} {class} address, refused unless named exactly with --allow-host",
                class.article()
            ),
            DenialReason::ResolvesToSpecial { address, class } => write!(
                f,
                "{dest} resolves to {address}, {} {class} address, refused unless allowed \
                 with --allow-network or named with --allow-host",
                class.article()
            ),
            DenialReason::Scheme => write!(f, "{dest}: only http and https are allowed"),
            DenialReason::PlainHttp => write!(
                f,
                "{dest} is allowed over https only; plain HTTP would send the credential in \
                 clear (allow it with --allow-host http://HOST[:PORT])"
            ),
            DenialReason::Malformed => write!(f, "{dest:?} is not a valid host"),
        }
    }
}

/// How long the host waits on the upstream. Guests may ask for shorter
/// timeouts, never longer ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// To open a connection (resolving included).
    pub connect: Duration,
    /// From sending a request to the first byte of its answer.
    pub first_byte: Duration,
    /// Between two chunks of a response body.
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

/// How long the host keeps a connection open between requests of one
/// connector instance (see `pool`). A kept connection is only
/// ever used again for the same scheme, host and port, by the same instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeepAlive {
    /// How long an idle connection stays open; `Duration::ZERO` turns reuse
    /// off (every request opens its own connection). Default 30 s.
    pub idle_timeout: Duration,
    /// Idle connections kept per destination; more are closed, oldest
    /// first. Default 8.
    pub max_idle_per_host: usize,
}

/// Default for [`KeepAlive::idle_timeout`].
pub const DEFAULT_KEEP_ALIVE_IDLE: Duration = Duration::from_secs(30);

impl Default for KeepAlive {
    fn default() -> Self {
        KeepAlive {
            idle_timeout: DEFAULT_KEEP_ALIVE_IDLE,
            max_idle_per_host: 8,
        }
    }
}

impl KeepAlive {
    /// Every request on its own connection, closed after its response.
    pub const OFF: KeepAlive = KeepAlive {
        idle_timeout: Duration::ZERO,
        max_idle_per_host: 0,
    };

    /// Whether connections are kept at all.
    pub fn enabled(&self) -> bool {
        !self.idle_timeout.is_zero() && self.max_idle_per_host > 0
    }
}

/// Everything the host enforces on a connector's outbound requests.
#[derive(Clone, Debug, Default)]
pub struct OutboundPolicy {
    /// The hosts a connector may reach.
    pub allow: AllowList,
    /// Networks whose special addresses (private, loopback, …) allowed
    /// host names may resolve to; empty by default.
    pub networks: Vec<IpNetwork>,
    /// How long a request may wait at each step.
    pub timeouts: Timeouts,
    /// How host names become addresses: the system resolver by default.
    pub resolver: Resolver,
    /// Connection reuse between requests of one instance.
    pub keep_alive: KeepAlive,
}

impl OutboundPolicy {
    /// The name check: [`AllowList::check`].
    pub fn check(&self, scheme: &str, authority: &str) -> Result<Destination, Denial> {
        self.allow.check(scheme, authority)
    }

    /// The address check: whether `dest`, which passed the name check, may
    /// be reached at `ip`. Ordinary public addresses always may; a special
    /// one only when a rule is that IP literal (and allows the port), when
    /// `dest` is `localhost` named exactly and `ip` is loopback, or when an
    /// allowed network holds it.
    pub fn check_address(&self, dest: &Destination, ip: IpAddr) -> Result<(), Denial> {
        let Some(class) = classify(ip) else {
            return Ok(());
        };
        let allowed = self.allow.names_address(ip, dest.port, dest.https)
            || (dest.loopback_name && class == AddressClass::Loopback)
            || self.networks.iter().any(|n| n.contains(ip));
        if allowed {
            return Ok(());
        }
        Err(Denial {
            destination: dest.authority.clone(),
            reason: DenialReason::ResolvesToSpecial { address: ip, class },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(rules: &[&str]) -> AllowList {
        AllowList::parse(rules).unwrap()
    }

    #[test]
    fn default_allows_only_circleci_over_https_on_443() {
        let l = AllowList::default();
        assert!(l.check("https", "circleci.com").is_ok());
        assert!(l.check("https", "CircleCI.com.").is_ok());
        assert!(l.check("https", "circleci.com:443").is_ok());
        assert!(l.check("https", "circleci.com:8443").is_err());
        assert!(l.check("https", "evil.com").is_err());
        assert!(l.check("https", "circleci.com.evil.com").is_err());
        assert!(l.check("https", "api.circleci.com").is_err());
        assert!(l.check("ftp", "circleci.com").is_err());
        for authority in ["circleci.com", "circleci.com:80", "circleci.com:443"] {
            let err = l.check("http", authority).unwrap_err();
            assert_eq!(err.reason, DenialReason::PlainHttp, "{authority}");
            assert!(err.to_string().contains("https only"), "{err}");
        }
        assert_eq!(l.rules()[0].to_string(), "https://circleci.com:443");
    }

    #[test]
    fn a_rule_without_a_scheme_admits_https_only() {
        let l = list(&["ci.example.test"]);
        assert!(l.check("https", "ci.example.test").is_ok());
        assert_eq!(
            l.check("http", "ci.example.test").unwrap_err().reason,
            DenialReason::PlainHttp
        );
        let l = list(&["http://ci.example.test"]);
        assert!(l.check("http", "ci.example.test").is_ok());
        assert!(l.check("http", "ci.example.test:80").is_ok());
        assert!(l.check("https", "ci.example.test").is_err());
        let l = list(&["*://ci.example.test"]);
        assert!(l.check("http", "ci.example.test").is_ok());
        assert!(l.check("https", "ci.example.test").is_ok());
    }

    #[test]
    fn ports_default_to_the_schemes_own() {
        let l = list(&["http://127.0.0.1:8080"]);
        assert!(l.check("http", "127.0.0.1:8080").is_ok());
        assert!(l.check("http", "127.0.0.1:8081").is_err());
        assert!(l.check("http", "127.0.0.1").is_err());
        let l = list(&["ci.example.test", "http://plain.example.test"]);
        assert!(l.check("https", "ci.example.test:443").is_ok());
        assert!(l.check("https", "ci.example.test:8443").is_err());
        assert!(l.check("http", "plain.example.test:80").is_ok());
        assert!(l.check("http", "plain.example.test:8080").is_err());
        let l = list(&["*://ci.example.test:*"]);
        assert!(l.check("https", "ci.example.test:8443").is_ok());
        assert!(l.check("http", "ci.example.test:1").is_ok());
    }

    #[test]
    fn special_addresses_need_an_exact_rule() {
        let l = list(&["*://*.example.com:*", "*://ci.example.com:*"]);
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
        let l = list(&[
            "http://127.0.0.1:*",
            "http://[::1]:9000",
            "http://localhost",
        ]);
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
    fn an_exact_rule_counts_even_after_a_wildcard() {
        let l = list(&["http://*.localhost", "http://api.localhost"]);
        assert!(l.check("http", "api.localhost").is_ok());
        let err = l.check("http", "other.localhost").unwrap_err();
        assert_eq!(
            err.reason,
            DenialReason::SpecialAddress(AddressClass::Loopback)
        );
    }

    fn policy(rules: &[&str], networks: &[&str]) -> OutboundPolicy {
        OutboundPolicy {
            allow: list(rules),
            networks: networks
                .iter()
                .map(|n| IpNetwork::parse(n).unwrap())
                .collect(),
            ..OutboundPolicy::default()
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_name_check_says_where_to_go() {
        let p = policy(&["api.example.test", "http://[::1]:9000"], &[]);
        let d = p.check("https", "API.example.test.").unwrap();
        assert_eq!(
            (d.host(), d.port(), d.is_https(), d.ip()),
            ("api.example.test", 443, true, None)
        );
        assert_eq!(d.authority(), "API.example.test.");
        let d = p.check("http", "[::1]:9000").unwrap();
        assert_eq!((d.host(), d.port(), d.ip()), ("::1", 9000, Some(ip("::1"))));
    }

    #[test]
    fn an_allowed_name_never_allows_a_special_address_by_itself() {
        let p = policy(&["api.example.test", "*.example.org"], &[]);
        let d = p.check("https", "api.example.test").unwrap();
        assert!(p.check_address(&d, ip("93.184.216.34")).is_ok());
        assert!(p.check_address(&d, ip("2606:4700::1")).is_ok());
        for (addr, class) in [
            ("127.0.0.1", AddressClass::Loopback),
            ("::1", AddressClass::Loopback),
            ("::ffff:127.0.0.1", AddressClass::Loopback),
            ("10.20.0.5", AddressClass::Private),
            ("100.64.1.1", AddressClass::Private),
            ("fd00::5", AddressClass::Private),
            ("169.254.169.254", AddressClass::LinkLocal),
            ("fe80::1", AddressClass::LinkLocal),
            ("0.0.0.0", AddressClass::Unspecified),
            ("224.0.0.1", AddressClass::Multicast),
            ("240.0.0.1", AddressClass::Reserved),
        ] {
            let err = p.check_address(&d, ip(addr)).unwrap_err();
            assert_eq!(
                err.reason,
                DenialReason::ResolvesToSpecial {
                    address: ip(addr),
                    class
                },
                "{addr}"
            );
        }
        let d = p.check("https", "a.example.org").unwrap();
        assert!(p.check_address(&d, ip("192.168.0.1")).is_err());
    }

    #[test]
    fn special_addresses_are_allowed_by_network_literal_or_localhost() {
        let p = policy(
            &[
                "ci.corp.test",
                "http://ci.corp.test:8080",
                "http://127.0.0.1:8080",
                "http://localhost:*",
                "http://*.localhost:*",
            ],
            &["10.20.0.0/16"],
        );
        let d = p.check("https", "ci.corp.test").unwrap();
        assert!(
            p.check_address(&d, ip("10.20.3.4")).is_ok(),
            "in the network"
        );
        assert!(
            p.check_address(&d, ip("::ffff:10.20.3.4")).is_ok(),
            "mapped form too"
        );
        assert!(p.check_address(&d, ip("10.21.0.1")).is_err(), "outside it");
        assert!(
            p.check_address(&d, ip("127.0.0.1")).is_err(),
            "443 is not the literal rule's port"
        );
        let d = p.check("http", "ci.corp.test:8080").unwrap();
        assert!(
            p.check_address(&d, ip("127.0.0.1")).is_ok(),
            "the literal rule allows 127.0.0.1:8080"
        );
        assert!(p.check_address(&d, ip("127.0.0.2")).is_err());
        let d = p.check("http", "127.0.0.1:8080").unwrap();
        assert!(p.check_address(&d, ip("127.0.0.1")).is_ok());

        let d = p.check("http", "localhost:3000").unwrap();
        assert!(p.check_address(&d, ip("127.0.0.1")).is_ok());
        assert!(p.check_address(&d, ip("::1")).is_ok());
        assert!(
            p.check_address(&d, ip("169.254.169.254")).is_err(),
            "localhost allows loopback, nothing else"
        );
        assert!(
            p.check_address(&d, ip("10.20.0.1")).is_ok(),
            "but networks still count"
        );
    }

    #[test]
    fn a_resolution_denial_says_what_and_how_to_allow_it() {
        let p = policy(&["api.example.test"], &[]);
        let d = p.check("https", "api.example.test").unwrap();
        let err = p.check_address(&d, ip("127.0.0.1")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "api.example.test resolves to 127.0.0.1, a loopback address, refused unless allowed \
             with --allow-network or named with --allow-host"
        );
        let err = p.check_address(&d, ip("0.0.0.0")).unwrap_err();
        assert!(
            err.to_string().contains("0.0.0.0, an unspecified address"),
            "{err}"
        );
    }

    #[test]
    fn rejects_malformed_rules() {
        for bad in [
            "",
            "ftp://circleci.com",
            "https://circleci.com/api",
            "https://",
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
            "https://[::1]:80"
        );
        assert_eq!(
            AllowedHost::parse("*.Example.com").unwrap().to_string(),
            "https://*.example.com"
        );
        assert_eq!(
            AllowedHost::parse("HTTP://Example.com:*")
                .unwrap()
                .to_string(),
            "http://example.com:*"
        );
    }
}
