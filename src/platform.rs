//! The host systems deployer supports, and what differs between them that
//! a rendered file depends on. Versions are those of each release's own
//! archive (main, or universe for Ubuntu's Node.js), as of 2026-11.

use std::fmt;

use serde::Serialize;

/// A supported system release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum System {
    Debian12,
    Debian13,
    Ubuntu2404,
    Ubuntu2604,
}

/// Every supported release, oldest first: what `--os` takes and the
/// refusal lists.
pub const SYSTEMS: [System; 4] = [
    System::Debian12,
    System::Debian13,
    System::Ubuntu2404,
    System::Ubuntu2604,
];

/// nginx 1.25.1 made `http2` a directive of its own and deprecated the
/// `listen` parameter; older nginx does not know the directive.
const HTTP2_DIRECTIVE_SINCE: (u32, u32, u32) = (1, 25, 1);

impl System {
    /// From /etc/os-release's `ID` and `VERSION_ID`.
    pub fn from_os_release(id: &str, version_id: &str) -> Option<System> {
        SYSTEMS
            .into_iter()
            .find(|r| r.os_release() == (id, version_id))
    }

    /// `debian-13`, `ubuntu-24.04`: what `--os` takes.
    pub fn from_slug(slug: &str) -> Option<System> {
        SYSTEMS.into_iter().find(|r| r.slug() == slug)
    }

    pub fn slug(self) -> String {
        let (id, version) = self.os_release();
        format!("{id}-{version}")
    }

    fn os_release(self) -> (&'static str, &'static str) {
        match self {
            System::Debian12 => ("debian", "12"),
            System::Debian13 => ("debian", "13"),
            System::Ubuntu2404 => ("ubuntu", "24.04"),
            System::Ubuntu2604 => ("ubuntu", "26.04"),
        }
    }

    pub fn ubuntu(self) -> bool {
        self.os_release().0 == "ubuntu"
    }

    /// The nginx its archive installs.
    pub fn nginx(self) -> (u32, u32, u32) {
        match self {
            System::Debian12 => (1, 22, 1),
            System::Debian13 => (1, 26, 3),
            System::Ubuntu2404 => (1, 24, 0),
            System::Ubuntu2604 => (1, 28, 3),
        }
    }

    /// The systemd its archive installs, as its major version.
    pub fn systemd(self) -> u32 {
        match self {
            System::Debian12 => 252,
            System::Debian13 => 257,
            System::Ubuntu2404 => 255,
            System::Ubuntu2604 => 259,
        }
    }

    /// Whether its systemd knows `RestartMode=` (254 on). Without
    /// `RestartMode=direct` there, a unit restarted after a crash passes
    /// through the failed state and sets off `OnFailure=` each time (found
    /// on Debian 13: an alert per crash, not once systemd gives up).
    pub fn restart_mode(self) -> bool {
        self.systemd() >= 254
    }

    /// The release's codename, as apt's suites name it.
    pub fn codename(self) -> &'static str {
        match self {
            System::Debian12 => "bookworm",
            System::Debian13 => "trixie",
            System::Ubuntu2404 => "noble",
            System::Ubuntu2604 => "resolute",
        }
    }

    /// The keyring the distribution's archive (security too) is signed with.
    pub fn archive_keyring(self) -> &'static str {
        if self.ubuntu() {
            "/usr/share/keyrings/ubuntu-archive-keyring.gpg"
        } else {
            "/usr/share/keyrings/debian-archive-keyring.gpg"
        }
    }

    /// Where the security archive is, given the URI of the host's main
    /// archive: Debian's mirrors keep it beside the archive (`.../debian`
    /// -> `.../debian-security`), Ubuntu's in the same archive. None for a
    /// Debian mirror laid out otherwise.
    pub fn security_uri(self, archive: &str) -> Option<String> {
        let archive = archive.trim_end_matches('/');
        if self.ubuntu() {
            return Some(archive.to_string());
        }
        archive
            .strip_suffix("/debian")
            .map(|base| format!("{base}/debian-security"))
    }

    /// The Node.js line `runtime.node.source: distro` installs.
    pub fn distro_node(self) -> u32 {
        match self {
            System::Debian12 | System::Ubuntu2404 => 18,
            System::Debian13 => 20,
            System::Ubuntu2604 => 22,
        }
    }
}

impl fmt::Display for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            System::Debian12 => "Debian 12 (bookworm)",
            System::Debian13 => "Debian 13 (trixie)",
            System::Ubuntu2404 => "Ubuntu 24.04 LTS",
            System::Ubuntu2604 => "Ubuntu 26.04 LTS",
        })
    }
}

/// `Debian 12 (bookworm), Debian 13 (trixie), ...`.
pub fn supported() -> String {
    SYSTEMS.map(|r| r.to_string()).join(", ")
}

/// Whether an nginx of `version` takes `http2 on;` (and warns about
/// `listen ... http2`).
pub fn http2_directive(version: (u32, u32, u32)) -> bool {
    version >= HTTP2_DIRECTIVE_SINCE
}

/// `nginx version: nginx/1.22.1` (what `nginx -v` says) -> (1, 22, 1).
pub fn nginx_version(said: &str) -> Option<(u32, u32, u32)> {
    let version = said.trim().rsplit('/').next()?;
    let mut parts = version
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse().ok());
    Some((parts.next()??, parts.next()??, parts.next()??))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_security_archive_is_found_from_the_main_one() {
        assert_eq!(
            System::Debian13
                .security_uri("http://mirror.example.org/debian/")
                .as_deref(),
            Some("http://mirror.example.org/debian-security")
        );
        assert_eq!(
            System::Debian12
                .security_uri("http://mirror.example.org/pub/linux/debian")
                .as_deref(),
            Some("http://mirror.example.org/pub/linux/debian-security")
        );
        assert_eq!(
            System::Debian13.security_uri("http://mirror.example.org/deb"),
            None
        );
        assert_eq!(
            System::Ubuntu2404
                .security_uri("http://mirror.example.org/ubuntu")
                .as_deref(),
            Some("http://mirror.example.org/ubuntu")
        );
    }

    #[test]
    fn releases_are_named_both_ways() {
        for release in SYSTEMS {
            assert_eq!(System::from_slug(&release.slug()), Some(release));
            let (id, version) = release.os_release();
            assert_eq!(System::from_os_release(id, version), Some(release));
        }
        assert_eq!(System::from_os_release("debian", "11"), None);
        assert_eq!(System::from_os_release("ubuntu", "22.04"), None);
        assert_eq!(System::from_slug("centos-9"), None);
    }

    #[test]
    fn http2_follows_the_nginx_version() {
        assert_eq!(
            nginx_version("nginx version: nginx/1.22.1\n"),
            Some((1, 22, 1))
        );
        assert_eq!(
            nginx_version("nginx version: nginx/1.26.3 (Debian)"),
            Some((1, 26, 3))
        );
        assert_eq!(nginx_version("command not found"), None);
        let directive: Vec<bool> = SYSTEMS.map(|r| http2_directive(r.nginx())).into();
        assert_eq!(directive, [false, true, false, true]);
        assert!(!http2_directive((1, 25, 0)) && http2_directive((1, 25, 1)));
    }
}
