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

/// The shortest prefix a trusted network may have: whoever is in it may
/// say who the client is, so "everyone" (or a good part of the internet)
/// would let any client pick its own address. A private /8 is the widest.
pub const WIDEST_PREFIX: u8 = 8;

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
                assert!(net.0.prefix_len() >= WIDEST_PREFIX, "{net}");
            }
        }
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
