//! The app: its names, commands, environment, secrets, workers, health
//! checks, Node.js runtime and Redis.

use std::collections::HashSet;

use super::{Problems, env_name_ok, push};
use crate::dialect::terminal::shown;
use crate::spec::text::{NAME_RULE, download_url_ok, one_line, safe_name};
use crate::spec::{
    App, Batch, Loaded, NodeSource, ProcessManager, REDIS_URL, Role, Spec, reserved,
};

pub(super) fn check(loaded: &Loaded, p: &mut Problems) {
    let spec = &loaded.spec;
    let app = &spec.app;
    if !safe_name(&app.name) {
        push(
            p,
            "app.name",
            format!("`{}` is not a safe name: use {NAME_RULE}", shown(&app.name)),
        );
    } else if let Some(why) = reserved::app_name(&app.name) {
        push(p, "app.name", why);
    }
    if !loaded.resolve(&app.source).is_dir() {
        push(
            p,
            "app.source",
            format!(
                "`{}` is not a directory (paths are relative to {})",
                shown(&app.source),
                loaded.file.display()
            ),
        );
    }
    check_build(&app.build, p);
    check_command(&app.start, "app.start", app.process_manager, p);
    check_health(app, p);
    if app.keep_releases == 0 || app.keep_releases > 100 {
        push(
            p,
            "app.keep_releases",
            "must be 1 to 100 (the current release included); 5 keeps room to roll back",
        );
    }
    if spec.rollout.batch == Batch::Hosts(0) {
        push(p, "rollout.batch", "must be at least 1 host");
    }
    check_env(app, p);
    if app.workers.len() > MAX_WORKERS {
        push(
            p,
            "app.workers",
            format!("{} workers: at most {MAX_WORKERS}", app.workers.len()),
        );
    }
    check_secret_files(loaded, p);
    let mut seen = HashSet::new();
    for (i, worker) in app.workers.iter().enumerate() {
        let at = format!("app.workers[{i}]");
        if !safe_name(&worker.name) {
            push(
                p,
                format!("{at}.name"),
                format!(
                    "`{}` is not a safe name: use {NAME_RULE}",
                    shown(&worker.name)
                ),
            );
        } else if !seen.insert(worker.name.as_str()) {
            push(
                p,
                format!("{at}.name"),
                format!("`{}` is used by another worker", worker.name),
            );
        } else if safe_name(&app.name)
            && let Some(why) = reserved::worker_name(&app.name, &worker.name)
        {
            push(p, format!("{at}.name"), why);
        }
        check_command(
            &worker.start,
            &format!("{at}.start"),
            ProcessManager::Systemd,
            p,
        );
    }
    check_runtime(spec, p);
    check_redis(spec, p);
}

/// More worker kinds than any app has (each may run 64 instances).
const MAX_WORKERS: usize = 32;

/// Keys and secrets the spec names must stay out of `app.source`, which is
/// shipped to every host (and may be served, with `nginx.static`).
fn check_secret_files(loaded: &Loaded, p: &mut Problems) {
    let spec = &loaded.spec;
    let Ok(source) = loaded.resolve(&spec.app.source).canonicalize() else {
        return;
    };
    let mut files: Vec<(String, &str)> = Vec::new();
    files.extend(spec.tls.key.as_deref().map(|f| ("tls.key".to_string(), f)));
    files.extend(
        spec.ssh
            .identity
            .as_deref()
            .map(|f| ("ssh.identity".to_string(), f)),
    );
    let credentials = spec.tls.dns.as_ref().map_or(&[][..], |d| &d.credentials);
    let lists = [
        ("app.secrets", &spec.app.secrets[..]),
        ("tls.dns.credentials", credentials),
    ];
    for (key, list) in lists {
        for (i, secret) in list.iter().enumerate() {
            files.extend(
                secret
                    .file
                    .as_deref()
                    .map(|f| (format!("{key}[{i}].file"), f)),
            );
        }
    }
    // Walked only when a file lies in the source: most specs keep them out.
    let mut shipped: Option<Vec<std::path::PathBuf>> = None;
    for (at, written) in files {
        let path = crate::spec::expand_home(written, &loaded.resolve("."));
        let Ok(file) = path.canonicalize() else {
            continue;
        };
        if !file.starts_with(&source) {
            continue;
        }
        // A walk that fails (a symbolic link) fails the release's packing
        // too, with its own message.
        let shipped = shipped
            .get_or_insert_with(|| crate::spec::source::shipped(&source).unwrap_or_default());
        if shipped.contains(&file) {
            push(
                p,
                at,
                format!(
                    "`{}` is inside app.source, which is shipped to every host: keep keys and secrets outside it, or list the file in {}",
                    shown(written),
                    crate::spec::source::IGNORE_FILE
                ),
            );
        }
    }
}

/// The build runs with `sh -c`: several lines are fine, control characters
/// are not.
fn check_build(build: &str, p: &mut Problems) {
    if build.trim().is_empty() {
        push(
            p,
            "app.build",
            "must not be empty; the default is `npm ci --omit=dev`",
        );
    } else if build
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        push(
            p,
            "app.build",
            "holds a control character: write the build as shell lines (tabs and line breaks are fine)",
        );
    } else if build.len() > 16 << 10 {
        push(
            p,
            "app.build",
            "is longer than 16 KiB: put the build in a script of the app and run that",
        );
    }
}

/// What the start command's words may not hold outside quotes, since no
/// shell reads them: `(token, what it would be to a shell)`.
const SHELL_SYNTAX: &[(char, &str)] = &[
    (';', "`;`"),
    ('|', "a pipe"),
    ('&', "`&`"),
    ('<', "a redirection"),
    ('>', "a redirection"),
    ('`', "a command substitution"),
    ('(', "a subshell"),
    (')', "a subshell"),
];

/// The first piece of shell syntax in `command`, outside single quotes:
/// `$` counts inside double quotes too (a shell would expand it there).
fn shell_syntax(command: &str) -> Option<char> {
    let (mut single, mut double, mut escaped) = (false, false, false);
    for c in command.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if !single => escaped = true,
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '$' | '`' if !single => return Some(c),
            c if !single && !double && SHELL_SYNTAX.iter().any(|(s, _)| *s == c) => {
                return Some(c);
            }
            _ => {}
        }
    }
    None
}

fn download_url_problem(url: &str) -> String {
    format!(
        "`{}` is not an http(s) URL to download from, such as `https://mirror.example.org/node` (no spaces, quotes, user, password, query or fragment)",
        shown(url)
    )
}

/// What a start command may hold: printable ASCII, and letters and digits
/// of any script; nothing invisible, no symbol that could pass for another.
fn command_char(c: char) -> bool {
    c.is_ascii_graphic() || c == ' ' || (!c.is_ascii() && c.is_alphanumeric())
}

/// Start commands run without a shell: a program and its arguments, one
/// line, with the quoting a shell would need, so that what the operator
/// reads is what runs.
fn check_command(command: &str, at: &str, pm: ProcessManager, p: &mut Problems) {
    if !command.chars().all(command_char) {
        return push(
            p,
            at,
            "must be a single line of printable characters (no control, invisible or other special characters): a program and its arguments",
        );
    }
    if command.len() > 4096 {
        return push(
            p,
            at,
            "is longer than 4096 characters: put it in a script and start that",
        );
    }
    match shell_syntax(command) {
        Some('$') => {
            return push(
                p,
                at,
                "runs without a shell, so `$VARIABLE` is not expanded: the app reads its environment (app.env) itself, or quote a literal `$` with single quotes",
            );
        }
        Some(_) => {
            return push(
                p,
                at,
                "runs without a shell, so pipes, `;`, `&&`, redirections and `$(...)` do not work; put them in a script and start that",
            );
        }
        None => {}
    }
    let words = match shell_words::split(command) {
        Ok(words) => words,
        Err(_) => return push(p, at, "has an unclosed quote"),
    };
    let Some(program) = words.first() else {
        return push(p, at, "must name a program, e.g. `node server.js`");
    };
    if !program_ok(program) {
        return push(
            p,
            at,
            format!(
                "`{}` is not a program: name one on the PATH (`node`), give its absolute path, or a path inside the release (`bin/www`), without `..`, `=` or a leading `-`",
                shown(program)
            ),
        );
    }
    if pm == ProcessManager::Pm2 {
        check_pm2_command(&words, at, p);
    }
}

/// Node options that take no script, or their value as a separate word.
const NODE_OPTIONS_WITHOUT_A_SCRIPT: &[&str] = &[
    "-e",
    "--eval",
    "-p",
    "--print",
    "-i",
    "--interactive",
    "-c",
    "--check",
    "-v",
    "--version",
    "-h",
    "--help",
    "-r",
    "--require",
    "--import",
    "--loader",
    "--experimental-loader",
    "--inspect-port",
    "--title",
    "--env-file",
    "-C",
    "--conditions",
];

/// pm2 runs a script with node: `node [--option[=value]...] SCRIPT [args]`.
fn check_pm2_command(words: &[String], at: &str, p: &mut Problems) {
    let options: Vec<&String> = words
        .iter()
        .skip(1)
        .take_while(|w| w.starts_with('-'))
        .collect();
    let rule = "pm2 cluster mode runs a Node script: write it as `node [--option[=value]...] <script> [args]`";
    if words.first().map(String::as_str) != Some("node") || words.len() < options.len() + 2 {
        return push(p, at, rule);
    }
    if let Some(option) = options
        .iter()
        .find(|o| NODE_OPTIONS_WITHOUT_A_SCRIPT.contains(&o.as_str()))
    {
        push(
            p,
            at,
            format!(
                "`{}`: {rule}, with each node option in one word (`--require=./x.js`, not `--require ./x.js`)",
                shown(option)
            ),
        );
    }
}

/// A program `/usr/bin/env` will run: a name on the PATH, an absolute path,
/// or a path inside the release; nothing `env` would read as an option
/// (`-i`) or an assignment (`A=B`), no way out of the release (`..`).
fn program_ok(program: &str) -> bool {
    let path = program.strip_prefix('/').unwrap_or(program);
    let path = path.strip_prefix("./").unwrap_or(path);
    !program.starts_with('-')
        && !program.contains('=')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

/// A URL path and query, as a health check asks for it: `/`, then the
/// characters a URL allows unescaped (and `%XX` escapes).
fn url_path_ok(path: &str) -> bool {
    let bytes = path.as_bytes();
    path.starts_with('/')
        && path.len() <= 1024
        && bytes.iter().enumerate().all(|(i, b)| match b {
            b'%' => {
                bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
            }
            b => b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?".contains(b),
        })
}

fn check_health(app: &App, p: &mut Problems) {
    let health = &app.health;
    if !url_path_ok(&health.path) {
        push(
            p,
            "app.health.path",
            format!(
                "`{}` must be a URL path starting with `/`, without spaces",
                shown(&health.path)
            ),
        );
    }
    if health.interval < crate::spec::Duration::secs(1) {
        push(p, "app.health.interval", "must be at least 1s");
    }
    if health.timeout < crate::spec::Duration::secs(1) {
        push(
            p,
            "app.health.timeout",
            "must be at least 1s: 0 would wait forever",
        );
    } else if health.timeout >= health.interval {
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
}

/// Set by deployer for each process (the units' own `Environment=` lines,
/// which an env file would override).
const RESERVED_ENV: &[&str] = &["PORT", "HOST", "WORKER_INSTANCE", "PM2_HOME"];

fn check_env(app: &App, p: &mut Problems) {
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
        if !one_line(value) {
            push(p, &at, "values must be one line without control characters");
        } else if value.len() > 64 << 10 {
            push(
                p,
                &at,
                "is longer than 64 KiB: ship such data with the app instead",
            );
        }
    }
    let mut seen = HashSet::new();
    for (i, secret) in app.secrets.iter().enumerate() {
        let at = format!("app.secrets[{i}]");
        let name = &secret.name;
        if !super::check_secret(secret, &at, p) {
            continue;
        }
        if app.env.contains_key(name) {
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
        }
    }
}

fn check_runtime(spec: &Spec, p: &mut Problems) {
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
        if node.source != NodeSource::Official {
            push(
                p,
                "runtime.node.mirror",
                "is only used with `source: official`",
            );
        } else if !download_url_ok(mirror) {
            push(p, "runtime.node.mirror", download_url_problem(mirror));
        }
    }
    let nodesource = node.source == NodeSource::Nodesource;
    if let Some(repository) = &node.repository {
        if !nodesource {
            push(
                p,
                "runtime.node.repository",
                "is only used with `source: nodesource`",
            );
        } else if !download_url_ok(repository) {
            push(
                p,
                "runtime.node.repository",
                download_url_problem(repository),
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
                    "`{}` is not a key fingerprint: write its 40 hexadecimal digits without spaces, as `gpg --show-keys` prints them",
                    shown(fingerprint)
                ),
            );
        }
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
                format!("no host is named `{}`: {hint}", shown(&redis.host)),
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
                shown(&redis.password)
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
    fn shell_syntax_outside_quotes_is_found() {
        for (command, found) in [
            ("node server.js; rm -rf /", Some(';')),
            ("a|b&&c", Some('|')),
            ("node s.js --x $HOME", Some('$')),
            ("node s.js \"$HOME\"", Some('$')),
            ("node s.js `id`", Some('`')),
            ("node s.js > log", Some('>')),
            ("node s.js 'a;b|c$d'", None),
            ("node s.js \"a;b|c\"", None),
            ("node s.js a\\;b", None),
            ("node server.js --port=3000", None),
        ] {
            assert_eq!(shell_syntax(command), found, "{command}");
        }
    }

    #[test]
    fn pm2_commands_name_their_script() {
        let judge = |command: &str| {
            let words = shell_words::split(command).unwrap();
            let mut p = Problems::new();
            check_pm2_command(&words, "app.start", &mut p);
            p.is_empty()
        };
        assert!(judge("node server.js"));
        assert!(judge("node --max-old-space-size=512 server.js --port 1"));
        assert!(!judge("node"));
        assert!(!judge("npm start"));
        assert!(!judge("node --max-old-space-size=512"));
        assert!(!judge("node -e 'console.log(1)'"));
        assert!(!judge("node --require ./x.js server.js"));
    }

    #[test]
    fn programs_env_runs() {
        for good in [
            "node",
            "./bin/www",
            "bin/www",
            "/usr/local/bin/serve",
            "npm",
        ] {
            assert!(program_ok(good), "{good}");
        }
        for bad in [
            "-i",
            "A=B",
            "../../etc/passwd",
            "bin/../../x",
            "https://x",
            "/",
            "",
        ] {
            assert!(!program_ok(bad), "{bad}");
        }
    }

    #[test]
    fn health_paths_are_url_paths() {
        for good in ["/healthz", "/api/health?deep=1", "/a%20b", "/x;y=1"] {
            assert!(url_path_ok(good), "{good}");
        }
        for bad in [
            "healthz", "/a b", "/a\"b", "/a%zz", "/a\\b", "/a{b}", "/\u{e9}",
        ] {
            assert!(!url_path_ok(bad), "{bad}");
        }
    }
}
