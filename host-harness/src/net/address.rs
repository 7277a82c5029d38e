//! What kind of address an IP is, and networks the operator opens in CIDR
//! form.
//!
//! The host refuses addresses that reach into the machine or its network
//! (loopback, private, link-local such as the cloud metadata service,
//! unspecified, multicast, reserved) unless the operator allowed them. The
//! same address can be written several ways (`::ffff:127.0.0.1` is
//! `127.0.0.1` to the kernel), so every check first folds an address onto
//! the one the kernel would actually reach.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Kinds of address that are refused unless the operator allowed them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressClass {
    /// 127.0.0.0/8, ::1: this machine.
    Loopback,
    /// RFC 1918, carrier-grade NAT (100.64.0.0/10), IPv6 unique local
    /// (fc00::/7) and site-local (fec0::/10).
    Private,
    /// 169.254.0.0/16 (the cloud metadata service is 169.254.169.254) and
    /// fe80::/10.
    LinkLocal,
    /// 0.0.0.0/8 and `::`; connecting to 0.0.0.0 reaches this machine on
    /// Linux.
    Unspecified,
    /// Multicast and the IPv4 broadcast address.
    Multicast,
    /// Documentation, benchmarking, protocol-assignment and future-use
    /// ranges, and IPv6 forms that carry an IPv4 address we cannot vouch
    /// for: nothing a connector has a reason to reach.
    Reserved,
}

impl AddressClass {
    /// "a" or "an", for messages.
    pub fn article(self) -> &'static str {
        match self {
            AddressClass::Unspecified => "an",
            _ => "a",
        }
    }
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
/// allowing it; `None` for ordinary public addresses.
pub fn classify(ip: IpAddr) -> Option<AddressClass> {
    match canonical_ip(ip) {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressClass> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some(AddressClass::Loopback)
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        // RFC 1918 and the carrier-grade NAT range (RFC 6598).
        Some(AddressClass::Private)
    } else if ip.is_link_local() {
        // 169.254.0.0/16, the cloud metadata service among them.
        Some(AddressClass::LinkLocal)
    } else if a == 0 {
        // 0.0.0.0/8, "this network"; 0.0.0.0 itself is this machine.
        Some(AddressClass::Unspecified)
    } else if ip.is_multicast() || ip.is_broadcast() {
        Some(AddressClass::Multicast)
    } else if a >= 240
        || ip.is_documentation()
        // 192.0.0.0/24, IETF protocol assignments.
        || (a, b, c) == (192, 0, 0)
        // 192.88.99.0/24, the retired 6to4 relay anycast.
        || (a, b, c) == (192, 88, 99)
        // 198.18.0.0/15, benchmarking.
        || (a == 198 && (b == 18 || b == 19))
    {
        Some(AddressClass::Reserved)
    } else {
        None
    }
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressClass> {
    let s = ip.segments();
    if ip.is_loopback() {
        Some(AddressClass::Loopback)
    } else if ip.is_unspecified() {
        Some(AddressClass::Unspecified)
    } else if s[0] & 0xfe00 == 0xfc00 || s[0] & 0xffc0 == 0xfec0 {
        // Unique local fc00::/7, and the deprecated site-local fec0::/10.
        Some(AddressClass::Private)
    } else if s[0] & 0xffc0 == 0xfe80 {
        Some(AddressClass::LinkLocal)
    } else if ip.is_multicast() {
        Some(AddressClass::Multicast)
    } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64 (64:ff9b::/96): the gateway connects to the IPv4 address in
        // the low 32 bits, so that address decides.
        classify_v4(embedded_v4(s[6], s[7]))
    } else if s[0] == 0x2002 {
        // 6to4 (2002::/16): the relay reaches the IPv4 address in bits 16..48.
        classify_v4(embedded_v4(s[1], s[2]))
    } else if s[0] == 0
        || (s[0], s[1]) == (0x2001, 0)
        || (s[0], s[1]) == (0x2001, 0xdb8)
        || (s[0], s[1], s[2], s[3]) == (0x100, 0, 0, 0)
        || (s[0], s[1]) == (0x64, 0xff9b)
    {
        // What is left of ::/16 after the IPv4-mapped and -compatible forms
        // were folded away (e.g. SIIT's ::ffff:0:a.b.c.d), Teredo 2001::/32
        // (a tunnel to an IPv4 address we cannot see), documentation
        // 2001:db8::/32, discard 100::/64, and NAT64 local-use 64:ff9b:1::/48.
        Some(AddressClass::Reserved)
    } else {
        None
    }
}

fn embedded_v4(high: u16, low: u16) -> Ipv4Addr {
    Ipv4Addr::from((u32::from(high) << 16) | u32::from(low))
}

/// Folds IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-compatible (`::a.b.c.d`)
/// forms onto the IPv4 address they carry, so `[::ffff:127.0.0.1]` is
/// loopback too. `::` and `::1` stay IPv6: they are not IPv4 addresses.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            if s[..6] == [0; 6] && !v6.is_unspecified() && !v6.is_loopback() {
                return IpAddr::V4(embedded_v4(s[6], s[7]));
            }
            IpAddr::V6(v6)
        }
        v4 => v4,
    }
}

/// A network the operator allows, `ADDRESS/PREFIX` (`10.20.0.0/16`,
/// `fd00:1::/64`). Addresses in it may be reached even when they are
/// special, by any host name on the allow-list that resolves to them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNetwork {
    /// The network address, host bits cleared.
    addr: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    /// The network of `addr` with `prefix` bits; host bits are cleared, so
    /// `10.20.1.5/16` is `10.20.0.0/16`.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, String> {
        let addr = match addr {
            IpAddr::V4(v4) if prefix <= 32 => {
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask32(prefix)))
            }
            IpAddr::V6(v6) if prefix <= 128 => {
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask128(prefix)))
            }
            _ => return Err(format!("prefix /{prefix} is too long for {addr}")),
        };
        Ok(IpNetwork { addr, prefix })
    }

    /// Parses `ADDRESS/PREFIX`; IPv6 may be written in brackets.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bad = |why: &str| format!("invalid --allow-network {text:?}: {why}");
        let (addr, prefix) = text
            .split_once('/')
            .ok_or_else(|| bad("give ADDRESS/PREFIX, e.g. 10.20.0.0/16"))?;
        let addr = addr
            .strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .unwrap_or(addr);
        let addr: IpAddr = addr.parse().map_err(|_| bad("not an IP address"))?;
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| bad("the prefix must be a number of bits"))?;
        IpNetwork::new(addr, prefix).map_err(|why| bad(&why))
    }

    /// The network's address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The network's prefix length, in bits.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is in this network. The address is folded first
    /// (`canonical_ip`), and an IPv4 address also matches an IPv6 network
    /// through its mapped form, so `::ffff:10.20.0.0/112` and `10.20.0.0/16`
    /// mean the same, and `::/0` covers IPv4 too.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical_ip(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                u32::from(ip) & mask32(self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u128::from(ip) & mask128(self.prefix) == u128::from(net)
            }
            (IpAddr::V6(net), IpAddr::V4(ip)) => {
                u128::from(ip.to_ipv6_mapped()) & mask128(self.prefix) == u128::from(net)
            }
            (IpAddr::V4(_), IpAddr::V6(_)) => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl FromStr for IpNetwork {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        IpNetwork::parse(s)
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Option<AddressClass> {
        classify(s.parse().unwrap())
    }

    #[test]
    fn classifies_ipv4() {
        assert_eq!(c("127.8.9.10"), Some(AddressClass::Loopback));
        assert_eq!(c("10.1.2.3"), Some(AddressClass::Private));
        assert_eq!(c("172.31.255.255"), Some(AddressClass::Private));
        assert_eq!(c("192.168.1.1"), Some(AddressClass::Private));
        assert_eq!(c("100.64.0.1"), Some(AddressClass::Private));
        assert_eq!(c("100.127.255.255"), Some(AddressClass::Private));
        assert_eq!(c("169.254.169.254"), Some(AddressClass::LinkLocal));
        assert_eq!(c("0.0.0.0"), Some(AddressClass::Unspecified));
        assert_eq!(c("0.1.2.3"), Some(AddressClass::Unspecified));
        assert_eq!(c("224.0.0.1"), Some(AddressClass::Multicast));
        assert_eq!(c("255.255.255.255"), Some(AddressClass::Multicast));
        assert_eq!(c("240.0.0.1"), Some(AddressClass::Reserved));
        assert_eq!(c("192.0.2.1"), Some(AddressClass::Reserved));
        assert_eq!(c("198.18.0.1"), Some(AddressClass::Reserved));
        assert_eq!(c("192.0.0.170"), Some(AddressClass::Reserved));
        for public in [
            "8.8.8.8",
            "100.128.0.1",
            "172.32.0.1",
            "1.1.1.1",
            "198.20.0.1",
        ] {
            assert_eq!(c(public), None, "{public}");
        }
    }

    #[test]
    fn classifies_ipv6() {
        assert_eq!(c("::1"), Some(AddressClass::Loopback));
        assert_eq!(c("::"), Some(AddressClass::Unspecified));
        assert_eq!(c("fd00::1"), Some(AddressClass::Private));
        assert_eq!(c("fc12::1"), Some(AddressClass::Private));
        assert_eq!(c("fec0::1"), Some(AddressClass::Private));
        assert_eq!(c("fe80::1"), Some(AddressClass::LinkLocal));
        assert_eq!(c("ff02::1"), Some(AddressClass::Multicast));
        assert_eq!(c("2001:db8::1"), Some(AddressClass::Reserved));
        assert_eq!(c("2001::1"), Some(AddressClass::Reserved));
        assert_eq!(c("100::1"), Some(AddressClass::Reserved));
        assert_eq!(c("::ffff:0:7f00:1"), Some(AddressClass::Reserved));
        assert_eq!(c("2606:4700::1"), None);
        assert_eq!(c("2a00:1450:4001::200e"), None);
    }

    #[test]
    fn ipv6_forms_of_ipv4_are_judged_by_the_ipv4_address() {
        assert_eq!(c("::ffff:127.0.0.1"), Some(AddressClass::Loopback));
        assert_eq!(c("::ffff:10.1.2.3"), Some(AddressClass::Private));
        assert_eq!(c("::ffff:169.254.169.254"), Some(AddressClass::LinkLocal));
        assert_eq!(c("::127.0.0.1"), Some(AddressClass::Loopback));
        assert_eq!(c("::169.254.169.254"), Some(AddressClass::LinkLocal));
        assert_eq!(c("64:ff9b::127.0.0.1"), Some(AddressClass::Loopback));
        assert_eq!(c("64:ff9b::a9fe:a9fe"), Some(AddressClass::LinkLocal));
        assert_eq!(c("2002:7f00:1::"), Some(AddressClass::Loopback));
        assert_eq!(c("2002:a00:1::"), Some(AddressClass::Private));
        assert_eq!(c("::ffff:8.8.8.8"), None);
        assert_eq!(c("64:ff9b::8.8.8.8"), None);
        assert_eq!(c("2002:808:808::1"), None);
        assert_eq!(
            canonical_ip("::ffff:1.2.3.4".parse().unwrap()),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            canonical_ip("::1".parse().unwrap()),
            "::1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn networks_parse_and_contain() {
        let n = IpNetwork::parse("10.20.0.0/16").unwrap();
        assert!(n.contains("10.20.3.4".parse().unwrap()));
        assert!(n.contains("::ffff:10.20.3.4".parse().unwrap()));
        assert!(!n.contains("10.21.0.1".parse().unwrap()));
        assert!(!n.contains("fd00::1".parse().unwrap()));
        assert_eq!(
            IpNetwork::parse("10.20.1.5/16").unwrap(),
            n,
            "host bits are cleared"
        );
        assert_eq!(n.to_string(), "10.20.0.0/16");

        let v6 = IpNetwork::parse("[fd00:1::]/32").unwrap();
        assert!(v6.contains("fd00:1:2::3".parse().unwrap()));
        assert!(!v6.contains("fd00:2::1".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));

        let mapped = IpNetwork::parse("::ffff:127.0.0.0/104").unwrap();
        assert!(mapped.contains("127.0.0.1".parse().unwrap()));
        let all = IpNetwork::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("169.254.169.254".parse().unwrap()));
        assert!(!all.contains("::1".parse().unwrap()));
        let host = IpNetwork::parse("127.0.0.1/32").unwrap();
        assert!(host.contains("127.0.0.1".parse().unwrap()));
        assert!(!host.contains("127.0.0.2".parse().unwrap()));

        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "::/129",
            "x/8",
            "10.0.0.0/x",
            "",
            "/8",
        ] {
            let err = IpNetwork::parse(bad).unwrap_err();
            assert!(err.starts_with("invalid --allow-network"), "{bad}: {err}");
        }
    }
}
