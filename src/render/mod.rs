//! The Tera environment: every template and playbook embedded in the binary,
//! plus the filters through which templates quote values for their dialect.

pub mod context;

use std::collections::HashMap;

use anyhow::{Context as _, Result};
use tera::{Tera, Value};

use crate::dialect;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

pub use embedded::PLAYBOOKS;

/// The settings templates/nginx/nginx.conf gives in `http {}`, any of which
/// nginx refuses a second time in a file it includes there. Settings nginx
/// takes more than once (`include`, `access_log`, `proxy_hide_header`) and
/// named blocks (`map`, `log_format`) are not here. Kept in step with the
/// template by `tests/render.rs`.
pub const NGINX_CONF_SETS: &[&str] = &[
    "sendfile",
    "tcp_nopush",
    "tcp_nodelay",
    "types_hash_max_size",
    "server_names_hash_bucket_size",
    "server_tokens",
    "default_type",
    "client_header_timeout",
    "client_body_timeout",
    "send_timeout",
    "keepalive_timeout",
    "reset_timedout_connection",
    "client_header_buffer_size",
    "large_client_header_buffers",
    "client_body_buffer_size",
    "gzip",
    "gzip_vary",
    "gzip_proxied",
    "gzip_comp_level",
    "gzip_min_length",
    "gzip_types",
    "ssl_protocols",
    "ssl_ciphers",
    "ssl_prefer_server_ciphers",
    "ssl_ecdh_curve",
    "ssl_session_cache",
    "ssl_session_timeout",
    "ssl_session_tickets",
    "limit_req_status",
];

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

/// `env_value`: a value for a systemd EnvironmentFile.
fn env_value(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    dialect::env::value(text_arg(value, "env_value")?)
        .map(Value::String)
        .map_err(tera::Error::msg)
}

/// `nginx_string`: a double-quoted nginx string.
fn nginx_string(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    let text = text_arg(value, "nginx_string")?;
    dialect::nginx::string(text)
        .map(Value::String)
        .map_err(tera::Error::msg)
}

/// `shell`: a word for a shell script, quoted.
fn shell(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Ok(Value::String(dialect::shell::quote(&text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_and_playbook_parses() {
        let renderer = Renderer::new().unwrap();
        let names: Vec<&str> = renderer.tera.get_template_names().collect();
        assert!(names.contains(&"nginx/site.conf"), "{names:?}");
        assert!(names.contains(&"playbooks/50-nginx.yaml"), "{names:?}");
    }
}
