//! Which addresses outbound requests (downloads of `http(s)://` inputs, callback deliveries)
//! may reach. A job names the URLs, so without a rule anyone who can post a job could make a
//! worker or a dispatcher read from, or post to, what only they can reach: the loopback
//! interface, the private network, a cloud metadata service (169.254.169.254). Those addresses
//! are refused unless the operator opens them with `allowed_networks`.
//!
//! This is the rule alone, a pure decision over an address and the host name it came from;
//! `outbound_http` applies it to every address a request connects to.

use std::{fmt, net::IpAddr, str::FromStr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::net::{Ipv4Addr, Ipv6Addr};

/// What kind of address a refused one is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    /// `0.0.0.0/8`, `::`: "this host" (Linux connects `0.0.0.0` to the loopback interface).
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918 (`10/8`, `172.16/12`, `192.168/16`) and carrier-grade NAT (`100.64/10`).
    Private,
    /// `169.254/16` (where cloud metadata services answer) and `fe80::/10`.
    LinkLocal,
    /// `fc00::/7`, IPv6's private networks.
    UniqueLocal,
    /// `224/4`, `ff00::/8`.
    Multicast,
    /// `240/4`, the broadcast address included: never a server's.
    Reserved,
}

impl AddressKind {
    fn describe(self) -> &'static str {
        match self {
            AddressKind::Unspecified => "an unspecified address",
            AddressKind::Loopback => "a loopback address",
            AddressKind::Private => "a private address",
            AddressKind::LinkLocal => "a link-local address",
            AddressKind::UniqueLocal => "a unique-local address",
            AddressKind::Multicast => "a multicast address",
            AddressKind::Reserved => "a reserved address",
        }
    }
}

/// The refused ranges, checked in order.
const REFUSED: &[(IpNet, AddressKind)] = &[
    (v4(0, 0, 0, 0, 8), AddressKind::Unspecified),
    (v4(127, 0, 0, 0, 8), AddressKind::Loopback),
    (v4(10, 0, 0, 0, 8), AddressKind::Private),
    (v4(172, 16, 0, 0, 12), AddressKind::Private),
    (v4(192, 168, 0, 0, 16), AddressKind::Private),
    (v4(100, 64, 0, 0, 10), AddressKind::Private),
    (v4(169, 254, 0, 0, 16), AddressKind::LinkLocal),
    (v4(224, 0, 0, 0, 4), AddressKind::Multicast),
    (v4(240, 0, 0, 0, 4), AddressKind::Reserved),
    (v6(Ipv6Addr::UNSPECIFIED, 128), AddressKind::Unspecified),
    (v6(Ipv6Addr::LOCALHOST, 128), AddressKind::Loopback),
    (
        v6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),
        AddressKind::LinkLocal,
    ),
    (
        v6(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),
        AddressKind::UniqueLocal,
    ),
    (
        v6(Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8),
        AddressKind::Multicast,
    ),
];

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> IpNet {
    IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len))
}

const fn v6(addr: Ipv6Addr, len: u8) -> IpNet {
    IpNet::V6(Ipv6Net::new_assert(addr, len))
}

/// Why `ip` may not be reached unless opened, or `None` for a public address. An IPv4-mapped
/// IPv6 address (`::ffff:127.0.0.1`) reaches its IPv4 address, so it is judged as that one.
pub fn classify(ip: IpAddr) -> Option<AddressKind> {
    let ip = ip.to_canonical();
    REFUSED
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|&(_, kind)| kind)
}

/// Who is asking: named in a refusal, so its reader knows which requests it concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Downloads,
    Callbacks,
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Purpose::Downloads => "downloads",
            Purpose::Callbacks => "callbacks",
        })
    }
}

/// An address the rule refused: which, why, and how to open it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Refused {
    /// The host as the URL names it: a name, or the address itself.
    pub host: String,
    pub ip: IpAddr,
    pub kind: AddressKind,
    pub purpose: Purpose,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, purpose) = (self.kind.describe(), self.purpose);
        if is_address_of(&self.host, self.ip) {
            write!(
                f,
                "{} is {kind}, which {purpose} may not reach; \
                 add it to allowed_networks to allow it",
                self.ip
            )
        } else {
            write!(
                f,
                "{} resolves to {}, {kind}, which {purpose} may not reach; \
                 add {} (or {}) to allowed_networks to allow it",
                self.host, self.ip, self.host, self.ip
            )
        }
    }
}

/// Whether `host` (as a URL writes it, IPv6 in brackets) is `ip` itself.
fn is_address_of(host: &str, ip: IpAddr) -> bool {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok_and(|h| h == ip)
}

/// An `allowed_networks` entry that is neither a network, an address nor a host name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`allowed_networks` has {0:?}, which is not a CIDR (10.0.0.0/8), an address or a host name"
)]
pub struct BadEntry(pub String);

/// The rule for one kind of request: public addresses, and whatever the operator opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    networks: Vec<IpNet>,
    /// Host names reachable whatever they resolve to, lowercase, without a trailing dot.
    hosts: Vec<String>,
    purpose: Purpose,
}

impl Outbound {
    /// The rule with `entries` (`allowed_networks`: CIDRs, addresses, host names) opened.
    pub fn new(entries: &[String], purpose: Purpose) -> Result<Outbound, BadEntry> {
        let mut outbound = Outbound {
            networks: Vec::new(),
            hosts: Vec::new(),
            purpose,
        };
        for entry in entries {
            outbound.open(entry)?;
        }
        Ok(outbound)
    }

    /// Opens one more entry.
    pub fn open(&mut self, entry: &str) -> Result<(), BadEntry> {
        let entry = entry.trim();
        let bare = entry.trim_start_matches('[').trim_end_matches(']');
        if let Ok(net) = IpNet::from_str(entry) {
            self.networks.push(net.trunc());
        } else if let Ok(ip) = IpAddr::from_str(bare) {
            self.networks.push(IpNet::from(ip));
        } else if is_host_name(entry) {
            self.hosts.push(normal_host(entry));
        } else {
            return Err(BadEntry(entry.to_string()));
        }
        Ok(())
    }

    /// Whether a request to `host` (as the URL names it) may connect to `ip`.
    pub fn check(&self, host: &str, ip: IpAddr) -> Result<(), Refused> {
        let Some(kind) = classify(ip) else {
            return Ok(());
        };
        let canonical = ip.to_canonical();
        let opened = self
            .networks
            .iter()
            .any(|net| net.contains(&ip) || net.contains(&canonical))
            || self.hosts.contains(&normal_host(host));
        if opened {
            Ok(())
        } else {
            Err(Refused {
                host: host.to_string(),
                ip,
                kind,
                purpose: self.purpose,
            })
        }
    }

    /// The check of a URL whose host is an address, which is connected to without a lookup
    /// (so no resolver sees it). A host name passes here: its addresses are checked as they
    /// are resolved.
    pub fn check_url(&self, url: &url::Url) -> Result<(), Refused> {
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            Some(url::Host::Domain(_)) | None => return Ok(()),
        };
        self.check(url.host_str().unwrap_or_default(), ip)
    }
}

/// Letters, digits, `-`, `_` and dots: what a DNS name (or `localhost`) is made of.
fn is_host_name(entry: &str) -> bool {
    !entry.is_empty()
        && entry
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && entry.chars().any(|c| c.is_ascii_alphanumeric())
}

fn normal_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    fn rule(entries: &[&str]) -> Outbound {
        let entries: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
        Outbound::new(&entries, Purpose::Downloads).expect("valid entries")
    }

    #[test]
    fn local_addresses_are_classified_and_public_ones_are_not() {
        let cases = [
            ("127.0.0.1", Some(AddressKind::Loopback)),
            ("127.255.0.9", Some(AddressKind::Loopback)),
            ("::1", Some(AddressKind::Loopback)),
            ("0.0.0.0", Some(AddressKind::Unspecified)),
            ("::", Some(AddressKind::Unspecified)),
            ("10.1.2.3", Some(AddressKind::Private)),
            ("172.16.0.1", Some(AddressKind::Private)),
            ("172.31.255.255", Some(AddressKind::Private)),
            ("192.168.1.1", Some(AddressKind::Private)),
            ("100.64.0.1", Some(AddressKind::Private)),
            ("169.254.169.254", Some(AddressKind::LinkLocal)),
            ("fe80::1", Some(AddressKind::LinkLocal)),
            ("fd00::1", Some(AddressKind::UniqueLocal)),
            ("fc00::1", Some(AddressKind::UniqueLocal)),
            ("224.0.0.1", Some(AddressKind::Multicast)),
            ("ff02::1", Some(AddressKind::Multicast)),
            ("255.255.255.255", Some(AddressKind::Reserved)),
            ("::ffff:127.0.0.1", Some(AddressKind::Loopback)),
            ("::ffff:169.254.169.254", Some(AddressKind::LinkLocal)),
            ("::ffff:10.0.0.1", Some(AddressKind::Private)),
            ("8.8.8.8", None),
            ("172.32.0.1", None),
            ("100.128.0.1", None),
            ("2606:4700::1111", None),
            ("::ffff:8.8.8.8", None),
        ];
        for (address, kind) in cases {
            assert_eq!(classify(ip(address)), kind, "{address}");
        }
    }

    #[test]
    fn a_refusal_names_the_rule_and_how_to_open_it() {
        let refused = rule(&[]).check("127.0.0.1", ip("127.0.0.1"));
        assert_eq!(
            refused.expect_err("refused").to_string(),
            "127.0.0.1 is a loopback address, which downloads may not reach; \
             add it to allowed_networks to allow it"
        );
        let refused = rule(&[]).check("[::1]", ip("::1")).expect_err("refused");
        assert_eq!(
            refused.to_string(),
            "::1 is a loopback address, which downloads may not reach; \
             add it to allowed_networks to allow it"
        );
        let mut callbacks = rule(&[]);
        callbacks.purpose = Purpose::Callbacks;
        let refused = callbacks.check("localhost", ip("127.0.0.1"));
        assert_eq!(
            refused.expect_err("refused").to_string(),
            "localhost resolves to 127.0.0.1, a loopback address, which callbacks may not \
             reach; add localhost (or 127.0.0.1) to allowed_networks to allow it"
        );
    }

    #[test]
    fn networks_addresses_and_host_names_open_what_they_name() {
        let open = rule(&["127.0.0.0/8", "::1", "10.1.2.3", "Metadata.Internal."]);
        assert_eq!(open.check("127.9.9.9", ip("127.9.9.9")), Ok(()));
        assert_eq!(open.check("[::1]", ip("::1")), Ok(()));
        assert_eq!(open.check("10.1.2.3", ip("10.1.2.3")), Ok(()));
        assert!(open.check("10.1.2.4", ip("10.1.2.4")).is_err());
        // A mapped address is opened by the IPv4 network it reaches.
        assert_eq!(
            open.check("[::ffff:127.0.0.1]", ip("::ffff:127.0.0.1")),
            Ok(())
        );
        // A name opens whatever it resolves to, and only for itself.
        assert_eq!(
            open.check("metadata.internal", ip("169.254.169.254")),
            Ok(())
        );
        assert!(open.check("other.internal", ip("169.254.169.254")).is_err());
        // Public addresses need no entry.
        assert_eq!(rule(&[]).check("example.com", ip("93.184.215.14")), Ok(()));
    }

    #[test]
    fn only_one_address_is_opened_by_a_32() {
        let open = rule(&["127.0.0.2/32"]);
        assert_eq!(open.check("127.0.0.2", ip("127.0.0.2")), Ok(()));
        assert!(open.check("127.0.0.1", ip("127.0.0.1")).is_err());
    }

    #[test]
    fn entries_that_are_not_networks_or_names_are_refused() {
        for bad in ["10.0.0.0/33", "http://x/", "a b", "", "..."] {
            let entries = vec![bad.to_string()];
            assert_eq!(
                Outbound::new(&entries, Purpose::Downloads),
                Err(BadEntry(bad.trim().to_string())),
                "{bad}"
            );
        }
    }

    #[test]
    fn urls_naming_an_address_are_checked_and_names_left_to_the_resolver() {
        let url = |s: &str| url::Url::parse(s).expect("a URL");
        let closed = rule(&[]);
        assert!(closed.check_url(&url("http://127.0.0.1:8080/x")).is_err());
        assert!(closed.check_url(&url("http://[::1]:8080/x")).is_err());
        assert!(closed.check_url(&url("http://169.254.169.254/")).is_err());
        // The URL parser reads other spellings of an address as that address.
        assert!(closed.check_url(&url("http://2130706433/")).is_err());
        assert!(closed.check_url(&url("http://0x7f.1/")).is_err());
        assert_eq!(closed.check_url(&url("http://localhost/")), Ok(()));
        assert_eq!(closed.check_url(&url("http://8.8.8.8/")), Ok(()));
    }
}
