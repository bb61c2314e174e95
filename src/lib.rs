//! deployer: takes a Node.js app to hardened production hosts over SSH.
//! See docs/ARCHITECTURE.md for the map of the modules.

pub mod cli;
pub mod engine;
pub mod lab;
pub mod lock;
pub mod plan;
pub mod playbook;
pub mod release;
pub mod render;
pub mod resource;
pub mod shell;
pub mod spec;
pub mod transport;
pub mod yaml;
