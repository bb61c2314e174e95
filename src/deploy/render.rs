//! `deployer render`: every file each host gets, written locally for review
//! at the paths (and modes) it will have on the host. Offline: `instances:
//! max` assumes a core count.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use super::hosts::named;
use super::prepare::desired;
use crate::layout::AssumedCores;
use crate::platform::System;
use crate::render::Renderer;
use crate::render::context::{Existing, Platform};
use crate::resource::Resource;
use crate::spec::{Host, Loaded};

/// Marks a directory as render output, so a rerun may replace what is in it.
const MARKER: &str = ".deployer-render";

/// What was written for one host.
pub struct RenderedHost {
    pub name: String,
    pub dir: PathBuf,
    pub resources: Vec<Resource>,
}

/// Renders `host` (every host without) into `out/<host>/`, assuming `cores`
/// and `system` (as deployer installs it).
pub fn render(
    loaded: &Loaded,
    host: Option<&str>,
    cores: u32,
    system: System,
    out: &Path,
) -> Result<Vec<RenderedHost>> {
    let hosts: Vec<&Host> = match host {
        None => loaded.spec.hosts.iter().collect(),
        Some(name) => vec![named(loaded, name)?],
    };
    prepare_out(out)?;
    let renderer = Renderer::new()?;
    let existing = Existing {
        platform: Platform::of(system),
        ..Existing::default()
    };
    let mut rendered = Vec::new();
    for host in hosts {
        let resources = desired(&renderer, loaded, host, &AssumedCores(cores), &existing)?;
        let dir = out.join(&host.name);
        if dir.exists() {
            fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
        write_files(&dir, &resources)?;
        rendered.push(RenderedHost {
            name: host.name.clone(),
            dir,
            resources,
        });
    }
    Ok(rendered)
}

/// Refuses to write into a directory that holds something else than a render.
fn prepare_out(out: &Path) -> Result<()> {
    let is_empty = |p: &Path| {
        fs::read_dir(p)
            .map(|mut d| d.next().is_none())
            .unwrap_or(true)
    };
    if out.exists() && !out.join(MARKER).exists() && !is_empty(out) {
        bail!(
            "{} is not empty and was not written by `deployer render`; choose another --out",
            out.display()
        );
    }
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    fs::write(out.join(MARKER), "").with_context(|| format!("writing into {}", out.display()))?;
    Ok(())
}

fn write_files(dir: &Path, resources: &[Resource]) -> Result<()> {
    for resource in resources {
        let Resource::File(file) = resource else {
            continue;
        };
        if file.secret {
            // A private key stays where the operator keeps it.
            continue;
        }
        let target = dir.join(file.path.trim_start_matches('/'));
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        fs::write(&target, &file.content)
            .with_context(|| format!("writing {}", target.display()))?;
        fs::set_permissions(&target, fs::Permissions::from_mode(file.mode.0))
            .with_context(|| format!("setting the mode of {}", target.display()))?;
    }
    Ok(())
}
