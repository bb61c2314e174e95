//! `app.secrets`: values that never live in deployer.yaml. Each comes from
//! the operator's side when a command needs it: an environment variable, an
//! env file kept out of the repository, or a command's output (a password
//! manager, a vault CLI).

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// One secret: its variable name on the hosts and where its value comes
/// from. Written as a bare name (`- SESSION_SECRET`: the operator's variable
/// of that name) or as a mapping with `name` and at most one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Secret {
    pub name: String,
    /// The operator's environment variable holding it; `name` by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// An env file (`NAME=value` lines) holding `name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// A shell command printing the value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

/// Where a secret's value comes from.
#[derive(Debug, PartialEq, Eq)]
pub enum Source<'a> {
    Env(&'a str),
    File(&'a str),
    Command(&'a str),
}

impl Secret {
    /// The sources written, in the order of the fields; valid when exactly one.
    pub fn sources(&self) -> Vec<Source<'_>> {
        let written = [
            self.env.as_deref().map(Source::Env),
            self.file.as_deref().map(Source::File),
            self.command.as_deref().map(Source::Command),
        ];
        let sources: Vec<Source> = written.into_iter().flatten().collect();
        if sources.is_empty() {
            vec![Source::Env(&self.name)]
        } else {
            sources
        }
    }
}

/// The mapping form, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Written {
    name: String,
    env: Option<String>,
    file: Option<String>,
    command: Option<String>,
}

impl JsonSchema for Secret {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Secret".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let name = json_schema!({"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"});
        json_schema!({
            "description": "A variable name (its value from the operator's variable of that name), or `name` and one source.",
            "oneOf": [
                name,
                {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": false,
                    "properties": {
                        "name": name,
                        "env": {"type": "string", "description": "The operator's variable holding it."},
                        "file": {"type": "string", "description": "A dotenv file (`NAME=value` lines) outside the repository."},
                        "command": {"type": "string", "description": "A command printing the value."}
                    }
                }
            ]
        })
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a variable name, or a mapping with `name` and one of `env`, `file`, `command`",
                )
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Secret, E> {
                Ok(Secret {
                    name: name.into(),
                    env: None,
                    file: None,
                    command: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Secret, A::Error> {
                let w = Written::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Secret {
                    name: w.name,
                    env: w.env,
                    file: w.file,
                    command: w.command,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// Secret values by variable name. Never printed.
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Values(BTreeMap<String, String>);

impl Values {
    pub fn insert(&mut self, name: String, value: String) {
        self.0.insert(name, value);
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

impl fmt::Debug for Values {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// Reads every secret of `secrets`, the list at `key`. `base` is the spec's directory (relative
/// files and commands start there); no secrets file may sit in one of
/// `off_limits` (the repository, the shipped source). Problems come as
/// `(key, message)`.
pub fn resolve(
    key: &str,
    secrets: &[Secret],
    base: &Path,
    off_limits: &[PathBuf],
) -> Result<Values, Vec<(String, String)>> {
    let mut values = Values::default();
    let mut problems = Vec::new();
    let mut files: BTreeMap<PathBuf, Result<BTreeMap<String, String>, String>> = BTreeMap::new();
    for (i, secret) in secrets.iter().enumerate() {
        let Some(source) = secret.sources().into_iter().next() else {
            continue;
        };
        let at = format!("{key}[{i}]");
        let value = match source {
            Source::Env(variable) => from_env(&secret.name, variable),
            Source::File(written) => {
                let path = super::expand_home(written, base);
                let read = files
                    .entry(path.clone())
                    .or_insert_with(|| read_env_file(&path, off_limits));
                match read {
                    Err(e) => Err(e.clone()),
                    Ok(pairs) => pairs
                        .get(&secret.name)
                        .cloned()
                        .ok_or_else(|| format!("{} does not set {}", path.display(), secret.name)),
                }
            }
            Source::Command(command) => from_command(command, base),
        };
        match value.and_then(|v| checked(&secret.name, v)) {
            Ok(value) => values.insert(secret.name.clone(), value),
            Err(message) => problems.push((at, message)),
        }
    }
    if problems.is_empty() {
        Ok(values)
    } else {
        Err(problems)
    }
}

fn from_env(name: &str, variable: &str) -> Result<String, String> {
    match std::env::var(variable) {
        Ok(value) => Ok(value),
        Err(std::env::VarError::NotPresent) => Err(format!(
            "{variable} is not set in deployer's environment: export it, or give {name} \
             another source (`file:` an env file, `command:` a command printing it)"
        )),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{variable} is not valid UTF-8")),
    }
}

fn read_env_file(path: &Path, off_limits: &[PathBuf]) -> Result<BTreeMap<String, String>, String> {
    let canonical = path
        .canonicalize()
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let inside = off_limits
        .iter()
        .filter_map(|dir| dir.canonicalize().ok())
        .find(|dir| canonical.starts_with(dir));
    if let Some(dir) = inside {
        return Err(format!(
            "{} is inside {}, where it can be committed or shipped with the app: \
             keep secrets files outside the repository",
            path.display(),
            dir.display()
        ));
    }
    let text = super::files::read(&canonical, super::files::SMALL_FILE_LIMIT)?;
    dotenvy::from_read_iter(text.as_slice())
        .map(|pair| pair.map_err(|e| format!("{}: {e}", path.display())))
        .collect()
}

/// Runs `command` with `sh -c` from `base`; its stdout, less one final
/// newline, is the value. Its stderr reaches the operator (a prompt, say).
fn from_command(command: &str, base: &Path) -> Result<String, String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(base)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run `{command}`: {e}"))?;
    let limit = super::files::SMALL_FILE_LIMIT;
    let mut stdout = Vec::new();
    let read = child
        .stdout
        .take()
        .expect("piped")
        .take(limit + 1)
        .read_to_end(&mut stdout);
    if read.is_err() || stdout.len() as u64 > limit {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!(
            "`{command}` printed more than {} KiB; a secret is one line",
            limit >> 10
        ));
    }
    let status = child
        .wait()
        .map_err(|e| format!("cannot run `{command}`: {e}"))?;
    if !status.success() {
        return Err(format!("`{command}` failed ({status})"));
    }
    let mut value = String::from_utf8(stdout)
        .map_err(|_| format!("`{command}` printed something that is not UTF-8"))?;
    if value.ends_with('\n') {
        value.pop();
        if value.ends_with('\r') {
            value.pop();
        }
    }
    Ok(value)
}

/// Values go into an env file, one per line.
fn checked(name: &str, value: String) -> Result<String, String> {
    if value.is_empty() {
        Err(format!("{name} is empty"))
    } else if value.chars().any(|c| c.is_control() && c != '\t') {
        Err(format!(
            "{name} must be one line without control characters (encode a multi-line value, e.g. in base64)"
        ))
    } else {
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(name: &str) -> Secret {
        Secret {
            name: name.into(),
            env: None,
            file: None,
            command: None,
        }
    }

    #[test]
    fn a_bare_name_reads_its_own_variable() {
        assert_eq!(secret("TOKEN").sources(), [Source::Env("TOKEN")]);
    }

    #[test]
    fn commands_give_their_output_less_the_final_newline() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = secret("TOKEN");
        s.command = Some("printf 's3cret\\n'".into());
        let values = resolve("app.secrets", &[s], dir.path(), &[]).unwrap();
        assert_eq!(values.get("TOKEN"), Some("s3cret"));
    }

    #[test]
    fn failing_commands_and_multi_line_values_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut failing = secret("A");
        failing.command = Some("exit 3".into());
        let mut multi = secret("B");
        multi.command = Some("printf 'one\\ntwo'".into());
        let problems = resolve("app.secrets", &[failing, multi], dir.path(), &[]).unwrap_err();
        assert_eq!(problems[0].0, "app.secrets[0]");
        assert!(problems[0].1.contains("`exit 3` failed"), "{problems:?}");
        assert_eq!(problems[1].0, "app.secrets[1]");
        assert!(problems[1].1.contains("one line"), "{problems:?}");
    }

    #[test]
    fn env_files_inside_the_repository_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        let repository = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("prod.env"), "TOKEN='a b'\n").unwrap();
        std::fs::write(repository.path().join("prod.env"), "TOKEN=x\n").unwrap();
        let mut s = secret("TOKEN");
        s.file = Some(outside.path().join("prod.env").display().to_string());
        let values = resolve(
            "app.secrets",
            &[s],
            repository.path(),
            &[repository.path().into()],
        )
        .unwrap();
        assert_eq!(values.get("TOKEN"), Some("a b"));

        let mut inside = secret("TOKEN");
        inside.file = Some("prod.env".into());
        let problems = resolve(
            "app.secrets",
            &[inside],
            repository.path(),
            &[repository.path().into()],
        )
        .unwrap_err();
        assert!(
            problems[0].1.contains("outside the repository"),
            "{problems:?}"
        );
    }

    #[test]
    fn values_never_print() {
        let mut values = Values::default();
        values.insert("TOKEN".into(), "s3cret".into());
        assert!(!format!("{values:?}").contains("s3cret"));
    }
}
