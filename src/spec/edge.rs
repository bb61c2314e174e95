//! The proxies in front of nginx (`edge`): a CDN or a cloud load balancer,
//! named by their networks or by a preset whose published ranges are kept
//! here with the date they were taken, like the Node.js schedule table.
//! Update a preset when its owner publishes a change.

use std::fmt;

use ipnet::IpNet;

use super::Cidr;

/// A provider whose proxy networks deployer knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Preset {
    Cloudflare,
}

impl Preset {
    const ALL: &[Preset] = &[Preset::Cloudflare];

    pub fn name(self) -> &'static str {
        match self {
            Preset::Cloudflare => "cloudflare",
        }
    }

    /// Where the ranges come from, and as of when.
    pub fn source(self) -> &'static str {
        match self {
            Preset::Cloudflare => {
                "cloudflare.com/ips-v4 and ips-v6, taken 2026-11-29 from a copy dated 2024-06-25"
            }
        }
    }

    pub fn networks(self) -> &'static [&'static str] {
        match self {
            Preset::Cloudflare => &[
                "173.245.48.0/20",
                "103.21.244.0/22",
                "103.22.200.0/22",
                "103.31.4.0/22",
                "141.101.64.0/18",
                "108.162.192.0/18",
                "190.93.240.0/20",
                "188.114.96.0/20",
                "197.234.240.0/22",
                "198.41.128.0/17",
                "162.158.0.0/15",
                "104.16.0.0/13",
                "104.24.0.0/14",
                "172.64.0.0/13",
                "131.0.72.0/22",
                "2400:cb00::/32",
                "2606:4700::/32",
                "2803:f800::/32",
                "2405:b500::/32",
                "2405:8100::/32",
                "2a06:98c0::/29",
                "2c0f:f248::/32",
            ],
        }
    }
}

/// One entry of `edge.trusted`: a network, or a preset's networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proxies {
    Network(IpNet),
    Preset(Preset),
}

impl fmt::Display for Proxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Proxies::Network(net) => net.fmt(f),
            Proxies::Preset(preset) => f.write_str(preset.name()),
        }
    }
}

pub(super) fn parse(text: &str) -> Option<Proxies> {
    if let Some(preset) = Preset::ALL.iter().find(|p| p.name() == text) {
        return Some(Proxies::Preset(*preset));
    }
    super::values::parse_cidr(text).map(Proxies::Network)
}

/// Private address space, which a trusted network may name whole: a load
/// balancer's network is often all of it.
const PRIVATE: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "fc00::/7",
];

/// The widest public network a trusted entry may name (IPv4, IPv6):
/// whoever is in it may say which address a client has, so "everyone", or
/// a good part of the internet, would let any client pick its own. The
/// largest CDN ranges are a /13 and a /29.
pub const WIDEST_PUBLIC: (u8, u8) = (12, 28);

/// Whether `net` is wider than a trusted network may be.
pub fn too_wide(net: &IpNet) -> bool {
    let private = PRIVATE
        .iter()
        .any(|p| p.parse::<IpNet>().expect("valid").contains(net));
    let widest = match net {
        IpNet::V4(_) => WIDEST_PUBLIC.0,
        IpNet::V6(_) => WIDEST_PUBLIC.1,
    };
    !private && net.prefix_len() < widest
}

/// The IPv4 network `net` spells as IPv4-mapped IPv6 (`::ffff:a.b.c.d`),
/// which nginx and nftables match as IPv4 only.
pub fn ipv4_mapped(net: &IpNet) -> Option<ipnet::Ipv4Net> {
    let IpNet::V6(v6) = net else { return None };
    let mapped = v6.network().to_ipv4_mapped()?;
    (v6.prefix_len() >= 96)
        .then(|| ipnet::Ipv4Net::new(mapped, v6.prefix_len() - 96).expect("a prefix of at most 32"))
}

impl Proxies {
    /// Its networks, in the order given.
    pub fn networks(&self) -> Vec<Cidr> {
        match self {
            Proxies::Network(net) => vec![Cidr(*net)],
            Proxies::Preset(preset) => preset
                .networks()
                .iter()
                .map(|n| Cidr(n.parse().expect("a preset's networks are valid")))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_networks_without_host_bits() {
        for preset in Preset::ALL {
            let nets = Proxies::Preset(*preset).networks();
            assert_eq!(nets.len(), preset.networks().len());
            for net in nets {
                assert_eq!(net.0, net.0.trunc(), "{net}");
                assert!(!too_wide(&net.0), "{net}");
            }
        }
    }

    #[test]
    fn public_networks_are_narrow_private_space_may_be_whole() {
        let wide = |net: &str| too_wide(&net.parse().unwrap());
        for fine in [
            "10.0.0.0/8",
            "fc00::/7",
            "fd12::/16",
            "104.16.0.0/13",
            "2a06:98c0::/29",
            "203.0.113.7/32",
        ] {
            assert!(!wide(fine), "{fine}");
        }
        for too in [
            "0.0.0.0/0",
            "8.0.0.0/8",
            "104.0.0.0/11",
            "2a00::/8",
            "2000::/3",
            "::/0",
        ] {
            assert!(wide(too), "{too}");
        }
        let mapped = |net: &str| ipv4_mapped(&net.parse().unwrap()).map(|n| n.to_string());
        assert_eq!(
            mapped("::ffff:203.0.113.7/128").as_deref(),
            Some("203.0.113.7/32")
        );
        assert_eq!(mapped("::ffff:0.0.0.0/96").as_deref(), Some("0.0.0.0/0"));
        assert_eq!(mapped("2001:db8::/32"), None);
        assert_eq!(mapped("203.0.113.0/24"), None);
    }

    #[test]
    fn entries_are_networks_or_presets() {
        assert_eq!(
            parse("cloudflare"),
            Some(Proxies::Preset(Preset::Cloudflare))
        );
        assert_eq!(parse("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse("203.0.113.7").unwrap().to_string(), "203.0.113.7/32");
        assert_eq!(parse("Cloudflare"), None);
        assert_eq!(parse("10.0.0.1/8"), None);
        assert_eq!(parse("fastly"), None);
    }
}
