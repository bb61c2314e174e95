//! Why something deployer made leaves a host: the reason a plan gives for
//! each removal, from what the spec now says, and what removals keep.

use crate::layout::{self, CoreCounts, Units};
use crate::resource::ResourceId;
use crate::resource::owned::Keep;
use crate::spec::{Host, ProcessManager, Role, Spec};

/// What a host's removals keep, and why each goes.
#[derive(Debug, Clone)]
pub struct Removal {
    pub keep: Keep,
    pub reasons: Reasons,
}

impl Removal {
    /// Removals of a spec edit: data stays.
    pub fn edit(spec: &Spec, host: &Host, cores: &dyn CoreCounts) -> Removal {
        Removal {
            keep: Keep::Data,
            reasons: Reasons::Edit(Box::new(Edit {
                host: host.name.clone(),
                app: spec.app.name.clone(),
                app_role: host.has(Role::App),
                worker_role: host.has(Role::Worker),
                process_manager: spec.app.process_manager,
                units: Units::new(spec, host, cores),
                workers: spec.app.workers.iter().map(|w| w.name.clone()).collect(),
            })),
        }
    }

    /// For callers with no spec (tests, benchmarks): data stays.
    pub fn without_spec() -> Removal {
        Removal {
            keep: Keep::Data,
            reasons: Reasons::Undeclared,
        }
    }

    /// `deployer destroy [--purge]`.
    pub fn destroy(purge: bool) -> Removal {
        Removal {
            keep: if purge { Keep::Nothing } else { Keep::Data },
            reasons: Reasons::Destroy,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Reasons {
    /// The spec moved on; what it says now.
    Edit(Box<Edit>),
    Destroy,
    /// Nothing more to say than that nothing declares it.
    Undeclared,
}

#[derive(Debug, Clone)]
pub struct Edit {
    host: String,
    app: String,
    app_role: bool,
    worker_role: bool,
    process_manager: ProcessManager,
    units: Units,
    workers: Vec<String>,
}

impl Reasons {
    /// Why `id` leaves the host.
    pub fn why(&self, id: &ResourceId) -> String {
        let edit = match self {
            Reasons::Destroy => return "deployer destroy".into(),
            Reasons::Undeclared => return "no longer declared".into(),
            Reasons::Edit(edit) => edit,
        };
        let name = id.target.rsplit('/').next().unwrap_or(&id.target);
        let pm2 = matches!(edit.process_manager, ProcessManager::Pm2);
        let gone = |what: String| format!("no longer in the spec: {what}");
        if name == edit.units.pm2 && !pm2 {
            return gone("app.process_manager is systemd".into());
        }
        if let Some(instance) = name.strip_prefix(&format!("{}@", edit.app)) {
            return gone(if !edit.app_role {
                format!("{} no longer has the app role", edit.host)
            } else if pm2 {
                "app.process_manager is pm2".into()
            } else if instance.starts_with('.') {
                "the app's web units".into()
            } else {
                let n = edit.units.web.len();
                format!(
                    "app.instances gives {n} instance{} on this host",
                    if n == 1 { "" } else { "s" }
                )
            });
        }
        for worker in &edit.workers {
            let prefix = format!("{}@", layout::worker_prefix(&edit.app, worker));
            if name.starts_with(&prefix) {
                return gone(if !edit.worker_role {
                    format!("{} no longer has the worker role", edit.host)
                } else if pm2 {
                    "app.process_manager is pm2".into()
                } else {
                    format!("fewer instances of worker `{worker}`")
                });
            }
        }
        if let Some(worker) = name
            .strip_prefix(&format!("{}-", edit.app))
            .and_then(|rest| rest.split_once('@'))
            .map(|(worker, _)| worker)
        {
            return gone(format!("worker `{worker}` is not in app.workers"));
        }
        gone("nothing in it makes this".into())
    }
}
