//! One home per output dialect: every value that reaches a file or a script
//! on a host is quoted here, by the function of the dialect it lands in
//! (templates reach these through the Tera filters `render` registers), and
//! every message that echoes input to the operator's terminal too.

pub mod env;
pub mod nginx;
pub mod redis;
pub mod shell;
pub mod systemd;
pub mod terminal;
pub mod yaml;
