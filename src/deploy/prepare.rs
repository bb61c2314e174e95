//! Getting hosts ready for work: the source packed, every chosen host
//! connected (and its cores read, where `instances: max` needs them), and
//! what each must have rendered and expanded into resources. Any failure
//! here stops the run before a host is touched.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Result, bail};

use super::Reach;
use super::exposure::Exposure;
use super::host::Desired;
use super::hosts::{self, Connector};
use super::removal::Removal;
use super::survey::{self, Survey};
use crate::layout::CoreCounts;
use crate::playbook;
use crate::release;
use crate::render::Renderer;
use crate::render::context::{self, Existing};
use crate::resource::Resource;
use crate::safety::lockout::LockoutGuard;
use crate::spec::{Host, Instances, Loaded, Role};
use crate::transport::Transport;

/// A host ready for work: connected, with what it must have.
pub struct Prepared {
    pub name: String,
    pub transport: Box<dyn Transport>,
    /// For a second, new connection.
    pub connector: Connector,
    pub desired: Desired,
    /// With a mesh: this host has no key pair yet, so the others cannot
    /// list it as a peer until it made one (`deploy::apply`'s second round).
    pub makes_mesh_key: bool,
}

/// What [`prepare`] does with the app's source.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Packed and attached to each host's release: plan, apply.
    Ship,
    /// Left alone: the command works with releases already on the hosts.
    Ignore,
}

/// Core counts read from the hosts, for `instances: max`.
struct Probed(HashMap<String, u32>);

impl CoreCounts for Probed {
    fn cores(&self, host: &str) -> u32 {
        self.0.get(host).copied().unwrap_or(1)
    }
}

fn survey(transport: &mut dyn Transport, host: &str, state_dir: &str) -> Result<Survey> {
    let output = transport.run_contained(&survey::script(state_dir))?;
    if output.status != 0 {
        bail!(
            "{host}: looking at what the host runs failed (exit {}):\n{}",
            output.status,
            output.stderr_tail()
        );
    }
    survey::parse(host, &output.stdout)
}

/// What `host` must have, given the hosts' cores and what was there before
/// deployer: the playbooks expanded over its context.
pub fn desired(
    renderer: &Renderer,
    loaded: &Loaded,
    host: &Host,
    cores: &dyn CoreCounts,
    existing: &Existing,
) -> Result<Vec<Resource>> {
    playbook::expand(renderer, &context::build(loaded, host, cores, existing))
}

/// Connects to `hosts` (and, when a dedicated load balancer's upstream
/// depends on them, to the app hosts whose core counts it needs), then
/// renders what each chosen host must have.
pub fn prepare(
    loaded: &Loaded,
    hosts: &[&Host],
    reach: &Reach,
    source: Source,
) -> Result<Vec<Prepared>> {
    let spec = &loaded.spec;
    let runs_node = hosts
        .iter()
        .any(|h| h.has(Role::App) || h.has(Role::Worker));
    // What plan and apply render goes to the hosts: without the secrets'
    // values (app.secrets and tls.dns.credentials, read together), the
    // secrets files would be empty. (The other commands apply no files.)
    anyhow::ensure!(
        source == Source::Ignore || loaded.secrets.is_some() || {
            let credentials = spec.tls.dns.as_ref().map_or(0, |d| d.credentials.len());
            spec.app.secrets.is_empty() && credentials == 0
        },
        "internal: the secrets' values were not read before connecting"
    );
    // Every host's peers come from the others' keys, which this machine,
    // standing in for one host, cannot read.
    if reach.local && spec.network.mesh.is_some() {
        bail!(
            "network.mesh: each host lists the others' WireGuard keys, which only a connection to each can read: plan and apply over SSH"
        );
    }
    // Packed before connecting: a bad source stops the run with nothing done.
    let shipped = (runs_node && source == Source::Ship)
        .then(|| release::pack(&loaded.resolve(&spec.app.source)))
        .transpose()?;
    let needs_cores = spec.app.instances == Instances::Max
        || spec
            .app
            .workers
            .iter()
            .any(|w| w.instances == Instances::Max);
    let dedicated_lb = hosts.iter().any(|h| h.has(Role::Lb) && !h.has(Role::App));
    let mut to_connect: Vec<&Host> = hosts.to_vec();
    // Every host of a mesh lists every other as a peer, by its public key.
    let needs_all = spec.network.mesh.is_some();
    if (needs_all || needs_cores && dedicated_lb) && !reach.local {
        for host in spec.hosts.iter().filter(|h| needs_all || h.has(Role::App)) {
            if !to_connect.iter().any(|c| c.name == host.name) {
                to_connect.push(host);
            }
        }
    }
    let connected = hosts::run_parallel(to_connect, reach.parallel, false, |host| {
        let connector = hosts::connector(loaded, host, reach)?;
        let mut transport = connector.open()?;
        let survey = survey(transport.as_mut(), &host.name, &reach.state_dir)?;
        // Before sshd offers only these keys, deployer must know them.
        let learned = transport
            .learn_host_keys(&survey.host_keys)
            .map_err(|e| {
                anyhow::anyhow!(
                    "{}: {e:#}: deployer's sshd settings let sshd offer only this key, so a later connection would fail; add it yourself (ssh-keyscan -t ed25519) and plan again",
                    host.name
                )
            })?;
        Ok((host, (transport, connector), (survey, learned)))
    });
    let (connected, failures) = hosts::partition(connected);
    if !failures.is_empty() {
        bail!(
            "{}\nnothing was changed on any host",
            hosts::lines(&failures)
        );
    }
    let mut cores = HashMap::new();
    let mut mesh_keys = BTreeMap::new();
    let mut transports = Vec::new();
    for (host, transport, survey) in connected {
        cores.insert(host.name.clone(), survey.0.cores);
        if let Some(key) = &survey.0.mesh_key {
            mesh_keys.insert(host.name.clone(), key.clone());
        }
        transports.push((host, transport, survey));
    }
    if reach.local {
        // This machine stands in for every host it is asked about.
        let local = cores.values().copied().next().unwrap_or(1);
        for host in &spec.hosts {
            cores.insert(host.name.clone(), local);
        }
    }
    let cores = Probed(cores);
    let renderer = Renderer::new()?;
    let mut prepared = Vec::new();
    for host in hosts {
        let (_, (transport, connector), (survey, learned)) = transports.remove(
            transports
                .iter()
                .position(|(h, _, _)| h.name == host.name)
                .expect("connected"),
        );
        let mut found = survey::findings(spec, host, &cores, &survey);
        found.existing.mesh_keys.clone_from(&mesh_keys);
        let makes_mesh_key = spec.network.mesh.is_some() && !mesh_keys.contains_key(&host.name);
        if makes_mesh_key {
            found.notes.push(
                "network.mesh: this host makes its WireGuard key pair in this apply; a second round then adds it to the other chosen hosts' peers".into(),
            );
        }
        for other in spec.hosts.iter().filter(|h| {
            spec.network.mesh.is_some()
                && !mesh_keys.contains_key(&h.name)
                && !hosts.iter().any(|c| c.name == h.name)
        }) {
            found.notes.push(format!(
                "network.mesh: {} has no WireGuard key pair yet, so it is no peer here until it is applied too",
                other.name
            ));
        }
        found.notes.extend(learned.iter().map(|key| {
            format!("host key {key}: added to deployer's known_hosts (read over the verified connection), as sshd is to offer it alone")
        }));
        let mut resources = desired(&renderer, loaded, host, &cores, &found.existing)?;
        for resource in &mut resources {
            if let (Resource::Release(release), Some(shipped)) = (resource, &shipped) {
                release.id.clone_from(&shipped.id);
                release.archive.clone_from(&shipped.archive);
            }
        }
        prepared.push(Prepared {
            name: host.name.clone(),
            transport,
            connector,
            makes_mesh_key,
            desired: Desired {
                resources,
                guard: LockoutGuard::new(spec, &reach.state_dir),
                exposure: Exposure::new(spec, host).sharing_with(&found.existing.other_apps),
                app: spec.app.name.clone(),
                removal: Some(Removal::edit(spec, host, &cores)),
                found: found.notes,
                refusals: found.refusals,
                while_enabled: found.while_enabled,
            },
        });
    }
    Ok(prepared)
}
