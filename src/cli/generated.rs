//! Files generated from the command line's own definition: shell
//! completions and the man page, printed on stdout.

use std::io::Write as _;

use anyhow::Result;
use clap::CommandFactory;

use super::Cli;

/// `deployer completions SHELL`, e.g. `deployer completions bash > /etc/bash_completion.d/deployer`.
pub fn completions(shell: clap_complete::Shell) -> Result<()> {
    // Built first: clap_complete panics on a failed write (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "deployer", &mut script);
    std::io::stdout().write_all(&script)?;
    Ok(())
}

/// `deployer man`, e.g. `deployer man > /usr/local/share/man/man1/deployer.1`.
pub fn man() -> Result<()> {
    clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
    Ok(())
}

/// `deployer schema`: the JSON Schema of deployer.yaml, for editors
/// (`# yaml-language-server: $schema=deployer.schema.json`).
pub fn schema() -> Result<()> {
    std::io::stdout().write_all(crate::spec::schema_text().as_bytes())?;
    Ok(())
}
