//! The web side: the site's names, TLS, nginx, and where alerts go.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};

use super::{Problems, push, url_problem};
use crate::dialect;
use crate::dialect::terminal::shown;
use crate::spec::dns::{self, Dns};
use crate::spec::edge::{self, Proxies};
use crate::spec::text::{DOMAIN_RULE, domain_ok, email_ok, one_line, url_ok};
use crate::spec::{Loaded, ProcessManager, Role, Spec, TlsMode};

pub(super) fn check(loaded: &Loaded, p: &mut Problems) {
    let spec = &loaded.spec;
    check_domains(spec, p);
    check_tls(loaded, p);
    check_nginx(spec, p);
    check_edge(spec, p);
    check_monitoring(spec, p);
}

/// Certificate authorities issue for at most 100 names.
const MAX_ALIASES: usize = 99;

fn check_domains(spec: &Spec, p: &mut Problems) {
    let names = spec.domain.iter().map(|d| ("domain".to_string(), d)).chain(
        spec.aliases
            .iter()
            .enumerate()
            .map(|(i, a)| (format!("aliases[{i}]"), a)),
    );
    let mut seen = HashSet::new();
    for (at, name) in names {
        if let Some(base) = name.strip_prefix("*.") {
            let problem = if !domain_ok(base) {
                Some(format!(
                    "`{}` is not a wildcard over a lowercase DNS name, such as `*.example.com` (no trailing dot)",
                    shown(name)
                ))
            } else {
                wildcard_refused(spec).map(|why| format!("`{name}` is a wildcard name, {why}"))
            };
            if let Some(problem) = problem {
                push(p, &at, problem);
                continue;
            }
        } else if name.contains('*') {
            push(
                p,
                &at,
                format!(
                    "`{}`: a wildcard is `*.` and then a DNS name, such as `*.example.com`, and stands for one label",
                    shown(name)
                ),
            );
            continue;
        } else if !domain_ok(name) {
            push(p, &at, format!("`{}` is not {DOMAIN_RULE}", shown(name)));
            continue;
        }
        if !seen.insert(name) {
            push(p, &at, format!("`{name}` is listed twice"));
        }
    }
    if spec.tls_mode() == TlsMode::Acme && spec.tls.dns.is_some() {
        check_acme_dns_names(spec, p);
    }
    if !spec.aliases.is_empty() && spec.domain.is_none() {
        push(p, "aliases", "aliases need a `domain`");
    }
    if spec.aliases.len() > MAX_ALIASES {
        push(
            p,
            "aliases",
            format!(
                "{} aliases: a certificate covers at most 100 names, the domain and {MAX_ALIASES} aliases",
                spec.aliases.len()
            ),
        );
    }
}

/// What ACME servers refuse of the names in one order over DNS-01: a name
/// a wildcard of the same order covers, and a name too long for its
/// challenge record (`_acme-challenge.` and the name, at most 253).
fn check_acme_dns_names(spec: &Spec, p: &mut Problems) {
    let names = spec.site_names();
    let keys = spec
        .domain
        .iter()
        .map(|_| "domain".to_string())
        .chain((0..spec.aliases.len()).map(|i| format!("aliases[{i}]")));
    // Names refused on their own (check_domains) are not judged again.
    let valid = |name: &str| domain_ok(name.strip_prefix("*.").unwrap_or(name));
    for (at, name) in keys.zip(&names).filter(|(_, name)| valid(name)) {
        let covering = name
            .split_once('.')
            .map(|(_, parent)| format!("*.{parent}"))
            .filter(|wildcard| !name.starts_with("*.") && names.contains(wildcard));
        if let Some(wildcard) = covering {
            push(
                p,
                at,
                format!(
                    "`{name}` is covered by `{wildcard}`, and ACME servers refuse an order that names both: drop one"
                ),
            );
        } else if name.trim_start_matches("*.").len() > 237 {
            push(
                p,
                at,
                "is too long for DNS-01: its challenge record, `_acme-challenge.` and the name, would pass DNS's 253 characters",
            );
        }
    }
}

/// Why the spec cannot serve a wildcard name: only a certificate that covers
/// it can, which ACME issues over DNS-01 alone (or the operator brings).
fn wildcard_refused(spec: &Spec) -> Option<&'static str> {
    match spec.tls_mode() {
        TlsMode::Acme if spec.tls.dns.is_some() => None,
        TlsMode::Files => None,
        TlsMode::Acme => Some(
            "which ACME certifies only over DNS-01: add `tls.dns` with your DNS provider (see the README), or list the names one by one",
        ),
        TlsMode::SelfSigned | TlsMode::Off => Some(
            "which needs a certificate that covers it: `tls.mode: acme` with `tls.dns`, or `tls.mode: files` with a wildcard certificate",
        ),
    }
}

fn check_tls(loaded: &Loaded, p: &mut Problems) {
    let spec = &loaded.spec;
    let tls = &spec.tls;
    let mode = spec.tls_mode();
    match mode {
        TlsMode::Acme => {
            if spec.domain.is_none() {
                push(
                    p,
                    "tls.mode",
                    "acme needs `domain` (and `tls.email`); use `self-signed` for hosts without a public name",
                );
            }
            if !url_ok(&tls.acme_directory) {
                push(p, "tls.acme_directory", url_problem(&tls.acme_directory));
            }
            if tls.email.is_none() {
                let why = match tls.mode {
                    Some(_) => "acme",
                    None => "with a `domain`, tls.mode defaults to acme, which",
                };
                let message = format!(
                    "{why} needs a contact email, e.g. `ops@example.com` (or set `tls.mode: self-signed`)"
                );
                push(p, "tls.email", message);
            }
        }
        TlsMode::Files => {
            for (key, value) in [("tls.cert", &tls.cert), ("tls.key", &tls.key)] {
                match value {
                    None => push(
                        p,
                        key,
                        "mode `files` needs both `tls.cert` (the chain) and `tls.key`",
                    ),
                    Some(path) if !loaded.resolve(path).is_file() => {
                        push(
                            p,
                            key,
                            format!(
                                "`{}` is not a file (paths are relative to {})",
                                shown(path),
                                loaded.file.display()
                            ),
                        );
                    }
                    Some(_) => {}
                }
            }
        }
        TlsMode::SelfSigned | TlsMode::Off => {}
    }
    if mode != TlsMode::Files {
        for (key, value) in [("tls.cert", &tls.cert), ("tls.key", &tls.key)] {
            if value.is_some() {
                push(p, key, "is only used with `tls.mode: files`");
            }
        }
    }
    if mode != TlsMode::Acme && tls.acme_ca.is_some() {
        push(p, "tls.acme_ca", "is only used with `tls.mode: acme`");
    }
    if let Some(dns) = &tls.dns {
        if tls.mode.is_none() && spec.domain.is_none() {
            push(
                p,
                "tls.dns",
                "needs a `domain` (without one, tls.mode is self-signed): certificates by DNS-01 are for a public name",
            );
        } else if mode != TlsMode::Acme {
            push(p, "tls.dns", "is only used with `tls.mode: acme`");
        }
        check_dns(dns, p);
    }
    if let Some(email) = &tls.email
        && !email_ok(email)
    {
        push(
            p,
            "tls.email",
            format!(
                "`{}` is not one email address such as `ops@example.com`",
                shown(email)
            ),
        );
    }
}

fn check_dns(dns: &Dns, p: &mut Problems) {
    if dns.provider == "manual" {
        push(
            p,
            "tls.dns.provider",
            "lego's `manual` asks on a terminal, and deployer runs lego unattended: name your DNS provider (`lego dnshelp` lists them)",
        );
    } else if !dns::PROVIDERS.contains(&dns.provider.as_str()) {
        push(
            p,
            "tls.dns.provider",
            format!(
                "`{}` is not one of lego's DNS providers: use its code, such as `cloudflare`, `route53`, `hetzner` or `ovh` (`lego dnshelp` lists them)",
                shown(&dns.provider)
            ),
        );
    }
    let mut seen = HashSet::new();
    for (i, credential) in dns.credentials.iter().enumerate() {
        let at = format!("tls.dns.credentials[{i}]");
        let name = &credential.name;
        if !super::check_secret(credential, &at, p) {
            continue;
        }
        if let Some(why) = dns::credential_name_problem(name) {
            push(p, at, format!("`{name}`: {why}"));
        } else if !seen.insert(name) {
            push(p, at, format!("{name} is listed twice"));
        }
    }
    for (i, resolver) in dns.resolvers.iter().enumerate() {
        let address = resolver
            .parse::<IpAddr>()
            .ok()
            .or_else(|| {
                resolver
                    .parse::<SocketAddr>()
                    .ok()
                    .filter(|a| a.port() != 0)
                    .map(|a| a.ip())
            })
            .filter(|ip| {
                let broadcast = ip == &IpAddr::from([255, 255, 255, 255]);
                !ip.is_unspecified() && !ip.is_multicast() && !broadcast
            });
        if address.is_none() {
            push(
                p,
                format!("tls.dns.resolvers[{i}]"),
                format!(
                    "`{}` is not a DNS server's address: one host's IP address, with a port if not 53 (`192.0.2.53:53`, `[2001:db8::53]:53`)",
                    shown(resolver)
                ),
            );
        }
    }
}

/// nginx's largest size: a signed 64-bit byte count.
const NGINX_MAX_SIZE: u128 = i64::MAX as u128;

/// An nginx size, `10m`: digits and an optional `k`, `m` or `g`, no more
/// than nginx can count.
fn nginx_size_ok(size: &str) -> bool {
    let (digits, scale) = match size.char_indices().last() {
        Some((i, 'k' | 'K')) => (&size[..i], 1u128 << 10),
        Some((i, 'm' | 'M')) => (&size[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&size[..i], 1 << 30),
        _ => (size, 1),
    };
    !digits.is_empty()
        && digits.len() <= 19
        && digits.chars().all(|c| c.is_ascii_digit())
        && digits
            .parse::<u128>()
            .is_ok_and(|n| n * scale <= NGINX_MAX_SIZE)
}

/// A relative path of plain names (letters, digits, `.`, `_`, `-`), as an
/// nginx `alias` under the release takes it unquoted.
fn release_dir_ok(dir: &str) -> bool {
    !dir.is_empty()
        && dir.len() <= 255
        && dir.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        })
}

/// A URL prefix for an nginx `location`: `/`, names of letters, digits and
/// `._~-`, each followed by `/`.
fn url_prefix_ok(url: &str) -> bool {
    let Some(inner) = url.strip_prefix('/').and_then(|u| u.strip_suffix('/')) else {
        return false;
    };
    url.len() <= 255
        && inner.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._~-".contains(c))
        })
}

/// An HTTP header name (RFC 9110 token), as nginx takes it unquoted.
fn header_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Headers nginx or deployer set: a second one would break the response's
/// framing or weaken a protection deployer gives every response.
const HEADERS_NOT_TO_ADD: &[&str] = &[
    "connection",
    "content-encoding",
    "content-length",
    "keep-alive",
    "permissions-policy",
    "proxy-connection",
    "referrer-policy",
    "strict-transport-security",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "x-content-type-options",
    "x-frame-options",
];

/// The longest word nginx reads in its configuration, quotes included.
const NGINX_LONGEST_WORD: usize = 4000;

fn check_edge(spec: &Spec, p: &mut Problems) {
    let edge = &spec.edge;
    for (i, trusted) in edge.trusted.iter().enumerate() {
        let Proxies::Network(net) = trusted.0 else {
            continue;
        };
        let at = format!("edge.trusted[{i}]");
        if let Some(v4) = edge::ipv4_mapped(&net) {
            push(
                p,
                at,
                format!(
                    "`{net}` is IPv4 written as IPv6, which nginx and the firewall match as IPv4 only: write `{v4}`"
                ),
            );
        } else if edge::too_wide(&net) {
            let (v4, v6) = edge::WIDEST_PUBLIC;
            push(
                p,
                at,
                format!(
                    "`{net}` is too wide: whoever is in it may say which address a client has; name the proxies' own networks, a public one a /{v4} (IPv4) or /{v6} (IPv6) at the widest (private space, such as 10.0.0.0/8 or fc00::/7, may be named whole)"
                ),
            );
        }
    }
    if edge.trusted.is_empty() {
        let needs = "needs `edge.trusted`: the networks of the proxies in front (or `cloudflare`)";
        if edge.proxy_protocol {
            push(p, "edge.proxy_protocol", needs);
        }
        if edge.only {
            push(p, "edge.only", needs);
        }
    } else if let Some(extra) = &spec.nginx.extra
        && let Ok(names) = dialect::nginx::directives(extra)
    {
        for name in names
            .iter()
            .filter(|n| n.starts_with("real_ip_") || *n == "set_real_ip_from")
        {
            push(
                p,
                "nginx.extra",
                format!(
                    "sets `{}`, which edge.trusted sets in the same block (nginx refuses it twice): name the proxies in edge.trusted and take it out",
                    shown(name)
                ),
            );
        }
    }
}

fn check_nginx(spec: &Spec, p: &mut Problems) {
    if spec.nginx.sticky_sessions && spec.app.process_manager == ProcessManager::Pm2 {
        push(
            p,
            "nginx.sticky_sessions",
            "pm2's cluster shares one port, so nginx cannot keep a client on one worker: use `app.process_manager: systemd` (one port per instance) or leave sticky sessions off",
        );
    }
    let nginx = &spec.nginx;
    if !nginx_size_ok(&nginx.max_body) {
        push(
            p,
            "nginx.max_body",
            format!(
                "`{}` is not an nginx size: a number with an optional k, m or g, e.g. `10m`",
                shown(&nginx.max_body)
            ),
        );
    }
    let limit = &nginx.rate_limit;
    if limit.enabled && !(1..=1_000_000).contains(&limit.rps) {
        push(
            p,
            "nginx.rate_limit.rps",
            "must be 1 to 1000000; set `enabled: false` to turn the limit off",
        );
    }
    if limit.burst > 1_000_000 {
        push(p, "nginx.rate_limit.burst", "must be 0 to 1000000");
    }
    for (name, value) in &nginx.headers {
        let at = format!("nginx.headers.{name}");
        if !header_name_ok(name) {
            push(p, &at, "header names are letters, digits and `-`");
        } else if HEADERS_NOT_TO_ADD.contains(&name.to_ascii_lowercase().as_str()) {
            push(
                p,
                &at,
                format!(
                    "{name} is set by nginx or by deployer for every response; a second one would break or weaken it"
                ),
            );
        }
        if !one_line(value) {
            push(p, &at, "values must be one line without control characters");
        } else if value.contains('$') {
            push(
                p,
                &at,
                "holds `$`, which nginx would read as a variable: header values are sent as written, without `$`",
            );
        } else if dialect::nginx::string(value).map_or(0, |q| q.len()) > NGINX_LONGEST_WORD {
            push(
                p,
                &at,
                "is longer than nginx reads: about 4000 characters, quotes and backslashes counting twice",
            );
        }
    }
    if let Some(extra) = &nginx.extra
        && let Err(problem) = dialect::nginx::directives(extra)
    {
        push(p, "nginx.extra", problem);
    }
    if let Some(files) = &nginx.static_files {
        // nginx serves them from the release, which only app hosts keep.
        if let Some(lb) = spec
            .hosts
            .iter()
            .find(|h| h.has(Role::Lb) && !h.has(Role::App))
        {
            push(
                p,
                "nginx.static",
                format!(
                    "`{}` runs no app, so it keeps no release to serve these files from: give it the app role too, or let the app serve them",
                    lb.name
                ),
            );
        }
        if !release_dir_ok(&files.dir) {
            push(
                p,
                "nginx.static.dir",
                format!(
                    "`{}` must be a directory inside the release, e.g. `public`: names of letters, digits, `.`, `_` and `-`, separated by `/`",
                    shown(&files.dir)
                ),
            );
        }
        if !url_prefix_ok(&files.url) {
            push(
                p,
                "nginx.static.url",
                format!(
                    "`{}` must be a URL path that starts and ends with `/`, e.g. `/static/` (not `/`, which the app serves): names of letters, digits, `.`, `_`, `~` and `-`",
                    shown(&files.url)
                ),
            );
        }
    }
}

fn check_monitoring(spec: &Spec, p: &mut Problems) {
    if !(1..=100).contains(&spec.monitoring.alert_after) {
        push(
            p,
            "monitoring.alert_after",
            "must be 1 to 100 failed checks in a row",
        );
    }
    if let Some(url) = &spec.monitoring.webhook
        && !url_ok(url)
    {
        push(p, "monitoring.webhook", url_problem(url));
    }
    if let Some(email) = &spec.monitoring.email
        && !email_ok(email)
    {
        push(
            p,
            "monitoring.email",
            format!(
                "`{}` is not one email address such as `ops@example.com`",
                shown(email)
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_dirs_and_prefixes() {
        for good in ["1m", "512k", "0", "20M", "8g"] {
            assert!(nginx_size_ok(good), "{good}");
        }
        for bad in [
            "",
            "m",
            "10 m",
            "10mb",
            "-1m",
            "99999999999999999999g",
            "1e3",
        ] {
            assert!(!nginx_size_ok(bad), "{bad}");
        }
        for good in ["public", "dist/public", ".well-known", "a_b-c.d"] {
            assert!(release_dir_ok(good), "{good}");
        }
        for bad in [
            "", "../etc", "a/../b", "/etc", "a b", "x; }", "a$b", "a//b", "./x",
        ] {
            assert!(!release_dir_ok(bad), "{bad}");
        }
        for good in ["/static/", "/a/b-c/", "/~u/"] {
            assert!(url_prefix_ok(good), "{good}");
        }
        for bad in [
            "static/", "/static", "/a b/", "/a;/", "/../", "//", "/a{/", "/",
        ] {
            assert!(!url_prefix_ok(bad), "{bad}");
        }
    }
}
