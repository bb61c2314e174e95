//! Checks that need more than one field, or more than a type: each key is
//! held to what it means (a path is a path, a size a size, a name a name
//! that takes over nothing), and each problem is a key path and a message
//! that says what would be valid. By area: the app (`app.rs`), hosts,
//! networks and ports (`hosts.rs`), the web side: domains, TLS, nginx,
//! monitoring (`web.rs`).

mod app;
mod hosts;
mod web;

use super::edge::{Preset, Proxies};
use super::text::{one_line, user_ok};
use super::{Loaded, Secret};
use crate::dialect::terminal::shown;

type Problems = Vec<(String, String)>;

pub fn problems(loaded: &Loaded) -> Problems {
    let spec = &loaded.spec;
    let mut p = Problems::new();
    app::check(loaded, &mut p);
    hosts::check(spec, &mut p);
    web::check(loaded, &mut p);
    p
}

/// Not wrong, but worth the operator's attention: `(key, message)`.
pub fn warnings(loaded: &Loaded) -> Problems {
    let mut warnings = hosts::warnings(&loaded.spec);
    let edge = &loaded.spec.edge;
    if edge.proxy_protocol
        && edge
            .trusted
            .iter()
            .any(|t| t.0 == Proxies::Preset(Preset::Cloudflare))
    {
        push(
            &mut warnings,
            "edge.proxy_protocol",
            "Cloudflare's proxy sends X-Forwarded-For; only Cloudflare Spectrum sends the PROXY protocol, so requests through its ordinary proxy would fail",
        );
    }
    let max_body = &loaded.spec.nginx.max_body;
    if max_body
        .trim_end_matches(['k', 'K', 'm', 'M', 'g', 'G'])
        .parse::<u128>()
        == Ok(0)
    {
        push(
            &mut warnings,
            "nginx.max_body",
            "0 turns the request body limit off: any client may send a body of any size",
        );
    }
    warnings
}

fn env_name_ok(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 128
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// One entry of a list of secrets (`app.secrets`, `tls.dns.credentials`) at
/// `at`: a variable name and at most one well-formed source. False when it
/// is not.
fn check_secret(secret: &Secret, at: &str, p: &mut Problems) -> bool {
    let before = p.len();
    if !env_name_ok(&secret.name) {
        push(
            p,
            at,
            format!(
                "`{}` is not a variable name: letters, digits and `_`, not starting with a digit",
                shown(&secret.name)
            ),
        );
    } else if secret.sources().len() > 1 {
        push(p, at, "give one source: `env`, `file` or `command`");
    } else if let Some(variable) = secret.env.as_deref().filter(|v| !env_name_ok(v)) {
        push(
            p,
            format!("{at}.env"),
            format!("`{}` is not a variable name", shown(variable)),
        );
    } else if let Some(command) = secret.command.as_deref().filter(|c| !one_line(c)) {
        push(
            p,
            format!("{at}.command"),
            format!(
                "`{}` must be one line without control characters",
                shown(command)
            ),
        );
    }
    p.len() == before
}

fn push(p: &mut Problems, path: impl Into<String>, message: impl Into<String>) {
    p.push((path.into(), message.into()));
}

fn url_problem(url: &str) -> String {
    format!(
        "`{}` is not an http(s) URL such as `https://example.com/path` (without spaces, quotes, a user, a password or port 0)",
        shown(url)
    )
}

fn check_user(user: &str, at: &str, p: &mut Problems) {
    if !user_ok(user) {
        push(
            p,
            at,
            format!(
                "`{}` is not a valid user name: lowercase letters, digits, `_` and `-`, starting with a letter or `_`, at most 32 characters",
                shown(user)
            ),
        );
    }
}
