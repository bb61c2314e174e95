//! deployer: takes a Node.js app to hardened production hosts over SSH.
//! See docs/ARCHITECTURE.md for the map of the modules.

mod cli;
mod playbook;
mod render;
mod resource;
mod spec;
mod yaml;

fn main() -> std::process::ExitCode {
    cli::main()
}
