//! The lab: disposable Debian 12 hosts on this machine, for tests and
//! rehearsals. Each host is a copy of a cached debootstrap image booted by
//! systemd-nspawn (systemd as PID 1, real sshd) in its own network namespace,
//! with a public interface on 198.18.0.0/24 (this machine is 198.18.0.1, the
//! "internet") and a private one on 198.19.0.0/24, a network this machine is
//! not on: a client namespace there plays the other private hosts. Hosts
//! reach package mirrors through NAT on this machine. Nothing else leaves it.
//!
//! `up` records everything it makes in a state file; `down` removes exactly
//! that. The base image and the lab's SSH key are kept for the next `up`.

mod cgroups;
pub mod node_mirror;

use std::fs;
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde::{Deserialize, Serialize};

use crate::platform::System;
use crate::spec::{Host, Loaded, NodeSource, Role};

/// Where the lab keeps its hosts, key, known_hosts and state.
pub const DIR: &str = "/var/lib/deployer-lab";
/// Where the cached base images are, one per system, reused by every `up`.
const IMAGES: &str = "/var/cache/deployer-lab";
const PUBLIC_BRIDGE: &str = "dlab-pub";
const PRIVATE_BRIDGE: &str = "dlab-priv";
const GATEWAY: &str = "198.18.0.1";
const PUBLIC_NET: &str = "198.18.0.0/24";
const PRIVATE_NET: &str = "198.19.0.0/24";
/// The namespace that plays "another host on the private network".
pub const CLIENT_NETNS: &str = "dlab-client";
pub const CLIENT_ADDRESS: &str = "198.19.0.250";
const NAT_TABLE: &str = "deployer_lab";
/// What the lab's image has beyond debootstrap's minimal base. Lab hosts
/// run on this machine's kernel, which may have no WireGuard: wireguard-go
/// (userspace, through /dev/net/tun) stands in, as wg-quick falls back to
/// it by itself. deployer never installs it on a host.
const PACKAGES: &str =
    "systemd,systemd-sysv,dbus,openssh-server,iproute2,ca-certificates,sudo,wireguard-go";

pub fn key() -> PathBuf {
    Path::new(DIR).join("id_ed25519")
}

pub fn known_hosts() -> PathBuf {
    Path::new(DIR).join("known_hosts")
}

fn state_file() -> PathBuf {
    Path::new(DIR).join("state.json")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabHost {
    pub name: String,
    pub public: Ipv4Addr,
    pub private: Option<Ipv4Addr>,
    /// The process group running the host's systemd-nspawn.
    pub pid: u32,
    /// The control groups the host runs in, its own.
    #[serde(default)]
    pub cgroups: Vec<PathBuf>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    hosts: Vec<LabHost>,
    /// `net.ipv4.ip_forward` before the lab set it.
    ip_forward_before: Option<String>,
}

impl State {
    fn load() -> Result<State> {
        match fs::read_to_string(state_file()) {
            Ok(text) => serde_json::from_str(&text).context("reading the lab's state"),
            Err(_) => Ok(State::default()),
        }
    }

    fn save(&self) -> Result<()> {
        fs::create_dir_all(DIR)?;
        fs::write(state_file(), serde_json::to_string_pretty(self)?)
            .context("saving the lab's state")
    }
}

/// Runs a command, failing with its output when it fails.
fn run(program: &str, args: &[&str]) -> Result<String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program}"))?;
    if !output.status.success() {
        bail!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The same, for clean-up steps whose target may already be gone.
fn run_quietly(program: &str, args: &[&str]) {
    let _ = Command::new(program).args(args).output();
}

/// An unencrypted ed25519 key pair at `path` (and `path`.pub).
fn new_key(path: &Path, comment: &str) -> Result<()> {
    let path = path.to_string_lossy();
    run(
        "ssh-keygen",
        &["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", &path],
    )
    .map(|_| ())
}

fn preflight() -> Result<()> {
    if !cfg!(target_os = "linux") {
        bail!("the lab needs Linux (network namespaces and systemd-nspawn)");
    }
    let uid = run("id", &["-u"])?;
    if uid.trim() != "0" {
        bail!(
            "the lab needs root: it creates network namespaces, bridges and containers. Run it with sudo"
        );
    }
    let mut missing = Vec::new();
    for (tool, package) in [
        ("systemd-nspawn", "systemd-container"),
        ("debootstrap", "debootstrap"),
        ("nft", "nftables"),
        ("ip", "iproute2"),
        ("ssh-keygen", "openssh-client"),
    ] {
        let found = Command::new("sh")
            .args([
                "-c",
                &format!("PATH=$PATH:/usr/sbin:/sbin command -v {tool}"),
            ])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            missing.push(package);
        }
    }
    if !missing.is_empty() {
        bail!(
            "the lab needs more tools: apt-get install {}",
            missing.join(" ")
        );
    }
    Ok(())
}

/// The hosts of `loaded` named in `names` (all without), each with lab addresses.
fn chosen<'a>(
    loaded: &'a Loaded,
    names: &[String],
) -> Result<Vec<(&'a Host, Ipv4Addr, Option<Ipv4Addr>)>> {
    let public_net: ipnet::Ipv4Net = PUBLIC_NET.parse().expect("valid");
    let private_net: ipnet::Ipv4Net = PRIVATE_NET.parse().expect("valid");
    let mut chosen = Vec::new();
    for host in loaded
        .spec
        .hosts
        .iter()
        .filter(|h| names.is_empty() || names.contains(&h.name))
    {
        let public: Ipv4Addr = host
            .address
            .parse()
            .ok()
            .filter(|ip: &Ipv4Addr| public_net.contains(ip) && ip.to_string() != GATEWAY)
            .with_context(|| {
                format!(
                    "{}: address {} is not a lab address: use 198.18.0.2-254",
                    host.name, host.address
                )
            })?;
        // A mesh is the hosts' private network: the lab gives them none.
        let private = match host.private_address {
            _ if loaded.spec.network.mesh.is_some() => None,
            None => None,
            Some(ip) => match ip.0 {
                std::net::IpAddr::V4(v4)
                    if private_net.contains(&v4) && v4.to_string() != CLIENT_ADDRESS =>
                {
                    Some(v4)
                }
                other => bail!(
                    "{}: private address {other} is not a lab address: use 198.19.0.1-249",
                    host.name
                ),
            },
        };
        chosen.push((host, public, private));
    }
    for name in names {
        if !loaded.spec.hosts.iter().any(|h| &h.name == name) {
            bail!("no host `{name}` in {}", loaded.file.display());
        }
    }
    Ok(chosen)
}

/// The Debian suite debootstrap builds the image of `system` from; the
/// lab boots Debian only.
fn suite(system: System) -> Result<&'static str> {
    match system {
        System::Debian12 => Ok("bookworm"),
        System::Debian13 => Ok("trixie"),
        System::Ubuntu2404 | System::Ubuntu2604 => {
            bail!(
                "the lab boots Debian 12 and 13 only; {system} is rendered and unit-tested, not booted"
            )
        }
    }
}

/// Boots the spec's hosts (or those named) as lab hosts running `system`.
pub fn up(
    loaded: &Loaded,
    names: &[String],
    system: System,
    progress: &dyn Fn(&str),
) -> Result<Vec<LabHost>> {
    let image = Path::new(IMAGES).join(suite(system)?);
    preflight()?;
    let mut state = State::load()?;
    let wanted = chosen(loaded, names)?;
    fs::create_dir_all(Path::new(DIR).join("hosts"))?;
    if !key().exists() {
        new_key(&key(), "deployer-lab")?;
    }
    base_image(&image, progress)?;
    security_source(&image, system)?;
    if let Some(major) = official_node_line(loaded) {
        node_mirror::ensure(major, progress)?;
    }
    fs::create_dir_all(node_mirror::CACHE)?;
    room_for_inotify(state.hosts.len() + wanted.len())?;
    networks(&mut state)?;
    let mut booted = Vec::new();
    for (host, public, private) in wanted {
        if state.hosts.iter().any(|h| h.name == host.name) {
            bail!(
                "{} is already in the lab; `deployer lab down` first",
                host.name
            );
        }
        progress(&format!("booting {} ({public})", host.name));
        let lab_host = boot(&image, &host.name, public, private, state.hosts.len())?;
        state.hosts.push(lab_host.clone());
        state.save()?;
        booted.push(lab_host);
    }
    for host in &booted {
        wait_for_ssh(host)?;
    }
    Ok(booted)
}

/// The Node.js line `loaded`'s hosts fetch from official builds through
/// the lab's mirror: none when no host runs Node.js, the spec installs it
/// another way, or names its own mirror.
pub fn official_node_line(loaded: &Loaded) -> Option<u32> {
    let node = &loaded.spec.runtime.node;
    let runs_node = loaded
        .spec
        .hosts
        .iter()
        .any(|h| h.has(Role::App) || h.has(Role::Worker));
    (runs_node && node.source == NodeSource::Official && node.mirror.is_none())
        .then_some(node.version)
}

/// Adds the security archive to the image's apt sources, as a Debian
/// install has it and debootstrap does not: from the same mirror, so the
/// hosts' unattended upgrades have fixes to install. Once per image.
fn security_source(image: &Path, system: System) -> Result<()> {
    let file = image.join("etc/apt/sources.list");
    let sources = fs::read_to_string(&file).context("reading the image's apt sources")?;
    let suite = format!("{}-security", system.codename());
    if sources.contains(&suite) {
        return Ok(());
    }
    let archive = sources
        .lines()
        .find_map(|l| l.strip_prefix("deb ")?.split_whitespace().next())
        .and_then(|uri| system.security_uri(uri))
        .context("the image's apt source names no Debian archive")?;
    let sources = if sources.ends_with('\n') || sources.is_empty() {
        sources
    } else {
        sources + "\n"
    };
    fs::write(&file, format!("{sources}deb {archive} {suite} main\n"))
        .context("adding the security archive to the image's apt sources")
}

/// inotify instances a lab host's systemd takes (its manager, journald,
/// udev and logind each hold some), with room to spare.
const INOTIFY_PER_HOST: u64 = 16;

/// Raises this machine's per-user inotify instances (Debian's default is
/// 128) when the lab's hosts would need more: past about twenty hosts,
/// their systemd stops at boot with "Too many open files". Never lowers it.
fn room_for_inotify(hosts: usize) -> Result<()> {
    let knob = "/proc/sys/fs/inotify/max_user_instances";
    let now: u64 = fs::read_to_string(knob)
        .with_context(|| format!("reading {knob}"))?
        .trim()
        .parse()
        .with_context(|| format!("{knob} is not a number"))?;
    let needed = 128 + INOTIFY_PER_HOST * hosts as u64;
    if now < needed {
        fs::write(knob, needed.to_string())
            .with_context(|| format!("raising {knob} to {needed} for {hosts} lab hosts"))?;
    }
    Ok(())
}

/// The cached image: built once with debootstrap (about a minute), and
/// again when the package list changes (the marker holds it).
fn base_image(image: &Path, progress: &dyn Fn(&str)) -> Result<()> {
    let done = image.join(".deployer-complete");
    if fs::read_to_string(&done).is_ok_and(|built| built == PACKAGES) {
        return Ok(());
    }
    let suite = image
        .file_name()
        .and_then(|n| n.to_str())
        .context("an image is named after its suite")?;
    progress(&format!(
        "building the {suite} base image with debootstrap (once; cached in {IMAGES})"
    ));
    let building = format!("{}.building", image.display());
    let image = image.to_string_lossy();
    run_quietly("rm", &["-rf", &building]);
    fs::create_dir_all(IMAGES)?;
    run(
        "debootstrap",
        &[
            "--variant=minbase",
            &format!("--include={PACKAGES}"),
            suite,
            &building,
        ],
    )?;
    run_quietly("rm", &["-rf", &image]);
    fs::rename(&building, &*image)?;
    fs::write(&done, PACKAGES)?;
    Ok(())
}

/// The bridges, the client namespace, NAT and the route that keeps this
/// machine off the private network. Idempotent.
fn networks(state: &mut State) -> Result<()> {
    let exists = |link: &str| run("ip", &["link", "show", link]).is_ok();
    if !exists(PUBLIC_BRIDGE) {
        run("ip", &["link", "add", PUBLIC_BRIDGE, "type", "bridge"])?;
        run(
            "ip",
            &[
                "addr",
                "add",
                &format!("{GATEWAY}/24"),
                "dev",
                PUBLIC_BRIDGE,
            ],
        )?;
        run("ip", &["link", "set", PUBLIC_BRIDGE, "up"])?;
    }
    if !exists(PRIVATE_BRIDGE) {
        run("ip", &["link", "add", PRIVATE_BRIDGE, "type", "bridge"])?;
        run("ip", &["link", "set", PRIVATE_BRIDGE, "up"])?;
    }
    if !Path::new("/run/netns").join(CLIENT_NETNS).exists() {
        run("ip", &["netns", "add", CLIENT_NETNS])?;
        attach(
            CLIENT_NETNS,
            "dlab-cl",
            PRIVATE_BRIDGE,
            "priv0",
            CLIENT_ADDRESS,
        )?;
        run("ip", &["-n", CLIENT_NETNS, "link", "set", "lo", "up"])?;
    }
    // This machine is the public side only: nothing it sends may reach the private network.
    run_quietly("ip", &["route", "replace", "blackhole", PRIVATE_NET]);
    if state.ip_forward_before.is_none() {
        state.ip_forward_before = Some(
            fs::read_to_string("/proc/sys/net/ipv4/ip_forward")?
                .trim()
                .to_string(),
        );
    }
    fs::write("/proc/sys/net/ipv4/ip_forward", "1")
        .context("enabling IPv4 forwarding for the lab's NAT")?;
    run_quietly("nft", &["delete", "table", "ip", NAT_TABLE]);
    let nat = format!(
        "table ip {NAT_TABLE} {{\n  chain postrouting {{ type nat hook postrouting priority srcnat; ip saddr {PUBLIC_NET} oifname != \"{PUBLIC_BRIDGE}\" masquerade; }}\n}}\n"
    );
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()?;
    std::io::Write::write_all(child.stdin.as_mut().expect("piped"), nat.as_bytes())?;
    drop(child.stdin.take());
    if !child.wait()?.success() {
        bail!("loading the lab's NAT table failed");
    }
    state.save()
}

/// A veth from namespace `netns` (as `inside`, with `address`/24) to `bridge`.
fn attach(netns: &str, outside: &str, bridge: &str, inside: &str, address: &str) -> Result<()> {
    let peer = format!("{outside}x");
    // A link of this name that a killed run left is the lab's own.
    run_quietly("ip", &["link", "delete", outside]);
    run(
        "ip",
        &[
            "link", "add", outside, "type", "veth", "peer", "name", &peer,
        ],
    )?;
    run("ip", &["link", "set", outside, "master", bridge, "up"])?;
    run("ip", &["link", "set", &peer, "netns", netns])?;
    run("ip", &["-n", netns, "link", "set", &peer, "name", inside])?;
    run(
        "ip",
        &[
            "-n",
            netns,
            "addr",
            "add",
            &format!("{address}/24"),
            "dev",
            inside,
        ],
    )?;
    run("ip", &["-n", netns, "link", "set", inside, "up"])?;
    Ok(())
}

fn netns(name: &str) -> String {
    format!("dlab-{name}")
}

fn root(name: &str) -> PathBuf {
    Path::new(DIR).join("hosts").join(name)
}

fn boot(
    image: &Path,
    name: &str,
    public: Ipv4Addr,
    private: Option<Ipv4Addr>,
    index: usize,
) -> Result<LabHost> {
    let ns = netns(name);
    // A run killed while booting leaves its namespace (and the links in it)
    // behind, unrecorded in the state file: the name is the lab's own.
    run_quietly("ip", &["netns", "delete", &ns]);
    run("ip", &["netns", "add", &ns])?;
    run("ip", &["-n", &ns, "link", "set", "lo", "up"])?;
    attach(
        &ns,
        &format!("dlab{index}p"),
        PUBLIC_BRIDGE,
        "pub0",
        &public.to_string(),
    )?;
    if let Some(private) = private {
        attach(
            &ns,
            &format!("dlab{index}q"),
            PRIVATE_BRIDGE,
            "priv0",
            &private.to_string(),
        )?;
    }
    run(
        "ip",
        &["-n", &ns, "route", "add", "default", "via", GATEWAY],
    )?;

    let root = root(name);
    run_quietly("rm", &["-rf", &root.to_string_lossy()]);
    run(
        "cp",
        &[
            "-a",
            "--reflink=auto",
            &image.to_string_lossy(),
            &root.to_string_lossy(),
        ],
    )?;
    fs::write(root.join("etc/hostname"), format!("{name}\n"))?;
    let resolver = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    fs::write(root.join("etc/resolv.conf"), resolver)?;
    trust_local_cas(&root)?;
    let ssh_dir = root.join("root/.ssh");
    fs::create_dir_all(&ssh_dir)?;
    fs::copy(key().with_extension("pub"), ssh_dir.join("authorized_keys"))?;
    // Every host gets its own host keys, pinned in the lab's known_hosts.
    for entry in fs::read_dir(root.join("etc/ssh"))? {
        let path = entry?.path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("ssh_host_"))
        {
            fs::remove_file(path)?;
        }
    }
    new_key(&root.join("etc/ssh/ssh_host_ed25519_key"), name)?;
    let host_key = fs::read_to_string(root.join("etc/ssh/ssh_host_ed25519_key.pub"))?;
    let key_fields: Vec<&str> = host_key.split_whitespace().take(2).collect();
    let mut known: Vec<String> = fs::read_to_string(known_hosts())
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with(&format!("{public} ")))
        .map(String::from)
        .collect();
    known.push(format!("{public} {}", key_fields.join(" ")));
    fs::write(known_hosts(), known.join("\n") + "\n")?;

    let log = fs::File::create(Path::new(DIR).join("hosts").join(format!("{name}.log")))?;
    // nftables inside needs CAP_NET_ADMIN, which nspawn withholds by default;
    // the host's network namespace is its own, so this reaches nothing else.
    // The Node.js mirror is the one directory of this machine hosts see.
    // /proc/sys/net is writable (the namespace's own settings), so the
    // network half of a host's sysctl baseline applies as on a real host;
    // kernel-wide settings stay read-only, this machine's.
    // nspawn exits with 133 when the host reboots; a loop boots it again,
    // as systemd-nspawn@.service would. setsid makes the loop a process
    // group, so `down` stops the loop and the container together. The loop
    // first moves into the host's own control groups.
    let cgroups = cgroups::make(name)?;
    let child = Command::new("setsid")
        .env("SYSTEMD_NSPAWN_API_VFS_WRITABLE", "network")
        .env(
            "DEPLOYER_LAB_CGROUPS",
            cgroups
                .iter()
                .map(|g| g.to_string_lossy())
                .collect::<Vec<_>>()
                .join("\n"),
        )
        .args([
            "sh",
            "-c",
            "printf '%s\\n' \"$DEPLOYER_LAB_CGROUPS\" | while read -r group; do [ -z \"$group\" ] || echo $$ >\"$group/cgroup.procs\" || exit 1; done || exit 1\n\
             while :; do systemd-nspawn \"$@\"; [ $? -eq 133 ] || exit 0; done",
            "deployer-lab",
            "--quiet",
            "--boot",
            "--register=no",
            "--keep-unit",
            "-M",
            name,
        ])
        .arg("-D")
        .arg(&root)
        .args([
            "--capability=CAP_NET_ADMIN",
            // For wireguard-go, where this kernel has no WireGuard.
            "--bind=/dev/net/tun",
            &format!("--bind-ro={}:{}", node_mirror::CACHE, node_mirror::MOUNT),
            &format!("--network-namespace-path=/run/netns/{ns}"),
        ])
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting systemd-nspawn")?;
    Ok(LabHost {
        name: name.to_string(),
        public,
        private,
        pid: child.id(),
        cgroups,
    })
}

/// Where this machine keeps the CAs it trusts beyond Debian's.
const LOCAL_CAS: &str = "/usr/local/share/ca-certificates";

/// Hosts reach registries through this machine, so they trust what it
/// trusts beyond Debian's CAs (say, a TLS-inspecting egress proxy's): the
/// files land where `update-ca-certificates` finds them once the host has
/// ca-certificates, and in one file that Node.js (npm) reads through
/// NODE_EXTRA_CA_CERTS, set for SSH sessions in /etc/environment.
fn trust_local_cas(root: &Path) -> Result<()> {
    let Ok(entries) = fs::read_dir(LOCAL_CAS) else {
        return Ok(());
    };
    let mut pems = String::new();
    let dir = root.join(LOCAL_CAS.trim_start_matches('/'));
    fs::create_dir_all(&dir)?;
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "crt") {
            let pem = fs::read_to_string(&path)?;
            fs::write(dir.join(path.file_name().expect("a file")), &pem)?;
            pems.push_str(&pem);
        }
    }
    if !pems.is_empty() {
        fs::write(root.join("etc/ssl/deployer-lab-cas.pem"), pems)?;
        fs::write(
            root.join("etc/environment"),
            "NODE_EXTRA_CA_CERTS=/etc/ssl/deployer-lab-cas.pem\n",
        )?;
    }
    Ok(())
}

fn wait_for_ssh(host: &LabHost) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect_timeout(&(host.public, 22).into(), Duration::from_millis(300)).is_err()
    {
        if Instant::now() > deadline {
            bail!(
                "{}: sshd did not answer within 60 s; see {DIR}/hosts/{}.log",
                host.name,
                host.name
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether any process is left in process group `group`.
fn group_alive(group: u32) -> bool {
    let Ok(entries) = fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        // `pid (comm) state ppid pgrp ...`: comm may hold spaces and parentheses.
        fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|stat| {
                let fields = stat.rsplit_once(')')?.1;
                fields.split_whitespace().nth(2)?.parse::<u32>().ok()
            })
            == Some(group)
    })
}

/// Stops every lab host and removes all that `up` made, but the cached image and the key.
pub fn down() -> Result<Vec<String>> {
    let state = State::load()?;
    let mut removed = Vec::new();
    for host in &state.hosts {
        let group = format!("-{}", host.pid);
        if group_alive(host.pid) {
            run_quietly("kill", &["-TERM", "--", &group]);
            let deadline = Instant::now() + Duration::from_secs(15);
            while group_alive(host.pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            if group_alive(host.pid) {
                run_quietly("kill", &["-KILL", "--", &group]);
            }
        }
        cgroups::remove(&host.cgroups);
        run_quietly("ip", &["netns", "del", &netns(&host.name)]);
        run_quietly("rm", &["-rf", &root(&host.name).to_string_lossy()]);
        let _ = fs::remove_file(
            Path::new(DIR)
                .join("hosts")
                .join(format!("{}.log", host.name)),
        );
        removed.push(host.name.clone());
    }
    run_quietly("ip", &["netns", "del", CLIENT_NETNS]);
    run_quietly("ip", &["link", "del", PUBLIC_BRIDGE]);
    run_quietly("ip", &["link", "del", PRIVATE_BRIDGE]);
    run_quietly("ip", &["route", "del", "blackhole", PRIVATE_NET]);
    run_quietly("nft", &["delete", "table", "ip", NAT_TABLE]);
    if let Some(before) = &state.ip_forward_before {
        fs::write("/proc/sys/net/ipv4/ip_forward", before)?;
    }
    let _ = fs::remove_file(known_hosts());
    let _ = fs::remove_file(state_file());
    Ok(removed)
}

/// The lab's hosts, with whether each is up.
pub fn status() -> Result<Vec<(LabHost, bool)>> {
    Ok(State::load()?
        .hosts
        .into_iter()
        .map(|h| {
            let up = alive(h.pid)
                && TcpStream::connect_timeout(&(h.public, 22).into(), Duration::from_millis(300))
                    .is_ok();
            (h, up)
        })
        .collect())
}

/// The lab host called `name`.
pub fn host(name: &str) -> Result<LabHost> {
    let hosts = State::load()?.hosts;
    let names: Vec<String> = hosts.iter().map(|h| h.name.clone()).collect();
    hosts.into_iter().find(|h| h.name == name).with_context(|| {
        format!(
            "no lab host `{name}`; the lab has: {}",
            if names.is_empty() {
                "none (run `deployer lab up`)".into()
            } else {
                names.join(", ")
            }
        )
    })
}
