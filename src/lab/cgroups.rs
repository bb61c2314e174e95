//! A control group of its own for each lab host. systemd-nspawn started
//! with `--keep-unit` puts the container in a `payload` group under the
//! caller's group, so hosts booted from one process would share one tree:
//! every host's systemd would then kill and remove the groups of the other
//! hosts' units of the same name (seen: `Failed to kill control group ...
//! Input/output error` and units failing with 219/CGROUP while the machine
//! was busy). Each host's launcher moves itself into a group named after the
//! host, in each hierarchy systemd uses (the unified one, and cgroup v1's
//! `name=systemd` on a hybrid machine), before it starts nspawn.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

/// The groups host `name`'s launcher is to run in, made (empty) here.
pub fn make(name: &str) -> Result<Vec<PathBuf>> {
    let own = fs::read_to_string("/proc/self/cgroup").context("reading /proc/self/cgroup")?;
    let mounts =
        fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
    let mut groups = Vec::new();
    for (hierarchy, path) in own.lines().filter_map(systemd_hierarchy) {
        let Some(mount) = mount_of(&mounts, hierarchy) else {
            continue;
        };
        let group = mount
            .join(path.trim_start_matches('/'))
            .join(format!("deployer-lab-{name}"));
        fs::create_dir_all(&group)
            .with_context(|| format!("creating the control group {}", group.display()))?;
        groups.push(group);
    }
    Ok(groups)
}

/// Removes `groups` and whatever empty groups nspawn left inside them.
pub fn remove(groups: &[PathBuf]) {
    for group in groups {
        remove_tree(group);
    }
}

fn remove_tree(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&entry.path());
            }
        }
    }
    // A group is removed with rmdir, only once empty of processes.
    let _ = fs::remove_dir(dir);
}

/// Which hierarchy a line of /proc/self/cgroup (`ID:CONTROLLERS:PATH`) is,
/// when systemd uses it, and this process's path in it.
fn systemd_hierarchy(line: &str) -> Option<(Hierarchy, &str)> {
    let mut fields = line.splitn(3, ':');
    let (id, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
    match (id, controllers) {
        ("0", "") => Some((Hierarchy::Unified, path)),
        (_, "name=systemd") => Some((Hierarchy::NamedSystemd, path)),
        _ => None,
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Hierarchy {
    Unified,
    NamedSystemd,
}

/// Where `hierarchy` is mounted, from /proc/self/mountinfo's lines
/// (`... MOUNT_POINT OPTIONS - FSTYPE SOURCE SUPER_OPTIONS`), mounted whole.
fn mount_of(mountinfo: &str, hierarchy: Hierarchy) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (before, after) = line.split_once(" - ")?;
        let fields: Vec<&str> = before.split(' ').collect();
        let (root, point) = (*fields.get(3)?, *fields.get(4)?);
        let mut after = after.split(' ');
        let fstype = after.next()?;
        let options = after.nth(1).unwrap_or_default();
        let matches = match hierarchy {
            Hierarchy::Unified => fstype == "cgroup2",
            Hierarchy::NamedSystemd => {
                fstype == "cgroup" && options.split(',').any(|o| o == "name=systemd")
            }
        };
        (matches && root == "/").then(|| PathBuf::from(point))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n\
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

    #[test]
    fn the_hierarchies_systemd_uses_are_found_where_mounted() {
        assert_eq!(
            systemd_hierarchy("0::/user.slice/session-1.scope"),
            Some((Hierarchy::Unified, "/user.slice/session-1.scope"))
        );
        assert_eq!(
            systemd_hierarchy("9:name=systemd:/"),
            Some((Hierarchy::NamedSystemd, "/"))
        );
        assert_eq!(systemd_hierarchy("4:memory:/x"), None);
        assert_eq!(
            mount_of(HYBRID, Hierarchy::Unified),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        assert_eq!(
            mount_of(HYBRID, Hierarchy::NamedSystemd),
            Some(PathBuf::from("/sys/fs/cgroup/systemd"))
        );
        let pure = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            mount_of(pure, Hierarchy::Unified),
            Some(PathBuf::from("/sys/fs/cgroup"))
        );
        assert_eq!(mount_of(pure, Hierarchy::NamedSystemd), None);
    }
}
