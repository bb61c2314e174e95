//! pm2 at a pinned version, installed from the npm registry into its own
//! prefix (/opt/pm2/<version>) and linked into /usr/local/bin, where the pm2
//! unit's `pm2-runtime` and `pm2 reload` find it.

use super::Conditional;
use crate::layout::{PM2_VERSION as VERSION, Paths};

/// Installs pm2 unless this version is there. npm needs Node.js, so this runs
/// after the Node.js install (both `before_files`, in playbook order).
pub fn install(paths: &Paths) -> Conditional {
    let prefix = &paths.pm2_prefix;
    Conditional {
        name: format!("install pm2 {VERSION}"),
        run: format!(
            "set -eu; umask 022; rm -rf {prefix}.new; \
             HOME=/root npm install --global --prefix {prefix}.new --no-audit --no-fund --loglevel=error pm2@{VERSION} >/dev/null; \
             rm -rf {prefix}; mv -T {prefix}.new {prefix}"
        ),
        unless: format!("test -x {prefix}/bin/pm2-runtime"),
        // The version's prefix, and the directory of all versions: a new
        // pin prunes the old one, no pm2 at all prunes both.
        owns: vec![
            prefix.clone(),
            prefix
                .rsplit_once('/')
                .map_or(prefix.as_str(), |(root, _)| root)
                .to_string(),
        ],
    }
}
