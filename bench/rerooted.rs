//! What a host must have, moved under a directory of this machine: the
//! files, directories and symlinks re-rooted (owned by root), packages as
//! they are (read through dpkg). Users, units, commands and releases need a
//! real host and are left out; so are handlers and the lockout guard.

use std::path::Path;

use deployer::deploy::{Desired, Exposure};
use deployer::resource::Resource;
use deployer::safety::lock::Lease;
use deployer::safety::lockout::LockoutGuard;

pub fn desired(resources: Vec<Resource>, root: &Path, lease: &Lease) -> Desired {
    let moved = |p: &str| format!("{}{p}", root.display());
    let resources = resources
        .into_iter()
        .filter_map(|resource| match resource {
            Resource::Package(_) => Some(resource),
            Resource::Dir(mut d) => {
                d.path = moved(&d.path);
                (d.owner, d.group) = ("root".into(), "root".into());
                Some(Resource::Dir(d))
            }
            Resource::File(mut f) => {
                f.path = moved(&f.path);
                // No handlers, no lockout guard: those need a real host.
                (f.owner, f.group, f.check, f.notify, f.guarded) =
                    ("root".into(), "root".into(), None, vec![], false);
                Some(Resource::File(f))
            }
            Resource::Symlink(mut l) => {
                l.path = moved(&l.path);
                Some(Resource::Symlink(l))
            }
            // Users, units and releases need a real host: left to the lab.
            Resource::User(_)
            | Resource::Service(_)
            | Resource::Command(_)
            | Resource::Release(_) => None,
        })
        .collect();
    Desired {
        resources,
        guard: LockoutGuard::permissive(&lease.state_dir),
        exposure: Exposure::unchecked(),
        app: "test".into(),
        removal: Some(deployer::deploy::Removal::without_spec()),
        found: Vec::new(),
        refusals: Vec::new(),
        while_enabled: Vec::new(),
    }
}
