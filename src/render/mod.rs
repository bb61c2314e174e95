//! The Tera environment: every template and playbook embedded in the binary,
//! plus the quoting filters they need.

mod acme;
pub mod context;
mod node;
mod pm2;

use std::collections::HashMap;

use anyhow::{Context as _, Result};
use tera::{Tera, Value};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

pub use embedded::PLAYBOOKS;

pub struct Renderer {
    tera: Tera,
}

/// Playbooks are templates too, kept apart from the files they render.
pub fn playbook_template(name: &str) -> String {
    format!("playbooks/{name}")
}

impl Renderer {
    pub fn new() -> Result<Self> {
        let mut tera = Tera::default();
        tera.autoescape_on(Vec::new());
        let playbooks = PLAYBOOKS
            .iter()
            .map(|(name, text)| (playbook_template(name), *text));
        let all: Vec<(String, &str)> = embedded::TEMPLATES
            .iter()
            .map(|(name, text)| (name.to_string(), *text))
            .chain(playbooks)
            .collect();
        tera.add_raw_templates(all).map_err(describe)?;
        tera.register_filter("env_value", env_value);
        tera.register_filter("nginx_string", nginx_string);
        tera.register_filter("shell", shell);
        Ok(Renderer { tera })
    }

    pub fn render(&self, template: &str, context: &tera::Context) -> Result<String> {
        self.tera
            .render(template, context)
            .map_err(describe)
            .with_context(|| format!("rendering template {template}"))
    }
}

/// Tera hides the useful part of an error in its source chain.
fn describe(error: tera::Error) -> anyhow::Error {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    anyhow::anyhow!(message)
}

fn text_arg<'a>(value: &'a Value, filter: &str) -> tera::Result<&'a str> {
    value
        .as_str()
        .ok_or_else(|| tera::Error::msg(format!("{filter} takes a string, got {value}")))
}

/// A value for a systemd EnvironmentFile: single quotes keep it literal;
/// double quotes, with `\ " $ \`` escaped, when it holds a single quote.
pub fn quote_env_value(value: &str) -> String {
    if !value.contains('\'') {
        return format!("'{value}'");
    }
    let mut out = String::from("\"");
    for c in value.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn env_value(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    Ok(Value::String(quote_env_value(text_arg(
        value,
        "env_value",
    )?)))
}

/// A double-quoted nginx string. `$` is left alone: nginx expands variables
/// in header values on purpose.
fn nginx_string(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    let text = text_arg(value, "nginx_string")?;
    let escaped = text.replace('\\', "\\\\").replace('"', "\\\"");
    Ok(Value::String(format!("\"{escaped}\"")))
}

/// A word for a shell script, quoted.
fn shell(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Ok(Value::String(crate::shell::quote(&text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_stay_literal() {
        assert_eq!(quote_env_value("plain"), "'plain'");
        assert_eq!(quote_env_value("a $HOME `x` \"q\""), "'a $HOME `x` \"q\"'");
        assert_eq!(quote_env_value("it's $x"), "\"it's \\$x\"");
        assert_eq!(quote_env_value(""), "''");
    }

    #[test]
    fn every_template_and_playbook_parses() {
        let renderer = Renderer::new().unwrap();
        let names: Vec<&str> = renderer.tera.get_template_names().collect();
        assert!(names.contains(&"nginx/site.conf"), "{names:?}");
        assert!(names.contains(&"playbooks/50-nginx.yaml"), "{names:?}");
    }
}
