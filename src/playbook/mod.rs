//! Playbooks: `playbooks/*.yaml`, ordered lists of resources written as Tera
//! templates over the host's context. Expanding them for one host gives the
//! resources that host must have, with every file's content rendered.

use std::collections::HashSet;

use anyhow::{Context as _, Result, bail};

use crate::render::context::Context;
use crate::render::{PLAYBOOKS, Renderer, playbook_template};
use crate::resource::Resource;
use crate::yaml;

/// Every resource for the host described by `context`, in playbook order
/// (playbooks run in file-name order).
pub fn expand(renderer: &Renderer, context: &Context) -> Result<Vec<Resource>> {
    let tera_context = tera::Context::from_serialize(context)?;
    let mut resources = Vec::new();
    for (name, _) in PLAYBOOKS {
        let text = renderer.render(&playbook_template(name), &tera_context)?;
        for mut resource in parse(name, &text)? {
            if let Resource::File(file) = &mut resource {
                // A copy of the host's context (which holds the whole spec,
                // every host of it) only for the files that add variables.
                let with_vars = (!file.vars.is_empty()).then(|| {
                    let mut context = tera_context.clone();
                    for (name, value) in &file.vars {
                        context.insert(name, value);
                    }
                    context
                });
                file.content = renderer
                    .render(&file.template, with_vars.as_ref().unwrap_or(&tera_context))
                    .with_context(|| format!("playbook {name}: file {}", file.path))?;
            }
            resources.push(resource);
        }
    }
    check_unique_paths(&resources)?;
    Ok(resources)
}

/// A rendered playbook as resources. Problems here are bugs in a playbook,
/// reported with where the rendered text went wrong.
fn parse(name: &str, text: &str) -> Result<Vec<Resource>> {
    let root = match yaml::parse(text) {
        Ok(Some(root)) => root,
        Ok(None) => return Ok(Vec::new()),
        Err(e) => bail!(
            "playbook {name} rendered to invalid YAML at {}: {}",
            e.mark,
            e.message
        ),
    };
    let typed = yaml::from_node::<Vec<Resource>>(&root);
    match typed.value {
        Some(resources) if typed.diagnostics.is_empty() => {
            if let Some(problem) = resources.iter().find_map(Resource::problems) {
                bail!("playbook {name}: {problem}");
            }
            Ok(resources)
        }
        _ => {
            let problems: Vec<String> = typed
                .diagnostics
                .iter()
                .map(|d| format!("  rendered line {}: {}: {}", d.mark, d.path, d.message))
                .collect();
            bail!("playbook {name} is invalid:\n{}", problems.join("\n"))
        }
    }
}

/// Two playbooks claiming the same path would fight on every apply.
fn check_unique_paths(resources: &[Resource]) -> Result<()> {
    let mut seen = HashSet::new();
    for resource in resources {
        let id = resource.id();
        if !seen.insert(id.clone()) {
            bail!(
                "{} `{}` is declared twice in the playbooks",
                id.kind,
                id.target
            );
        }
    }
    Ok(())
}
