//! The engine against this machine through the Local transport, every
//! resource inside a temporary root: plans, applies, gates, the lock and
//! stale plans, checked on the real filesystem.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use common::{lease, path, sample_host as resources};
use deployer::deploy::{Applied, Desired, Exposure, HostAccess, single};
use deployer::resource::diff::Action;
use deployer::resource::{Check, Resource};
use deployer::safety::lock::Lease;
use deployer::safety::lockout::LockoutGuard;
use deployer::transport::{Local, Transport};
use tempfile::TempDir;

fn apply(root: &TempDir, resources: &[Resource]) -> anyhow::Result<Applied> {
    apply_with(root, resources, None, &mut |_| {})
}

/// The engine's apply on this machine, as the CLI calls it.
fn apply_with(
    root: &TempDir,
    resources: &[Resource],
    expected: Option<&deployer::plan::HostPlan>,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<Applied> {
    let lease = lease(root);
    let reconnect = || Ok(Box::new(Local) as Box<dyn Transport>);
    let access = HostAccess {
        host: "local",
        transport: &mut Local,
        reconnect: &reconnect,
    };
    single::apply(
        access,
        &desired(root, resources),
        expected,
        &lease,
        progress,
    )
}

/// `resources`, judged by rules that admit anything.
fn desired(root: &TempDir, resources: &[Resource]) -> Desired {
    Desired {
        resources: resources.to_vec(),
        guard: LockoutGuard::permissive(&lease(root).state_dir),
        exposure: Exposure::unchecked(),
        app: "test".into(),
        removal: Some(deployer::deploy::Removal::without_spec()),
        found: Vec::new(),
        refusals: Vec::new(),
        while_enabled: Vec::new(),
    }
}

fn plan(root: &TempDir, resources: &[Resource]) -> deployer::plan::HostPlan {
    single::plan("local", &mut Local, &desired(root, resources)).unwrap()
}

fn mode_of(path: &str) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn a_first_apply_converges_and_a_second_changes_nothing() {
    let root = TempDir::new().unwrap();
    let resources = resources(&root, "port = 3000\n");

    let plan = plan(&root, &resources);
    let actions: Vec<&Action> = plan.changes.iter().map(|c| &c.action).collect();
    assert_eq!(
        actions,
        [
            &Action::Create,
            &Action::Create,
            &Action::Create,
            &Action::Create,
            &Action::Run,
            &Action::Create
        ]
    );
    let manifest = path(&root, "state/owned/test");
    assert_eq!(plan.changes[5].id.to_string(), format!("file {manifest}"));

    let applied = apply(&root, &resources).unwrap();
    assert_eq!(applied.plan.changes.len(), 6);
    assert_eq!(
        fs::read_to_string(&manifest).unwrap().lines().count(),
        4,
        "the dir, two files, the symlink, and nothing for a command that owns nothing"
    );
    assert_eq!(mode_of(&manifest), 0o600);
    assert_eq!(
        fs::read_to_string(path(&root, "etc/app/app.conf")).unwrap(),
        "port = 3000\n"
    );
    assert_eq!(mode_of(&path(&root, "etc/app/app.conf")), 0o640);
    assert_eq!(mode_of(&path(&root, "srv/app")), 0o750);
    assert_eq!(
        fs::read_to_string(path(&root, "etc/app/it's a $(name).txt")).unwrap(),
        "line 1\n'quoted' \"twice\" $HOME `id`\n"
    );
    assert_eq!(
        fs::read_link(path(&root, "srv/app/current"))
            .unwrap()
            .to_str()
            .unwrap(),
        path(&root, "srv/app/releases/1")
    );
    assert!(Path::new(&path(&root, "srv/app/initialised")).exists());
    assert!(
        !Path::new(&path(&root, "state/lock")).exists(),
        "the lock is released"
    );

    let inode = fs::metadata(path(&root, "etc/app/app.conf")).unwrap().ino();
    let again = apply(&root, &resources).unwrap();
    assert!(again.plan.is_converged(), "{:?}", again.plan.changes);
    assert_eq!(
        fs::metadata(path(&root, "etc/app/app.conf")).unwrap().ino(),
        inode,
        "an unchanged file is not rewritten"
    );
}

#[test]
fn changes_show_as_diffs_and_files_are_replaced_atomically() {
    let root = TempDir::new().unwrap();
    apply(&root, &resources(&root, "port = 3000\n")).unwrap();
    fs::set_permissions(path(&root, "srv/app"), fs::Permissions::from_mode(0o777)).unwrap();
    let inode = fs::metadata(path(&root, "etc/app/app.conf")).unwrap().ino();

    let changed = resources(&root, "port = 4000\n");
    let plan = plan(&root, &changed);
    assert_eq!(plan.changes.len(), 2, "{:?}", plan.changes);
    assert_eq!(plan.changes[0].details, ["mode 0777 -> 0750"]);
    assert!(
        plan.changes[1]
            .diff
            .as_deref()
            .unwrap()
            .contains("-port = 3000\n+port = 4000\n")
    );

    apply(&root, &changed).unwrap();
    assert_eq!(
        fs::read_to_string(path(&root, "etc/app/app.conf")).unwrap(),
        "port = 4000\n"
    );
    assert_ne!(
        fs::metadata(path(&root, "etc/app/app.conf")).unwrap().ino(),
        inode,
        "replaced by rename, not rewritten in place"
    );
    assert!(!Path::new(&path(&root, "etc/app/app.conf.deployer-new")).exists());
}

#[test]
fn a_failed_check_leaves_the_live_file_untouched() {
    let root = TempDir::new().unwrap();
    apply(&root, &resources(&root, "good\n")).unwrap();
    let mut bad = resources(&root, "bad\n");
    if let Resource::File(f) = &mut bad[1] {
        f.check = Some(Check {
            run: "! grep -q bad {}".into(),
            shadow: None,
            name: None,
        });
    }
    let err = apply(&root, &bad).unwrap_err().to_string();
    assert!(err.contains("failed at step `check"), "{err}");
    assert_eq!(
        fs::read_to_string(path(&root, "etc/app/app.conf")).unwrap(),
        "good\n"
    );
    assert!(
        !Path::new(&path(&root, "state/lock")).exists(),
        "the lock is released after a failure"
    );
}

/// A symlink goes where its directory is made if need be; one that cannot
/// be made fails the apply at its step (a failure left of `&&` once went
/// unnoticed under `set -e`).
#[test]
fn symlinks_get_their_directory_and_a_failed_one_fails_the_apply() {
    let root = TempDir::new().unwrap();
    let link = |at: &str| {
        Resource::Symlink(deployer::resource::Symlink {
            path: path(&root, at),
            target: "/opt/nowhere/bin/tool".into(),
        })
    };
    apply(&root, &[link("usr/local/bin/tool")]).unwrap();
    assert_eq!(
        fs::read_link(path(&root, "usr/local/bin/tool")).unwrap(),
        Path::new("/opt/nowhere/bin/tool")
    );
    fs::write(path(&root, "blocker"), "a file, not a directory\n").unwrap();
    let err = apply(&root, &[link("blocker/tool")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("failed at step `symlink"), "{err}");
}

/// A shadow check sees the staged directory at the live path, and only it does.
#[test]
fn a_shadow_check_judges_the_staged_directory_at_the_live_path() {
    let root = TempDir::new().unwrap();
    apply(&root, &resources(&root, "v1\n")).unwrap();
    let dir = path(&root, "etc/app");
    let conf = path(&root, "etc/app/app.conf");
    let mut next = resources(&root, "v2\n");
    if let Resource::File(f) = &mut next[1] {
        // The other file of the directory is there too, unchanged.
        f.check = Some(Check {
            run: format!("grep -qx v2 '{conf}' && test -e \"{dir}/it's a \\$(name).txt\""),
            shadow: Some(dir.clone()),
            name: None,
        });
    }
    apply(&root, &next).unwrap();
    assert_eq!(fs::read_to_string(&conf).unwrap(), "v2\n");

    let mut refused = resources(&root, "v3\n");
    if let Resource::File(f) = &mut refused[1] {
        f.check = Some(Check {
            run: format!("grep -qx v2 '{conf}'"),
            shadow: Some(dir),
            name: None,
        });
    }
    let err = apply(&root, &refused).unwrap_err().to_string();
    assert!(err.contains("failed at step `check"), "{err}");
    assert_eq!(
        fs::read_to_string(&conf).unwrap(),
        "v2\n",
        "the live file is untouched"
    );
}

#[test]
fn a_held_lock_stops_a_second_apply_at_once_and_an_expired_one_is_taken_over() {
    let root = TempDir::new().unwrap();
    let resources = resources(&root, "x\n");
    let holder = Lease {
        owner: "alice@laptop".into(),
        ci_run: "1234".into(),
        ..lease(&root)
    };
    let take = format!("{}acquire_lock", holder.functions());
    let output = deployer::transport::Transport::run(&mut Local, &take, &mut |_| {}).unwrap();
    assert_eq!(output.status, 0, "{}", output.stderr);

    let err = apply(&root, &resources).unwrap_err().to_string();
    assert!(err.contains("alice@laptop"), "{err}");
    assert!(err.contains("CI run 1234"), "{err}");
    assert!(
        !Path::new(&path(&root, "srv/app")).exists(),
        "nothing was applied"
    );

    // The holder crashed: its lease runs out.
    let info = path(&root, "state/lock/info");
    let expired = fs::read_to_string(&info)
        .unwrap()
        .lines()
        .map(|l| {
            if l.starts_with("expires=") {
                "expires=1".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    fs::write(&info, expired + "\n").unwrap();
    apply(&root, &resources).unwrap();
    assert!(Path::new(&path(&root, "srv/app")).exists());
}

#[test]
fn a_saved_plan_goes_stale_when_the_host_or_the_spec_changes() {
    let root = TempDir::new().unwrap();
    let resources = resources(&root, "x\n");
    let saved = plan(&root, &resources);

    fs::create_dir_all(path(&root, "etc/app")).unwrap();
    fs::write(path(&root, "etc/app/app.conf"), "someone else\n").unwrap();
    let err = apply_with(&root, &resources, Some(&saved), &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("the host changed"), "{err}");
    assert_eq!(
        fs::read_to_string(path(&root, "etc/app/app.conf")).unwrap(),
        "someone else\n"
    );

    let fresh = plan(&root, &resources);
    let edited = self::resources(&root, "y\n");
    let err = apply_with(&root, &edited, Some(&fresh), &mut |_| {}).unwrap_err();
    assert!(
        err.to_string().contains("the spec now renders differently"),
        "{err}"
    );

    apply_with(&root, &resources, Some(&fresh), &mut |_| {}).unwrap();
    assert_eq!(
        fs::read_to_string(path(&root, "etc/app/app.conf")).unwrap(),
        "x\n"
    );
}

#[test]
fn progress_reports_each_step() {
    let root = TempDir::new().unwrap();
    let mut steps = Vec::new();
    apply_with(&root, &resources(&root, "x\n"), None, &mut |s| {
        steps.push(s.to_string())
    })
    .unwrap();
    assert_eq!(steps.first().map(String::as_str), Some("lock and facts"));
    assert!(steps.iter().any(|s| s == "stage files"), "{steps:?}");
    assert!(
        steps
            .iter()
            .any(|s| s.starts_with("write ") && s.ends_with("app.conf")),
        "{steps:?}"
    );
    assert_eq!(steps.last().map(String::as_str), Some("done"));
}

/// The client going away mid-apply (a dropped SSH connection) does not stop
/// the host halfway: the converge runs detached, finishes, records its
/// status and frees the lock.
#[test]
fn a_converge_outlives_its_connection() {
    use deployer::converge;
    use deployer::resource::Command;
    let root = TempDir::new().unwrap();
    let marker = path(&root, "finished");
    let mut resources = resources(&root, "x\n");
    resources.push(Resource::Command(Command::creates(
        format!(
            "sleep 1; touch {}",
            deployer::dialect::shell::quote(&marker)
        ),
        marker.clone(),
    )));
    let plan = plan(&root, &resources);
    let lease = lease(&root);
    let script = converge::detached(
        &converge::script(
            &resources,
            &plan.changes,
            &plan.handlers,
            &lease,
            &LockoutGuard::permissive(&lease.state_dir),
            &deployer::resource::owned::Pruning::default(),
        ),
        &lease.state_dir,
    );
    let take = format!("{}acquire_lock", lease.functions());
    assert_eq!(
        deployer::transport::Transport::run(&mut Local, &take, &mut |_| {})
            .unwrap()
            .status,
        0
    );

    // The "connection" is cut after 300 ms, while the command still sleeps.
    let mut client = std::process::Command::new("timeout")
        .args(["-s", "KILL", "0.3", "bash", "-s"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(client.stdin.as_mut().unwrap(), script.as_bytes()).unwrap();
    drop(client.stdin.take());
    assert!(!client.wait().unwrap().success(), "the client was cut off");
    assert!(!Path::new(&marker).exists(), "cut off before the end");

    let status = path(&root, "state/apply/status");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !Path::new(&status).exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the detached converge did not finish"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(fs::read_to_string(&status).unwrap().trim(), "0");
    assert!(Path::new(&marker).exists(), "the host finished the job");
    assert!(
        !Path::new(&path(&root, "state/lock")).exists(),
        "and freed the lock"
    );
    assert!(
        fs::read_to_string(path(&root, "state/apply/out"))
            .unwrap()
            .ends_with("step\tdone\n")
    );
}

#[test]
fn handlers_owed_by_a_failed_apply_are_left_to_the_next() {
    use deployer::resource::{Handler, Service};
    let root = TempDir::new().unwrap();
    let mut resources = resources(&root, "x\n");
    for resource in &mut resources {
        if let Resource::File(file) = resource {
            file.notify = vec!["reload app.service".into()];
        }
    }
    // Fails after the files are in place, before the handlers run: this
    // machine has no such unit (and no systemd to start it).
    resources.push(Resource::Service(Service {
        name: "deployer-test-missing.service".into(),
    }));
    let failed = apply(&root, &resources).unwrap_err();
    assert!(
        format!("{failed:#}").contains("deployer-test-missing.service"),
        "{failed:#}"
    );

    let plan = plan(&root, &resources);
    assert!(
        plan.changes
            .iter()
            .all(|c| c.id.kind != deployer::resource::Kind::File),
        "the files were written: {:?}",
        plan.changes
    );
    assert_eq!(plan.handlers, [Handler::Reload("app.service".into())]);
}

/// A `before_release` command runs once the files are in place (it reads
/// one), and a named check is called by its name when it refuses.
#[test]
fn before_release_commands_see_the_files_and_named_checks_say_their_name() {
    let root = TempDir::new().unwrap();
    let conf = path(&root, "etc/app/app.conf");
    let copy = path(&root, "srv/app/conf-seen");
    let mut with_command = resources(&root, "port = 3000\n");
    let mut command = deployer::resource::Command::creates(
        format!(
            "cp {} {}",
            deployer::dialect::shell::quote(&conf),
            deployer::dialect::shell::quote(&copy)
        ),
        copy.clone(),
    );
    command.before_release = true;
    with_command.push(Resource::Command(command));
    apply(&root, &with_command).unwrap();
    assert_eq!(fs::read_to_string(&copy).unwrap(), "port = 3000\n");

    let mut refused = resources(&root, "no port here\n");
    if let Resource::File(f) = &mut refused[1] {
        f.check = Some(Check {
            run: "grep -q '^port = ' {}\n# a script may span lines".into(),
            shadow: None,
            name: Some("the config sets a port".into()),
        });
    }
    let err = format!("{:#}", apply(&root, &refused).unwrap_err());
    assert!(
        err.contains("check `the config sets a port` refused the new files"),
        "{err}"
    );
    assert_eq!(fs::read_to_string(&conf).unwrap(), "port = 3000\n");
}

/// A resource list with one of each removable kind: a directory holding a
/// file, a symlink, and a command that makes a directory it owns.
fn removable(root: &TempDir) -> Vec<Resource> {
    use deployer::resource::{Command, Dir, File, Mode, Symlink};
    vec![
        Resource::Dir(Dir {
            path: path(root, "etc/app"),
            owner: "root".into(),
            group: "root".into(),
            mode: Mode(0o755),
            data: false,
        }),
        Resource::Dir(Dir {
            path: path(root, "srv/data"),
            owner: "root".into(),
            group: "root".into(),
            mode: Mode(0o755),
            data: true,
        }),
        Resource::File(File::new(
            path(root, "etc/app/app.conf"),
            0o644,
            "port = 3000\n",
        )),
        Resource::File(File::new(
            path(root, "etc/app/extra.conf"),
            0o644,
            "extra = 1\n",
        )),
        Resource::Symlink(Symlink {
            path: path(root, "etc/app/current"),
            target: "/nowhere".into(),
        }),
        Resource::Command(Command {
            owns: vec![path(root, "opt/tool")],
            ..Command::creates(
                format!(
                    "mkdir -p {0} && touch {0}/bin",
                    deployer::dialect::shell::quote(&path(root, "opt/tool"))
                ),
                path(root, "opt/tool/bin"),
            )
        }),
    ]
}

/// What `plan` removes, as `KIND TARGET`.
fn removals(plan: &deployer::plan::HostPlan) -> Vec<String> {
    plan.changes
        .iter()
        .filter(|c| c.action == Action::Remove)
        .map(|c| c.id.to_string())
        .collect()
}

/// What the spec stops declaring leaves the host: each removal is planned
/// with its reason (files with a diff), applied, and forgotten; a second
/// plan is empty. A file deployer did not make in its directory stays.
#[test]
fn what_leaves_the_spec_leaves_the_host() {
    let root = TempDir::new().unwrap();
    let all = removable(&root);
    apply(&root, &all).unwrap();
    fs::write(path(&root, "etc/app/mine.txt"), "hand-made\n").unwrap();
    fs::write(path(&root, "srv/data/upload.bin"), "user data\n").unwrap();

    // Only the data directory is still declared.
    let fewer: Vec<Resource> = all[1..2].to_vec();
    let planned = plan(&root, &fewer);
    assert_eq!(
        removals(&planned),
        [
            format!("file {}", path(&root, "etc/app/app.conf")),
            format!("file {}", path(&root, "etc/app/extra.conf")),
            format!("symlink {}", path(&root, "etc/app/current")),
            format!("path {}", path(&root, "opt/tool")),
        ],
        "{:?}",
        planned.changes
    );
    let conf = &planned.changes[0];
    assert_eq!(conf.details, ["no longer declared"]);
    assert!(
        conf.diff.as_deref().unwrap().contains("-port = 3000\n"),
        "{:?}",
        conf.diff
    );
    assert_eq!(
        planned.kept,
        [format!(
            "dir {} (holds files deployer did not make)",
            path(&root, "etc/app")
        )]
    );

    apply(&root, &fewer).unwrap();
    for gone in [
        "etc/app/app.conf",
        "etc/app/extra.conf",
        "etc/app/current",
        "opt/tool",
    ] {
        assert!(
            fs::symlink_metadata(path(&root, gone)).is_err(),
            "{gone} is still there"
        );
    }
    assert_eq!(
        fs::read_to_string(path(&root, "etc/app/mine.txt")).unwrap(),
        "hand-made\n"
    );
    assert!(plan(&root, &fewer).is_converged());

    // Once the hand-made file goes, so does deployer's directory; the data
    // directory stays while it is declared.
    fs::remove_file(path(&root, "etc/app/mine.txt")).unwrap();
    apply(&root, &fewer).unwrap();
    assert!(!Path::new(&path(&root, "etc/app")).exists());
    assert!(Path::new(&path(&root, "srv/data/upload.bin")).exists());
    assert!(plan(&root, &fewer).is_converged());
}

/// Data stays when nothing declares it any more, and says so in the plan;
/// a purge takes it with everything in it.
#[test]
fn data_stays_until_purged() {
    use deployer::deploy::Removal;
    let root = TempDir::new().unwrap();
    let all = removable(&root);
    apply(&root, &all).unwrap();
    fs::write(path(&root, "srv/data/upload.bin"), "user data\n").unwrap();

    let planned = plan(&root, &[]);
    assert!(
        planned.kept.contains(&format!(
            "dir {} (data: `deployer destroy --purge` removes it)",
            path(&root, "srv/data")
        )),
        "{:?}",
        planned.kept
    );
    apply(&root, &[]).unwrap();
    assert!(Path::new(&path(&root, "srv/data/upload.bin")).exists());
    assert!(!Path::new(&path(&root, "etc/app")).exists());
    assert!(plan(&root, &[]).is_converged());

    let purge = Desired {
        removal: Some(Removal::destroy(true)),
        ..desired(&root, &[])
    };
    let planned = single::plan("local", &mut Local, &purge).unwrap();
    let data = planned
        .changes
        .iter()
        .find(|c| c.id.target == path(&root, "srv/data"))
        .expect("the data directory is removed");
    assert_eq!(data.details, ["deployer destroy", "with everything in it"]);
    let lease = lease(&root);
    let reconnect = || Ok(Box::new(Local) as Box<dyn Transport>);
    let access = HostAccess {
        host: "local",
        transport: &mut Local,
        reconnect: &reconnect,
    };
    single::apply(access, &purge, None, &lease, &mut |_| {}).unwrap();
    assert!(!Path::new(&path(&root, "srv/data")).exists());
    assert!(
        !Path::new(&path(&root, "state/owned/test")).exists(),
        "nothing is left to remember"
    );
}

/// A file that was there before deployer's (a package's) is kept when
/// deployer replaces it, and comes back when deployer's goes.
#[test]
fn a_file_deployer_replaced_comes_back() {
    use deployer::resource::File;
    let root = TempDir::new().unwrap();
    let conf = path(&root, "etc/nginx.conf");
    fs::create_dir_all(path(&root, "etc")).unwrap();
    fs::write(&conf, "the package's\n").unwrap();
    let ours = vec![Resource::File(File::new(
        conf.clone(),
        0o644,
        "# Managed by deployer: ours\n",
    ))];
    apply(&root, &ours).unwrap();
    assert_eq!(
        fs::read_to_string(&conf).unwrap(),
        "# Managed by deployer: ours\n"
    );
    // A second write keeps the first original.
    let ours_again = vec![Resource::File(File::new(
        conf.clone(),
        0o644,
        "# Managed by deployer: ours, edited\n",
    ))];
    apply(&root, &ours_again).unwrap();

    let planned = plan(&root, &[]);
    let change = planned
        .changes
        .iter()
        .find(|c| c.id.target == conf)
        .expect("deployer's file goes");
    assert_eq!(
        change.details,
        [
            "no longer declared",
            "the file that was there before deployer comes back"
        ]
    );
    apply(&root, &[]).unwrap();
    assert_eq!(fs::read_to_string(&conf).unwrap(), "the package's\n");
}

/// An apply that fails after it started still knows what it was removing:
/// the manifest is written first with all it listed, and a rerun finishes.
#[test]
fn a_failed_apply_leaves_its_removals_to_the_next() {
    use deployer::resource::{Check, File};
    let root = TempDir::new().unwrap();
    let all = removable(&root);
    apply(&root, &all).unwrap();

    let refused = |content: &str| {
        vec![Resource::File(File {
            check: Some(Check {
                run: "grep -q good {}".into(),
                shadow: None,
                name: None,
            }),
            ..File::new(path(&root, "etc/other.conf"), 0o644, content)
        })]
    };
    let err = apply(&root, &refused("bad\n")).unwrap_err();
    assert!(
        format!("{err:#}").contains("refused the new files"),
        "{err:#}"
    );
    assert!(Path::new(&path(&root, "etc/app/app.conf")).exists());
    let manifest = fs::read_to_string(path(&root, "state/owned/test")).unwrap();
    assert!(manifest.contains("etc/app/app.conf"), "{manifest}");

    apply(&root, &refused("good\n")).unwrap();
    assert!(!Path::new(&path(&root, "etc/app/app.conf")).exists());
    assert!(plan(&root, &refused("good\n")).is_converged());
}

/// Applies `resources` as `app`'s.
fn apply_as(root: &TempDir, app: &str, resources: &[Resource]) -> deployer::plan::HostPlan {
    let reconnect = || Ok(Box::new(Local) as Box<dyn Transport>);
    let access = HostAccess {
        host: "local",
        transport: &mut Local,
        reconnect: &reconnect,
    };
    let desired = Desired {
        app: app.into(),
        ..desired(root, resources)
    };
    single::apply(access, &desired, None, &lease(root), &mut |_| {})
        .unwrap()
        .plan
}

/// What two apps made alike (the host-wide files of apps sharing a host)
/// stays while one of them still declares it, and leaves with the last.
#[test]
fn what_another_app_made_too_stays_until_the_last_one_lets_go() {
    let root = TempDir::new().unwrap();
    let all = removable(&root);
    apply_as(&root, "test", &all);
    // `other` declares the directory, the data directory and app.conf too.
    apply_as(&root, "other", &all[..3]);

    let gone = apply_as(&root, "test", &[]);
    assert_eq!(
        removals(&gone),
        [
            format!("file {}", path(&root, "etc/app/extra.conf")),
            format!("symlink {}", path(&root, "etc/app/current")),
            format!("path {}", path(&root, "opt/tool")),
            format!("file {}", path(&root, "state/owned/test")),
        ],
        "{:?}",
        gone.changes
    );
    assert_eq!(
        fs::read_to_string(path(&root, "etc/app/app.conf")).unwrap(),
        "port = 3000\n"
    );
    assert!(!Path::new(&path(&root, "state/owned/test")).exists());

    let last = apply_as(&root, "other", &[]);
    assert!(
        last.changes
            .iter()
            .any(|c| c.id.to_string() == format!("file {}", path(&root, "etc/app/app.conf"))),
        "{:?}",
        last.changes
    );
    assert!(!Path::new(&path(&root, "etc/app")).exists());
    let left = fs::read_to_string(path(&root, "state/owned/other")).unwrap();
    assert_eq!(left.lines().count(), 1, "the data directory stays: {left}");
    assert!(Path::new(&path(&root, "srv/data")).exists());
}
