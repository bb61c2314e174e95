//! What scripts on hosts print back: one record per line,
//! `TAG<TAB>field<TAB>field...`. Every tag is spelled here once, and every
//! reader matches on [`Tag`], so no two scripts can give one tag two meanings.

use std::fmt;

/// The kind of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// Facts: a regular file (`missing`, `other`, or `present` with mode,
    /// owner, group and content).
    File,
    /// Facts: a directory, as a file.
    Dir,
    /// Facts: a symbolic link and its target (empty: none).
    Link,
    /// Facts: a package and whether it is installed (`1`/`0`).
    Package,
    /// Facts: an account: whether it exists, its home and shell, and
    /// whether a group of its name exists.
    User,
    /// Facts: a unit file deployer writes, and a unit of the same name
    /// found elsewhere in systemd's search path.
    Shadowed,
    /// Facts: a unit's UnitFileState and ActiveState.
    Service,
    /// Facts: a release root and whether the wanted release is built
    /// (where its `current` points is a [`Tag::Link`] record).
    Release,
    /// Facts: a command (by its index) and whether its check says it need
    /// not run.
    Satisfied,
    /// Facts: the SSH connection (`$SSH_CONNECTION`) and the login user.
    Login,
    /// Facts: a listening socket, as `ss` reports it.
    Listening,
    /// Facts: a handler an earlier apply owed.
    Pending,
    /// Facts: an entry of deployer's manifest that the spec no longer
    /// declares: kind, target, whether it is secret, whether the file that
    /// was there before deployer's is kept (`1`/`0`).
    Owned,
    /// Facts: an entry of deployer's manifest that the spec no longer
    /// declares and another app's manifest lists: kind, target.
    Shared,
    /// Facts: a directory and the names it holds, NUL-separated, base64.
    Children,
    /// Facts: a path and whether anything is there (`1`/`0`).
    Exists,
    /// Survey: the host's core count.
    Cores,
    /// Survey: the host's system, as /etc/os-release's `ID` and `VERSION_ID`.
    Os,
    /// Survey: what `nginx -v` says, when nginx is installed.
    Nginx,
    /// Survey: an nginx site that was not deployer's (its path as it is
    /// when that begins with `/`, else in base64), whether it is Debian's
    /// untouched placeholder (`1`/`0`), and for another site what it sets:
    /// whether it claims a `default_server`, whether it listens on 80 or
    /// 443, its top-level directives.
    Site,
    /// Survey: another firewall manager that is active (`ufw`, `firewalld`),
    /// or `nftables.service`, whose /etc/nftables.conf flushes every table
    /// (the facts say whether it is enabled).
    Manager,
    /// Survey: an nftables table that is not deployer's (family, name).
    Table,
    /// Survey: an app deployer keeps a manifest for.
    App,
    /// Survey: the host's ed25519 host key, as its `.pub` file says: type,
    /// base64.
    HostKey,
    /// Survey: the host's WireGuard public key for the mesh, once it made
    /// its key pair (base64).
    MeshKey,
    /// Survey: whether apt has a source for the release's security archive
    /// (`1`/`0`, deployer's own source aside), then the URI and components
    /// of the first source of the release itself.
    Apt,
    /// A converge step starting.
    Step,
    /// The deploy lock's holder: owner, CI run, started, expires.
    Locked,
    /// Releases: where `current` points.
    Current,
    /// Releases: one kept release: id, epoch and time it went live, failed.
    Kept,
    /// Status: a unit and its `systemctl show` properties as `KEY=VALUE`.
    Unit,
    /// Status: a unit and its failed health checks in a row.
    Health,
    /// Status: the certificate's expiry, as epoch and date.
    Certificate,
    /// Status: whether deployer's firewall table is loaded.
    Firewall,
    /// Status: the host's clock, as epoch.
    Clock,
    /// Status: the mesh's interface is up (`1`/`0`).
    Mesh,
    /// Status: a peer of the mesh, as the host's configuration names it, and
    /// the time of its latest handshake (epoch seconds; `0`: none yet).
    MeshPeer,
}

const TAGS: [Tag; 37] = [
    Tag::File,
    Tag::Shadowed,
    Tag::Dir,
    Tag::Link,
    Tag::Package,
    Tag::User,
    Tag::Service,
    Tag::Release,
    Tag::Satisfied,
    Tag::Login,
    Tag::Listening,
    Tag::Pending,
    Tag::Owned,
    Tag::Shared,
    Tag::Children,
    Tag::Exists,
    Tag::Cores,
    Tag::Os,
    Tag::Nginx,
    Tag::Site,
    Tag::Manager,
    Tag::Table,
    Tag::App,
    Tag::HostKey,
    Tag::MeshKey,
    Tag::Apt,
    Tag::Step,
    Tag::Locked,
    Tag::Current,
    Tag::Kept,
    Tag::Unit,
    Tag::Health,
    Tag::Certificate,
    Tag::Firewall,
    Tag::Clock,
    Tag::Mesh,
    Tag::MeshPeer,
];

impl Tag {
    /// How scripts write the tag.
    pub const fn as_str(self) -> &'static str {
        match self {
            Tag::File => "file",
            Tag::Dir => "dir",
            Tag::Link => "link",
            Tag::Package => "package",
            Tag::User => "user",
            Tag::Shadowed => "shadowed",
            Tag::Service => "service",
            Tag::Release => "release",
            Tag::Satisfied => "satisfied",
            Tag::Login => "login",
            Tag::Listening => "listening",
            Tag::Pending => "pending",
            Tag::Owned => "owned",
            Tag::Shared => "shared",
            Tag::Children => "children",
            Tag::Exists => "exists",
            Tag::Cores => "cores",
            Tag::Os => "os",
            Tag::Nginx => "nginx",
            Tag::Site => "site",
            Tag::Apt => "apt",
            Tag::HostKey => "hostkey",
            Tag::MeshKey => "meshkey",
            Tag::Manager => "manager",
            Tag::Table => "table",
            Tag::App => "app",
            Tag::Step => "step",
            Tag::Locked => "locked",
            Tag::Current => "current",
            Tag::Kept => "kept",
            Tag::Unit => "unit",
            Tag::Health => "health",
            Tag::Certificate => "certificate",
            Tag::Firewall => "firewall",
            Tag::Clock => "clock",
            Tag::Mesh => "mesh",
            Tag::MeshPeer => "meshpeer",
        }
    }

    /// The line prefix of a record with this tag: `TAG<TAB>`.
    pub fn prefix(self) -> String {
        format!("{}\t", self.as_str())
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line a script printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub tag: Tag,
    pub fields: Vec<&'a str>,
}

/// Reads one line; `None` when it is no record (say, a tool's chatter).
pub fn record(line: &str) -> Option<Record<'_>> {
    let mut parts = line.split('\t');
    let name = parts.next()?;
    let tag = TAGS.into_iter().find(|t| t.as_str() == name)?;
    Some(Record {
        tag,
        fields: parts.collect(),
    })
}

/// The first record with `tag` in `output`.
pub fn find(output: &str, tag: Tag) -> Option<Record<'_>> {
    output.lines().filter_map(record).find(|r| r.tag == tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_read_back_and_are_distinct() {
        for tag in TAGS {
            let line = format!("{}a\tb", tag.prefix());
            let read = record(&line).unwrap();
            assert_eq!((read.tag, read.fields), (tag, vec!["a", "b"]));
        }
        let mut names: Vec<&str> = TAGS.iter().map(|t| t.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TAGS.len());
        assert_eq!(record("hello world"), None);
    }
}
