//! Small value types of deployer.yaml that parse from text and say what they
//! expected when they cannot.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Unexpected, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How many processes to run per host: a number, or `max` (one per CPU core).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Instances {
    #[default]
    Max,
    Count(u32),
}

impl Instances {
    /// The most processes `instances` may ask for, so that port ranges stay
    /// predictable whatever a host's core count.
    pub const LIMIT: u32 = 64;

    /// The number to run on a host with `cpus` cores.
    pub fn resolve(self, cpus: u32) -> u32 {
        match self {
            Instances::Max => cpus.clamp(1, Self::LIMIT),
            Instances::Count(n) => n,
        }
    }

    /// The most this setting can resolve to on any host.
    pub fn upper_bound(self) -> u32 {
        self.resolve(Self::LIMIT)
    }
}

impl<'de> Deserialize<'de> for Instances {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        const EXPECTED: &str = "a whole number from 1 to 64, or `max` (one per CPU core)";
        impl Visitor<'_> for V {
            type Value = Instances;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Instances, E> {
                match u32::try_from(n) {
                    Ok(n) if (1..=Instances::LIMIT).contains(&n) => Ok(Instances::Count(n)),
                    _ => Err(E::invalid_value(Unexpected::Signed(n), &self)),
                }
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Instances, E> {
                match u32::try_from(n) {
                    Ok(n) if (1..=Instances::LIMIT).contains(&n) => Ok(Instances::Count(n)),
                    _ => Err(E::invalid_value(Unexpected::Unsigned(n), &self)),
                }
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Instances, E> {
                match s {
                    "max" => Ok(Instances::Max),
                    _ => Err(E::invalid_value(Unexpected::Str(s), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Instances {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Instances".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A whole number from 1 to 64, or `max` (one per CPU core).",
            "oneOf": [
                {"type": "integer", "minimum": 1, "maximum": Instances::LIMIT},
                {"const": "max"}
            ]
        })
    }
}

impl Serialize for Instances {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Instances::Max => s.serialize_str("max"),
            Instances::Count(n) => s.serialize_u32(*n),
        }
    }
}

/// How many hosts a rollout switches at once after the first: a number, or
/// a share of the rollout's hosts (`25%`), for fleets that grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batch {
    Hosts(u16),
    Percent(u8),
}

impl Batch {
    /// The hosts per wave in a rollout of `hosts` hosts: a share rounds up,
    /// and a wave has at least one host.
    pub fn resolve(self, hosts: usize) -> usize {
        match self {
            Batch::Hosts(n) => usize::from(n),
            Batch::Percent(p) => (hosts * usize::from(p)).div_ceil(100),
        }
        .max(1)
    }
}

impl<'de> Deserialize<'de> for Batch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        const EXPECTED: &str =
            "a number of hosts such as `2`, or a share of the rollout's hosts from `1%` to `100%`";
        impl Visitor<'_> for V {
            type Value = Batch;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Batch, E> {
                u16::try_from(n)
                    .map(Batch::Hosts)
                    .map_err(|_| E::invalid_value(Unexpected::Signed(n), &self))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Batch, E> {
                u16::try_from(n)
                    .map(Batch::Hosts)
                    .map_err(|_| E::invalid_value(Unexpected::Unsigned(n), &self))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Batch, E> {
                s.strip_suffix('%')
                    .filter(|digits| {
                        // As the schema's pattern: digits, no leading zero.
                        !digits.starts_with('0')
                            && !digits.is_empty()
                            && digits.bytes().all(|b| b.is_ascii_digit())
                    })
                    .and_then(|digits| digits.parse::<u8>().ok())
                    .filter(|p| (1..=100).contains(p))
                    .map(Batch::Percent)
                    .ok_or_else(|| E::invalid_value(Unexpected::Str(s), &self))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Batch {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Batch".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A number of hosts such as `2`, or a share of the rollout's hosts from `1%` to `100%`.",
            "oneOf": [
                {"type": "integer", "minimum": 1, "maximum": u16::MAX},
                {"type": "string", "pattern": "^(100|[1-9][0-9]?)%$"}
            ]
        })
    }
}

impl Serialize for Batch {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Batch::Hosts(n) => s.serialize_u16(*n),
            Batch::Percent(p) => s.collect_str(&format_args!("{p}%")),
        }
    }
}

/// A length of time written as `10s`, `500ms`, `2m`; serialized as milliseconds
/// for templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub const fn secs(s: u64) -> Self {
        Duration(std::time::Duration::from_secs(s))
    }

    /// As written in a spec (`15m`), for what deployer reads back as a
    /// spec value (the claims file) rather than hands to a template.
    pub fn serialize_as_text<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A length of time: `10s`, `500ms`, `2m`, `1h`.",
            "type": "string",
            "pattern": "^[0-9]+ ?(ms|s|m|min|h)$"
        })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        humantime::format_duration(self.0).fmt(f)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as `10s`, `500ms` or `2m`")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Duration, E> {
                humantime::parse_duration(s)
                    .map(Duration)
                    .map_err(|_| E::invalid_value(Unexpected::Str(s), &self))
            }
        }
        d.deserialize_str(V)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0.as_millis() as u64)
    }
}

/// Text that must parse as `T`, with `EXPECTED` saying what would be valid.
macro_rules! parsed_text {
    ($name:ident, $inner:ty, $expected:literal, $check:expr) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub $inner);

        impl JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({"type": "string", "description": $expected})
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                let check: fn(&str) -> Option<$inner> = $check;
                check(&text)
                    .map($name)
                    .ok_or_else(|| de::Error::invalid_value(Unexpected::Str(&text), &$expected))
            }
        }

        impl FromStr for $name {
            type Err = String;

            /// The text as the spec reads it; the error says what would be valid.
            fn from_str(text: &str) -> Result<Self, String> {
                let check: fn(&str) -> Option<$inner> = $check;
                check(text).map($name).ok_or_else(|| {
                    format!("expected {}, found `{}`", $expected, crate::dialect::terminal::shown(text))
                })
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

parsed_text!(
    Cidr,
    IpNet,
    "a network such as `10.0.0.0/24` or `fd00::/64` (a single address means just that address), with no host bits set",
    parse_cidr
);

parsed_text!(
    Trusted,
    super::edge::Proxies,
    "a network such as `203.0.113.0/24` or `2001:db8::/32` (no host bits set), or `cloudflare` (the networks Cloudflare publishes)",
    super::edge::parse
);

parsed_text!(
    Ip,
    IpAddr,
    "an IP address such as `10.0.0.10` or `fd00::10`",
    |s| IpAddr::from_str(s).ok()
);

pub(super) fn parse_cidr(text: &str) -> Option<IpNet> {
    let net = match IpNet::from_str(text) {
        Ok(net) => net,
        Err(_) => IpNet::from(IpAddr::from_str(text).ok()?),
    };
    (net == net.trunc()).then_some(net)
}

/// Ranges no one reaches from the internet: RFC 1918, shared address space
/// (RFC 6598, used by overlay networks), benchmarking (RFC 2544, used by
/// labs), unique local IPv6.
const PRIVATE_RANGES: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "198.18.0.0/15",
    "fc00::/7",
];

impl Cidr {
    /// Whether the whole network lies in a range no one reaches from the
    /// internet.
    pub fn is_private(&self) -> bool {
        PRIVATE_RANGES
            .iter()
            .any(|r| r.parse::<IpNet>().is_ok_and(|r| r.contains(&self.0)))
    }

    pub fn is_ipv4(&self) -> bool {
        matches!(self.0, IpNet::V4(_))
    }

    pub fn contains(&self, ip: &Ip) -> bool {
        self.0.contains(&ip.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_resolve_against_the_rollout() {
        assert_eq!(Batch::Hosts(3).resolve(10), 3);
        assert_eq!(Batch::Hosts(0).resolve(10), 1);
        assert_eq!(Batch::Percent(25).resolve(10), 3);
        assert_eq!(Batch::Percent(25).resolve(30), 8);
        assert_eq!(Batch::Percent(1).resolve(2), 1);
        assert_eq!(Batch::Percent(100).resolve(7), 7);
        let read = |yaml: &str| serde_json::from_str::<Batch>(yaml).ok();
        assert_eq!(read("2"), Some(Batch::Hosts(2)));
        assert_eq!(read("\"25%\""), Some(Batch::Percent(25)));
        for bad in [
            "\"0%\"", "\"101%\"", "\"%\"", "\"+5%\"", "\"25\"", "\"05%\"", "-1", "70000",
        ] {
            assert_eq!(read(bad), None, "{bad}");
        }
        assert_eq!(
            serde_json::to_string(&Batch::Percent(25)).unwrap(),
            "\"25%\""
        );
    }

    #[test]
    fn instances_resolve_against_cores() {
        assert_eq!(Instances::Max.resolve(8), 8);
        assert_eq!(Instances::Max.resolve(0), 1);
        assert_eq!(Instances::Max.resolve(512), Instances::LIMIT);
        assert_eq!(Instances::Count(3).resolve(8), 3);
        assert_eq!(Instances::Max.upper_bound(), Instances::LIMIT);
    }

    #[test]
    fn cidrs_refuse_host_bits_and_accept_bare_addresses() {
        assert_eq!(
            parse_cidr("10.0.0.0/24").unwrap().to_string(),
            "10.0.0.0/24"
        );
        assert_eq!(
            parse_cidr("203.0.113.7").unwrap().to_string(),
            "203.0.113.7/32"
        );
        assert_eq!(parse_cidr("fd00::/64").unwrap().to_string(), "fd00::/64");
        assert!(parse_cidr("10.0.0.5/24").is_none());
        assert!(parse_cidr("10.0.0.0/33").is_none());
        assert!(parse_cidr("ten").is_none());
    }
}
