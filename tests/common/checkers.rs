//! The host's own tools, run against a render in private mount and network
//! namespaces with the render overlaid on this machine's paths: nothing
//! here touches the machine's configuration.

use std::fs;
use std::path::{Path, PathBuf};

use super::{files, in_namespaces};

/// Unit files, drop-ins (`UNIT.d/*.conf`) aside.
pub fn units(host: &Path) -> Vec<PathBuf> {
    files(host)
        .into_iter()
        .filter(|f| f.parent() == Some(Path::new("etc/systemd/system")))
        .map(|f| host.join(f))
        .collect()
}

/// A self-signed certificate at the paths the site expects, as an overlay layer.
fn certificate_layer(dir: &Path, site: &str) -> PathBuf {
    let cert_of = |key: &str| -> String {
        site.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .map(|v| v.trim_end_matches(';').trim().to_string())
            .unwrap_or_else(|| panic!("the site has no {key}"))
    };
    let layer = dir.join("certs");
    let cert = cert_of("ssl_certificate ");
    let key = cert_of("ssl_certificate_key ");
    let in_layer = |p: &str| {
        layer.join(
            p.strip_prefix("/etc/")
                .expect("certificates live under /etc"),
        )
    };
    fs::create_dir_all(in_layer(&cert).parent().unwrap()).unwrap();
    super::self_signed(&in_layer(&key), &in_layer(&cert), "/CN=deployer-test", None);
    layer
}

/// `nginx -t` on a rendered host, with a throwaway certificate where the
/// site expects one; also proves nginx read our site, not the machine's.
pub fn nginx_check(out: &Path, host_dir: &Path, site: &Path) -> std::process::Output {
    let site_text = fs::read_to_string(site).unwrap();
    let certs = if site_text.contains("ssl_certificate ") {
        certificate_layer(out, &site_text)
    } else {
        out.join("no-certs")
    };
    fs::create_dir_all(&certs).unwrap();
    let upstream = site_text
        .lines()
        .find(|l| l.starts_with("upstream "))
        .unwrap()
        .to_string();
    in_namespaces(&format!(
        "mount -t overlay overlay -o lowerdir={etc}:{certs}:/etc /etc
         nginx -t -q
         nginx -T 2>/dev/null | grep -qF '{upstream}'",
        etc = host_dir.join("etc").display(),
        certs = certs.display(),
    ))
}

pub fn site_of(host_dir: &Path) -> Option<PathBuf> {
    files(host_dir)
        .into_iter()
        .find(|f| f.starts_with("etc/nginx/deployer"))
        .map(|f| host_dir.join(f))
}

/// `systemd-analyze verify` of a rendered host's unit files; it must print
/// nothing at all.
pub fn systemd_verify(host_dir: &Path) -> std::process::Output {
    let units: Vec<String> = units(host_dir)
        .iter()
        .map(|u| u.display().to_string())
        .collect();
    in_namespaces(&format!(
        "systemd-analyze verify --man=no {}",
        units.join(" ")
    ))
}

/// `nft -c` of a host's ruleset as it loads: the policy with every app's
/// rules it includes (read from the render, not from this machine's /etc),
/// as a minimal Debian (no netbase) sees it: no protocol names.
pub fn nft_check(host_dir: &Path) -> std::process::Output {
    let etc = host_dir.join("etc/deployer");
    let policy = fs::read_to_string(etc.join("firewall.nft"))
        .unwrap()
        .replace(
            "/etc/deployer/firewall.d/",
            &format!("{}/firewall.d/", etc.display()),
        );
    assert!(
        policy.contains(&format!("include \"{}/firewall.d/*.nft\"", etc.display())),
        "the rules are included from the render: {policy}"
    );
    let staged = tempfile::NamedTempFile::new().unwrap();
    fs::write(staged.path(), policy).unwrap();
    in_namespaces(&format!(
        "if [ -e /etc/protocols ]; then mount --bind /dev/null /etc/protocols; fi\nnft -c -f {}",
        staged.path().display()
    ))
}
