//! `deployer plan`, `apply` and `lock` as an operator runs them, against this
//! machine with `--connection local`. Only what leaves this machine as it was
//! runs here: plans read, and applies that must refuse before changing
//! anything. Converging real hosts is the lab's job.

mod common;

use std::fs;
use std::path::Path;

use common::{ROOT, assert_says, deployer, text};
use tempfile::TempDir;

const HELLO: &str = "examples/hello/deployer.yaml";

fn local(extra: &[&str], state: &TempDir) -> Vec<String> {
    let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    args.extend(["--connection", "local", "--host", "web1", "--state-dir"].map(String::from));
    args.push(state.path().to_str().unwrap().to_string());
    args
}

fn run(args: &[String]) -> std::process::Output {
    deployer(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn plan_reports_changes_as_json_and_through_its_exit_code() {
    let state = TempDir::new().unwrap();
    let out = run(&local(
        &["plan", "-f", HELLO, "--json", "--detailed-exitcode"],
        &state,
    ));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["format_version"], 1);
    assert_eq!(plan["hosts"][0]["host"], "web1");
    let targets: Vec<&str> = plan["hosts"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["target"].as_str().unwrap())
        .collect();
    assert!(
        targets.contains(&"/etc/systemd/system/hello@.service"),
        "{targets:?}"
    );
    assert!(!state.path().join("lock").exists(), "plan takes no lock");
}

#[test]
fn a_saved_plan_is_refused_once_the_spec_renders_differently() {
    let state = TempDir::new().unwrap();
    let dir = TempDir::new().unwrap();
    let hello = Path::new(ROOT).join("examples/hello");
    let spec = dir.path().join("deployer.yaml");
    let text_of = |level: &str| {
        fs::read_to_string(hello.join("deployer.yaml"))
            .unwrap()
            .replace("app:\n", &format!("app:\n  source: {}\n", hello.display()))
            .replace("LOG_LEVEL: info", &format!("LOG_LEVEL: {level}"))
    };
    fs::write(&spec, text_of("info")).unwrap();
    let saved = dir.path().join("plan.json");
    let spec_arg = spec.to_str().unwrap();
    let out = run(&local(
        &["plan", "-f", spec_arg, "--out", saved.to_str().unwrap()],
        &state,
    ));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("Saved the plan"));

    fs::write(&spec, text_of("debug")).unwrap();
    let out = deployer(&[
        "apply",
        saved.to_str().unwrap(),
        "-f",
        spec_arg,
        "--connection",
        "local",
        "--yes",
        "--state-dir",
        state.path().to_str().unwrap(),
    ]);
    assert_says(
        &out,
        1,
        &["the saved plan is stale (the spec now renders differently"],
    );
    assert!(
        !state.path().join("lock").exists(),
        "the lock is given back"
    );
}

#[test]
fn apply_refuses_without_yes_when_nobody_can_confirm() {
    let state = TempDir::new().unwrap();
    let out = run(&local(&["apply", "-f", HELLO], &state));
    assert_says(&out, 1, &["refusing to apply without --yes"]);
    assert!(
        !state.path().exists() || fs::read_dir(state.path()).unwrap().next().is_none(),
        "nothing was applied"
    );
}

#[test]
fn a_saved_plan_names_its_own_hosts() {
    let state = TempDir::new().unwrap();
    let dir = TempDir::new().unwrap();
    let saved = dir.path().join("plan.json");
    assert!(
        run(&local(
            &["plan", "-f", HELLO, "--out", saved.to_str().unwrap()],
            &state
        ))
        .status
        .success()
    );
    let out = run(&local(
        &["apply", saved.to_str().unwrap(), "-f", HELLO],
        &state,
    ));
    assert_says(&out, 1, &["a saved plan names its hosts; leave out --host"]);
}

/// Another run's lock, as bob's CI job left it in `state`.
fn held_by_bob(state: &TempDir) -> std::path::PathBuf {
    let lock = state.path().join("lock");
    fs::create_dir_all(&lock).unwrap();
    fs::write(
        lock.join("info"),
        "token=x\nowner=bob@ci\nci_run=77\nstarted=1\nexpires=99999999999\n",
    )
    .unwrap();
    lock
}

#[test]
fn lock_status_and_release() {
    let state = TempDir::new().unwrap();
    let out = run(&local(&["lock", "status", "-f", HELLO], &state));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "web1: free\n",
        "{}",
        text(&out)
    );

    let lock = held_by_bob(&state);
    let out = run(&local(&["lock", "status", "-f", HELLO], &state));
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(
        status.starts_with("web1: locked by bob@ci since ") && status.contains("CI run 77"),
        "{status}"
    );

    let out = run(&local(&["lock", "release", "-f", HELLO], &state));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("web1: released (was held by bob@ci"),
        "{}",
        text(&out)
    );
    assert!(!lock.exists());
}

/// `--lock-wait`: a run that finds another's lock says who holds it and
/// waits, then plans once it is free (here the plan then needs `--yes`,
/// which nobody gives: nothing is applied); a lock held past the wait
/// fails the run as without waiting.
#[test]
fn a_run_waits_for_another_runs_lock_before_planning() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let state = TempDir::new().unwrap();
    // A lease that ran out, by the host's clock, is no reason to wait.
    let lock = held_by_bob(&state);
    let info = fs::read_to_string(lock.join("info")).unwrap();
    fs::write(
        lock.join("info"),
        info.replace("expires=99999999999", "expires=1"),
    )
    .unwrap();
    let out = run(&local(
        &["apply", "-f", HELLO, "--lock-wait", "10m"],
        &state,
    ));
    assert_says(&out, 1, &["refusing to apply without --yes"]);
    assert!(!text(&out).contains("waiting"), "{}", text(&out));

    let lock = held_by_bob(&state);
    let out = run(&local(&["apply", "-f", HELLO, "--lock-wait", "1s"], &state));
    assert_says(
        &out,
        1,
        &[
            "web1: waiting up to 1s for the deploy lock, held by bob@ci",
            "web1: still locked after waiting 1s: bob@ci",
        ],
    );
    assert!(lock.exists(), "the other run's lock stays");

    let mut waiting = Command::new(env!("CARGO_BIN_EXE_deployer"))
        .args(local(&["apply", "-f", HELLO, "--lock-wait", "10m"], &state))
        .current_dir(ROOT)
        .env_remove("DEPLOYER_FILE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(waiting.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("web1: waiting up to ") && line.contains("held by bob@ci"),
        "{line}"
    );
    // The other run ends.
    fs::remove_dir_all(&lock).unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = waiting.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{rest}");
    assert!(rest.contains("refusing to apply without --yes"), "{rest}");
    assert!(!lock.exists(), "nothing was applied, no lock taken");
}

#[test]
fn local_connections_need_one_host() {
    let out = deployer(&[
        "plan",
        "-f",
        "examples/cluster/deployer.yaml",
        "--connection",
        "local",
    ]);
    assert_says(
        &out,
        1,
        &["--connection local works on this machine as one host"],
    );
}

#[test]
fn secrets_are_read_for_plans_and_never_shown() {
    let state = TempDir::new().unwrap();
    let dir = TempDir::new().unwrap();
    let hello = Path::new(ROOT).join("examples/hello");
    let spec = dir.path().join("deployer.yaml");
    let yaml = fs::read_to_string(hello.join("deployer.yaml")).unwrap().replace(
        "app:\n",
        &format!(
            "app:\n  source: {}\n  secrets:\n    - SESSION_SECRET\n    - name: API_TOKEN\n      command: echo tok-from-a-command\n",
            hello.display()
        ),
    );
    fs::write(&spec, yaml).unwrap();
    let spec_arg = spec.to_str().unwrap();
    let with_env = |args: &[String], value: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_deployer"));
        command.args(args).env_remove("SESSION_SECRET");
        if let Some(value) = value {
            command.env("SESSION_SECRET", value);
        }
        command.output().unwrap()
    };

    // Checking and rendering need no values.
    let out = with_env(&["validate".into(), "-f".into(), spec_arg.into()], None);
    assert_says(&out, 0, &["is valid"]);

    let plan = local(&["plan", "-f", spec_arg], &state);
    let out = with_env(&plan, None);
    assert_says(
        &out,
        65,
        &[
            "deployer.yaml:6:7: app.secrets[0]: SESSION_SECRET is not set in deployer's environment: export it",
            "nothing was applied",
        ],
    );

    let out = with_env(&plan, Some("env-s3cret-value"));
    assert_says(
        &out,
        0,
        &["/etc/deployer/hello/secrets.env (mode 0600, owner root:root, secret)"],
    );
    let mut json = plan.clone();
    json.push("--json".into());
    let out_json = with_env(&json, Some("env-s3cret-value"));
    assert_says(&out_json, 0, &["/etc/deployer/hello/secrets.env"]);
    for out in [&out, &out_json] {
        for value in ["env-s3cret-value", "tok-from-a-command"] {
            assert!(!text(out).contains(value), "{value} shown:\n{}", text(out));
        }
    }
}

#[test]
fn completions_and_the_man_page_come_from_the_command_line() {
    let bash = deployer(&["completions", "bash"]);
    assert_says(
        &bash,
        0,
        &["_deployer()", "rollback", "--detailed-exitcode"],
    );
    let syntax = std::process::Command::new("bash")
        .args(["-n", "-c"])
        .arg(String::from_utf8_lossy(&bash.stdout).as_ref())
        .output()
        .unwrap();
    assert!(syntax.status.success(), "{}", text(&syntax));
    for shell in ["zsh", "fish"] {
        assert_says(&deployer(&["completions", shell]), 0, &["status"]);
    }
    assert_says(&deployer(&["man"]), 0, &[".TH deployer 1", "apply"]);
}

/// `--version` names the version, the commit this checkout is at, and the
/// target the binary was built for.
#[test]
fn the_version_names_its_commit_and_target() {
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(common::ROOT)
        .output()
        .unwrap();
    let head = match String::from_utf8_lossy(&head.stdout).trim() {
        "" => "unknown".to_string(),
        commit => commit.to_string(),
    };
    let libc = if cfg!(target_env = "musl") {
        "musl"
    } else {
        "gnu"
    };
    let target = format!("{}-unknown-linux-{libc}", std::env::consts::ARCH);
    assert_says(
        &deployer(&["--version"]),
        0,
        &[&format!(
            "deployer {} (commit {head}, {target})\n",
            env!("CARGO_PKG_VERSION")
        )],
    );
}

/// The schema editors use is the one the binary prints, and it accepts
/// every example (read as YAML, checked as JSON).
#[test]
fn the_committed_schema_is_current_and_accepts_every_example() {
    let printed = deployer(&["schema"]);
    assert_says(&printed, 0, &["\"$schema\""]);
    let committed = fs::read_to_string(Path::new(ROOT).join("docs/deployer.schema.json")).unwrap();
    assert!(
        committed == String::from_utf8_lossy(&printed.stdout),
        "docs/deployer.schema.json is stale: run `deployer schema > docs/deployer.schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(&committed).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for (name, spec) in common::SPECS {
        let yaml = fs::read_to_string(Path::new(ROOT).join(spec)).unwrap();
        let value: serde_json::Value = yaml_to_json(&yaml);
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
    }
    let typo = yaml_to_json("app:\n  name: x\n  start: node s.js\n  instancs: 2\nhosts: []\n");
    assert!(!validator.is_valid(&typo), "unknown keys are refused");
}

/// YAML read by deployer's own loader, as a JSON value.
fn yaml_to_json(yaml: &str) -> serde_json::Value {
    let (_, typed) = deployer::yaml::load::<serde_json::Value>(yaml).unwrap();
    typed.value.expect("a YAML document")
}

/// The wizard, answered through a real pseudo-terminal: it detects the
/// app, asks the rest, and writes a spec that validates and renders.
#[test]
fn init_asks_and_writes_a_spec_that_validates() {
    let dir = TempDir::new().unwrap();
    for name in ["package.json", "server.js"] {
        fs::copy(
            Path::new(ROOT).join("examples/hello").join(name),
            dir.path().join(name),
        )
        .unwrap();
    }
    let spec = dir.path().join("deployer.yaml");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_deployer"));
    command.args(["init", "-f"]).arg(&spec).env("TERM", "xterm");
    let mut wizard = rexpect::session::spawn_command(command, Some(10_000)).unwrap();
    let mut answer = |prompt: &str, keys: &str| {
        wizard.exp_string(prompt).unwrap();
        wizard.send(keys).unwrap();
        wizard.flush().unwrap();
    };
    answer("App name", "\r"); // detected: hello
    answer("Start command", "\r"); // detected: node server.js
    answer("Health check path", "\r"); // detected: /healthz
    // An answer that is no answer is explained and asked again.
    answer("How many hosts", "web1\r");
    answer("the number of hosts is a whole number from 1 to 50", "\r");
    answer("Host 1 name", "\r");
    answer("Host 1 address", "198.18.0.10\r");
    answer("Domain", "shop.example.com\r");
    answer("TLS", "\r"); // acme, with a domain
    answer("ACME contact email", "ops@example.com\r");
    answer("Process manager", "\x1b[B\r"); // down to pm2
    answer(
        "Web processes per app host",
        "\x15", /* clear the default */
    );
    answer("", "2\r");
    answer("Who may reach SSH", "203.0.113.0/24\r");
    wizard.exp_eof().unwrap();

    let written = fs::read_to_string(&spec).unwrap();
    for line in [
        "  name: \"hello\"",
        "  start: \"node server.js\"",
        "  process_manager: pm2",
        "  instances: 2",
        "domain: \"shop.example.com\"",
        "  email: \"ops@example.com\"",
        "  ssh_from: [\"203.0.113.0/24\"]",
        "    address: \"198.18.0.10\"",
    ] {
        assert!(written.contains(line), "no `{line}` in:\n{written}");
    }
    assert!(dir.path().join("deployer.schema.json").exists());
    let spec_arg = spec.to_str().unwrap();
    assert_says(&deployer(&["validate", "-f", spec_arg]), 0, &["is valid"]);
    let out = dir.path().join("out");
    assert_says(
        &deployer(&["render", "-f", spec_arg, "--out", out.to_str().unwrap()]),
        0,
        &[],
    );
    assert_says(
        &deployer(&[
            "init",
            "-f",
            spec_arg,
            "--non-interactive",
            "--host",
            "web1=198.18.0.10",
        ]),
        1,
        &["exists: add --force to replace it"],
    );
}

/// Answers given as flags are checked as the spec would read them, and
/// whatever they hold is written as one quoted value: no answer can add
/// keys to the spec.
#[test]
fn init_flags_cannot_add_to_the_spec() {
    let dir = TempDir::new().unwrap();
    let spec = dir.path().join("deployer.yaml");
    let spec_arg = spec.to_str().unwrap();
    let init = |start: &str, extra: &[&str]| {
        let mut args = vec![
            "init",
            "-f",
            spec_arg,
            "--non-interactive",
            "--force",
            "--name",
            "shop",
            "--start",
            start,
            "--host",
            "web1=198.18.0.10",
        ];
        args.extend_from_slice(extra);
        deployer(&args)
    };
    assert_says(
        &init(
            "node server.js",
            &["--instances", "3\nnetwork:\n  ssh_from: [0.0.0.0/0]"],
        ),
        1,
        &[
            "--instances: `3\\nnetwork:\\n  ssh_from: [0.0.0.0/0]` is not a number from 1 to 64, or `max`",
        ],
    );
    assert_says(
        &init("node server.js", &["--tls", "off\nhosts: []"]),
        1,
        &["--tls: `off\\nhosts: []` is not `acme`, `self-signed` or `off`"],
    );
    assert!(!spec.exists(), "nothing was written");
    assert_says(
        &init("node server.js\" # \"", &["--instances", "3"]),
        0,
        &["Wrote"],
    );
    let written = fs::read_to_string(&spec).unwrap();
    assert!(
        written.contains("  start: \"node server.js\\\" # \\\"\"\n"),
        "{written}"
    );
    assert!(written.contains("  instances: 3\n"), "{written}");
}
