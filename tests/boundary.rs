//! The input boundary, tried as a hostile user would. For every string-valued
//! key of deployer.yaml, strings with control characters, quotes, braces,
//! `;`, `$`, `%`, unicode or great length (a fixed list, then seeded random
//! mixes of them) either make the spec invalid with its problems located,
//! or render files that the host's own tools accept (`nginx -t`,
//! `systemd-analyze verify`, `sshd -t`, `nft -c`, `bash -n`, a JSON parser)
//! and that hold exactly the directives, unit lines and entries the plain
//! value gives: no extra directive, no extra line, no extra key.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use common::checkers::{nft_check, nginx_check, site_of, systemd_verify};
use common::{in_namespaces, require, text};
use deployer::deploy;
use deployer::dialect::yaml::scalar;
use deployer::resource::{Resource, diff};
use deployer::spec::{self, Loaded, Secrets};

/// A spec in which every key lands somewhere: `«key»` marks where each
/// string-valued key's value goes.
const BASE: &str = r#"app:
  name: «app.name»
  source: «app.source»
  build: «app.build»
  start: «app.start»
  health:
    path: «app.health.path»
    interval: «app.health.interval»
  env:
    «app.env name»: «app.env value»
  secrets:
    - name: «app.secrets name»
      command: «app.secrets command»
    - name: REDIS_PASSWORD
  workers:
    - name: «app.workers name»
      start: «app.workers start»
  egress: [«app.egress»]
runtime:
  node:
    mirror: «runtime.node.mirror»
domain: «domain»
aliases: [«aliases»]
tls:
  email: «tls.email»
  acme_directory: «tls.acme_directory»
network:
  private: [«network.private»]
  ssh_from: [«network.ssh_from»]
hosts:
  - name: «hosts.name»
    address: «hosts.address»
    private_address: «hosts.private_address»
    user: «hosts.user»
ssh:
  identity: «ssh.identity»
  known_hosts_file: «ssh.known_hosts_file»
  allow_users: [«hosts.user», «ssh.allow_users»]
nginx:
  static:
    dir: «nginx.static.dir»
    url: «nginx.static.url»
  max_body: «nginx.max_body»
  headers:
    «nginx.headers name»: «nginx.headers value»
  extra: «nginx.extra»
monitoring:
  webhook: «monitoring.webhook»
  email: «monitoring.email»
services:
  redis:
    host: «hosts.name»
    password: REDIS_PASSWORD
firewall:
  open:
    - port: 9100
      from: [«firewall.open.from»]
"#;

/// Each key's plain value, which the base spec takes.
const PLAIN: &[(&str, &str)] = &[
    ("app.name", "shop"),
    // Plain: this checkout's example (see `spec_with`).
    ("app.source", ""),
    ("app.build", "npm ci --omit=dev"),
    ("app.start", "node server.js --cluster"),
    ("app.health.path", "/healthz"),
    ("app.health.interval", "10s"),
    ("app.env name", "GREETING"),
    ("app.env value", "hello"),
    ("app.secrets name", "SESSION_SECRET"),
    ("app.secrets command", "pass show session"),
    ("app.workers name", "mailer"),
    ("app.workers start", "node mailer.js"),
    ("app.egress", "203.0.113.0/24"),
    ("runtime.node.mirror", "https://mirror.example.org/node"),
    ("domain", "shop.example.com"),
    ("aliases", "www.shop.example.com"),
    ("tls.email", "ops@example.com"),
    ("tls.acme_directory", "https://acme.example.org/directory"),
    ("network.private", "10.0.0.0/24"),
    ("network.ssh_from", "192.0.2.0/24"),
    ("hosts.name", "web1"),
    ("hosts.address", "198.18.0.10"),
    ("hosts.private_address", "10.0.0.10"),
    ("hosts.user", "deploy"),
    ("ssh.identity", "~/.ssh/id_ed25519"),
    ("ssh.known_hosts_file", "known_hosts"),
    ("ssh.allow_users", "admin"),
    ("nginx.static.dir", "public"),
    ("nginx.static.url", "/static/"),
    ("nginx.max_body", "10m"),
    ("nginx.headers name", "X-Robots-Tag"),
    ("nginx.headers value", "noindex"),
    ("nginx.extra", "gzip on;"),
    ("monitoring.webhook", "https://hooks.example.com/deployer"),
    ("monitoring.email", "oncall@example.com"),
    ("firewall.open.from", "10.0.0.5"),
];

/// The base with certificates by DNS-01 (lego) instead of HTTP-01
/// (dehydrated): its keys, and where they go.
fn dns_base() -> String {
    let tls = "  acme_directory: «tls.acme_directory»\n";
    assert!(BASE.contains(tls));
    BASE.replace(
        tls,
        &format!(
            "{tls}  dns:\n    provider: «tls.dns.provider»\n    credentials:\n      - name: «tls.dns.credentials name»\n        command: «tls.dns.credentials command»\n    resolvers: [«tls.dns.resolvers»]\n"
        ),
    )
}

const DNS_PLAIN: &[(&str, &str)] = &[
    ("tls.dns.provider", "cloudflare"),
    ("tls.dns.credentials name", "CF_DNS_API_TOKEN"),
    ("tls.dns.credentials command", "pass show cloudflare"),
    ("tls.dns.resolvers", "192.0.2.53:53"),
];

/// What a hostile user types.
const HOSTILE: &[&str] = &[
    "",
    " ",
    "x; } location /leak/ { alias /etc/; autoindex on; } location /zz { alias /x",
    "a\r\nUser=root",
    "a\nExecStartPre=/bin/sh -c id",
    "a\0b",
    "\u{feff}a",
    "a\u{2028}b",
    "a\u{85}b",
    "a\u{1b}[31mred",
    "%n%i%h",
    "$(reboot)",
    "`id`",
    "${HOME}",
    "$5",
    "it's",
    "\"quoted\"",
    "back\\slash\\",
    "{}",
    "};",
    "a;b",
    "a|b&&c",
    "#comment",
    "- item",
    "key: value",
    "ünïcødé ✓ 🚀",
    "\u{202e}gnp.exe",
    "../../etc/passwd",
    "/etc/shadow",
    "-rf",
    "*",
    "10.0.0.0/0",
    "::/0",
    "0",
    "99999999999999999999g",
    "https://evil.example.com/\"; reboot; \"",
    "a@b.com\nBcc: x@y.com",
    "node server.js --title 'a b%c'",
    "node server.js \"a\\\"b\"",
    "location / { return 200; }",
    "}\nserver { listen 8080; }\n",
];

/// Fragments random mixes are made of.
const FRAGMENTS: &[&str] = &[
    "a",
    "Z",
    "9",
    "-",
    "_",
    ".",
    "/",
    " ",
    "\t",
    "\n",
    "\r",
    "\0",
    "'",
    "\"",
    "\\",
    "`",
    "$",
    "%",
    ";",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "#",
    "=",
    ":",
    "@",
    "&",
    "|",
    "<",
    ">",
    "*",
    "?",
    "~",
    ",",
    "é",
    "日本",
    "\u{85}",
    "\u{2028}",
    "\u{feff}",
    "\u{7f}",
    "\u{1b}",
    "node",
    "server.js",
    "example.com",
    "10.0.0.1",
    "http://",
    "https://",
];

/// Deterministic mixes: the same cases on every run.
fn mixes(seed: u64, count: usize) -> Vec<String> {
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|_| {
            let parts = 1 + next() % 8;
            let mut text: String = (0..parts)
                .map(|_| FRAGMENTS[(next() % FRAGMENTS.len() as u64) as usize])
                .collect();
            if next() % 10 == 0 {
                text = text.repeat(600);
            }
            text
        })
        .collect()
}

/// The spec with `key` set to `value` and every other key plain; also the
/// lines `key` stands on.
fn spec_with(base: &str, key: &str, value: &str) -> (String, Vec<usize>) {
    let mut text = base.to_string();
    let mut lines = Vec::new();
    for (name, plain) in PLAIN.iter().chain(DNS_PLAIN) {
        let marker = format!("«{name}»");
        if *name == key {
            lines = base
                .lines()
                .enumerate()
                .filter(|(_, line)| line.contains(&marker))
                .map(|(i, _)| i + 1)
                .collect();
        }
        let example = format!("{}/examples/hello", common::ROOT);
        let written = match (*name == key, *name) {
            (true, _) => value,
            (false, "app.source") => &example,
            (false, _) => plain,
        };
        text = text.replace(&marker, &scalar(written));
    }
    (text, lines)
}

fn load(dir: &Path, yaml: &str) -> Result<Loaded, spec::Invalid> {
    let file = dir.join("deployer.yaml");
    fs::write(&file, yaml).unwrap();
    spec::load(&file, Secrets::Skip).expect("the spec file reads")
}

/// The shape of a rendered file, which a value must never change: nginx's
/// statements (name and nesting), a unit's or env file's keys line by
/// line, JSON's keys, or else each line's first word.
fn shape(path: &str, content: &str) -> Vec<String> {
    if path.starts_with("/etc/nginx/") && path.ends_with(".conf") {
        return nginx_statements(content);
    }
    if path.ends_with(".json") {
        let value: serde_json::Value = serde_json::from_str(content)
            .unwrap_or_else(|e| panic!("{path} is not JSON ({e}):\n{content}"));
        let mut keys = Vec::new();
        json_keys(&value, "", &mut keys);
        return keys;
    }
    let keyed = path.starts_with("/etc/systemd/") || path.ends_with(".env");
    content
        .lines()
        .map(|line| {
            let line = line.trim_start();
            if keyed && !line.starts_with('#') {
                line.split('=').next().unwrap_or_default().to_string()
            } else {
                line.split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string()
            }
        })
        .collect()
}

fn json_keys(value: &serde_json::Value, at: &str, keys: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map {
                keys.push(format!("{at}.{key}"));
                json_keys(inner, &format!("{at}.{key}"), keys);
            }
        }
        serde_json::Value::Array(items) => {
            keys.push(format!("{at}[{}]", items.len()));
            for (i, item) in items.iter().enumerate() {
                json_keys(item, &format!("{at}[{i}]"), keys);
            }
        }
        _ => {}
    }
}

/// nginx's statements as its parser reads them: each directive's name
/// with its depth; quoted strings and comments skipped.
fn nginx_statements(content: &str) -> Vec<String> {
    let (mut statements, mut depth, mut word, mut first) =
        (Vec::new(), 0usize, String::new(), true);
    let mut chars = content.chars().peekable();
    let end_word =
        |statements: &mut Vec<String>, word: &mut String, first: &mut bool, depth: usize| {
            if !word.is_empty() {
                if *first {
                    statements.push(format!("{depth}:{word}"));
                    *first = false;
                }
                word.clear();
            }
        };
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                word.push(c);
                word.extend(chars.next());
            }
            '$' if chars.peek() == Some(&'{') => {
                word.push(c);
                for v in chars.by_ref() {
                    word.push(v);
                    if v == '}' {
                        break;
                    }
                }
            }
            '#' if word.is_empty() => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '"' | '\'' if word.is_empty() => {
                word.push(c);
                while let Some(q) = chars.next() {
                    if q == '\\' {
                        chars.next();
                    } else if q == c {
                        break;
                    }
                }
            }
            ';' => {
                end_word(&mut statements, &mut word, &mut first, depth);
                first = true;
            }
            '{' => {
                end_word(&mut statements, &mut word, &mut first, depth);
                depth += 1;
                first = true;
            }
            '}' => {
                end_word(&mut statements, &mut word, &mut first, depth);
                statements.push(format!("{depth}:}}"));
                depth = depth.saturating_sub(1);
                first = true;
            }
            c if c.is_whitespace() => end_word(&mut statements, &mut word, &mut first, depth),
            c => word.push(c),
        }
    }
    statements
}

/// Every resource of every host, with file contents.
fn rendered(loaded: &Loaded) -> Result<Vec<Resource>, String> {
    let renderer = deployer::render::Renderer::new().unwrap();
    let mut all = Vec::new();
    for host in &loaded.spec.hosts {
        all.extend(
            deploy::desired(
                &renderer,
                loaded,
                host,
                &deployer::layout::AssumedCores(2),
                &Default::default(),
            )
            .map_err(|e| format!("{e:#}"))?,
        );
    }
    Ok(all)
}

/// Scripts a resource carries (commands and their checks, files' checks),
/// and the converge script that would create them all.
fn scripts(resources: &[Resource]) -> Vec<String> {
    let mut scripts = Vec::new();
    for resource in resources {
        match resource {
            // The check itself too: the test only wraps it in an eval.
            Resource::Command(c) => {
                scripts.extend([c.run.clone(), c.unless_test()]);
                scripts.extend(c.unless.clone());
            }
            Resource::File(f) => scripts.extend(f.check.iter().map(|c| c.run.clone())),
            _ => {}
        }
    }
    let changes: Vec<diff::Change> = resources
        .iter()
        .map(|r| diff::Change {
            id: r.id(),
            action: match r {
                Resource::Command(_) => diff::Action::Run,
                Resource::Service(_) => diff::Action::Start,
                _ => diff::Action::Create,
            },
            details: vec!["enable".into(), "start".into()],
            diff: None,
        })
        .collect();
    let lease = deployer::safety::lock::Lease::new("/var/lib/deployer", 60);
    let guard = deployer::safety::lockout::LockoutGuard::permissive(&lease.state_dir);
    let converge = deployer::converge::script(
        resources,
        &changes,
        &[],
        &lease,
        &guard,
        &deployer::resource::owned::Pruning::default(),
    );
    scripts.push(deployer::converge::detached(&converge, "/var/lib/deployer"));
    scripts
}

fn bash_n(script: &str) -> Result<(), String> {
    let out = std::process::Command::new("bash")
        .args(["-n", "-c", script])
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("bash -n: {}", text(&out)))
    }
}

/// The host's own tools on what `loaded` renders, for the kinds of files
/// that differ from the plain render.
fn real_checkers(dir: &Path, loaded: &Loaded, changed: &[String]) -> Result<(), String> {
    let out = dir.join("out");
    let _ = fs::remove_dir_all(&out);
    deploy::render(loaded, None, 2, deployer::platform::System::Debian12, &out)
        .map_err(|e| format!("{e:#}"))?;
    for host in &loaded.spec.hosts {
        let host_dir = out.join(&host.name);
        let touched = |prefix: &str| changed.iter().any(|p| p.starts_with(prefix));
        if touched("/etc/nginx/")
            && let Some(site) = site_of(&host_dir)
        {
            let result = nginx_check(&out, &host_dir, &site);
            if !result.status.success() {
                return Err(format!("nginx -t: {}", text(&result)));
            }
        }
        if touched("/etc/systemd/system/") {
            let result = systemd_verify(&host_dir);
            if !result.status.success() || !text(&result).trim().is_empty() {
                return Err(format!("systemd-analyze verify: {}", text(&result)));
            }
        }
        if touched("/etc/deployer/firewall") {
            let result = nft_check(&host_dir);
            if !result.status.success() {
                return Err(format!("nft -c: {}", text(&result)));
            }
        }
        if touched("/etc/ssh/") {
            let key = dir.join("host_key");
            if !key.exists() {
                let made = std::process::Command::new("ssh-keygen")
                    .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                    .arg(&key)
                    .output()
                    .unwrap();
                assert!(made.status.success(), "{}", text(&made));
            }
            let config = dir.join("sshd_config");
            let drop_in = host_dir.join("etc/ssh/sshd_config.d/00-deployer.conf");
            fs::write(
                &config,
                format!("Include {}\nHostKey {}\n", drop_in.display(), key.display()),
            )
            .unwrap();
            let result = in_namespaces(&format!(
                "mount -t tmpfs tmpfs /run && mkdir -m 0755 /run/sshd\nsshd -t -f {}",
                config.display()
            ));
            if !result.status.success() {
                return Err(format!("sshd -t: {}", text(&result)));
            }
        }
    }
    Ok(())
}

/// What the base spec renders: the reference every accepted value is held to.
struct Plain {
    /// The spec the values go into.
    base: String,
    resources: Vec<Resource>,
    shapes: Vec<(String, Vec<String>)>,
    scripts: Vec<String>,
}

fn shapes(resources: &[Resource]) -> Vec<(String, Vec<String>)> {
    resources
        .iter()
        .filter_map(|r| match r {
            Resource::File(f) => Some((f.path.clone(), shape(&f.path, &f.content))),
            _ => None,
        })
        .collect()
}

/// The shape `path` should have with `key` set to `value`: the plain one,
/// but for `nginx.extra`, whose own directives replace the plain ones, one
/// level inside the HTTPS server, and nothing else moves.
fn expected_shape(key: &str, value: &str, path: &str, plain: &[String]) -> Vec<String> {
    if key != "nginx.extra" || !path.starts_with("/etc/nginx/deployer/") {
        return plain.to_vec();
    }
    let nested = |text: &str| -> Vec<String> {
        nginx_statements(text)
            .into_iter()
            .map(|s| {
                let (depth, name) = s.split_once(':').unwrap();
                format!("{}:{name}", depth.parse::<usize>().unwrap() + 1)
            })
            .collect()
    };
    let (ours, theirs) = (nested("gzip on;"), nested(value));
    let at = plain
        .windows(ours.len())
        .rposition(|w| w == ours.as_slice())
        .expect("the plain extra is in the site");
    let mut expected = plain[..at].to_vec();
    expected.extend(theirs);
    expected.extend_from_slice(&plain[at + ours.len()..]);
    expected
}

/// One key, one value: refused at its place, or rendered sound and in shape.
fn judge(dir: &Path, plain: &Plain, key: &str, value: &str) -> Result<(), String> {
    let (yaml, lines) = spec_with(&plain.base, key, value);
    let loaded = match load(dir, &yaml) {
        Err(invalid) => {
            let located = invalid
                .diagnostics
                .iter()
                .any(|d| !d.path.is_empty() || lines.contains(&d.mark.line));
            let report = invalid.to_string();
            let raw = report
                .chars()
                .any(|c| (c.is_control() && c != '\n') || c == '\u{202e}');
            return match (located, raw) {
                (true, false) => Ok(()),
                (false, _) => Err(format!("refused, but not at a key:\n{report}")),
                (_, true) => Err(format!(
                    "the report echoes raw control characters:\n{report:?}"
                )),
            };
        }
        Ok(loaded) => loaded,
    };
    let resources = rendered(&loaded).map_err(|e| format!("valid, but the render failed: {e}"))?;
    if resources.len() != plain.resources.len() {
        return Err(format!(
            "{} resources instead of {}",
            resources.len(),
            plain.resources.len()
        ));
    }
    let mut changed = Vec::new();
    for ((path, shape), (_, plain_shape)) in shapes(&resources).iter().zip(&plain.shapes) {
        let plain_shape = &expected_shape(key, value, path, plain_shape);
        if shape != plain_shape {
            return Err(format!(
                "{path} changed shape:\n  plain: {plain_shape:?}\n  now:   {shape:?}"
            ));
        }
    }
    for (resource, plain_resource) in resources.iter().zip(&plain.resources) {
        if let (Resource::File(f), Resource::File(p)) = (resource, plain_resource)
            && f.content != p.content
        {
            changed.push(f.path.clone());
        }
    }
    for script in scripts(&resources) {
        if !plain.scripts.contains(&script) {
            bash_n(&script)?;
        }
    }
    // nginx.extra is raw nginx by design: only its place is the boundary's
    // to keep (above); whether nginx takes it is `nginx -t`'s call at apply
    // time, which refuses it then with the live site untouched.
    if !changed.is_empty() && key != "nginx.extra" {
        real_checkers(dir, &loaded, &changed)?;
    }
    Ok(())
}

#[test]
fn every_string_value_is_refused_at_its_place_or_lands_whole() {
    boundary_holds(BASE, PLAIN);
}

/// The same for `tls.dns`' keys, and the names its certificate covers.
#[test]
fn every_dns_01_value_is_refused_at_its_place_or_lands_whole() {
    let names = [
        ("domain", "shop.example.com"),
        ("aliases", "www.shop.example.com"),
    ];
    let keys: Vec<(&str, &str)> = DNS_PLAIN.iter().chain(&names).copied().collect();
    boundary_holds(&dns_base(), &keys);
}

/// Each of `keys`, given each hostile value and seeded mixes in `base`.
fn boundary_holds(base: &str, keys: &[(&str, &str)]) {
    for tool in [
        "nginx",
        "systemd-analyze",
        "nft",
        "sshd",
        "ssh-keygen",
        "unshare",
    ] {
        require(tool);
    }
    let dir = tempfile::TempDir::new().unwrap();
    let (plain_spec, _) = spec_with(base, "", "");
    let loaded = load(dir.path(), &plain_spec).unwrap_or_else(|e| panic!("the base:\n{e}"));
    let resources = rendered(&loaded).unwrap();
    let plain = Plain {
        base: base.to_string(),
        shapes: shapes(&resources),
        scripts: scripts(&resources),
        resources,
    };
    let mut failures = BTreeMap::new();
    let mut cases = 0;
    for (i, (key, _)) in keys.iter().enumerate() {
        let values: Vec<String> = HOSTILE
            .iter()
            .map(|v| v.to_string())
            .chain(mixes(0x9e37_79b9_7f4a_7c15 ^ i as u64, 12))
            .collect();
        for value in values {
            cases += 1;
            if let Err(why) = judge(dir.path(), &plain, key, &value) {
                failures
                    .entry(key.to_string())
                    .or_insert_with(Vec::new)
                    .push(format!("{value:?}: {why}"));
            }
        }
    }
    let report: Vec<String> = failures
        .iter()
        .map(|(key, cases)| format!("{key}:\n  {}", cases.join("\n  ")))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {cases} cases broke the boundary:\n{}",
        failures.values().map(Vec::len).sum::<usize>(),
        report.join("\n")
    );
}

/// What YAML documents are made of, and what breaks them.
const YAML_PIECES: &[&str] = &[
    "app",
    "name",
    "hosts",
    "start",
    ":",
    ": ",
    "-",
    "- ",
    "\n",
    "\n  ",
    "\n    ",
    " ",
    "\t",
    "[",
    "]",
    "{",
    "}",
    ",",
    "&a ",
    "*a",
    "&b ",
    "*b",
    "!!str ",
    "!!int ",
    "!x ",
    "!<tag:x> ",
    "\"",
    "'",
    "\\",
    "#",
    "?",
    "|",
    ">",
    "---",
    "...",
    "%YAML 1.2\n",
    "%TAG ! tag:x\n",
    "~",
    "null",
    "true",
    "3000",
    "3000.0",
    "0x1f",
    "-1",
    "1e9",
    ".inf",
    "\0",
    "\u{feff}",
    "\u{85}",
    "\u{2028}",
    "é",
    "<<: *a",
    "web1",
    "198.18.0.10",
    "node server.js",
];

/// The loader, fed documents a fuzzer would write (seeded, so the same on
/// every run): it never panics, and whatever it says is a valid spec or
/// located problems. Its budgets (size, nesting, aliases) bound its time
/// and memory; the malformed-spec cases pin each.
#[test]
fn the_loader_survives_arbitrary_documents() {
    let dir = tempfile::TempDir::new().unwrap();
    let file = dir.path().join("deployer.yaml");
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for case in 0..4000 {
        let document: Vec<u8> = if case % 4 == 0 {
            // Raw bytes, UTF-8 or not.
            (0..next() % 200).map(|_| next() as u8).collect()
        } else {
            (0..next() % 60)
                .map(|_| YAML_PIECES[(next() % YAML_PIECES.len() as u64) as usize])
                .collect::<String>()
                .into_bytes()
        };
        fs::write(&file, &document).unwrap();
        let outcome = std::panic::catch_unwind(|| spec::load(&file, Secrets::Skip));
        match outcome {
            Err(_) => panic!(
                "the loader panicked on {:?}",
                String::from_utf8_lossy(&document)
            ),
            Ok(Err(e)) => panic!("reading a regular small file failed: {e:#}"),
            Ok(Ok(Err(invalid))) => assert!(!invalid.diagnostics.is_empty()),
            Ok(Ok(Ok(_))) => {}
        }
    }
}
