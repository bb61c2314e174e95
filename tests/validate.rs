//! Malformed specs: each case asserts every problem reported, with its
//! exact location and message, and that nothing panics. The cases run
//! in-process through the spec's loader; a few run through the binary for
//! its exit codes and output.

mod common;

use std::fs;
use std::process::Command;

use common::{SPECS, assert_says, deployer, text};
use deployer::spec::{self, Secrets};

struct Case {
    name: &'static str,
    yaml: &'static str,
    /// Every line of the report but the summary, in file order.
    expected: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "wildcard_names_need_dns_01",
        yaml: r#"app:
  name: hello
  start: node server.js
domain: "*.example.com"
aliases: ["*.com", "*.example.com", "a.*.example.com"]
tls:
  email: ops@example.com
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:4:9: domain: `*.example.com` is a wildcard name, which ACME certifies only over DNS-01: add `tls.dns` with your DNS provider (see the README), or list the names one by one"#,
            r#"deployer.yaml:5:11: aliases[0]: `*.com` is not a wildcard over a lowercase DNS name, such as `*.example.com` (no trailing dot)"#,
            r#"deployer.yaml:5:20: aliases[1]: `*.example.com` is a wildcard name, which ACME certifies only over DNS-01: add `tls.dns` with your DNS provider (see the README), or list the names one by one"#,
            r#"deployer.yaml:5:37: aliases[2]: `a.*.example.com`: a wildcard is `*.` and then a DNS name, such as `*.example.com`, and stands for one label"#,
        ],
    },
    Case {
        name: "dns_01_names_a_provider_its_credentials_and_resolvers",
        yaml: r#"app:
  name: hello
  start: node server.js
domain: example.com
aliases: ["*.example.com", "*.example.com"]
tls:
  mode: self-signed
  dns:
    provider: manual
    credentials:
      - CF_DNS_API_TOKEN
      - CF_DNS_API_TOKEN
      - cf_dns_api_token
      - LEGO_CA_CERTIFICATES
      - name: X
        env: "A B"
      - name: "1X"
      - SSL_CERT
    resolvers: ["1.1.1.1", "[2606:4700::1111]:53", "dns.example.com", "1.1.1.1:0", "0.0.0.0", "[ff02::1]:53"]
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:5:11: aliases[0]: `*.example.com` is a wildcard name, which needs a certificate that covers it: `tls.mode: acme` with `tls.dns`, or `tls.mode: files` with a wildcard certificate"#,
            r#"deployer.yaml:5:28: aliases[1]: `*.example.com` is a wildcard name, which needs a certificate that covers it: `tls.mode: acme` with `tls.dns`, or `tls.mode: files` with a wildcard certificate"#,
            r#"deployer.yaml:9:5: tls.dns: is only used with `tls.mode: acme`"#,
            r#"deployer.yaml:9:15: tls.dns.provider: lego's `manual` asks on a terminal, and deployer runs lego unattended: name your DNS provider (`lego dnshelp` lists them)"#,
            r#"deployer.yaml:12:9: tls.dns.credentials[1]: CF_DNS_API_TOKEN is listed twice"#,
            r#"deployer.yaml:13:9: tls.dns.credentials[2]: `cf_dns_api_token`: lego's variables are upper case letters, digits and `_`, such as CF_DNS_API_TOKEN"#,
            r#"deployer.yaml:14:9: tls.dns.credentials[3]: `LEGO_CA_CERTIFICATES`: LEGO_ variables are lego's own settings, not a provider's credentials"#,
            r#"deployer.yaml:16:14: tls.dns.credentials[4].env: `A B` is not a variable name"#,
            r#"deployer.yaml:17:9: tls.dns.credentials[5]: `1X` is not a variable name: letters, digits and `_`, not starting with a digit"#,
            r#"deployer.yaml:18:9: tls.dns.credentials[6]: `SSL_CERT`: lego would take SSL_CERT_FILE, its path, as the CAs it trusts"#,
            r#"deployer.yaml:19:52: tls.dns.resolvers[2]: `dns.example.com` is not a DNS server's address: one host's IP address, with a port if not 53 (`192.0.2.53:53`, `[2001:db8::53]:53`)"#,
            r#"deployer.yaml:19:71: tls.dns.resolvers[3]: `1.1.1.1:0` is not a DNS server's address: one host's IP address, with a port if not 53 (`192.0.2.53:53`, `[2001:db8::53]:53`)"#,
            r#"deployer.yaml:19:84: tls.dns.resolvers[4]: `0.0.0.0` is not a DNS server's address: one host's IP address, with a port if not 53 (`192.0.2.53:53`, `[2001:db8::53]:53`)"#,
            r#"deployer.yaml:19:95: tls.dns.resolvers[5]: `[ff02::1]:53` is not a DNS server's address: one host's IP address, with a port if not 53 (`192.0.2.53:53`, `[2001:db8::53]:53`)"#,
        ],
    },
    Case {
        name: "dns_01_orders_name_no_name_a_wildcard_covers",
        yaml: r#"app:
  name: hello
  start: node server.js
domain: "*.example.com"
aliases: [example.com, www.example.com, "*", "a*.example.com", "*.Example.com"]
tls:
  email: ops@example.com
  dns:
    provider: cloudflare
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:5:24: aliases[1]: `www.example.com` is covered by `*.example.com`, and ACME servers refuse an order that names both: drop one"#,
            r#"deployer.yaml:5:41: aliases[2]: `*`: a wildcard is `*.` and then a DNS name, such as `*.example.com`, and stands for one label"#,
            r#"deployer.yaml:5:46: aliases[3]: `a*.example.com`: a wildcard is `*.` and then a DNS name, such as `*.example.com`, and stands for one label"#,
            r#"deployer.yaml:5:64: aliases[4]: `*.Example.com` is not a wildcard over a lowercase DNS name, such as `*.example.com` (no trailing dot)"#,
        ],
    },
    Case {
        name: "dns_01_providers_are_legos",
        yaml: r#"app:
  name: hello
  start: node server.js
domain: example.com
tls:
  email: ops@example.com
  dns:
    provider: "cloudflare; reboot"
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:8:15: tls.dns.provider: `cloudflare; reboot` is not one of lego's DNS providers: use its code, such as `cloudflare`, `route53`, `hetzner` or `ovh` (`lego dnshelp` lists them)"#,
        ],
    },
    Case {
        name: "rollout_batch_is_hosts_or_a_share",
        yaml: r#"app:
  name: hello
  start: node server.js
rollout:
  batch: 150%
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:5:10: rollout.batch: expected a number of hosts such as `2`, or a share of the rollout's hosts from `1%` to `100%`, found string "150%""#,
        ],
    },
    Case {
        name: "edge_proxies_are_named_networks",
        yaml: r#"app:
  name: hello
  start: node server.js
edge:
  trusted: [0.0.0.0/0, cloudflare, "2a00::/8", "::ffff:203.0.113.7/128", fc00::/7]
nginx:
  extra: |
    real_ip_header CF-Connecting-IP;
    location /x { real_ip_recursive on; }
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:5:13: edge.trusted[0]: `0.0.0.0/0` is too wide: whoever is in it may say which address a client has; name the proxies' own networks, a public one a /12 (IPv4) or /28 (IPv6) at the widest (private space, such as 10.0.0.0/8 or fc00::/7, may be named whole)"#,
            r#"deployer.yaml:5:36: edge.trusted[2]: `2a00::/8` is too wide: whoever is in it may say which address a client has; name the proxies' own networks, a public one a /12 (IPv4) or /28 (IPv6) at the widest (private space, such as 10.0.0.0/8 or fc00::/7, may be named whole)"#,
            r#"deployer.yaml:5:48: edge.trusted[3]: `::ffff:203.0.113.7/128` is IPv4 written as IPv6, which nginx and the firewall match as IPv4 only: write `203.0.113.7/32`"#,
            r#"deployer.yaml:8:5: nginx.extra: sets `real_ip_header`, which edge.trusted sets in the same block (nginx refuses it twice): name the proxies in edge.trusted and take it out"#,
        ],
    },
    Case {
        name: "edge_settings_need_the_proxies",
        yaml: r#"app:
  name: hello
  start: node server.js
edge:
  proxy_protocol: true
  only: true
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:5:19: edge.proxy_protocol: needs `edge.trusted`: the networks of the proxies in front (or `cloudflare`)"#,
            r#"deployer.yaml:6:9: edge.only: needs `edge.trusted`: the networks of the proxies in front (or `cloudflare`)"#,
        ],
    },
    Case {
        name: "edge_presets_are_known",
        yaml: r#"app:
  name: hello
  start: node server.js
edge:
  trusted: [fastly, 10.0.0.1/8]
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:5:13: edge.trusted[0]: expected a network such as `203.0.113.0/24` or `2001:db8::/32` (no host bits set), or `cloudflare` (the networks Cloudflare publishes), found string "fastly""#,
            r#"deployer.yaml:5:21: edge.trusted[1]: expected a network such as `203.0.113.0/24` or `2001:db8::/32` (no host bits set), or `cloudflare` (the networks Cloudflare publishes), found string "10.0.0.1/8""#,
        ],
    },
    Case {
        name: "sticky_sessions_need_one_port_per_instance",
        yaml: r#"app:
  name: hello
  start: node server.js
  process_manager: pm2
nginx:
  sticky_sessions: true
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:6:20: nginx.sticky_sessions: pm2's cluster shares one port, so nginx cannot keep a client on one worker: use `app.process_manager: systemd` (one port per instance) or leave sticky sessions off"#,
        ],
    },
    Case {
        name: "releases_and_rollout_out_of_range",
        yaml: r#"app:
  name: hello
  start: node server.js
  keep_releases: 0
  health:
    startup: 1s
rollout:
  batch: 0
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:4:18: app.keep_releases: must be 1 to 100 (the current release included); 5 keeps room to roll back"#,
            r#"deployer.yaml:6:14: app.health.startup: must be at least the timeout (3s)"#,
            r#"deployer.yaml:8:10: rollout.batch: must be at least 1 host"#,
        ],
    },
    Case {
        name: "syntax_unclosed_flow",
        yaml: r#"app: [unclosed
"#,
        expected: &[
            r#"deployer.yaml:2:1: YAML syntax: while parsing a flow sequence, expected ',' or ']'"#,
        ],
    },
    Case {
        name: "syntax_tab_indent",
        yaml: r#"app:
	name: x
"#,
        expected: &[
            r#"deployer.yaml:2:2: YAML syntax: tabs disallowed within this context (block indentation)"#,
        ],
    },
    Case {
        name: "empty_file",
        yaml: r#"# nothing here
"#,
        expected: &[r#"deployer.yaml:1:1: the file is empty"#],
    },
    Case {
        name: "two_documents",
        yaml: r#"app:
  name: hello
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
---
app: {}
"#,
        expected: &[
            r#"deployer.yaml:7:1: YAML syntax: only one YAML document is allowed; remove `---`"#,
        ],
    },
    Case {
        name: "duplicate_key",
        yaml: r#"app:
  name: hello
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
app:
  name: again
"#,
        expected: &[
            r#"deployer.yaml:7:1: YAML syntax: duplicate key `app` (first written at line 1)"#,
        ],
    },
    Case {
        name: "top_level_not_a_mapping",
        yaml: r#"- app
- hosts
"#,
        expected: &[r#"deployer.yaml:1:1: expected a mapping, found a list"#],
    },
    Case {
        name: "unknown_top_level_key_suggested",
        yaml: r#"app:
  name: hello
  start: node server.js
hots:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[r#"deployer.yaml:4:1: hots: unknown key; did you mean `hosts`?"#],
    },
    Case {
        name: "unknown_nested_key_suggested",
        yaml: r#"app:
  name: hello
  prot: 3000
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[r#"deployer.yaml:3:3: app.prot: unknown key; did you mean `port`?"#],
    },
    Case {
        name: "unknown_key_listed",
        yaml: r#"app:
  name: hello
  colour: blue
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:3:3: app.colour: unknown key; valid keys here: name, source, build, audit, keep_releases, start, port, instances, process_manager, health, env, secrets, workers, egress"#,
        ],
    },
    Case {
        name: "missing_required_key",
        yaml: r#"app:
  name: hello
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[r#"deployer.yaml:2:3: app.start: required key is missing"#],
    },
    Case {
        name: "missing_hosts",
        yaml: r#"app:
  name: hello
  start: node server.js
"#,
        expected: &[r#"deployer.yaml:1:1: hosts: required key is missing"#],
    },
    Case {
        name: "hosts_not_a_list",
        yaml: r#"app:
  name: hello
  start: node server.js
hosts: web1
"#,
        expected: &[r#"deployer.yaml:4:8: hosts: expected a list, found string "web1""#],
    },
    Case {
        name: "port_wrong_type",
        yaml: r#"app:
  name: hello
  port: http
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:3:9: app.port: expected a whole number from 0 to 65535, found string "http""#,
        ],
    },
    Case {
        name: "port_quoted_number",
        yaml: r#"app:
  name: hello
  port: "3000"
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:3:9: app.port: expected a whole number from 0 to 65535, found string "3000""#,
        ],
    },
    Case {
        name: "port_out_of_range",
        yaml: r#"app:
  name: hello
  port: 70000
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:3:9: app.port: expected a whole number from 0 to 65535, found integer `70000`"#,
        ],
    },
    Case {
        name: "port_privileged",
        yaml: r#"app:
  name: hello
  port: 80
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:3:9: app.port: must be 1024-65535: the app runs unprivileged and nginx owns 80 and 443"#,
        ],
    },
    Case {
        name: "instances_zero",
        yaml: r#"app:
  name: hello
  instances: 0
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:3:14: app.instances: expected a whole number from 1 to 64, or `max` (one per CPU core), found integer `0`"#,
        ],
    },
    Case {
        name: "instances_word",
        yaml: r#"app:
  name: hello
  instances: many
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:3:14: app.instances: expected a whole number from 1 to 64, or `max` (one per CPU core), found string "many""#,
        ],
    },
    Case {
        name: "process_manager_unknown",
        yaml: r#"app:
  name: hello
  process_manager: forever
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:3:20: app.process_manager: unknown value `forever`: expected one of `systemd`, `pm2`"#,
        ],
    },
    Case {
        name: "tls_mode_misspelled",
        yaml: r#"app:
  name: hello
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
tls:
  mode: acmee
"#,
        expected: &[
            r#"deployer.yaml:8:9: tls.mode: unknown value `acmee`: expected one of `acme`, `files`, `self-signed`, `off` (did you mean `acme`?)"#,
        ],
    },
    Case {
        name: "acme_without_email",
        yaml: r#"app:
  name: hello
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
domain: example.com
"#,
        expected: &[
            r#"deployer.yaml:1:1: tls.email: with a `domain`, tls.mode defaults to acme, which needs a contact email, e.g. `ops@example.com` (or set `tls.mode: self-signed`)"#,
        ],
    },
    Case {
        name: "acme_without_domain",
        yaml: r#"app:
  name: hello
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
tls:
  mode: acme
  email: ops@example.com
"#,
        expected: &[
            r#"deployer.yaml:8:9: tls.mode: acme needs `domain` (and `tls.email`); use `self-signed` for hosts without a public name"#,
        ],
    },
    Case {
        name: "domain_with_scheme",
        yaml: r#"app:
  name: hello
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
domain: https://example.com
tls: {mode: self-signed}
"#,
        expected: &[
            r#"deployer.yaml:7:9: domain: `https://example.com` is not a lowercase DNS name such as `example.com` (no scheme, port or wildcard)"#,
        ],
    },
    Case {
        name: "cidr_syntax",
        yaml: r#"app:
  name: hello
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
network:
  private: [10.0.0/24]
"#,
        expected: &[
            r#"deployer.yaml:8:13: network.private[0]: expected a network such as `10.0.0.0/24` or `fd00::/64` (a single address means just that address), with no host bits set, found string "10.0.0/24""#,
        ],
    },
    Case {
        name: "cidr_host_bits",
        yaml: r#"app:
  name: hello
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
network:
  private: [10.0.0.5/24]
"#,
        expected: &[
            r#"deployer.yaml:8:13: network.private[0]: expected a network such as `10.0.0.0/24` or `fd00::/64` (a single address means just that address), with no host bits set, found string "10.0.0.5/24""#,
        ],
    },
    Case {
        name: "private_address_outside_network",
        yaml: r#"app:
  name: hello
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
    private_address: 10.9.0.1
network:
  private: [10.0.0.0/24]
"#,
        expected: &[
            r#"deployer.yaml:7:22: hosts[0].private_address: 10.9.0.1 is outside the private network (10.0.0.0/24)"#,
        ],
    },
    Case {
        name: "private_address_without_network",
        yaml: r#"app:
  name: hello
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
    private_address: 10.9.0.1
"#,
        expected: &[
            r#"deployer.yaml:1:1: network.private: hosts have private addresses: name the network they share, e.g. `[10.0.0.0/24]`"#,
        ],
    },
    Case {
        name: "health_path_relative",
        yaml: r#"app:
  name: hello
  health:
    path: healthz
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:4:11: app.health.path: `healthz` must be a URL path starting with `/`, without spaces"#,
        ],
    },
    Case {
        name: "health_timeout_not_shorter",
        yaml: r#"app:
  name: hello
  health:
    interval: 5s
    timeout: 5s
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:5:14: app.health.timeout: must be shorter than the interval (5s)"#,
        ],
    },
    Case {
        name: "duration_syntax",
        yaml: r#"app:
  name: hello
  health:
    interval: soon
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:4:15: app.health.interval: expected a duration such as `10s`, `500ms` or `2m`, found string "soon""#,
        ],
    },
    Case {
        name: "app_name_shell_metacharacters",
        yaml: r#"app:
  name: "x; rm -rf /"
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:2:9: app.name: `x; rm -rf /` is not a safe name: use lowercase letters, digits and `-`, starting with a letter, at most 32 characters"#,
        ],
    },
    Case {
        name: "app_name_system_account",
        yaml: r#"app:
  name: www-data
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:2:9: app.name: `www-data` is a system account or group on Debian or Ubuntu; deployer makes an account of this name: choose another"#,
        ],
    },
    Case {
        name: "host_name_command_substitution",
        yaml: r#"app:
  name: hello
  start: node server.js
hosts:
  - name: web$(id)
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:5:11: hosts[0].name: `web$(id)` is not a safe name: use lowercase letters, digits and `-`, starting with a letter, at most 32 characters"#,
        ],
    },
    Case {
        name: "start_with_pipe",
        yaml: r#"app:
  name: hello
  start: node server.js | tee log
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:3:10: app.start: runs without a shell, so pipes, `;`, `&&`, redirections and `$(...)` do not work; put them in a script and start that"#,
        ],
    },
    Case {
        name: "start_unclosed_quote",
        yaml: r#"app:
  name: hello
  start: node 'server.js
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[r#"deployer.yaml:3:10: app.start: has an unclosed quote"#],
    },
    Case {
        name: "pm2_needs_a_node_script",
        yaml: r#"app:
  name: hello
  start: npm start
  process_manager: pm2
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:3:10: app.start: pm2 cluster mode runs a Node script: write it as `node [--option[=value]...] <script> [args]`"#,
        ],
    },
    Case {
        name: "env_name_invalid",
        yaml: r#"app:
  name: hello
  env:
    MY-VAR: x
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:4:13: app.env.MY-VAR: variable names are letters, digits and `_`, not starting with a digit"#,
        ],
    },
    Case {
        name: "env_reserved_port",
        yaml: r#"app:
  name: hello
  env:
    PORT: 8080
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:4:11: app.env.PORT: PORT is set by deployer for each instance; remove it"#,
        ],
    },
    Case {
        name: "env_value_newline",
        yaml: r#"app:
  name: hello
  env:
    MOTD: "a\nb"
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:4:11: app.env.MOTD: values must be one line without control characters"#,
        ],
    },
    Case {
        name: "secret_also_in_env",
        yaml: r#"app:
  name: hello
  env:
    TOKEN: x
  secrets: [TOKEN]
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:5:13: app.secrets[0]: TOKEN is also in app.env; a variable is either a secret or not"#,
        ],
    },
    Case {
        name: "secret_sources",
        yaml: r#"app:
  name: hello
  secrets:
    - name: TOKEN
      env: PROD_TOKEN
      command: pass show token
    - name: KEY
      env: 1BAD
    - name: PASSWORD
      vault: prod/password
    - [LIST]
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:4:7: app.secrets[0]: give one source: `env`, `file` or `command`"#,
            r#"deployer.yaml:8:12: app.secrets[1].env: `1BAD` is not a variable name"#,
            r#"deployer.yaml:10:7: app.secrets[2].vault: unknown key; valid keys here: name, env, file, command"#,
            r#"deployer.yaml:11:7: app.secrets[3]: expected a variable name, or a mapping with `name` and one of `env`, `file`, `command`, found a list"#,
        ],
    },
    Case {
        name: "redis_needs_a_host_a_secret_and_reach",
        yaml: r#"app:
  name: hello
  start: node server.js
  port: 6379
  instances: 1
  env:
    REDIS_URL: redis://localhost
services:
  redis:
    host: app1
    password: REDIS_PASS
hosts:
  - name: app1
    address: 198.18.0.21
  - name: app2
    address: 198.18.0.22
"#,
        expected: &[
            r#"deployer.yaml:10:5: services.redis: deployer hands the app REDIS_URL; remove it from app.env and app.secrets"#,
            r#"deployer.yaml:10:5: services.redis.port: port 6379 clashes with the app's ports 6379"#,
            r#"deployer.yaml:10:11: services.redis.host: app1 has no private_address, so Redis listens on its loopback only, out of reach of app2: give it a private_address"#,
            r#"deployer.yaml:11:15: services.redis.password: names no entry of app.secrets: add `- REDIS_PASS` there (its value comes from your environment, an env file or a command)"#,
        ],
    },
    Case {
        name: "allow_users_keep_deployer_in",
        yaml: r#"app:
  name: hello
  start: node server.js
ssh:
  user: deploy
  allow_users: [admin, Bad]
firewall:
  confirm_within: 2s
monitoring:
  alert_after: 0
hosts:
  - name: web1
    address: 198.18.0.10
    user: ops
"#,
        expected: &[
            r#"deployer.yaml:6:16: ssh.allow_users: leaves out `deploy` (ssh.user), whom deployer logs in as: add it, or nobody could apply again"#,
            r#"deployer.yaml:6:16: ssh.allow_users: leaves out `ops` (hosts[0].user), whom deployer logs in as: add it, or nobody could apply again"#,
            r#"deployer.yaml:6:24: ssh.allow_users[1]: `Bad` is not a valid user name: lowercase letters, digits, `_` and `-`, starting with a letter or `_`, at most 32 characters"#,
            r#"deployer.yaml:8:19: firewall.confirm_within: must be 10s to 1h: long enough for a new SSH connection, short enough to wait out"#,
            r#"deployer.yaml:10:16: monitoring.alert_after: must be 1 to 100 failed checks in a row"#,
        ],
    },
    Case {
        name: "acme_needs_an_http_url",
        yaml: r#"app:
  name: hello
  start: node server.js
domain: shop.example.com
tls:
  email: ops@example.com
  acme_directory: acme.example.com/directory
hosts:
  - name: web1
    address: 198.18.0.20
"#,
        expected: &[
            r#"deployer.yaml:7:19: tls.acme_directory: `acme.example.com/directory` is not an http(s) URL such as `https://example.com/path` (without spaces, quotes, a user, a password or port 0)"#,
        ],
    },
    Case {
        name: "static_files_need_a_release_on_the_lb",
        yaml: r#"app:
  name: hello
  start: node server.js
nginx:
  static:
    dir: public
    url: /static/
network:
  private: [198.19.0.0/24]
hosts:
  - name: lb1
    address: 198.18.0.20
    private_address: 198.19.0.20
    roles: [lb]
  - name: app1
    address: 198.18.0.21
    private_address: 198.19.0.21
    roles: [app]
"#,
        expected: &[
            r#"deployer.yaml:6:5: nginx.static: `lb1` runs no app, so it keeps no release to serve these files from: give it the app role too, or let the app serve them"#,
        ],
    },
    Case {
        name: "ssh_from_empty",
        yaml: r#"app:
  name: hello
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
network:
  ssh_from: []
"#,
        expected: &[
            r#"deployer.yaml:8:13: network.ssh_from: is empty, so nobody could reach SSH; leave it out to allow anywhere, or list your networks"#,
        ],
    },
    Case {
        name: "firewall_port_clashes_with_app",
        yaml: r#"app:
  name: hello
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
firewall:
  open:
    - port: 3001
"#,
        expected: &[
            r#"deployer.yaml:9:13: firewall.open[0].port: port 3001 clashes with the app's ports 3000-3063 (`instances: max` may use up to 64 ports)"#,
        ],
    },
    Case {
        name: "no_lb_host",
        yaml: r#"app:
  name: hello
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
    roles: [app]
"#,
        expected: &[
            r#"deployer.yaml:5:3: hosts: no host has the `lb` role: nginx must front the app"#,
        ],
    },
    Case {
        name: "workers_without_worker_host",
        yaml: r#"app:
  name: hello
  start: node server.js
  workers:
    - {name: jobs, start: node worker.js}
hosts:
  - name: web1
    address: 198.18.0.10
    roles: [lb, app]
"#,
        expected: &[
            r#"deployer.yaml:7:3: hosts: app.workers are defined but no host has the `worker` role"#,
        ],
    },
    Case {
        name: "dedicated_lb_needs_private_addresses",
        yaml: r#"app:
  name: hello
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
    roles: [lb]
  - name: app1
    address: 198.18.0.11
    roles: [app]
"#,
        expected: &[
            r#"deployer.yaml:5:5: hosts[0].private_address: required: `web1` proxies to the app hosts over the private network"#,
            r#"deployer.yaml:8:5: hosts[1].private_address: required: `web1` proxies to the app hosts over the private network"#,
        ],
    },
    Case {
        name: "static_dir_escapes_release",
        yaml: r#"app:
  name: hello
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
nginx:
  static:
    dir: ../etc
"#,
        expected: &[
            r#"deployer.yaml:9:10: nginx.static.dir: `../etc` must be a directory inside the release, e.g. `public`: names of letters, digits, `.`, `_` and `-`, separated by `/`"#,
        ],
    },
    Case {
        name: "max_body_not_nginx_size",
        yaml: r#"app:
  name: hello
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
nginx:
  max_body: 10 MB
"#,
        expected: &[
            r#"deployer.yaml:8:13: nginx.max_body: `10 MB` is not an nginx size: a number with an optional k, m or g, e.g. `10m`"#,
        ],
    },
    Case {
        name: "aliases_without_domain",
        yaml: r#"app:
  name: hello
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
aliases: [www.example.com]
"#,
        expected: &[r#"deployer.yaml:7:10: aliases: aliases need a `domain`"#],
    },
    Case {
        name: "role_unknown",
        yaml: r#"app:
  name: hello
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
    roles: [lb, web]
"#,
        expected: &[
            r#"deployer.yaml:5:3: hosts: no host has the `app` role"#,
            r#"deployer.yaml:5:5: hosts[0].private_address: required: `web1` proxies to the app hosts over the private network"#,
            r#"deployer.yaml:7:17: hosts[0].roles[1]: unknown value `web`: expected one of `lb`, `app`, `worker`"#,
        ],
    },
    Case {
        name: "source_not_a_directory",
        yaml: r#"app:
  name: hello
  source: ./missing
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:3:11: app.source: `./missing` is not a directory (paths are relative to deployer.yaml)"#,
        ],
    },
    Case {
        name: "everything_at_once",
        yaml: r#"app:
  name: Hello
  start: node server.js
  port: 99999
  instancs: 2
  health:
    path: healthz
tls:
  mode: acme
network:
  private: [10.0.0.0/33]
hosts:
  - name: web1
    address: 198.18.0.10
    roles: [lb, app, worker, lb]
"#,
        expected: &[
            r#"deployer.yaml:2:9: app.name: `Hello` is not a safe name: use lowercase letters, digits and `-`, starting with a letter, at most 32 characters"#,
            r#"deployer.yaml:4:9: app.port: expected a whole number from 0 to 65535, found integer `99999`"#,
            r#"deployer.yaml:5:3: app.instancs: unknown key; did you mean `instances`?"#,
            r#"deployer.yaml:7:11: app.health.path: `healthz` must be a URL path starting with `/`, without spaces"#,
            r#"deployer.yaml:9:3: tls.email: acme needs a contact email, e.g. `ops@example.com` (or set `tls.mode: self-signed`)"#,
            r#"deployer.yaml:9:9: tls.mode: acme needs `domain` (and `tls.email`); use `self-signed` for hosts without a public name"#,
            r#"deployer.yaml:11:13: network.private[0]: expected a network such as `10.0.0.0/24` or `fd00::/64` (a single address means just that address), with no host bits set, found string "10.0.0.0/33""#,
            r#"deployer.yaml:15:30: hosts[0].roles[3]: is listed twice"#,
        ],
    },
    Case {
        name: "nodesource_keys_only_with_nodesource",
        yaml: r#"app:
  name: hello
  start: node server.js
runtime:
  node:
    repository: https://deb.example.org
    key_fingerprint: 6F71F525282841EEDAF851B42F59B5F99B1BE0B4
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:6:17: runtime.node.repository: is only used with `source: nodesource`"#,
            r#"deployer.yaml:7:22: runtime.node.key_fingerprint: is only used with `source: nodesource`"#,
        ],
    },
    Case {
        name: "nodesource_repository_and_fingerprint_malformed",
        yaml: r#"app:
  name: hello
  start: node server.js
runtime:
  node:
    source: nodesource
    repository: deb.example.org
    key_fingerprint: 6F71 F525 2828 41EE DAF8  51B4 2F59 B5F9 9B1B E0B4
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:7:17: runtime.node.repository: `deb.example.org` is not an http(s) URL to download from, such as `https://mirror.example.org/node` (no spaces, quotes, user, password, query or fragment)"#,
            r#"deployer.yaml:8:22: runtime.node.key_fingerprint: `6F71 F525 2828 41EE DAF8  51B4 2F59 B5F9 9B1B E0B4` is not a key fingerprint: write its 40 hexadecimal digits without spaces, as `gpg --show-keys` prints them"#,
        ],
    },
    // The input boundary: each value is held to what it means.
    Case {
        name: "static_dir_cannot_open_a_location",
        yaml: r#"app:
  name: hello
  start: node server.js
nginx:
  static:
    dir: "x; } location /leak/ { alias /etc/; autoindex on; } location /zz { alias /x"
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:6:10: nginx.static.dir: `x; } location /leak/ { alias /etc/; autoindex on; } location…` must be a directory inside the release, e.g. `public`: names of letters, digits, `.`, `_` and `-`, separated by `/`"#,
        ],
    },
    Case {
        name: "app_name_of_a_system_unit_template",
        yaml: r#"app:
  name: getty
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:2:9: app.name: deployer would write getty@.service, which is a system unit on Debian or Ubuntu: choose another name"#,
        ],
    },
    Case {
        name: "app_name_user",
        yaml: r#"app:
  name: user
  start: node server.js
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:2:9: app.name: deployer would write user@.service, which is a system unit on Debian or Ubuntu: choose another name"#,
        ],
    },
    Case {
        name: "worker_names_that_make_system_units",
        yaml: r#"app:
  name: serial
  start: node server.js
  workers:
    - name: getty
      start: node w.js
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:5:13: app.workers[0].name: deployer would write serial-getty@.service, which is a system unit on Debian or Ubuntu: choose another worker name"#,
        ],
    },
    Case {
        name: "systemd_and_fsck",
        yaml: r#"app:
  name: systemd
  start: node server.js
  workers:
    - name: fsck
      start: node w.js
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:2:9: app.name: `systemd` is a name the system uses on Debian or Ubuntu (/var/lib/systemd): choose another, so that the app's user, units and directories are never taken for the system's"#,
            r#"deployer.yaml:5:13: app.workers[0].name: deployer would write systemd-fsck@.service, which is a system unit on Debian or Ubuntu: choose another worker name"#,
        ],
    },
    Case {
        name: "app_name_of_a_system_state_directory",
        yaml: r#"app:
  name: dpkg
  start: node server.js
  process_manager: pm2
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:2:9: app.name: `dpkg` is a name the system uses on Debian or Ubuntu (/var/lib/dpkg): choose another, so that the app's user, units and directories are never taken for the system's"#,
        ],
    },
    Case {
        name: "a_nul_byte_does_not_end_the_file",
        yaml: "app:\n  name: hello\n  start: node server.js\nhosts:\n  - name: web1\n    address: 198.18.0.10\n\0network:\n  private: [10.0.0.0/24]\n",
        expected: &[
            r#"deployer.yaml:7:1: YAML syntax: a NUL byte: deployer.yaml must be text; nothing after it would be read"#,
        ],
    },
    Case {
        name: "a_byte_order_mark",
        yaml: "\u{feff}app:\n  name: hello\n",
        expected: &[
            r#"deployer.yaml:1:1: YAML syntax: a byte-order mark (U+FEFF): save the file as UTF-8 without one"#,
        ],
    },
    Case {
        name: "a_line_break_in_the_start_command",
        yaml: "app:\n  name: hello\n  start: \"node server.js\\rUser=root\"\nhosts:\n  - name: web1\n    address: 198.18.0.10\n",
        expected: &[
            r#"deployer.yaml:3:10: app.start: must be a single line of printable characters (no control, invisible or other special characters): a program and its arguments"#,
        ],
    },
    Case {
        name: "shell_syntax_inside_words",
        yaml: r#"app:
  name: hello
  start: node server.js; rm -rf /
  workers:
    - name: jobs
      start: a|b&&c
    - name: env
      start: node w.js --home $HOME
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:3:10: app.start: runs without a shell, so pipes, `;`, `&&`, redirections and `$(...)` do not work; put them in a script and start that"#,
            r#"deployer.yaml:6:14: app.workers[0].start: runs without a shell, so pipes, `;`, `&&`, redirections and `$(...)` do not work; put them in a script and start that"#,
            r#"deployer.yaml:8:14: app.workers[1].start: runs without a shell, so `$VARIABLE` is not expanded: the app reads its environment (app.env) itself, or quote a literal `$` with single quotes"#,
        ],
    },
    Case {
        name: "ports_collide_on_a_host",
        yaml: r#"app:
  name: hello
  start: node server.js
network:
  ssh_port: 443
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:5:13: network.ssh_port: port 443 clashes with nginx's port 443"#,
        ],
    },
    Case {
        name: "redis_on_sshs_port",
        yaml: r#"app:
  name: hello
  start: node server.js
  secrets: [REDIS_PASSWORD]
network:
  ssh_port: 6379
services:
  redis:
    host: web1
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:9:5: services.redis.port: port 6379 clashes with sshd's port (network.ssh_port)"#,
        ],
    },
    Case {
        name: "app_ports_over_the_acme_peer_port_and_an_open_private_network",
        yaml: r#"app:
  name: hello
  start: node server.js
  port: 8400
  instances: 4
domain: shop.example.com
tls:
  email: ops@example.com
network:
  private: [0.0.0.0/0, 10.0.0.0/7]
hosts:
  - name: web1
    address: 198.18.0.10
    private_address: 10.0.0.1
  - name: web2
    address: 198.18.0.11
    private_address: 10.0.0.2
"#,
        expected: &[
            r#"deployer.yaml:4:9: app.port: port 8402 clashes with the ACME peer port, where the load balancers answer each other's challenges"#,
            r#"deployer.yaml:10:13: network.private[0]: 0.0.0.0/0 is every address: the app's ports would be open to the internet; name the network your hosts share, e.g. `10.0.0.0/24`"#,
            r#"deployer.yaml:10:24: network.private[1]: 10.0.0.0/7 is wider than a /8, more than any private IPv4 network: name the network your hosts share, e.g. `10.0.0.0/24`"#,
        ],
    },
    Case {
        name: "a_billion_laughs",
        yaml: r#"a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
"#,
        expected: &[
            r#"deployer.yaml:5:8: YAML syntax: the aliases (`*name`) expand to more than 10000 values; write the values out"#,
        ],
    },
    Case {
        name: "tags_other_than_str",
        yaml: r#"app:
  name: hello
  start: node server.js
hosts:
  - name: web1
    address: !custom 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:6:22: YAML syntax: the tag `!custom` is not supported: write the value plainly (only `!!str` is read, as a string)"#,
        ],
    },
    Case {
        name: "str_tags_make_strings",
        yaml: r#"app:
  name: hello
  start: node server.js
  port: !!str 3000
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:4:15: app.port: expected a whole number from 0 to 65535, found string "3000""#,
        ],
    },
    Case {
        name: "a_float_is_named",
        yaml: r#"app:
  name: hello
  start: node server.js
  port: 3000.0
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:4:9: app.port: expected a whole number from 0 to 65535, found decimal number `3000.0`"#,
        ],
    },
    Case {
        name: "control_characters_are_never_echoed",
        yaml: "app:\n  name: \"x\\e[31mred\"\n  start: node server.js\nhosts:\n  - name: web1\n    address: 198.18.0.10\n",
        expected: &[
            r#"deployer.yaml:2:9: app.name: `x\u{1b}[31mred` is not a safe name: use lowercase letters, digits and `-`, starting with a letter, at most 32 characters"#,
        ],
    },
    Case {
        name: "nginx_headers_extra_and_emails",
        yaml: r#"app:
  name: hello
  start: node server.js
nginx:
  headers:
    X-A: "price $5"
  extra: "} server { listen 8080; "
tls:
  email: "a@b.com\nBcc: x@y.com"
  mode: self-signed
monitoring:
  email: "ops@example.com, x@y.com"
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:6:10: nginx.headers.X-A: holds `$`, which nginx would read as a variable: header values are sent as written, without `$`"#,
            r#"deployer.yaml:7:10: nginx.extra: line 1: this `}` closes a block it did not open; raw directives stay inside the HTTPS server block"#,
            r#"deployer.yaml:9:10: tls.email: `a@b.com\nBcc: x@y.com` is not one email address such as `ops@example.com`"#,
            r#"deployer.yaml:12:10: monitoring.email: `ops@example.com, x@y.com` is not one email address such as `ops@example.com`"#,
        ],
    },
    Case {
        name: "nested_too_deep",
        yaml: "a: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]
",
        expected: &[
            r#"deployer.yaml:1:67: YAML syntax: nested more than 64 levels deep; a deployer.yaml needs a few"#,
        ],
    },
    // Found by trying the boundary as a hostile user would (see tests/boundary.rs).
    Case {
        name: "extra_cannot_close_its_block_with_a_quote_inside_a_word",
        yaml: "app:\n  name: hello\n  start: node server.js\nnginx:\n  extra: |\n    add_header X-A a\";\n    }\n    server { listen 80; root /; autoindex on; add_header X-B b\";\nhosts:\n  - name: web1\n    address: 198.18.0.10\n",
        expected: &[
            r#"deployer.yaml:6:5: nginx.extra: line 2: this `}` closes a block it did not open; raw directives stay inside the HTTPS server block"#,
        ],
    },
    Case {
        name: "names_headers_and_prefixes_the_system_or_deployer_own",
        yaml: r#"app:
  name: dehydrated
  start: node server.js
nginx:
  static:
    dir: public
    url: /
  headers:
    Strict-Transport-Security: max-age=0
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:2:9: app.name: `dehydrated` is a system account or group on Debian or Ubuntu; deployer makes an account of this name: choose another"#,
            r#"deployer.yaml:7:10: nginx.static.url: `/` must be a URL path that starts and ends with `/`, e.g. `/static/` (not `/`, which the app serves): names of letters, digits, `.`, `_`, `~` and `-`"#,
            r#"deployer.yaml:9:32: nginx.headers.Strict-Transport-Security: Strict-Transport-Security is set by nginx or by deployer for every response; a second one would break or weaken it"#,
        ],
    },
    Case {
        name: "invisible_characters_deployers_variables_and_urls",
        yaml: "app:\n  name: hello\n  start: \"node a\\u061cb\"\n  env:\n    WORKER_INSTANCE: \"1\"\n  health:\n    timeout: 0s\nruntime:\n  node:\n    source: nodesource\n    repository: \"https://deb.nodesource.com/a#b\"\nmonitoring:\n  webhook: https://hooks.example.com:0/x\nhosts:\n  - name: web1\n    address: 198.18.0.10\n",
        expected: &[
            r#"deployer.yaml:3:10: app.start: must be a single line of printable characters (no control, invisible or other special characters): a program and its arguments"#,
            r#"deployer.yaml:5:22: app.env.WORKER_INSTANCE: WORKER_INSTANCE is set by deployer for each instance; remove it"#,
            r#"deployer.yaml:7:14: app.health.timeout: must be at least 1s: 0 would wait forever"#,
            r#"deployer.yaml:11:17: runtime.node.repository: `https://deb.nodesource.com/a#b` is not an http(s) URL to download from, such as `https://mirror.example.org/node` (no spaces, quotes, user, password, query or fragment)"#,
            r#"deployer.yaml:13:12: monitoring.webhook: `https://hooks.example.com:0/x` is not an http(s) URL such as `https://example.com/path` (without spaces, quotes, a user, a password or port 0)"#,
        ],
    },
    Case {
        name: "pm2_node_options_in_one_word_and_a_numeric_tld",
        yaml: r#"app:
  name: hello
  start: node --require ./x.js server.js
  process_manager: pm2
domain: hello.example.123
tls:
  mode: self-signed
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:3:10: app.start: `--require`: pm2 cluster mode runs a Node script: write it as `node [--option[=value]...] <script> [args]`, with each node option in one word (`--require=./x.js`, not `--require ./x.js`)"#,
            r#"deployer.yaml:5:9: domain: `hello.example.123` is not a lowercase DNS name such as `example.com` (no scheme, port or wildcard)"#,
        ],
    },
    Case {
        name: "host_baseline_keys_values_and_modules",
        yaml: r#"app:
  name: hello
  start: node server.js
host:
  sysctl:
    net.ipv4.conf.all.rp_filter: 2
    swappiness: 10
    vm.swappiness: "10; reboot"
    vm.overcommit_memory: default
  modules: [sctp, ext4]
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:7:17: host.sysctl.swappiness: a kernel setting is dotted words of letters, digits, `_` and `-`, such as `net.ipv4.conf.all.rp_filter`"#,
            r#"deployer.yaml:8:20: host.sysctl.vm.swappiness: a value is words of letters, digits and `_ . : , -` separated by single spaces, such as `1` or `4096 87380 6291456`"#,
            r#"deployer.yaml:9:27: host.sysctl.vm.overcommit_memory: `default` drops one of deployer's settings, and deployer sets no such key"#,
            r#"deployer.yaml:10:19: host.modules[1]: deployer blocks only dccp, sctp, rds, tipc, cramfs, freevxfs, jffs2, hfs, hfsplus, usb-storage, firewire-core: `ext4` is loadable already"#,
        ],
    },
    Case {
        name: "host_pam_tmpdir_is_a_boolean",
        yaml: r#"app:
  name: hello
  start: node server.js
host:
  pam_tmpdir: maybe
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:5:15: host.pam_tmpdir: expected a boolean, found string "maybe""#,
        ],
    },
    Case {
        name: "host_idle_timeout_in_whole_seconds",
        yaml: r#"app:
  name: hello
  start: node server.js
host:
  idle_timeout: 90500ms
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:5:17: host.idle_timeout: must be whole seconds from 1m to 24h (such as `15m`), or `0s` to let idle shells stay open"#,
        ],
    },
    Case {
        name: "host_idle_timeout_out_of_range",
        yaml: r#"app:
  name: hello
  start: node server.js
host:
  idle_timeout: 30s
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:5:17: host.idle_timeout: must be whole seconds from 1m to 24h (such as `15m`), or `0s` to let idle shells stay open"#,
        ],
    },
    Case {
        name: "mesh_is_the_only_private_network_and_needs_public_ips",
        yaml: r#"app:
  name: hello
  start: node server.js
network:
  mesh: wireguard
  private: [10.0.0.0/24]
  mesh_port: 9100
firewall:
  open:
    - port: 9100
      proto: udp
hosts:
  - name: web1
    address: web1.example.com
    private_address: 10.9.0.1
  - name: web2
    address: 198.18.0.11
"#,
        expected: &[
            r#"deployer.yaml:6:12: network.private: with network.mesh the mesh (10.213.7.0/24) is the private network: leave network.private out"#,
            r#"deployer.yaml:10:13: firewall.open[0].port: port 9100 clashes with WireGuard's port (network.mesh_port)"#,
            r#"deployer.yaml:14:14: hosts[0].address: `web1.example.com`: with network.mesh the other hosts reach this one at its address, and their firewalls admit WireGuard from it: give its public IP address"#,
            r#"deployer.yaml:15:22: hosts[0].private_address: 10.9.0.1 is outside the private network (10.0.0.0/24)"#,
        ],
    },
    Case {
        name: "mesh_takes_wireguard_and_a_network",
        yaml: r#"app:
  name: hello
  start: node server.js
network:
  mesh: ipsec
  mesh_cidr: 10.0.0.5/24
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:5:9: network.mesh: unknown value `ipsec`: expected `wireguard`"#,
            r#"deployer.yaml:6:14: network.mesh_cidr: expected a network such as `10.0.0.0/24` or `fd00::/64` (a single address means just that address), with no host bits set, found string "10.0.0.5/24""#,
        ],
    },
    Case {
        name: "mesh_numbers_hosts_in_ipv4",
        yaml: r#"app:
  name: hello
  start: node server.js
network:
  mesh: wireguard
  mesh_cidr: fd00:1::/64
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:6:14: network.mesh_cidr: fd00:1::/64: the mesh numbers its hosts in IPv4; give a network such as `10.213.7.0/24`"#,
        ],
    },
    Case {
        name: "mesh_network_from_16_to_29",
        yaml: r#"app:
  name: hello
  start: node server.js
network:
  mesh: wireguard
  mesh_cidr: 10.0.0.0/30
hosts:
  - name: web1
    address: 198.18.0.10
"#,
        expected: &[
            r#"deployer.yaml:6:14: network.mesh_cidr: 10.0.0.0/30: give a network from /16 to /29, such as `10.213.7.0/24`"#,
        ],
    },
    Case {
        name: "mesh_network_with_room_for_every_host",
        yaml: r#"app:
  name: hello
  start: node server.js
network:
  mesh: wireguard
  mesh_cidr: 10.0.0.0/29
hosts:
  - {name: h1, address: 198.18.0.1}
  - {name: h2, address: 198.18.0.2}
  - {name: h3, address: 198.18.0.3}
  - {name: h4, address: 198.18.0.4}
  - {name: h5, address: 198.18.0.5}
  - {name: h6, address: 198.18.0.6}
  - {name: h7, address: 198.18.0.7}
"#,
        expected: &[
            r#"deployer.yaml:6:14: network.mesh_cidr: 10.0.0.0/29 has room for 6 hosts and the spec has 7: give a wider network"#,
        ],
    },
    Case {
        name: "mesh_pins_inside_its_network",
        yaml: r#"app:
  name: hello
  start: node server.js
network:
  mesh: wireguard
hosts:
  - name: web1
    address: 198.18.0.10
    private_address: 10.9.0.1
"#,
        expected: &[
            r#"deployer.yaml:9:22: hosts[0].private_address: 10.9.0.1 is outside the private network (10.213.7.0/24)"#,
        ],
    },
    Case {
        name: "mesh_addresses_that_meet_and_hosts_the_mesh_cannot_reach",
        yaml: r#"app:
  name: hello
  start: node server.js
network:
  mesh: wireguard
  mesh_cidr: 10.213.7.0/24
hosts:
  - name: app24
    address: 203.0.113.24
  - name: app11
    address: 203.0.113.11
  - name: edge
    address: 127.0.0.2
  - name: pinned
    address: 10.213.7.9
    private_address: 10.213.7.255
"#,
        expected: &[
            r#"deployer.yaml:10:5: hosts[1].private_address: 10.213.7.237, the mesh address its name gives `app11`, is `app24`'s too: pin a free one, e.g. `private_address: 10.213.7.238`"#,
            r#"deployer.yaml:13:14: hosts[2].address: 127.0.0.2 cannot be where the other hosts of the mesh reach this one: give its public IP address"#,
            r#"deployer.yaml:15:14: hosts[3].address: 10.213.7.9 cannot be where the other hosts of the mesh reach this one (it is inside the mesh's own network, 10.213.7.0/24): give its public IP address"#,
            r#"deployer.yaml:16:22: hosts[3].private_address: 10.213.7.255 is the mesh network's own address, which no host may have: pin one between 10.213.7.1 and 10.213.7.254"#,
        ],
    },
    Case {
        name: "mesh_network_in_private_space",
        yaml: r#"app:
  name: hello
  start: node server.js
network:
  mesh: wireguard
  mesh_cidr: 169.254.0.0/16
hosts:
  - name: web1
    address: 203.0.113.24
  - name: web2
    address: 2001:db8::2
"#,
        expected: &[
            r#"deployer.yaml:6:14: network.mesh_cidr: 169.254.0.0/16 is not private address space: give a network inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10"#,
        ],
    },
];

/// `yaml` written as `deployer.yaml` in an empty directory and loaded: the
/// report, as `deployer validate` prints it, paths relative to that
/// directory; `None` when the spec is valid.
fn report_in_dir(yaml: &str) -> Option<String> {
    report_in_dir_with(tempfile::TempDir::new().unwrap().path(), yaml)
}

/// As [`report_in_dir`], in `dir`, which may hold files the spec names.
fn report_in_dir_with(dir: &std::path::Path, yaml: &str) -> Option<String> {
    let file = dir.join("deployer.yaml");
    fs::write(&file, yaml).unwrap();
    let invalid = spec::load(&file, Secrets::Skip).unwrap().err()?;
    let prefix = format!("{}/", dir.display());
    Some(invalid.to_string().replace(&prefix, ""))
}

#[test]
fn malformed_specs_report_every_problem_at_its_place() {
    assert!(CASES.len() >= 30);
    let mut failures = Vec::new();
    for case in CASES {
        let report = report_in_dir(case.yaml).unwrap_or_default();
        let mut lines: Vec<&str> = report.lines().collect();
        let summary = lines.pop().unwrap_or_default();
        let n = case.expected.len();
        let want_summary = format!(
            "deployer.yaml is invalid: {n} problem{}; nothing was applied",
            if n == 1 { "" } else { "s" }
        );
        if lines != case.expected || summary != want_summary {
            failures.push(format!("{}:\n{report}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Through the binary: exit 65, the report on stderr, nothing on stdout.
#[test]
fn an_invalid_spec_exits_65_with_the_report() {
    let case = CASES
        .iter()
        .find(|c| c.name == "releases_and_rollout_out_of_range")
        .unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    fs::write(dir.path().join("deployer.yaml"), case.yaml).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_deployer"))
        .args(["validate", "-f", "deployer.yaml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(65), "{}", text(&output));
    assert!(output.stdout.is_empty(), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.pop(),
        Some("deployer.yaml is invalid: 3 problems; nothing was applied")
    );
    assert_eq!(lines, case.expected);
}

#[test]
fn the_examples_are_valid() {
    for (_, spec) in SPECS {
        let result = deployer(&["validate", "-f", spec]);
        assert_eq!(result.status.code(), Some(0), "{spec}: {}", text(&result));
    }
}

#[test]
fn nothing_is_rendered_from_an_invalid_spec() {
    let dir = tempfile::TempDir::new().unwrap();
    let spec = dir.path().join("deployer.yaml");
    fs::write(&spec, CASES[0].yaml).unwrap();
    let out = dir.path().join("out");
    let result = deployer(&[
        "render",
        "-f",
        spec.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(result.status.code(), Some(65), "{}", text(&result));
    assert!(!out.exists(), "render wrote output from an invalid spec");
}

#[test]
fn a_missing_file_is_a_failure_not_an_invalid_spec() {
    assert_says(
        &deployer(&["validate", "-f", "no/such/deployer.yaml"]),
        1,
        &["cannot read no/such/deployer.yaml"],
    );
}

#[test]
fn a_bad_command_line_exits_64() {
    assert_eq!(
        deployer(&["validate", "--no-such-flag"]).status.code(),
        Some(64)
    );
    assert_eq!(deployer(&["--help"]).status.code(), Some(0));
}

/// A file that is not UTF-8 is refused where it stops being text.
#[test]
fn invalid_utf8_is_located() {
    let dir = tempfile::TempDir::new().unwrap();
    let file = dir.path().join("deployer.yaml");
    fs::write(&file, b"app:\n  name: hel\xfflo\n").unwrap();
    let invalid = spec::load(&file, Secrets::Skip).unwrap().unwrap_err();
    let report = invalid.to_string();
    assert!(
        report.contains("deployer.yaml:2:12: not UTF-8 text: save the file as UTF-8"),
        "{report}"
    );
}

/// deployer.yaml and the files it names are read only if they are regular
/// files of a sane size: `/dev/zero`, a FIFO or a huge file stop the run at
/// once with the key that names them.
#[test]
fn files_are_read_with_limits() {
    let dir = tempfile::TempDir::new().unwrap();
    let huge = dir.path().join("huge.yaml");
    let file = fs::File::create(&huge).unwrap();
    file.set_len(5 << 20).unwrap();
    let error = spec::load(&huge, Secrets::Skip).unwrap_err().to_string();
    assert!(error.contains("larger than 4096 KiB"), "{error}");
    let error = spec::load(std::path::Path::new("/dev/zero"), Secrets::Skip)
        .unwrap_err()
        .to_string();
    assert!(error.contains("not a regular file"), "{error}");

    let fifo = dir.path().join("ca.pem");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let spec_with = |acme_ca: &str| {
        format!(
            "app:\n  name: hello\n  start: node server.js\n  source: {}\ndomain: shop.example.com\ntls:\n  email: ops@example.com\n  acme_ca: {acme_ca}\nhosts:\n  - name: web1\n    address: 198.18.0.10\n",
            common::ROOT
        )
    };
    for (acme_ca, said) in [
        ("/dev/zero", "/dev/zero is not a regular file"),
        (fifo.to_str().unwrap(), "is not a regular file"),
    ] {
        let file = dir.path().join("deployer.yaml");
        fs::write(&file, spec_with(acme_ca)).unwrap();
        let report = spec::load(&file, Secrets::Skip)
            .unwrap()
            .unwrap_err()
            .to_string();
        assert!(report.contains("tls.acme_ca: "), "{report}");
        assert!(report.contains(said), "{report}");
    }
    let big = dir.path().join("big.pem");
    fs::File::create(&big).unwrap().set_len(3 << 30).unwrap();
    fs::write(
        dir.path().join("deployer.yaml"),
        spec_with(big.to_str().unwrap()),
    )
    .unwrap();
    let report = spec::load(&dir.path().join("deployer.yaml"), Secrets::Skip)
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(report.contains("larger than 1024 KiB"), "{report}");
}

/// A large document (within the size limit) loads: duplicate keys are
/// found with a set, not by comparing every pair.
#[test]
fn a_large_mapping_loads() {
    let mut yaml = String::from("app:\n  name: hello\n  start: node server.js\n  env:\n");
    for i in 0..100_000 {
        yaml.push_str(&format!("    V{i}: x\n"));
    }
    yaml.push_str("hosts:\n  - name: web1\n    address: 198.18.0.10\n");
    assert!(yaml.len() < 4 << 20);
    let report = report_in_dir(&yaml);
    assert!(report.is_none(), "{report:?}");
}

/// Keys and secrets the spec names stay out of what the source ships: a
/// key there would land on every host, and could be served as a static
/// file.
#[test]
fn keys_inside_the_shipped_source_are_refused() {
    let dir = tempfile::TempDir::new().unwrap();
    fs::create_dir_all(dir.path().join("app/certs")).unwrap();
    fs::write(dir.path().join("app/certs/id_ed25519"), "key").unwrap();
    fs::write(dir.path().join("app/certs/prod.env"), "TOKEN=x\n").unwrap();
    let spec = "app:\n  name: hello\n  source: app\n  start: node server.js\n  secrets:\n    - name: TOKEN\n      file: app/certs/prod.env\nssh:\n  identity: app/certs/id_ed25519\nhosts:\n  - name: web1\n    address: 198.18.0.10\n";
    let report = report_in_dir_with(dir.path(), spec).unwrap();
    assert!(
        report.contains("deployer.yaml:7:13: app.secrets[0].file: `app/certs/prod.env` is inside app.source, which is shipped to every host: keep keys and secrets outside it"),
        "{report}"
    );
    assert!(
        report.contains(
            "deployer.yaml:9:13: ssh.identity: `app/certs/id_ed25519` is inside app.source"
        ),
        "{report}"
    );
    // What .deployignore lists is not shipped: the same spec is then valid.
    fs::write(dir.path().join("app/.deployignore"), "certs/\n").unwrap();
    let report = report_in_dir_with(dir.path(), spec);
    assert!(report.is_none(), "{report:?}");
}

/// Through the binary: a file name with an escape sequence is shown
/// escaped, valid or not.
#[test]
fn file_names_reach_the_terminal_escaped() {
    let dir = tempfile::TempDir::new().unwrap();
    let name = "ok\u{1b}[31m.yaml";
    fs::write(dir.path().join(name), CASES[0].yaml).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_deployer"))
        .args(["validate", "-f", name])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let all = text(&output);
    assert!(!all.contains('\u{1b}'), "{all:?}");
    assert!(all.contains("ok\\u{1b}[31m.yaml"), "{all}");
}

/// Valid, but said: the PROXY protocol from Cloudflare's ordinary proxy.
#[test]
fn proxies_that_do_not_send_the_proxy_protocol_are_warned_about() {
    let dir = tempfile::TempDir::new().unwrap();
    let file = dir.path().join("deployer.yaml");
    let spec = "app:\n  name: hello\n  start: node server.js\nedge:\n  trusted: [cloudflare]\n  proxy_protocol: true\nhosts:\n  - name: web1\n    address: 198.18.0.10\n";
    fs::write(&file, spec).unwrap();
    let loaded = spec::load(&file, Secrets::Skip).unwrap().unwrap();
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.starts_with("edge.proxy_protocol: Cloudflare's proxy sends X-Forwarded-For")),
        "{:?}",
        loaded.warnings
    );
    fs::write(&file, spec.replace("  proxy_protocol: true\n", "")).unwrap();
    let loaded = spec::load(&file, Secrets::Skip).unwrap().unwrap();
    assert!(
        loaded.warnings.iter().all(|w| !w.starts_with("edge.")),
        "{:?}",
        loaded.warnings
    );
}
