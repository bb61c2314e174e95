//! The command line: each command parses its arguments, calls one function
//! of the layer below (mostly `deploy`), prints, and maps errors to exit
//! codes. Commands never import each other; what they share lives here
//! (`args`, `report`) or below.

mod apply;
mod args;
mod destroy;
mod generated;
mod init;
mod lab;
mod lock;
mod logs;
mod plan;
mod releases;
mod render;
mod report;
mod rollback;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::dialect::terminal::{escaped, sanitized as shown_safely};
use crate::spec::{self, Loaded};

/// Exit codes, stable for scripts and CI.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// Something failed while working (I/O, a host, a template).
    pub const FAILED: u8 = 1;
    /// `plan --detailed-exitcode`: the hosts would change.
    pub const CHANGES: u8 = 2;
    /// The command line itself is wrong.
    pub const USAGE: u8 = 64;
    /// deployer.yaml is invalid; nothing was done.
    pub const INVALID_SPEC: u8 = 65;
}

/// `deployer --version`: the version, the source commit, the build target.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("DEPLOYER_BUILD_COMMIT"),
    ", ",
    env!("DEPLOYER_BUILD_TARGET"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "deployer",
    version = VERSION,
    about = "Deploy Node.js apps to hardened hosts over SSH",
    after_help = "Exit codes: 0 success, 1 failure, 2 changes pending (plan --detailed-exitcode), 64 bad command line, 65 invalid deployer.yaml."
)]
struct Cli {
    /// The spec to read.
    #[arg(
        short,
        long,
        global = true,
        default_value = "deployer.yaml",
        env = "DEPLOYER_FILE"
    )]
    file: PathBuf,

    /// -v: progress as timed lines, even on a terminal; -vv: also what the
    /// hosts' tools said (apt, systemctl) while applying.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, env = "DEPLOYER_VERBOSE")]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a deployer.yaml for the app in this directory, asking what it cannot detect.
    Init(init::Args),
    /// Check deployer.yaml and report every problem in it at once.
    Validate,
    /// Write each host's files under OUT/<host>/, at the paths they will have on the host.
    Render(render::Args),
    /// Show what apply would change on each host, as diffs. Changes nothing.
    Plan(plan::Args),
    /// Converge the hosts: a fresh plan after confirmation, or a saved one.
    Apply(apply::Args),
    /// Take the app off its hosts: everything deployer made for it (with
    /// --purge its data and account too), shown as a plan first.
    Destroy(destroy::Args),
    /// The releases each app host keeps, the current one marked.
    Releases(releases::Args),
    /// Go back to an earlier release, instance by instance behind health checks.
    Rollback(rollback::Args),
    /// Each host's units, release, health, firewall and certificate; exits 1 when something needs attention.
    Status(status::Args),
    /// The app's journal from each host.
    Logs(logs::Args),
    /// The deploy lock of each host.
    #[command(subcommand)]
    Lock(lock::Action),
    /// Print shell completions: `deployer completions bash > /etc/bash_completion.d/deployer`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `deployer man > /usr/local/share/man/man1/deployer.1`.
    Man,
    /// Print the JSON Schema of deployer.yaml, for editors.
    Schema,
    /// Disposable Debian hosts on this machine, for tests and rehearsals.
    #[command(subcommand)]
    Lab(lab::Action),
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    let result = match &cli.command {
        Command::Init(args) => init::run(&cli, args),
        Command::Validate => validate(&cli).map(|()| exit::OK),
        Command::Render(args) => render::run(&cli, args).map(|()| exit::OK),
        Command::Plan(args) => plan::run(&cli, args),
        Command::Apply(args) => apply::run(&cli, args),
        Command::Destroy(args) => destroy::run(&cli, args),
        Command::Releases(args) => releases::run(&cli, args),
        Command::Rollback(args) => rollback::run(&cli, args),
        Command::Status(args) => status::run(&cli, args),
        Command::Logs(args) => logs::run(&cli, args),
        Command::Lock(action) => lock::run(&cli, action),
        Command::Lab(action) => lab::run(&cli, action),
        Command::Completions { shell } => generated::completions(*shell).map(|()| exit::OK),
        Command::Man => generated::man().map(|()| exit::OK),
        Command::Schema => generated::schema().map(|()| exit::OK),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        // The reader went away (`deployer man | head`): nobody to tell.
        Err(e)
            if e.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::from(exit::FAILED)
        }
        Err(e) => match e.downcast_ref::<spec::Invalid>() {
            Some(invalid) => {
                eprintln!("{invalid}");
                ExitCode::from(exit::INVALID_SPEC)
            }
            None => {
                eprintln!("error: {}", shown_safely(&format!("{e:#}")));
                ExitCode::from(exit::FAILED)
            }
        },
    }
}

/// The spec, or an error that the caller turns into exit code 65.
fn load(cli: &Cli, secrets: spec::Secrets) -> anyhow::Result<Loaded> {
    let loaded = spec::load(&cli.file, secrets)??;
    for warning in &loaded.warnings {
        eprintln!(
            "{}: warning: {}",
            escaped(&cli.file.display().to_string()),
            shown_safely(warning)
        );
    }
    Ok(loaded)
}

fn validate(cli: &Cli) -> anyhow::Result<()> {
    let loaded = load(cli, spec::Secrets::Skip)?;
    let spec = &loaded.spec;
    println!(
        "{} is valid: app `{}` on {} host(s)",
        escaped(&cli.file.display().to_string()),
        spec.app.name,
        spec.hosts.len()
    );
    for host in &spec.hosts {
        let roles: Vec<String> = host
            .roles
            .iter()
            .map(|r| format!("{r:?}").to_lowercase())
            .collect();
        println!("  {} ({}): {}", host.name, host.address, roles.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap checks its own rules (unique short options, say) only here.
    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }

    /// CI sets options through the environment: every option has a
    /// `DEPLOYER_*` variable.
    #[test]
    fn every_option_has_an_environment_variable() {
        fn walk(command: &clap::Command, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                let env = arg.get_env().and_then(|e| e.to_str());
                if arg.get_long().is_some()
                    && !builtin
                    && !env.is_some_and(|e| e.starts_with("DEPLOYER_"))
                {
                    missing.push(format!("{} --{}", command.get_name(), arg.get_id()));
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), &mut missing);
        assert!(missing.is_empty(), "{missing:?}");
    }
}
