//! Loading a spec: read with limits, parsed, typed, checked key by key,
//! files and secrets it names read; either a spec with no problem at all,
//! or every problem found, each at its place.

use std::fmt;
use std::path::{Path, PathBuf};

use super::{NodeSource, ProvidedCert, SecretValues, Spec, TlsMode};
use super::{files, mesh, node_lines, provided_cert, secrets, validate};
use crate::yaml::{self, Diagnostic};

/// A valid spec and where it was read from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub spec: Spec,
    pub file: PathBuf,
    /// `tls.mode: files`: the chain and key, checked.
    pub provided_cert: Option<ProvidedCert>,
    /// `app.secrets`' values, when the command needs them ([`Secrets::Read`]).
    pub secrets: Option<SecretValues>,
    /// `tls.dns.credentials`' values, read with `secrets`.
    pub dns_credentials: Option<SecretValues>,
    /// `tls.acme_ca`'s content.
    pub acme_ca: Option<String>,
    /// Not wrong, but worth the operator's attention.
    pub warnings: Vec<String>,
}

impl Loaded {
    /// With `tls.mode: files`, the chain and key read and checked against
    /// `domain` and `aliases`.
    fn read_provided_cert(&self) -> Result<Option<ProvidedCert>, (String, String)> {
        let tls = &self.spec.tls;
        let (TlsMode::Files, Some(cert), Some(key)) = (self.spec.tls_mode(), &tls.cert, &tls.key)
        else {
            return Ok(None);
        };
        provided_cert::read(
            &self.resolve(cert),
            &self.resolve(key),
            &self.spec.site_names(),
        )
        .map(Some)
    }

    /// `tls.acme_ca`: the CA certificates, as OpenSSL writes them.
    fn read_acme_ca(&self, written: &str) -> Result<String, String> {
        let path = self.resolve(written);
        let pem = files::read_text(&path, files::SMALL_FILE_LIMIT)?;
        let certs = provided_cert::certificates(&pem)
            .map_err(|e| format!("{} {e}", crate::dialect::terminal::shown(written)))?;
        certs
            .iter()
            .map(|c| {
                c.to_pem()
                    .map(|pem| String::from_utf8_lossy(&pem).into_owned())
            })
            .collect::<Result<String, _>>()
            .map_err(|e| {
                format!(
                    "cannot write {}: {e}",
                    crate::dialect::terminal::shown(written)
                )
            })
    }

    /// Reads `app.secrets`' and `tls.dns.credentials`' values.
    fn read_secrets(&self) -> Result<(SecretValues, SecretValues), Vec<(String, String)>> {
        let base = self.resolve(".");
        let base = base.canonicalize().unwrap_or(base);
        let mut off_limits = vec![self.resolve(&self.spec.app.source)];
        off_limits.extend(
            base.ancestors()
                .find(|dir| dir.join(".git").exists())
                .map(Path::to_path_buf),
        );
        let app = secrets::resolve("app.secrets", &self.spec.app.secrets, &base, &off_limits);
        let credentials = self
            .spec
            .tls
            .dns
            .as_ref()
            .map_or(&[][..], |d| &d.credentials);
        let dns = secrets::resolve("tls.dns.credentials", credentials, &base, &off_limits);
        match (app, dns) {
            (Ok(app), Ok(dns)) => Ok((app, dns)),
            (app, dns) => Err([app.err(), dns.err()]
                .into_iter()
                .flatten()
                .flatten()
                .collect()),
        }
    }

    /// Resolves a path written in the spec against the spec's directory.
    pub fn resolve(&self, written: &str) -> PathBuf {
        let base = self.file.parent().unwrap_or(Path::new("."));
        base.join(written)
    }
}

/// Why a spec was refused: every problem, in file order.
#[derive(Debug)]
pub struct Invalid {
    pub file: PathBuf,
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Messages quote the input: nothing in it may reach the terminal raw.
        let file = crate::dialect::terminal::escaped(&self.file.display().to_string());
        for d in &self.diagnostics {
            write!(f, "{file}:{}: ", d.mark)?;
            if !d.path.is_empty() {
                write!(f, "{}: ", crate::dialect::terminal::escaped(&d.path))?;
            }
            writeln!(f, "{}", crate::dialect::terminal::sanitized(&d.message))?;
        }
        let n = self.diagnostics.len();
        write!(
            f,
            "{file} is invalid: {n} problem{}; nothing was applied",
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for Invalid {}

/// Whether a command needs the secrets' values: only those that reach hosts
/// do, so that checking and rendering a spec works without them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    Read,
    Skip,
}

/// The JSON Schema of deployer.yaml, for editors.
pub fn schema_text() -> String {
    let schema = schemars::schema_for!(Spec);
    serde_json::to_string_pretty(&schema).expect("schemas serialize") + "\n"
}

/// Reads and checks a spec file. Either a spec with no problem at all, or
/// every problem found.
pub fn load(file: &Path, secrets: Secrets) -> anyhow::Result<Result<Loaded, Invalid>> {
    let bytes = files::read(file, files::SPEC_LIMIT).map_err(|e| anyhow::anyhow!(e))?;
    Ok(match yaml::text(&bytes) {
        Ok(source) => check(file, source, secrets),
        Err(diagnostic) => Err(Invalid {
            file: file.to_path_buf(),
            diagnostics: vec![diagnostic],
        }),
    })
}

/// Checks `source` as if read from `file` (relative paths in it are resolved
/// against `file`'s directory).
pub fn check(file: &Path, source: &str, secrets: Secrets) -> Result<Loaded, Invalid> {
    let invalid = |diagnostics| Invalid {
        file: file.to_path_buf(),
        diagnostics,
    };
    let (root, typed) = yaml::load::<Spec>(source).map_err(|d| invalid(vec![d]))?;
    let mut diagnostics = typed.diagnostics.clone();
    let mut loaded = None;
    if let Some(spec) = &typed.value {
        let mut candidate = Loaded {
            spec: spec.clone(),
            file: file.to_path_buf(),
            provided_cert: None,
            secrets: None,
            dns_credentials: None,
            acme_ca: None,
            warnings: Vec::new(),
        };
        mesh::resolve(&mut candidate.spec);
        let mut problems = validate::problems(&candidate);
        if problems.is_empty() {
            match candidate.read_provided_cert() {
                Ok(cert) => candidate.provided_cert = cert,
                Err(problem) => problems.push(problem),
            }
        }
        if let (true, Some(path)) = (problems.is_empty(), &candidate.spec.tls.acme_ca) {
            match candidate.read_acme_ca(path) {
                Ok(pem) => candidate.acme_ca = Some(pem),
                Err(message) => problems.push(("tls.acme_ca".into(), message)),
            }
        }
        if problems.is_empty() && secrets == Secrets::Read {
            match candidate.read_secrets() {
                Ok((app, dns)) => {
                    candidate.secrets = Some(app);
                    candidate.dns_credentials = Some(dns);
                }
                Err(found) => problems.extend(found),
            }
        }
        for (path, message) in problems {
            let path = typed.file_path(&path);
            if !typed.is_set_aside(&path) {
                let mark = yaml::locate(&root, &path);
                diagnostics.push(Diagnostic {
                    mark,
                    path,
                    message,
                });
            }
        }
        candidate.warnings.extend(
            candidate
                .provided_cert
                .as_ref()
                .and_then(ProvidedCert::warning),
        );
        candidate.warnings.extend(
            validate::warnings(&candidate)
                .into_iter()
                .map(|(path, message)| format!("{path}: {message}")),
        );
        let node = &candidate.spec.runtime.node;
        if node.source != NodeSource::Distro {
            candidate.warnings.extend(node_lines::end_of_life_warning(
                node.version,
                std::time::SystemTime::now(),
            ));
        }
        loaded = Some(candidate);
    }
    diagnostics.sort();
    diagnostics.dedup();
    match loaded {
        Some(loaded) if diagnostics.is_empty() => Ok(loaded),
        _ => Err(invalid(diagnostics)),
    }
}
