//! Checks that need more than one field, or more than a type: each problem is
//! a key path and a message that says what would be valid.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::time::Duration;

use super::{Host, Loaded, ProcessManager, REDIS_URL, Role, Spec, TlsMode};
use crate::spec::Instances;

type Problems = Vec<(String, String)>;

pub fn problems(loaded: &Loaded) -> Problems {
    let spec = &loaded.spec;
    let mut p = Problems::new();
    check_app(loaded, &mut p);
    check_ports(spec, &mut p);
    check_domains(spec, &mut p);
    check_tls(loaded, &mut p);
    check_network(spec, &mut p);
    check_hosts(spec, &mut p);
    check_nginx(spec, &mut p);
    check_runtime_ssh_monitoring(spec, &mut p);
    check_redis(spec, &mut p);
    p
}

fn push(p: &mut Problems, path: impl Into<String>, message: impl Into<String>) {
    p.push((path.into(), message.into()));
}

const NAME_RULE: &str =
    "lowercase letters, digits and `-`, starting with a letter, at most 32 characters";

/// Names become unit names, user names and directory names.
fn safe_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 32
        && !name.ends_with('-')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Accounts Debian or its packages already own: the app's user must be its own.
const RESERVED_USERS: &[&str] = &[
    "root",
    "daemon",
    "bin",
    "sys",
    "sync",
    "games",
    "man",
    "lp",
    "mail",
    "news",
    "uucp",
    "proxy",
    "www-data",
    "backup",
    "list",
    "irc",
    "nobody",
    "messagebus",
    "sshd",
    "nginx",
    "node",
    "redis",
    "postgres",
    "deployer",
];

fn check_app(loaded: &Loaded, p: &mut Problems) {
    let app = &loaded.spec.app;
    if !safe_name(&app.name) {
        push(
            p,
            "app.name",
            format!("`{}` is not a safe name: use {NAME_RULE}", app.name),
        );
    } else if RESERVED_USERS.contains(&app.name.as_str()) || app.name.starts_with("systemd-") {
        push(
            p,
            "app.name",
            format!(
                "`{}` is a system account on Debian; choose another name",
                app.name
            ),
        );
    }
    if !loaded.resolve(&app.source).is_dir() {
        push(
            p,
            "app.source",
            format!(
                "`{}` is not a directory (paths are relative to {})",
                app.source,
                loaded.file.display()
            ),
        );
    }
    if app.build.trim().is_empty() {
        push(
            p,
            "app.build",
            "must not be empty; the default is `npm ci --omit=dev`",
        );
    }
    check_command(&app.start, "app.start", app.process_manager, p);
    let health = &app.health;
    if !health.path.starts_with('/')
        || health
            .path
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        push(
            p,
            "app.health.path",
            format!(
                "`{}` must be a URL path starting with `/`, without spaces",
                health.path
            ),
        );
    }
    if health.interval < super::Duration::secs(1) {
        push(p, "app.health.interval", "must be at least 1s");
    }
    if health.timeout >= health.interval {
        push(
            p,
            "app.health.timeout",
            format!("must be shorter than the interval ({})", health.interval),
        );
    }
    if health.startup < health.timeout {
        push(
            p,
            "app.health.startup",
            format!("must be at least the timeout ({})", health.timeout),
        );
    }
    if app.keep_releases == 0 {
        push(
            p,
            "app.keep_releases",
            "must be at least 1 (the current release); 5 keeps room to roll back",
        );
    }
    if loaded.spec.rollout.batch == 0 {
        push(p, "rollout.batch", "must be at least 1 host");
    }
    check_env(app, p);
    let mut seen = HashSet::new();
    for (i, worker) in app.workers.iter().enumerate() {
        let at = format!("app.workers[{i}]");
        if !safe_name(&worker.name) {
            push(
                p,
                format!("{at}.name"),
                format!("`{}` is not a safe name: use {NAME_RULE}", worker.name),
            );
        } else if !seen.insert(worker.name.as_str()) {
            push(
                p,
                format!("{at}.name"),
                format!("`{}` is used by another worker", worker.name),
            );
        }
        check_command(
            &worker.start,
            &format!("{at}.start"),
            ProcessManager::Systemd,
            p,
        );
    }
}

/// Start commands run without a shell, so shell syntax would be passed to the
/// program as literal arguments.
fn check_command(command: &str, at: &str, pm: ProcessManager, p: &mut Problems) {
    let words = match shell_words::split(command) {
        Ok(words) => words,
        Err(_) => return push(p, at, "has an unclosed quote"),
    };
    let Some(program) = words.first() else {
        return push(p, at, "must name a program, e.g. `node server.js`");
    };
    let shell_syntax = ["|", "||", "&&", ";", "&", ">", ">>", "<", "2>&1"];
    if words.iter().any(|w| shell_syntax.contains(&w.as_str()))
        || command.contains("$(")
        || command.contains('`')
    {
        return push(
            p,
            at,
            "runs without a shell, so pipes, `;`, `&&`, redirections and `$(...)` do not work; put them in a script and start that",
        );
    }
    if command.contains('\n') {
        return push(p, at, "must be a single line");
    }
    if pm == ProcessManager::Pm2 && (program != "node" || words.len() < 2) {
        push(
            p,
            at,
            "pm2 cluster mode runs a Node script: write it as `node <script> [args]`",
        );
    }
}

fn env_name_ok(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Set by deployer for each instance.
const RESERVED_ENV: &[&str] = &["PORT", "HOST"];

fn check_env(app: &super::App, p: &mut Problems) {
    for (name, value) in &app.env {
        let at = format!("app.env.{name}");
        if !env_name_ok(name) {
            push(
                p,
                &at,
                "variable names are letters, digits and `_`, not starting with a digit",
            );
        } else if RESERVED_ENV.contains(&name.as_str()) {
            push(
                p,
                &at,
                format!("{name} is set by deployer for each instance; remove it"),
            );
        }
        if value.chars().any(|c| c.is_control() && c != '\t') {
            push(p, &at, "values must be one line without control characters");
        }
    }
    let mut seen = HashSet::new();
    for (i, secret) in app.secrets.iter().enumerate() {
        let at = format!("app.secrets[{i}]");
        let name = &secret.name;
        if !env_name_ok(name) {
            push(
                p,
                at,
                format!(
                    "`{name}` is not a variable name: letters, digits and `_`, not starting with a digit"
                ),
            );
        } else if app.env.contains_key(name) {
            push(
                p,
                at,
                format!("{name} is also in app.env; a variable is either a secret or not"),
            );
        } else if RESERVED_ENV.contains(&name.as_str()) {
            push(
                p,
                at,
                format!("{name} is set by deployer for each instance"),
            );
        } else if !seen.insert(name) {
            push(p, at, format!("{name} is listed twice"));
        } else if secret.sources().len() > 1 {
            push(p, at, "give one source: `env`, `file` or `command`");
        } else if let Some(variable) = secret.env.as_deref().filter(|v| !env_name_ok(v)) {
            push(
                p,
                format!("{at}.env"),
                format!("`{variable}` is not a variable name"),
            );
        }
    }
}

/// Every port a host may listen on must be distinct.
fn check_ports(spec: &Spec, p: &mut Problems) {
    let app = &spec.app;
    if app.port < 1024 {
        return push(
            p,
            "app.port",
            "must be 1024-65535: the app runs unprivileged and nginx owns 80 and 443",
        );
    }
    let count = match app.process_manager {
        // pm2's cluster shares one port between its instances.
        ProcessManager::Pm2 => 1,
        ProcessManager::Systemd => app.instances.upper_bound(),
    };
    let last = u32::from(app.port) + count - 1;
    let app_ports = u32::from(app.port)..=last;
    let span = match app.instances {
        Instances::Max if count > 1 => format!(
            "{}-{last} (`instances: max` may use up to {count} ports)",
            app.port
        ),
        _ if count > 1 => format!("{}-{last}", app.port),
        _ => app.port.to_string(),
    };
    if last > 65535 {
        push(
            p,
            "app.port",
            format!("the instances need ports {span}, past 65535"),
        );
    }
    let mut claims = vec![("network.ssh_port".to_string(), spec.network.ssh_port)];
    if let Some(redis) = &spec.services.redis {
        claims.push(("services.redis.port".into(), redis.port));
    }
    for (i, open) in spec.firewall.open.iter().enumerate() {
        let at = format!("firewall.open[{i}].port");
        if [spec.network.ssh_port, 80, 443].contains(&open.port) {
            push(
                p,
                &at,
                format!(
                    "port {} is already managed by deployer; remove this entry",
                    open.port
                ),
            );
        }
        claims.push((at, open.port));
    }
    for (at, port) in claims {
        if port == 0 {
            push(p, at, "must be 1-65535");
        } else if app_ports.contains(&u32::from(port)) {
            push(
                p,
                at,
                format!("port {port} clashes with the app's ports {span}"),
            );
        }
    }
}

/// A DNS name as certificates and nginx accept it.
fn domain_ok(name: &str) -> bool {
    name.len() <= 253
        && name.contains('.')
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

const DOMAIN_RULE: &str =
    "a lowercase DNS name such as `example.com` (no scheme, port or wildcard)";

fn check_domains(spec: &Spec, p: &mut Problems) {
    if let Some(domain) = &spec.domain
        && !domain_ok(domain)
    {
        push(p, "domain", format!("`{domain}` is not {DOMAIN_RULE}"));
    }
    if !spec.aliases.is_empty() && spec.domain.is_none() {
        push(p, "aliases", "aliases need a `domain`");
    }
    let mut seen: HashSet<&str> = spec.domain.iter().map(String::as_str).collect();
    for (i, alias) in spec.aliases.iter().enumerate() {
        if !domain_ok(alias) {
            push(
                p,
                format!("aliases[{i}]"),
                format!("`{alias}` is not {DOMAIN_RULE}"),
            );
        } else if !seen.insert(alias) {
            push(
                p,
                format!("aliases[{i}]"),
                format!("`{alias}` is listed twice"),
            );
        }
    }
}

fn email_ok(email: &str) -> bool {
    email.split_once('@').is_some_and(|(user, host)| {
        !user.is_empty() && domain_ok(host) && !user.contains(char::is_whitespace)
    })
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
                push(
                    p,
                    "tls.acme_directory",
                    format!("`{}` is not an http(s) URL", tls.acme_directory),
                );
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
                                "`{path}` is not a file (paths are relative to {})",
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
    if let Some(email) = &tls.email
        && !email_ok(email)
    {
        push(p, "tls.email", format!("`{email}` is not an email address"));
    }
}

fn check_network(spec: &Spec, p: &mut Problems) {
    if spec.network.ssh_from.is_empty() {
        push(
            p,
            "network.ssh_from",
            "is empty, so nobody could reach SSH; leave it out to allow anywhere, or list your networks",
        );
    }
    let has_private = spec.hosts.iter().any(|h| h.private_address.is_some());
    if has_private && spec.network.private.is_empty() {
        push(
            p,
            "network.private",
            "hosts have private addresses: name the network they share, e.g. `[10.0.0.0/24]`",
        );
    }
}

fn check_hosts(spec: &Spec, p: &mut Problems) {
    if spec.hosts.is_empty() {
        return push(
            p,
            "hosts",
            "list at least one host, e.g. `- {name: web1, address: 203.0.113.10}`",
        );
    }
    let mut names = HashSet::new();
    let mut addresses = BTreeMap::new();
    let mut private = BTreeMap::new();
    for (i, host) in spec.hosts.iter().enumerate() {
        let at = format!("hosts[{i}]");
        if !safe_name(&host.name) {
            push(
                p,
                format!("{at}.name"),
                format!("`{}` is not a safe name: use {NAME_RULE}", host.name),
            );
        } else if !names.insert(host.name.as_str()) {
            push(
                p,
                format!("{at}.name"),
                format!("`{}` names another host too", host.name),
            );
        }
        if !address_ok(&host.address) {
            push(
                p,
                format!("{at}.address"),
                format!("`{}` is neither an IP address nor a DNS name", host.address),
            );
        } else if let Some(other) = addresses.insert(host.address.as_str(), &host.name) {
            push(
                p,
                format!("{at}.address"),
                format!("`{}` is also the address of `{other}`", host.address),
            );
        }
        if let Some(ip) = &host.private_address {
            if !spec.network.private.is_empty()
                && !spec.network.private.iter().any(|net| net.contains(ip))
            {
                let nets: Vec<String> =
                    spec.network.private.iter().map(|n| n.to_string()).collect();
                push(
                    p,
                    format!("{at}.private_address"),
                    format!("{ip} is outside the private network ({})", nets.join(", ")),
                );
            }
            if let Some(other) = private.insert(*ip, &host.name) {
                push(
                    p,
                    format!("{at}.private_address"),
                    format!("{ip} is also the private address of `{other}`"),
                );
            }
        }
        let mut seen = HashSet::new();
        if host.roles.is_empty() {
            push(
                p,
                format!("{at}.roles"),
                "give at least one of `lb`, `app`, `worker`, or leave roles out for all three",
            );
        }
        for (j, role) in host.roles.iter().enumerate() {
            if !seen.insert(role) {
                push(p, format!("{at}.roles[{j}]"), "is listed twice");
            }
        }
        if let Some(user) = &host.user {
            check_user(user, &format!("{at}.user"), p);
        }
        if host.port == Some(0) {
            push(p, format!("{at}.port"), "must be 1-65535");
        }
    }
    check_roles(spec, p);
}

fn address_ok(address: &str) -> bool {
    address.parse::<IpAddr>().is_ok() || domain_ok(address)
}

fn check_roles(spec: &Spec, p: &mut Problems) {
    let with = |role| spec.hosts.iter().filter(move |h: &&Host| h.has(role));
    if with(Role::App).next().is_none() {
        push(p, "hosts", "no host has the `app` role");
    }
    if with(Role::Lb).next().is_none() {
        push(
            p,
            "hosts",
            "no host has the `lb` role: nginx must front the app",
        );
    }
    if !spec.app.workers.is_empty() && with(Role::Worker).next().is_none() {
        push(
            p,
            "hosts",
            "app.workers are defined but no host has the `worker` role",
        );
    }
    // A dedicated load balancer reaches the app hosts over the private network.
    let dedicated_lbs: Vec<&Host> = with(Role::Lb).filter(|h| !h.has(Role::App)).collect();
    if let Some(lb) = dedicated_lbs.first() {
        for (i, host) in spec.hosts.iter().enumerate() {
            let on_path = host.has(Role::App) || host.has(Role::Lb);
            if on_path && host.private_address.is_none() {
                push(
                    p,
                    format!("hosts[{i}].private_address"),
                    format!(
                        "required: `{}` proxies to the app hosts over the private network",
                        lb.name
                    ),
                );
            }
        }
    }
}

fn check_user(user: &str, at: &str, p: &mut Problems) {
    let ok = user
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && user.len() <= 32
        && user
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !ok {
        push(p, at, format!("`{user}` is not a valid user name"));
    }
}

/// With `ssh.allow_users`, every account deployer logs in as must be one.
fn check_allow_users(spec: &Spec, p: &mut Problems) {
    let allowed = &spec.ssh.allow_users;
    for (i, user) in allowed.iter().enumerate() {
        check_user(user, &format!("ssh.allow_users[{i}]"), p);
    }
    if allowed.is_empty() {
        return;
    }
    let logins = spec
        .ssh
        .user
        .iter()
        .map(|u| ("ssh.user".to_string(), u))
        .chain(
            spec.hosts
                .iter()
                .enumerate()
                .filter_map(|(i, h)| h.user.as_ref().map(|u| (format!("hosts[{i}].user"), u))),
        );
    for (at, user) in logins {
        if !allowed.contains(user) {
            push(
                p,
                "ssh.allow_users",
                format!(
                    "leaves out `{user}` ({at}), whom deployer logs in as: add it, or nobody could apply again"
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
    let size_ok = {
        let digits = nginx
            .max_body
            .trim_end_matches(['k', 'K', 'm', 'M', 'g', 'G']);
        !digits.is_empty()
            && digits.len() + 1 >= nginx.max_body.len()
            && digits.chars().all(|c| c.is_ascii_digit())
    };
    if !size_ok {
        push(
            p,
            "nginx.max_body",
            format!(
                "`{}` is not an nginx size: a number with an optional k, m or g, e.g. `10m`",
                nginx.max_body
            ),
        );
    }
    if nginx.rate_limit.enabled && nginx.rate_limit.rps == 0 {
        push(
            p,
            "nginx.rate_limit.rps",
            "must be at least 1; set `enabled: false` to turn the limit off",
        );
    }
    for (name, value) in &nginx.headers {
        let at = format!("nginx.headers.{name}");
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            push(p, &at, "header names are letters, digits and `-`");
        }
        if value.chars().any(char::is_control) {
            push(p, &at, "values must be one line without control characters");
        }
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
        let dir = std::path::Path::new(&files.dir);
        let inside = dir.is_relative()
            && dir
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !inside || files.dir.is_empty() {
            push(
                p,
                "nginx.static.dir",
                format!(
                    "`{}` must be a directory inside the release, e.g. `public`",
                    files.dir
                ),
            );
        }
        let url_ok = files.url.starts_with('/')
            && files.url.ends_with('/')
            && !files
                .url
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "{};\"'\\".contains(c));
        if !url_ok {
            push(
                p,
                "nginx.static.url",
                format!(
                    "`{}` must be a URL path that starts and ends with `/`, e.g. `/static/`",
                    files.url
                ),
            );
        }
    }
}

fn url_ok(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| {
        !r.is_empty()
            && !r
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '\'' || c == '"')
    })
}

fn check_runtime_ssh_monitoring(spec: &Spec, p: &mut Problems) {
    let node = &spec.runtime.node;
    if !(18..=99).contains(&node.version) {
        push(
            p,
            "runtime.node.version",
            format!(
                "`{}` is not a supported Node.js major version: use 18 or later, e.g. 22",
                node.version
            ),
        );
    }
    if let Some(mirror) = &node.mirror {
        if node.source != super::NodeSource::Official {
            push(
                p,
                "runtime.node.mirror",
                "is only used with `source: official`",
            );
        } else if !url_ok(mirror) {
            push(
                p,
                "runtime.node.mirror",
                format!("`{mirror}` is not an http(s) URL"),
            );
        }
    }
    let nodesource = node.source == super::NodeSource::Nodesource;
    if let Some(repository) = &node.repository {
        if !nodesource {
            push(
                p,
                "runtime.node.repository",
                "is only used with `source: nodesource`",
            );
        } else if !url_ok(repository) {
            push(
                p,
                "runtime.node.repository",
                format!("`{repository}` is not an http(s) URL"),
            );
        }
    }
    if let Some(fingerprint) = &node.key_fingerprint {
        if !nodesource {
            push(
                p,
                "runtime.node.key_fingerprint",
                "is only used with `source: nodesource`",
            );
        } else if fingerprint.len() != 40 || !fingerprint.chars().all(|c| c.is_ascii_hexdigit()) {
            push(
                p,
                "runtime.node.key_fingerprint",
                format!(
                    "`{fingerprint}` is not a key fingerprint: write its 40 hexadecimal digits without spaces, as `gpg --show-keys` prints them"
                ),
            );
        }
    }
    if let Some(user) = &spec.ssh.user {
        check_user(user, "ssh.user", p);
    }
    check_allow_users(spec, p);
    if !(1..=100).contains(&spec.monitoring.alert_after) {
        push(
            p,
            "monitoring.alert_after",
            "must be 1 to 100 failed checks in a row",
        );
    }
    let confirm = spec.firewall.confirm_within.0;
    if !(Duration::from_secs(10)..=Duration::from_secs(3600)).contains(&confirm) {
        push(
            p,
            "firewall.confirm_within",
            "must be 10s to 1h: long enough for a new SSH connection, short enough to wait out",
        );
    }
    if let Some(url) = &spec.monitoring.webhook
        && !url_ok(url)
    {
        push(
            p,
            "monitoring.webhook",
            format!("`{url}` is not an http(s) URL"),
        );
    }
    if let Some(email) = &spec.monitoring.email
        && !email_ok(email)
    {
        push(
            p,
            "monitoring.email",
            format!("`{email}` is not an email address"),
        );
    }
}

/// Redis holds the app's state for every app host: it must be reachable from
/// each of them on the private network (or share the host), and locked.
fn check_redis(spec: &Spec, p: &mut Problems) {
    let Some(redis) = &spec.services.redis else {
        return;
    };
    match spec.hosts.iter().find(|h| h.name == redis.host) {
        None => {
            let names: Vec<&str> = spec.hosts.iter().map(|h| h.name.as_str()).collect();
            let hint = match crate::yaml::did_you_mean(&redis.host, &names) {
                Some(close) => format!("did you mean `{close}`?"),
                None => format!("the hosts are {}", names.join(", ")),
            };
            push(
                p,
                "services.redis.host",
                format!("no host is named `{}`: {hint}", redis.host),
            );
        }
        Some(host) if host.private_address.is_none() => {
            let elsewhere: Vec<&str> = spec
                .hosts
                .iter()
                .filter(|h| (h.has(Role::App) || h.has(Role::Worker)) && h.name != host.name)
                .map(|h| h.name.as_str())
                .collect();
            if !elsewhere.is_empty() {
                push(
                    p,
                    "services.redis.host",
                    format!(
                        "{} has no private_address, so Redis listens on its loopback only, out of reach of {}: give it a private_address",
                        host.name,
                        elsewhere.join(", ")
                    ),
                );
            }
        }
        Some(_) => {}
    }
    if !spec.app.secrets.iter().any(|s| s.name == redis.password) {
        push(
            p,
            "services.redis.password",
            format!(
                "names no entry of app.secrets: add `- {}` there (its value comes from your environment, an env file or a command)",
                redis.password
            ),
        );
    }
    let taken = spec.app.env.contains_key(REDIS_URL)
        || spec.app.secrets.iter().any(|s| s.name == REDIS_URL);
    if taken {
        push(
            p,
            "services.redis",
            format!("deployer hands the app {REDIS_URL}; remove it from app.env and app.secrets"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_are_safe_for_units_users_and_paths() {
        for good in ["hello", "a", "web-1", "api2"] {
            assert!(safe_name(good), "{good}");
        }
        for bad in [
            "",
            "Hello",
            "1web",
            "web-",
            "a b",
            "a;b",
            "a/b",
            "x$(id)",
            &"a".repeat(33),
        ] {
            assert!(!safe_name(bad), "{bad}");
        }
    }

    #[test]
    fn domains() {
        assert!(domain_ok("example.com"));
        assert!(domain_ok("a-b.example.co.uk"));
        for bad in [
            "localhost",
            "Example.com",
            "-a.com",
            "a..com",
            "*.a.com",
            "https://a.com",
            "a.com:443",
        ] {
            assert!(!domain_ok(bad), "{bad}");
        }
    }
}
