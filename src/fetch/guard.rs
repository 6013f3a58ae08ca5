//! Which addresses the fetcher may connect to.
//!
//! Feed and page URLs come from outside, and so do their redirects: without a guard, a feed could
//! point the daemon at the broker's management API, a cloud metadata endpoint or anything else on
//! the private network. [`classify`] sorts an address into the special-purpose ranges of the IANA
//! registries; only [`AddrClass::Public`] addresses are fetched, unless `fetch.allow` names the host
//! or a network containing the address ([`Guard`]).
//!
//! IPv6 forms that carry an IPv4 address are unwrapped first, so `::ffff:127.0.0.1`,
//! `64:ff9b::10.0.0.1` and `2002:c0a8:0101::1` are as loopback or private as what they embed.
//! Everything outside the global-unicast `2000::/3` (apart from those forms) is reserved; so is
//! `2001::/23` (IETF protocol assignments, Teredo included).
//!
//! Kept hand-written: std's `IpAddr::is_global` is unstable, and the guard must follow the IANA
//! tables exactly and unwrap the IPv4-carrying forms above (where address guards usually leak);
//! tables and tests side by side are easier to audit than a dependency.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// The range an address belongs to; everything but `Public` is refused unless allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrClass {
    Public,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// `10/8`, `172.16/12`, `192.168/16`, deprecated site-local `fec0::/10`, local-use NAT64.
    Private,
    /// Carrier-grade NAT, `100.64.0.0/10`.
    Shared,
    /// `169.254/16` (cloud metadata lives here), `fe80::/10`.
    LinkLocal,
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `192.0.2/24`, `198.51.100/24`, `203.0.113/24`, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// `198.18/15`, `2001:2::/48`.
    Benchmarking,
    /// `fc00::/7`.
    UniqueLocal,
    /// `0.0.0.0/8` ("this network"; connecting to `0.0.0.0` reaches the local host), `::`.
    Unspecified,
    /// Anything else set aside: `240/4`, `192.0.0/24`, `192.88.99/24`, `100::/64`, `2001::/23`,
    /// deprecated IPv4-compatible IPv6, and IPv6 outside `2000::/3`.
    Reserved,
}

impl AddrClass {
    pub fn is_public(self) -> bool {
        self == AddrClass::Public
    }

    /// A short label for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            AddrClass::Public => "public",
            AddrClass::Loopback => "loopback",
            AddrClass::Private => "private",
            AddrClass::Shared => "shared",
            AddrClass::LinkLocal => "link-local",
            AddrClass::Multicast => "multicast",
            AddrClass::Broadcast => "broadcast",
            AddrClass::Documentation => "documentation",
            AddrClass::Benchmarking => "benchmarking",
            AddrClass::UniqueLocal => "unique-local",
            AddrClass::Unspecified => "unspecified",
            AddrClass::Reserved => "reserved",
        }
    }
}

impl std::fmt::Display for AddrClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Sorts an address into its range, looking through IPv4-mapped, IPv4-translated,
/// IPv4-compatible, NAT64 and 6to4 forms to the IPv4 address they carry.
pub fn classify(ip: IpAddr) -> AddrClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddrClass {
    let [a, b, c, _] = ip.octets();
    match (a, b, c) {
        (0, _, _) => AddrClass::Unspecified,
        (10, _, _) => AddrClass::Private,
        (100, 64..=127, _) => AddrClass::Shared,
        (127, _, _) => AddrClass::Loopback,
        (169, 254, _) => AddrClass::LinkLocal,
        (172, 16..=31, _) => AddrClass::Private,
        (192, 0, 0) => AddrClass::Reserved,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => AddrClass::Documentation,
        (192, 88, 99) => AddrClass::Reserved,
        (192, 168, _) => AddrClass::Private,
        (198, 18..=19, _) => AddrClass::Benchmarking,
        (224..=239, _, _) => AddrClass::Multicast,
        _ if ip == Ipv4Addr::BROADCAST => AddrClass::Broadcast,
        (240..=255, _, _) => AddrClass::Reserved,
        _ => AddrClass::Public,
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddrClass {
    if ip.is_unspecified() {
        return AddrClass::Unspecified;
    }
    if ip.is_loopback() {
        return AddrClass::Loopback;
    }
    if let Some(v4) = embedded_v4(ip) {
        let class = classify_v4(v4);
        return match ip.segments() {
            // Local-use NAT64 (RFC 8215) and the deprecated IPv4-compatible form are never
            // public themselves, whatever they embed.
            [0x64, 0xff9b, 1, ..] if class.is_public() => AddrClass::Private,
            [0, 0, 0, 0, 0, 0, _, _] if class.is_public() => AddrClass::Reserved,
            _ => class,
        };
    }
    let bits = u128::from(ip);
    let in_net = |prefix: u128, len: u32| bits >> (128 - len) == prefix >> (128 - len);
    if in_net(0xff00 << 112, 8) {
        AddrClass::Multicast
    } else if in_net(0xfe80 << 112, 10) {
        AddrClass::LinkLocal
    } else if in_net(0xfec0 << 112, 10) {
        AddrClass::Private
    } else if in_net(0xfc00 << 112, 7) {
        AddrClass::UniqueLocal
    } else if in_net(0x2001_0db8 << 96, 32) || in_net(0x3fff << 112, 20) {
        AddrClass::Documentation
    } else if in_net(0x2001_0002 << 96, 48) {
        AddrClass::Benchmarking
    } else if in_net(0x2001 << 112, 23) {
        AddrClass::Reserved
    } else if in_net(0x2000 << 112, 3) {
        AddrClass::Public
    } else {
        AddrClass::Reserved
    }
}

/// The IPv4 address an IPv6 address stands for, if it is one of the forms that carry one.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    let low32 = Ipv4Addr::from(bits as u32);
    let s = ip.segments();
    match s {
        // ::ffff:a.b.c.d (mapped), ::ffff:0:a.b.c.d (SIIT translated), ::a.b.c.d (compatible).
        [0, 0, 0, 0, 0, 0xffff, _, _]
        | [0, 0, 0, 0, 0xffff, 0, _, _]
        | [0, 0, 0, 0, 0, 0, _, _] => Some(low32),
        // NAT64 well-known prefix 64:ff9b::/96.
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low32),
        // Local-use NAT64 64:ff9b:1::/48; the /96 layout is the common one.
        [0x64, 0xff9b, 1, ..] => Some(low32),
        // 6to4 2002:AABB:CCDD::/48.
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))),
        _ => None,
    }
}

/// Whether the host or address is `Allowed` outright, or a name whose resolved addresses must
/// each pass [`Guard::check_ip`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostVerdict {
    Allowed,
    CheckResolved,
}

/// The address policy: public addresses, plus what `fetch.allow` lists.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    networks: Vec<IpNet>,
    hosts: Vec<String>,
}

impl Guard {
    /// Parses `fetch.allow` entries: a CIDR network (`127.0.0.0/8`, `::1/128`), a bare address
    /// (taken as a single-address network) or a host name (matched case-insensitively, ignoring a
    /// trailing dot, never by suffix).
    ///
    /// # Errors
    /// A one-line message naming the first entry that is neither.
    pub fn new(allow: &[String]) -> Result<Self, String> {
        let mut guard = Guard::default();
        for entry in allow {
            let bad = || format!("fetch.allow: {entry:?} is not a host or CIDR network");
            let trimmed = entry.trim();
            if trimmed.contains('/') {
                guard.networks.push(trimmed.parse().map_err(|_| bad())?);
            } else if let Ok(ip) = trimmed
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
            {
                guard.networks.push(IpNet::from(ip));
            } else {
                match url::Host::parse(trimmed).map_err(|_| bad())? {
                    url::Host::Domain(name) if is_host_name(&name) => {
                        guard.hosts.push(normalize_name(&name));
                    }
                    url::Host::Domain(_) => return Err(bad()),
                    url::Host::Ipv4(ip) => guard.networks.push(IpNet::from(IpAddr::V4(ip))),
                    url::Host::Ipv6(ip) => guard.networks.push(IpNet::from(IpAddr::V6(ip))),
                }
            }
        }
        Ok(guard)
    }

    /// Whether `fetch.allow` names this host.
    pub fn host_allowed(&self, name: &str) -> bool {
        let name = normalize_name(name);
        self.hosts.contains(&name)
    }

    /// # Errors
    /// The class of an address that is not public and not in an allowed network.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), AddrClass> {
        let class = classify(ip);
        if class.is_public() {
            return Ok(());
        }
        let canonical = ip.to_canonical();
        if self
            .networks
            .iter()
            .any(|n| n.contains(&ip) || n.contains(&canonical))
        {
            return Ok(());
        }
        Err(class)
    }

    /// Decides what it can before resolution: IP literals completely, names only when listed.
    ///
    /// # Errors
    /// The class of an IP literal that may not be fetched.
    pub fn check_host(&self, host: &url::Host<&str>) -> Result<HostVerdict, AddrClass> {
        match host {
            url::Host::Domain(name) if self.host_allowed(name) => Ok(HostVerdict::Allowed),
            url::Host::Domain(_) => Ok(HostVerdict::CheckResolved),
            url::Host::Ipv4(ip) => self
                .check_ip(IpAddr::V4(*ip))
                .map(|()| HostVerdict::Allowed),
            url::Host::Ipv6(ip) => self
                .check_ip(IpAddr::V6(*ip))
                .map(|()| HostVerdict::Allowed),
        }
    }
}

fn normalize_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Letters, digits, `-` and `_` in dot-separated labels (after IDNA, which `url` has done).
fn is_host_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> AddrClass {
        classify(s.parse().unwrap())
    }

    #[test]
    fn ipv4_ranges() {
        use AddrClass::*;
        let cases = [
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Unspecified),
            ("10.0.0.1", Private),
            ("10.255.255.255", Private),
            ("100.63.255.255", Public),
            ("100.64.0.1", Shared),
            ("100.127.255.255", Shared),
            ("100.128.0.0", Public),
            ("127.0.0.1", Loopback),
            ("127.0.0.2", Loopback),
            ("127.255.255.254", Loopback),
            ("169.254.169.254", LinkLocal),
            ("172.15.255.255", Public),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("172.32.0.0", Public),
            ("192.0.0.8", Reserved),
            ("192.0.2.1", Documentation),
            ("192.88.99.1", Reserved),
            ("192.168.1.1", Private),
            ("198.18.0.1", Benchmarking),
            ("198.19.255.255", Benchmarking),
            ("198.20.0.0", Public),
            ("198.51.100.7", Documentation),
            ("203.0.113.9", Documentation),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("240.0.0.1", Reserved),
            ("255.255.255.254", Reserved),
            ("255.255.255.255", Broadcast),
            ("8.8.8.8", Public),
            ("1.1.1.1", Public),
            ("93.184.216.34", Public),
        ];
        for (ip, want) in cases {
            assert_eq!(class(ip), want, "{ip}");
        }
    }

    #[test]
    fn ipv6_ranges() {
        use AddrClass::*;
        let cases = [
            ("::", Unspecified),
            ("::1", Loopback),
            ("fe80::1", LinkLocal),
            ("febf:ffff::1", LinkLocal),
            ("fec0::1", Private),
            ("fc00::1", UniqueLocal),
            ("fd12:3456::1", UniqueLocal),
            ("ff02::1", Multicast),
            ("ff0e::101", Multicast),
            ("2001:db8::1", Documentation),
            ("3fff:fff::1", Documentation),
            ("2001:2::1", Benchmarking),
            ("2001::1", Reserved),     // Teredo
            ("2001:1ff::1", Reserved), // rest of 2001::/23
            ("100::1", Reserved),      // discard-only
            ("5f00::1", Reserved),     // outside 2000::/3
            ("::2:0:0", Reserved),
            ("4000::1", Reserved),
            ("2001:200::1", Public),
            ("2606:4700:4700::1111", Public),
            ("2a00:1450:4001:80b::200e", Public),
        ];
        for (ip, want) in cases {
            assert_eq!(class(ip), want, "{ip}");
        }
    }

    #[test]
    fn ipv6_forms_carrying_ipv4_are_unwrapped() {
        use AddrClass::*;
        let cases = [
            // IPv4-mapped
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:7f00:1", Loopback),
            ("::ffff:10.1.2.3", Private),
            ("::ffff:169.254.169.254", LinkLocal),
            ("::ffff:0.0.0.0", Unspecified),
            ("::ffff:100.64.0.1", Shared),
            ("::ffff:8.8.8.8", Public),
            // IPv4-translated (SIIT)
            ("::ffff:0:192.168.0.1", Private),
            ("::ffff:0:8.8.8.8", Public),
            // IPv4-compatible (deprecated): never public itself
            ("::127.0.0.1", Loopback),
            ("::10.0.0.1", Private),
            ("::8.8.8.8", Reserved),
            // NAT64 well-known prefix
            ("64:ff9b::127.0.0.1", Loopback),
            ("64:ff9b::a9fe:a9fe", LinkLocal),
            ("64:ff9b::192.0.2.1", Documentation),
            ("64:ff9b::8.8.8.8", Public),
            // NAT64 local-use prefix: never public itself
            ("64:ff9b:1::10.0.0.1", Private),
            ("64:ff9b:1::127.0.0.1", Loopback),
            ("64:ff9b:1::8.8.8.8", Private),
            // 6to4
            ("2002:7f00:1::1", Loopback),
            ("2002:c0a8:101::1", Private),
            ("2002:a9fe:a9fe::", LinkLocal),
            ("2002:e000:1::", Multicast),
            ("2002:808:808::1", Public),
        ];
        for (ip, want) in cases {
            assert_eq!(class(ip), want, "{ip}");
        }
    }

    /// The first and last address of every non-public IPv4 range, and their public neighbours.
    #[test]
    fn ipv4_range_boundaries() {
        use AddrClass::*;
        let cases = [
            ("0.255.255.255", Unspecified),
            ("1.0.0.0", Public),
            ("9.255.255.255", Public),
            ("10.0.0.0", Private),
            ("11.0.0.0", Public),
            ("100.64.0.0", Shared),
            ("126.255.255.255", Public),
            ("127.0.0.0", Loopback),
            ("127.255.255.255", Loopback),
            ("128.0.0.0", Public),
            ("169.253.255.255", Public),
            ("169.254.0.0", LinkLocal),
            ("169.254.255.255", LinkLocal),
            ("169.255.0.0", Public),
            ("172.16.0.0", Private),
            ("191.255.255.255", Public),
            ("192.0.0.0", Reserved),
            ("192.0.0.255", Reserved),
            ("192.0.1.0", Public),
            ("192.0.2.0", Documentation),
            ("192.0.2.255", Documentation),
            ("192.0.3.0", Public),
            ("192.88.98.255", Public),
            ("192.88.99.0", Reserved),
            ("192.88.100.0", Public),
            ("192.167.255.255", Public),
            ("192.168.0.0", Private),
            ("192.168.255.255", Private),
            ("192.169.0.0", Public),
            ("198.17.255.255", Public),
            ("198.18.0.0", Benchmarking),
            ("198.51.99.255", Public),
            ("198.51.100.0", Documentation),
            ("198.51.101.0", Public),
            ("203.0.112.255", Public),
            ("203.0.113.0", Documentation),
            ("203.0.114.0", Public),
            ("223.255.255.255", Public),
            ("224.0.0.0", Multicast),
            ("239.255.255.255", Multicast),
            ("240.0.0.0", Reserved),
        ];
        for (ip, want) in cases {
            assert_eq!(class(ip), want, "{ip}");
        }
    }

    #[test]
    fn ipv6_range_boundaries() {
        use AddrClass::*;
        let cases = [
            ("::0.0.0.2", Unspecified),
            ("::ffff:255.255.255.255", Broadcast),
            ("::ffff:224.0.0.1", Multicast),
            ("::ffff:192.0.2.1", Documentation),
            ("::ffff:198.18.0.1", Benchmarking),
            ("::ffff:240.0.0.1", Reserved),
            ("::ffff:172.16.0.1", Private),
            ("::ffff:192.168.0.1", Private),
            ("64:ff9b::ffff:ffff", Broadcast),
            ("64:ff9b::100.64.0.1", Shared),
            ("2002:a00:1::", Private),
            ("2002:6440:1::", Shared),
            ("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Reserved),
            ("2000::", Public),
            ("3ffe:ffff::1", Public),
            ("3fff::", Documentation),
            ("3fff:fff:ffff::1", Documentation),
            ("3fff:1000::1", Public),
            ("fbff:ffff::1", Reserved),
            ("fc00::", UniqueLocal),
            ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", UniqueLocal),
            ("fe7f:ffff::1", Reserved),
            ("fe80::", LinkLocal),
            ("feff:ffff::1", Private),
            ("ff00::", Multicast),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Multicast),
            ("2001:db8:ffff::1", Documentation),
            ("2001:db9::1", Public),
            ("2001:1ff:ffff::1", Reserved),
            ("2001:200::", Public),
            ("2001:2:0:ffff::1", Benchmarking),
            ("2001:3::1", Reserved),
        ];
        for (ip, want) in cases {
            assert_eq!(class(ip), want, "{ip}");
        }
    }

    /// Every spelling of a loopback alias that a URL can carry is an IP literal to the URL
    /// parser, so the guard decides it before any resolution or connection.
    #[test]
    fn url_spellings_of_addresses_are_decided_before_resolution() {
        let g = guard(&["127.0.0.1/32"]);
        for spelled in [
            "http://127.0.0.3/",
            "http://2130706435/",
            "http://0177.0.0.03/",
            "http://0x7f000003/",
            "http://0x7f.0.0.3/",
            "http://127.3/",
            "http://0.0.0.0/",
            "http://0/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.3]/",
            "http://[::ffff:7f00:3]/",
            "http://[::127.0.0.1]/",
            "http://[64:ff9b::7f00:1]/",
            "http://[2002:7f00:3::]/",
            "http://[::]/",
            "http://169.254.169.254/",
            "http://[fe80::1]/",
            "http://10.0.0.1/",
        ] {
            let url = url::Url::parse(spelled).unwrap();
            assert!(
                g.check_host(&url.host().unwrap()).is_err(),
                "{spelled} -> {:?}",
                url.host()
            );
        }
        let ok = url::Url::parse("http://[::ffff:127.0.0.1]/").unwrap();
        assert_eq!(g.check_host(&ok.host().unwrap()), Ok(HostVerdict::Allowed));
    }

    fn guard(allow: &[&str]) -> Guard {
        Guard::new(&allow.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn empty_guard_allows_only_public() {
        let g = guard(&[]);
        assert_eq!(g.check_ip("8.8.8.8".parse().unwrap()), Ok(()));
        assert_eq!(
            g.check_ip("127.0.0.1".parse().unwrap()),
            Err(AddrClass::Loopback)
        );
        assert_eq!(
            g.check_ip("::ffff:10.0.0.1".parse().unwrap()),
            Err(AddrClass::Private)
        );
        assert_eq!(
            g.check_host(&url::Host::Domain("example.com")),
            Ok(HostVerdict::CheckResolved)
        );
        assert_eq!(
            g.check_host(&url::Host::Domain("localhost")),
            Ok(HostVerdict::CheckResolved)
        );
    }

    #[test]
    fn guard_allows_listed_networks() {
        let g = guard(&[
            "127.0.0.0/8",
            "::1/128",
            " 10.1.0.0/16 ",
            "192.168.1.5",
            "[fd00::7]",
        ]);
        for ok in [
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "10.1.200.3",
            "192.168.1.5",
            "fd00::7",
            "::ffff:127.0.0.1",
        ] {
            assert_eq!(g.check_ip(ok.parse().unwrap()), Ok(()), "{ok}");
        }
        for (no, class) in [
            ("10.2.0.1", AddrClass::Private),
            ("192.168.1.6", AddrClass::Private),
            ("fd00::8", AddrClass::UniqueLocal),
            ("169.254.169.254", AddrClass::LinkLocal),
        ] {
            assert_eq!(g.check_ip(no.parse().unwrap()), Err(class), "{no}");
        }
        let v4 = url::Host::<&str>::Ipv4("127.0.0.1".parse().unwrap());
        assert_eq!(g.check_host(&v4), Ok(HostVerdict::Allowed));
        let v6 = url::Host::<&str>::Ipv6("fd00::8".parse().unwrap());
        assert_eq!(g.check_host(&v6), Err(AddrClass::UniqueLocal));
    }

    #[test]
    fn guard_matches_host_names_exactly_and_case_insensitively() {
        let g = guard(&["LocalHost", "news.internal.", "bücher.example"]);
        assert!(g.host_allowed("localhost"));
        assert!(g.host_allowed("localhost."));
        assert!(g.host_allowed("NEWS.internal"));
        assert!(g.host_allowed("xn--bcher-kva.example"));
        assert!(!g.host_allowed("evil.news.internal"));
        assert!(!g.host_allowed("internal"));
        assert_eq!(
            g.check_host(&url::Host::Domain("news.internal")),
            Ok(HostVerdict::Allowed)
        );
        // A listed name does not open its addresses to other names.
        assert_eq!(
            g.check_ip("127.0.0.1".parse().unwrap()),
            Err(AddrClass::Loopback)
        );
    }

    #[test]
    fn guard_rejects_bad_entries() {
        for bad in [
            "10.0.0.0/33",
            "::1/129",
            "example.com/8",
            "",
            "  ",
            "*.example",
            "a b",
            "http://x",
        ] {
            let err = Guard::new(&[bad.to_string()]).unwrap_err();
            assert_eq!(
                err,
                format!("fetch.allow: {bad:?} is not a host or CIDR network")
            );
        }
    }
}
