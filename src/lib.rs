//! deployer: takes a Node.js app to hardened production hosts over SSH.
//! See docs/ARCHITECTURE.md for the map of the modules.

pub mod claims;
pub mod cli;
pub mod converge;
pub mod deploy;
pub mod dialect;
pub mod features;
pub mod lab;
pub mod layout;
pub mod plan;
pub mod platform;
pub mod playbook;
pub mod protocol;
pub mod release;
pub mod render;
pub mod resource;
pub mod safety;
pub mod scaffold;
pub mod spec;
pub mod transport;
pub mod ui;
pub mod yaml;
