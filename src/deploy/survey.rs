//! What is on a host before deployer renders anything for it, read in the
//! same round trip as its core count: nginx sites that are not deployer's,
//! other firewall managers and rule sets, and the apps deployer keeps a
//! manifest for. What deployer finds decides what it renders (nginx.conf
//! includes the sites) and what the plan says or refuses.

use std::time::SystemTime;

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::claims::{self, Claims};
use crate::dialect::shell::quote;
use crate::dialect::terminal::shown;
use crate::layout::{self, CoreCounts};
use crate::platform::{self, System};
use crate::protocol::{self, Tag};
use crate::render::NGINX_CONF_SETS;
use crate::render::context::{Existing, Platform, SecuritySource};
use crate::resource::{facts, owned};
use crate::spec::{Forward, Host, NodeSource, OtherSites, Role, Spec, node_lines, text};

/// An nginx site found on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub path: String,
    /// Debian's placeholder (`sites-enabled/default` as the package ships
    /// it), which deployer's site replaces: not read, so what follows
    /// says nothing of it.
    pub placeholder: bool,
    /// It claims `default_server` on port 80 or 443.
    pub default_server: bool,
    /// It listens on port 80 or 443.
    pub web: bool,
    /// The directives it sets outside any block (`server`, `upstream`,
    /// or http-level settings such as `server_tokens`).
    pub directives: Vec<String>,
}

/// A glob nginx's `include` reads as exactly `path`: glob characters in
/// the name bracketed, and one letter bracketed in any case, so that the
/// include matches nothing rather than failing once the file is gone.
/// `None` for what no nginx string can hold, or a glob cannot say.
fn include_pattern(path: &str) -> Option<String> {
    if path.contains('\\') || crate::dialect::nginx::string(path).is_err() {
        return None;
    }
    let (dir, name) = path.rsplit_once('/')?;
    let mut pattern: String = name
        .chars()
        .map(|c| match c {
            '*' | '?' | '[' => format!("[{c}]"),
            c => c.to_string(),
        })
        .collect();
    if pattern == name {
        let (at, last) = name
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_ascii_alphanumeric())?;
        pattern = format!("{}[{last}]{}", &name[..at], &name[at + last.len_utf8()..]);
    }
    Some(format!("{dir}/{pattern}"))
}

/// What [`script`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Survey {
    pub cores: u32,
    /// /etc/os-release's `ID` and `VERSION_ID`.
    pub os: (String, String),
    /// What `nginx -v` said, when nginx is installed.
    pub nginx: Option<String>,
    pub sites: Vec<Site>,
    /// Other active firewall managers: `ufw`, `firewalld`.
    pub managers: Vec<String>,
    /// nftables tables that are not deployer's, as `family name`.
    pub tables: Vec<String>,
    /// Apps with a manifest on the host.
    pub apps: Vec<App>,
    /// The host's apt sources, as far as security updates go.
    pub apt: Option<AptSources>,
    /// The host keys sshd offers once deployer's drop-in is in place
    /// (ed25519): `(type, base64)`.
    pub host_keys: Vec<(String, String)>,
    /// The host's WireGuard public key, once it made one (`network.mesh`).
    pub mesh_key: Option<String>,
}

/// What [`APT_READER`] found in the host's apt sources.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AptSources {
    /// A source for the release's security archive (deployer's aside).
    pub security: bool,
    /// The URI and components of the first source of the release itself.
    pub archive: String,
    pub components: String,
}

/// Reads apt's source files (one-line `.list` and deb822 `.sources`, told
/// apart by name) and prints whether a source of suite `sec` exists, then a
/// tab, the URI and a tab and the components of the first source of suite
/// `codename`. Disabled deb822 stanzas (`Enabled: no`) do not count.
const APT_READER: &str = r#"
function stanza_end(  n, s, i, u) {
  if (uris != "" && enabled) {
    n = split(suites, s, " ")
    for (i = 1; i <= n; i++) {
      if (s[i] == sec) found = 1
      if (s[i] == codename && main == "") { split(uris, u, " "); main = u[1]; comps = components }
    }
  }
  uris = ""; suites = ""; components = ""; enabled = 1
}
FNR == 1 { if (deb822) stanza_end(); deb822 = FILENAME ~ /\.sources$/; enabled = 1 }
{ sub(/#.*/, "") }
deb822 && /^[ 	]*$/ { stanza_end(); next }
deb822 && /^[^ 	]/ {
  key = tolower($1); sub(/:$/, "", key)
  value = $0; sub(/^[^:]*:[ 	]*/, "", value); sub(/[ 	]+$/, "", value)
  if (key == "uris") uris = value
  else if (key == "suites") suites = value
  else if (key == "components") components = value
  else if (key == "enabled" && tolower(value) == "no") enabled = 0
  next
}
!deb822 && $1 == "deb" {
  i = 2
  if ($i ~ /^\[/) { while ($i !~ /\]$/ && i < NF) i++; i++ }
  c = ""
  for (j = i + 2; j <= NF; j++) c = c (c == "" ? "" : " ") $j
  if ($(i + 1) == sec) found = 1
  if ($(i + 1) == codename && main == "") { main = $i; comps = c }
}
END { if (deb822) stanza_end(); printf "%d	%s	%s", found + 0, main, comps }
"#;

/// An app deployer keeps a manifest for on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    pub name: String,
    /// Its manifest lists units: it is deployed, not only data a destroy
    /// kept.
    pub deployed: bool,
    /// What it claims of the host; `None` when deployed by a deployer that
    /// did not record claims.
    pub claims: Option<Claims>,
}

/// Reads an nginx file as nginx splits it (comments, `;`, `{`, `}`;
/// quotes aside) and prints the directives it sets outside any block,
/// comma-separated, after whether a `listen` on port 80 or 443 (any
/// address) says `default_server` or its old name `default`, and whether
/// any listens there, each followed by a tab.
const NGINX_READER: &str = r#"
function flush(  i, port) {
  if (n > 0) {
    if (depth == 0) top[stmt[1]] = 1
    if (stmt[1] == "listen" && n >= 2) {
      port = "80"
      if (stmt[2] ~ /^[0-9]+$/) port = stmt[2]
      else if (match(stmt[2], /:[0-9]+$/)) port = substr(stmt[2], RSTART + 1)
      if (port == "80" || port == "443") web = 1
      for (i = 3; i <= n; i++)
        if ((stmt[i] == "default_server" || stmt[i] == "default") && (port == "80" || port == "443")) claims = 1
    }
  }
  n = 0
}
{
  sub(/#.*/, "")
  s = $0
  while (length(s) > 0) {
    if (match(s, /^[ \t\r]+/)) { s = substr(s, RLENGTH + 1); continue }
    c = substr(s, 1, 1)
    if (c == "{") { flush(); depth++; s = substr(s, 2); continue }
    if (c == "}") { flush(); depth--; s = substr(s, 2); continue }
    if (c == ";") { flush(); s = substr(s, 2); continue }
    match(s, /^[^ \t\r;{}]+/)
    stmt[++n] = substr(s, 1, RLENGTH)
    s = substr(s, RLENGTH + 1)
  }
}
END {
  flush()
  d = ""
  for (k in top) d = d (d == "" ? "" : ",") k
  printf "%d\t%d\t%s", claims + 0, web + 0, d
}
"#;

/// Debian's nftables service, a [`Tag::Manager`] when its configuration
/// flushes every table: it stops a plan while it is enabled.
const NFTABLES_SERVICE: &str = "nftables.service";

/// The survey, as one script. The placeholder is Debian's `default` site,
/// linked to sites-available and unchanged from the package (dpkg's
/// checksum of the conffile).
pub fn script(state_dir: &str) -> String {
    let owned = quote(&owned::manifest_path(state_dir, ""));
    let tag = |t: Tag| t.prefix();
    format!(
        r#"set -u
printf '{cores}%s\n' "$(nproc)"
{os_release}
printf '{os}%s\t%s\n' "$os_id" "$os_version"
if command -v nginx >/dev/null; then
  nginx_said=$(nginx -v 2>&1)
  printf '{nginx}%s\n' "${{nginx_said%%$'\n'*}}"
fi
for site in /etc/nginx/conf.d/*.conf /etc/nginx/sites-enabled/*; do
  [ -f "$site" ] || continue
  placeholder=0
  if [ "$site" = /etc/nginx/sites-enabled/default ] && [ "$site" -ef /etc/nginx/sites-available/default ]; then
    sum=
    while read -r conffile md5 _; do
      [ "$conffile" = /etc/nginx/sites-available/default ] && sum=$md5
    done < <(dpkg-query -W -f='${{Conffiles}}\n' nginx-common 2>/dev/null)
    actual=$(md5sum <"$site")
    [ -n "$sum" ] && [ "${{actual%% *}}" = "$sum" ] && placeholder=1
  fi
  # A path of ASCII letters, digits and punctuation goes as it is (ranges
  # are ASCII in bash 5 whatever the locale); any other in base64, which
  # never begins with a slash.
  case $site in
    *[!a-zA-Z0-9._/@+=,:~-]*) shown=$(printf %s "$site" | base64 -w0) ;;
    *) shown=$site ;;
  esac
  # The placeholder is replaced, not read.
  if [ $placeholder = 1 ]; then printf '{site}%s\t1\n' "$shown"
  else printf '{site}%s\t0\t%s\n' "$shown" "$(awk {reader} "$site")"; fi
done
if command -v ufw >/dev/null && grep -qs '^ENABLED=yes' /etc/ufw/ufw.conf; then
  printf '{manager}ufw\n'
fi
# systemctl costs the host milliseconds a call: firewalld is asked about
# only where a unit of its name exists (in systemd's search path, its
# transient and generated units included).
for dir in /etc/systemd/system.control /run/systemd/system.control /run/systemd/transient /etc/systemd/system \
  /run/systemd/generator.early {unit_dirs} /run/systemd/generator /run/systemd/generator.late; do
  if [ -e "$dir/firewalld.service" ]; then
    if systemctl is-active -q firewalld.service 2>/dev/null; then
      printf '{manager}firewalld\n'
    fi
    break
  fi
done
# Debian's own nftables service flushes every table when it (re)loads
# with such a file; whether it is enabled, the facts script asks systemd
# with the app's units (a systemctl costs the host milliseconds a call).
if [ -f /etc/nftables.conf ] && [ -r /etc/nftables.conf ]; then
  {{ while IFS= read -r line || [ -n "$line" ]; do
    if [[ $line =~ flush[[:space:]]*ruleset ]]; then printf '{manager}{nftables}\n' && break; fi
  done </etc/nftables.conf; }} 2>/dev/null
fi
if command -v nft >/dev/null; then
  nft list tables 2>/dev/null | while read -r _ family name; do
    [ "$family $name" = "inet deployer" ] || printf '{table}%s %s\n' "$family" "$name"
  done
fi
{apt_probe}
# The only host key deployer's sshd drop-in lets sshd offer.
if [ -r /etc/ssh/ssh_host_ed25519_key.pub ]; then
  read -r kind key _ </etc/ssh/ssh_host_ed25519_key.pub && printf '{hostkey}%s\t%s\n' "$kind" "$key"
fi
# The mesh's public key, made on the host by the first apply with a mesh.
if [ -r {mesh_key} ]; then
  read -r key _ <{mesh_key} && printf '{meshkey}%s\n' "$key"
fi
is_app_name() {{ {is_app_name}; }}
for manifest in {owned}*; do
  app=${{manifest##*/}}
  [ -f "$manifest" ] && is_app_name "$app" || continue
  # A manifest that lists no unit is what a destroy kept (data).
  units=0
  while IFS=$'\t' read -r kind _ || [ -n "$kind" ]; do
    if [ "$kind" = service ]; then units=1; break; fi
  done <"$manifest"
  claims={claims}/$app.json
  # Printable ASCII lines beginning with `{{` (as base64 never does) go as
  # they are, each newline sent as 0x1f; anything else in base64, a file
  # with a NUL byte too (where `read` stops, and succeeds).
  claimed=
  if [ -f "$claims" ]; then
    if ! {{ IFS= read -r -d '' claimed; }} <"$claims"; then
      case $claimed in
        '{{'*) case $claimed in *[!$'\n'\ -~]*) claimed= ;; esac ;;
        *) claimed= ;;
      esac
    else
      claimed=
    fi
    if [ -n "$claimed" ]; then
      claimed=${{claimed//$'\n'/$'\x1f'}}
    else
      claimed=$(base64 -w0 <"$claims")
    fi
  fi
  printf '{app}%s\t%s\t%s\n' "$app" "$units" "$claimed"
done
exit 0
"#,
        cores = tag(Tag::Cores),
        os = tag(Tag::Os),
        nginx = tag(Tag::Nginx),
        site = tag(Tag::Site),
        manager = tag(Tag::Manager),
        table = tag(Tag::Table),
        app = tag(Tag::App),
        os_release = OS_RELEASE,
        apt_probe = apt_probe(true),
        hostkey = tag(Tag::HostKey),
        meshkey = tag(Tag::MeshKey),
        mesh_key = quote(layout::MESH_PUBLIC_KEY),
        nftables = NFTABLES_SERVICE,
        claims = quote(layout::CLAIMS),
        reader = quote(NGINX_READER),
        is_app_name = owned::IS_APP_NAME,
        unit_dirs = facts::OTHER_UNIT_DIRS,
    )
}

/// Bash lines setting `os_id`, `os_version` and `os_codename` from
/// /etc/os-release (each its first `ID`, `VERSION_ID`, `VERSION_CODENAME`,
/// quotes taken out; empty without one).
pub const OS_RELEASE: &str = r#"os_id= os_version= os_codename= os_seen=' '
if [ -r /etc/os-release ]; then
  while IFS= read -r line || [ -n "$line" ]; do
    case $line in *=*) ;; *) continue ;; esac
    key=${line%%=*} value=${line#*=} && value=${value//[\"\']/}
    case $os_seen in *" $key "*) continue ;; esac
    case $key in
      ID) os_id=$value ;;
      VERSION_ID) os_version=$value ;;
      VERSION_CODENAME) os_codename=$value ;;
      *) continue ;;
    esac
    os_seen+="$key "
  done </etc/os-release
fi"#;

/// Bash lines printing the [`Tag::Apt`] record of the host's apt sources
/// (none on a system without a codename or sources), after [`OS_RELEASE`]:
/// the survey's, which leaves deployer's own security source out
/// (`skip_own`), and `status`'s, which counts it.
pub fn apt_probe(skip_own: bool) -> String {
    format!(
        r#"sources=()
for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$file" ] && [ "$file" != {skipped} ] && sources+=("$file")
done
if [ -n "$os_codename" ] && [ ${{#sources[@]}} -gt 0 ]; then
  printf '{apt}%s\n' "$(awk -v codename="$os_codename" -v sec="$os_codename-security" {reader} "${{sources[@]}}")"
fi"#,
        apt = Tag::Apt.prefix(),
        skipped = if skip_own {
            quote(layout::SECURITY_SOURCE)
        } else {
            "''".to_string()
        },
        reader = quote(APT_READER),
    )
}

/// A WireGuard key as `wg` prints it: 32 bytes in base64, exactly.
fn wireguard_key(text: &str) -> bool {
    BASE64
        .decode(text)
        .is_ok_and(|bytes| bytes.len() == 32 && BASE64.encode(&bytes) == text)
}

/// Reads what [`script`] printed on `host`.
pub fn parse(host: &str, output: &str) -> Result<Survey> {
    let mut survey = Survey::default();
    let mut cores = None;
    for record in output.lines().filter_map(protocol::record) {
        match (record.tag, record.fields.as_slice()) {
            (Tag::Cores, [count]) => {
                cores = Some(
                    count
                        .trim()
                        .parse()
                        .with_context(|| format!("{host}: `nproc` answered {}", shown(count)))?,
                );
            }
            (Tag::Os, [id, version]) => survey.os = (id.to_string(), version.to_string()),
            (Tag::Nginx, [said]) => survey.nginx = Some(said.to_string()),
            (Tag::HostKey, [kind, key]) => {
                survey.host_keys.push((kind.to_string(), key.to_string()))
            }
            (Tag::MeshKey, [key]) => {
                if !wireguard_key(key) {
                    bail!(
                        "{host}: the mesh's public key ({}) is not a WireGuard key",
                        shown(key)
                    );
                }
                survey.mesh_key = Some(key.to_string());
            }
            (Tag::Apt, [security, archive, components]) => {
                survey.apt = Some(AptSources {
                    security: *security == "1",
                    archive: archive.to_string(),
                    components: components.to_string(),
                });
            }
            (Tag::Site, [path, reading @ ..]) => {
                let (placeholder, default_server, web, directives) = match reading {
                    ["1"] => (true, "0", "0", ""),
                    ["0", default_server, web, directives] => {
                        (false, *default_server, *web, *directives)
                    }
                    _ => bail!("{host}: the survey's site record has other fields than it sends"),
                };
                let path = if path.starts_with('/') {
                    path.to_string()
                } else {
                    BASE64
                        .decode(path)
                        .ok()
                        .and_then(|bytes| String::from_utf8(bytes).ok())
                        .with_context(|| format!("{host}: a site path that is not base64 text"))?
                };
                survey.sites.push(Site {
                    path,
                    placeholder,
                    default_server: default_server == "1",
                    web: web == "1",
                    directives: directives
                        .split(',')
                        .filter(|d| !d.is_empty())
                        .map(str::to_string)
                        .collect(),
                });
            }
            (Tag::Manager, [name]) => survey.managers.push(name.to_string()),
            (Tag::Table, [table]) => survey.tables.push(table.to_string()),
            (Tag::App, [name, units, claims]) => {
                let claims: Option<Claims> = if claims.is_empty() {
                    None
                } else {
                    let json = if claims.starts_with('{') {
                        claims.replace('\x1f', "\n").into_bytes()
                    } else {
                        BASE64.decode(claims).with_context(|| {
                            format!("{host}: the claims of app {} are not base64", shown(name))
                        })?
                    };
                    Some(serde_json::from_slice(&json).with_context(|| {
                        format!(
                            "{host}: {}/{}.json is not what deployer writes there",
                            layout::CLAIMS,
                            shown(name)
                        )
                    })?)
                };
                if let Some(claimed) = claims.as_ref().filter(|c| c.app != *name) {
                    bail!(
                        "{host}: {}/{}.json claims to be app {}'s",
                        layout::CLAIMS,
                        shown(name),
                        shown(&claimed.app)
                    );
                }
                survey.apps.push(App {
                    name: name.to_string(),
                    deployed: *units == "1",
                    claims,
                });
            }
            _ => bail!(
                "{host}: unexpected survey line {}",
                shown(&record.fields.join("\t"))
            ),
        }
    }
    survey.cores = cores.with_context(|| format!("{host}: the survey printed no core count"))?;
    Ok(survey)
}

/// What the survey means for one host of `spec`: what rendering includes,
/// what the plan says about each thing found, and what stops it.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    pub existing: Existing,
    /// `found:` lines of the plan.
    pub notes: Vec<String>,
    /// Why the host cannot be planned as it is, with what to do.
    pub refusals: Vec<String>,
    /// Refusals that hold while a unit is enabled, which the facts say:
    /// (unit, why).
    pub while_enabled: Vec<(String, String)>,
}

pub fn findings(spec: &Spec, host: &Host, cores: &dyn CoreCounts, survey: &Survey) -> Findings {
    let mut found = Findings::default();
    let (id, version) = &survey.os;
    match System::from_os_release(id, version) {
        Some(release) => {
            found.existing.platform = Platform {
                system: release,
                nginx: survey.nginx.as_deref().and_then(platform::nginx_version),
            };
            if let Some(apt) = survey.apt.as_ref().filter(|a| !a.security) {
                security_source(&mut found, spec, release, apt);
            }
            if let Some(apt) = &survey.apt {
                universe(&mut found, release, apt);
            }
            let line = release.distro_node();
            let runs_node = host.has(Role::App) || host.has(Role::Worker);
            if let Some(end) = (runs_node && spec.runtime.node.source == NodeSource::Distro)
                .then(|| node_lines::ended(line, SystemTime::now()))
                .flatten()
            {
                found.notes.push(format!(
                    "runtime.node.source: distro installs {release}'s Node.js {line}, which reached its end of life on {end} and gets no more security fixes: leave `source` out for the official build of runtime.node.version"
                ));
            }
        }
        None => found.refusals.push(format!(
            "it runs {}, which deployer does not support: it supports {}",
            if id.is_empty() {
                "a system without /etc/os-release".to_string()
            } else {
                format!("{} {}", shown(id), shown(version))
            },
            platform::supported()
        )),
    }
    let serves = host.has(Role::Lb);
    for site in &survey.sites {
        let path = shown(&site.path);
        // Debian's placeholder, which nginx's package brings: the app's
        // site takes its place, as on every host deployer installs nginx on.
        if site.placeholder {
            continue;
        }
        if !serves {
            found.notes.push(format!(
                "nginx site {path}: left as it is (this host runs no nginx for the app)"
            ));
            continue;
        }
        match spec.nginx.other_sites {
            OtherSites::Ignore => found.notes.push(format!(
                "nginx site {path}: not served (nginx.other_sites: ignore)"
            )),
            OtherSites::Include => {
                let twice: Vec<&str> = site
                    .directives
                    .iter()
                    .map(String::as_str)
                    .filter(|d| NGINX_CONF_SETS.contains(d))
                    .collect();
                let pattern = include_pattern(&site.path);
                if pattern.is_none() {
                    found.refusals.push(format!(
                        "the nginx site {path} has a name nginx.conf cannot include (a `$`, a `\\` or a control character): rename it, or set nginx.other_sites: ignore"
                    ));
                } else if site.default_server {
                    found.refusals.push(format!(
                        "the nginx site {path} claims `default_server` on port 80 or 443, which the app's site needs (it answers, or refuses, the names no site serves): take `default_server` out of it, or set nginx.other_sites: ignore to stop serving it"
                    ));
                } else if site.web && spec.edge.proxy_protocol {
                    found.refusals.push(format!(
                        "the nginx site {path} listens on port 80 or 443, where edge.proxy_protocol has every connection begin with the PROXY protocol, which its clients do not send: serve it behind the same proxies and list them in edge.trusted, move it to another port, or set nginx.other_sites: ignore to stop serving it"
                    ));
                } else if !twice.is_empty() {
                    found.refusals.push(format!(
                        "the nginx file {path} sets {}, which deployer's nginx.conf sets too, and nginx refuses a setting given twice: take {} out of it, or set nginx.other_sites: ignore to stop including it",
                        twice.iter().map(|d| format!("`{}`", shown(d))).collect::<Vec<_>>().join(", "),
                        if twice.len() == 1 { "it" } else { "them" }
                    ));
                } else if let Some(pattern) = pattern {
                    found.notes.push(format!(
                        "nginx site {path}: kept, served beside the app's site (deployer's plans see it again; one enabled later waits for the next apply)"
                    ));
                    found.existing.nginx_sites.push(pattern);
                }
            }
        }
    }
    for manager in &survey.managers {
        let why = format!(
            "{} is active: deployer's firewall would be a second policy beside it, and a packet either one drops is dropped. \
             Turn it off ({}) and list the ports it opened in firewall.open, then plan again",
            shown(manager),
            match manager.as_str() {
                "ufw" => "`ufw disable`",
                "firewalld" => "`systemctl disable --now firewalld`",
                _ =>
                    "`systemctl disable nftables`; its /etc/nftables.conf says `flush ruleset`, which also removes deployer's table whenever it loads",
            }
        );
        if manager == NFTABLES_SERVICE {
            found.while_enabled.push((manager.clone(), why));
        } else {
            found.refusals.push(why);
        }
    }
    for table in &survey.tables {
        found.notes.push(format!(
            "nftables table {}: kept; deployer's table filters only what reaches this host's own sockets{}",
            shown(table),
            match spec.firewall.forward {
                Forward::Leave => ", not what it forwards",
                Forward::Drop => ", and drops what it forwards (firewall.forward: drop)",
            }
        ));
    }
    let mine = claims::of(spec, host, cores);
    for other in survey.apps.iter().filter(|a| a.name != spec.app.name) {
        let name = format!("`{}`", shown(&other.name));
        match &other.claims {
            Some(theirs) => {
                let conflicts = claims::conflicts(&mine, theirs);
                if conflicts.is_empty() {
                    found.notes.push(format!(
                        "app {name}: deployed here too, from another spec; nginx.conf, the firewall and the host's settings serve both"
                    ));
                    found.existing.other_apps.push(theirs.clone());
                } else {
                    let mine = shown(&spec.app.name);
                    found.refusals.extend(conflicts.into_iter().map(|why| {
                        format!("app `{mine}` cannot share this host with app {name}: {why}")
                    }));
                }
            }
            None if other.deployed => found.refusals.push(format!(
                "deployer runs the app {name} here without a record of what it claims of the host (its first apply did not finish, or a deployer older than such records applied it): apply {name} again from its spec first, so that both can share the host"
            )),
            None => found.notes.push(format!(
                "app {name}: only its data is left here (destroyed without --purge)"
            )),
        }
    }
    found
}

/// An Ubuntu host whose source of its release lists no `universe`, where
/// Ubuntu keeps debsums and libpam-tmpdir: the baseline goes without them.
fn universe(found: &mut Findings, release: System, apt: &AptSources) {
    if release.ubuntu() && !apt.components.split(' ').any(|c| c == "universe") {
        found.existing.no_universe = true;
        found.notes.push(format!(
            "apt does not use {release}'s universe component, which holds debsums and libpam-tmpdir: the host baseline goes without them here"
        ));
    }
}

/// A host whose apt has no source for its security archive: the spec's
/// `apt.security_source` adds one from the mirror the host uses, else the
/// plan warns.
fn security_source(found: &mut Findings, spec: &Spec, release: System, apt: &AptSources) {
    let suite = format!("{}-security", release.codename());
    if !spec.apt.security_source {
        found.notes.push(format!(
            "warning: apt has no source for {release}'s security archive ({suite}): the unattended upgrades deployer sets up find no security fixes to install here. Add one, or set apt.security_source: true for deployer to add it"
        ));
        return;
    }
    let components_ok = !apt.components.is_empty()
        && apt.components.split(' ').all(|c| {
            !c.is_empty()
                && c.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
        });
    match release
        .security_uri(&apt.archive)
        .filter(|uri| text::url_ok(uri) && components_ok)
    {
        Some(uri) => {
            found.notes.push(format!(
                "apt has no source for {release}'s security archive: deployer adds {uri} {suite} (apt.security_source)"
            ));
            found.existing.security_source = Some(SecuritySource {
                uri,
                suite,
                components: apt.components.clone(),
                keyring: release.archive_keyring().to_string(),
            });
        }
        None => found.refusals.push(format!(
            "apt.security_source: the security archive cannot be told from this host's source of {} ({} {}): add a source for {suite} yourself, or leave apt.security_source out",
            release.codename(),
            shown(&apt.archive),
            shown(&apt.components)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What [`OS_RELEASE`] makes of an os-release file, run by bash.
    fn os_release(content: &str) -> String {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), content).unwrap();
        let script = OS_RELEASE.replace("/etc/os-release", &file.path().display().to_string());
        let out = std::process::Command::new("bash")
            .args([
                "-uc",
                &format!("{script}\necho \"$os_id|$os_version|$os_codename\""),
            ])
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .trim_end()
            .to_string()
    }

    #[test]
    fn os_release_gives_each_keys_first_value_unquoted() {
        assert_eq!(
            os_release(
                "PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nVERSION_ID=\"13\"\nVERSION_CODENAME=trixie\nID=debian\n"
            ),
            "debian|13|trixie"
        );
        assert_eq!(
            os_release(
                "ID=ubuntu\nID_LIKE=debian\nVERSION_ID='24.04'\nVERSION_CODENAME=noble\nID=other\nVERSION_CODENAME=x"
            ),
            "ubuntu|24.04|noble"
        );
        assert_eq!(os_release("NAME=Some\nID=alpine"), "alpine||");
        assert_eq!(
            os_release("ID\nID=debian\nVERSION_ID\nVERSION_CODENAME\nVERSION_CODENAME=trixie"),
            "debian||trixie",
            "a line without `=` is no key's value"
        );
    }

    /// A WireGuard public key, as `wg pubkey` prints one.
    const MESH_KEY: &str = "4ukLXh4kGpCMgA3mUzfhHuizRnLrqfXqWbo1XGIDXwo=";

    #[test]
    fn a_survey_reads_back() {
        let path = BASE64.encode("/etc/nginx/sites-enabled/blog");
        let output = format!(
            "cores\t4\nos\tdebian\t13\nnginx\tnginx version: nginx/1.26.3\nsite\t{path}\t0\t1\t1\tserver,upstream\nmanager\tufw\ntable\tip nat\napp\tshop\t1\t\napt\t0\thttp://mirror.example.org/debian\tmain contrib\nhostkey\tssh-ed25519\tAAAAC3Nz\nmeshkey\t{MESH_KEY}\nchatter\n"
        );
        assert_eq!(
            parse("web1", &output).unwrap(),
            Survey {
                cores: 4,
                os: ("debian".into(), "13".into()),
                nginx: Some("nginx version: nginx/1.26.3".into()),
                sites: vec![Site {
                    path: "/etc/nginx/sites-enabled/blog".into(),
                    placeholder: false,
                    default_server: true,
                    web: true,
                    directives: vec!["server".into(), "upstream".into()],
                }],
                managers: vec!["ufw".into()],
                tables: vec!["ip nat".into()],
                apps: vec![App {
                    name: "shop".into(),
                    deployed: true,
                    claims: None
                }],
                apt: Some(AptSources {
                    security: false,
                    archive: "http://mirror.example.org/debian".into(),
                    components: "main contrib".into(),
                }),
                host_keys: vec![("ssh-ed25519".into(), "AAAAC3Nz".into())],
                mesh_key: Some(MESH_KEY.into()),
            }
        );
        assert!(parse("web1", "site\tnot base64!\t0\t0\t0\t\ncores\t1\n").is_err());
        // A plain path goes as it is; base64 never begins with a slash.
        let plain = parse(
            "web1",
            "site\t/etc/nginx/conf.d/a b.conf\t0\t0\t0\t\ncores\t1\n",
        );
        assert_eq!(plain.unwrap().sites[0].path, "/etc/nginx/conf.d/a b.conf");
        // Debian's placeholder is not read: its record ends there.
        let placeholder = parse(
            "web1",
            "site\t/etc/nginx/sites-enabled/default\t1\ncores\t1\n",
        );
        assert!(placeholder.unwrap().sites[0].placeholder);
        assert!(
            parse(
                "web1",
                "site\t/etc/nginx/sites-enabled/default\t1\t1\ncores\t1\n"
            )
            .is_err()
        );
        // Claims come as the JSON deployer writes, each newline sent as
        // 0x1f, or in base64: the same either way.
        let blog = spec(serde_json::json!({"app": {"name": "blog", "start": "node server.js"}}));
        let claims = claims::of(&blog, &blog.hosts[0], &ONE_CORE);
        let written = serde_json::to_string_pretty(&claims).unwrap();
        for sent in [written.replace('\n', "\x1f"), BASE64.encode(&written)] {
            let survey = parse("web1", &format!("app\tblog\t1\t{sent}\ncores\t1\n")).unwrap();
            assert_eq!(survey.apps[0].claims.as_ref(), Some(&claims), "{sent}");
        }
        // What the mesh's peers are rendered from is a key, or nothing.
        for bad in [
            "AAAA",
            "not base64!",
            &format!("{MESH_KEY}A"),
            "4ukLXh4kGpCMgA3mUzfhHuizRnLrqfXqWbo1XGIDXwp=",
        ] {
            let output = format!("cores\t1\nmeshkey\t{bad}\n");
            assert!(parse("web1", &output).is_err(), "{bad}");
        }
        assert!(parse("web1", "").is_err());
    }

    const ONE_CORE: layout::AssumedCores = layout::AssumedCores(1);

    fn spec(extra: serde_json::Value) -> Spec {
        let mut spec = serde_json::json!({
            "app": {"name": "shop", "start": "node server.js"},
            "hosts": [{"name": "web1", "address": "198.18.0.10", "roles": ["lb", "app"]}]
        });
        spec.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(spec).unwrap()
    }

    fn site(path: &str, placeholder: bool, default_server: bool) -> Site {
        Site {
            path: path.into(),
            placeholder,
            default_server,
            web: true,
            directives: vec!["server".into()],
        }
    }

    #[test]
    fn sites_are_kept_unless_they_cannot_be() {
        let survey = Survey {
            cores: 1,
            os: ("debian".into(), "12".into()),
            sites: vec![
                site("/etc/nginx/sites-enabled/default", true, true),
                site("/etc/nginx/sites-enabled/blog", false, false),
                site("/etc/nginx/conf.d/wiki.conf", false, true),
            ],
            ..Survey::default()
        };
        let included = spec(serde_json::json!({}));
        let found = findings(&included, &included.hosts[0], &ONE_CORE, &survey);
        assert_eq!(
            found.existing.nginx_sites,
            ["/etc/nginx/sites-enabled/blo[g]"]
        );
        assert_eq!(
            found.notes.len(),
            1,
            "the placeholder goes unsaid: {:?}",
            found.notes
        );
        assert_eq!(found.refusals.len(), 1);
        assert!(
            found.refusals[0].contains("wiki.conf") && found.refusals[0].contains("default_server")
        );

        // Behind proxies that send the PROXY protocol, a kept site on 80 or
        // 443 would get it too.
        let proxied =
            spec(serde_json::json!({"edge": {"trusted": ["10.0.0.0/8"], "proxy_protocol": true}}));
        let found = findings(&proxied, &proxied.hosts[0], &ONE_CORE, &survey);
        assert!(
            found
                .refusals
                .iter()
                .any(|r| r.contains("sites-enabled/blog listens on port 80 or 443")),
            "{:?}",
            found.refusals
        );

        let ignored = spec(serde_json::json!({"nginx": {"other_sites": "ignore"}}));
        let found = findings(&ignored, &ignored.hosts[0], &ONE_CORE, &survey);
        assert!(found.existing.nginx_sites.is_empty() && found.refusals.is_empty());
        assert_eq!(found.notes.len(), 2);
    }

    #[test]
    fn other_firewalls_stop_the_plan_tables_do_not() {
        let survey = Survey {
            cores: 1,
            os: ("debian".into(), "12".into()),
            managers: vec!["ufw".into(), "nftables.service".into()],
            tables: vec!["ip nat".into(), "ip filter".into()],
            ..Survey::default()
        };
        let spec = spec(serde_json::json!({}));
        let found = findings(&spec, &spec.hosts[0], &ONE_CORE, &survey);
        assert_eq!(found.refusals.len(), 1, "{:?}", found.refusals);
        assert!(found.refusals[0].contains("ufw disable"));
        // Debian's nftables service stops it only while enabled, as the
        // facts will say.
        assert_eq!(found.while_enabled.len(), 1, "{:?}", found.while_enabled);
        assert_eq!(found.while_enabled[0].0, "nftables.service");
        assert!(
            found.while_enabled[0]
                .1
                .contains("`systemctl disable nftables`")
        );
        assert_eq!(found.notes.len(), 2);
        assert!(found.notes[0].contains("not what it forwards"));
    }

    #[test]
    fn sites_are_included_by_patterns_that_match_only_them() {
        for (path, pattern) in [
            (
                "/etc/nginx/sites-enabled/blog",
                Some("/etc/nginx/sites-enabled/blo[g]"),
            ),
            (
                "/etc/nginx/conf.d/wiki.conf",
                Some("/etc/nginx/conf.d/wiki.con[f]"),
            ),
            (
                "/etc/nginx/sites-enabled/a*b?[c]",
                Some("/etc/nginx/sites-enabled/a[*]b[?][[]c]"),
            ),
            ("/etc/nginx/sites-enabled/--", None),
            ("/etc/nginx/sites-enabled/a$b", None),
            ("/etc/nginx/sites-enabled/a\\b", None),
        ] {
            assert_eq!(include_pattern(path).as_deref(), pattern, "{path}");
        }
    }

    /// The survey's reader, run by this machine's awk as a host runs it.
    #[test]
    fn apt_sources_are_read_in_both_formats() {
        // Files named as apt names them, read as the survey reads them.
        let read = |files: &[(&str, &str)]| {
            let dir = tempfile::TempDir::new().unwrap();
            let paths: Vec<_> = files
                .iter()
                .map(|(name, text)| {
                    let path = dir.path().join(name);
                    std::fs::write(&path, text).unwrap();
                    path
                })
                .collect();
            let out = std::process::Command::new("awk")
                .args([
                    "-v",
                    "codename=trixie",
                    "-v",
                    "sec=trixie-security",
                    APT_READER,
                ])
                .args(&paths)
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap()
        };
        let archive = "deb http://mirror.example.org/debian trixie main\n";
        assert_eq!(
            read(&[("sources.list", archive)]),
            "0\thttp://mirror.example.org/debian\tmain"
        );
        assert_eq!(
            read(&[(
                "sources.list",
                "# deb http://mirror.example.org/debian-security trixie-security main\ndeb [ arch=amd64 signed-by=/k.gpg ] http://mirror.example.org/debian trixie main contrib\ndeb http://mirror.example.org/debian-security trixie-security main # fixes\n"
            )]),
            "1\thttp://mirror.example.org/debian\tmain contrib"
        );
        let deb822 = "Types: deb\nURIs: http://mirror.example.org/debian\nSuites: trixie trixie-updates\nComponents: main non-free-firmware\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://mirror.example.org/debian-security\nSuites: trixie-security\nComponents: main\n";
        assert_eq!(
            read(&[("debian.sources", deb822)]),
            "1\thttp://mirror.example.org/debian\tmain non-free-firmware"
        );
        let disabled = deb822.replace(
            "Suites: trixie-security\n",
            "Suites: trixie-security\nEnabled: no\n",
        );
        assert_eq!(
            read(&[("debian.sources", &disabled)]),
            "0\thttp://mirror.example.org/debian\tmain non-free-firmware"
        );
        // A .list and a .sources file read together, each in its format.
        assert_eq!(
            read(&[
                ("sources.list", archive),
                (
                    "security.sources",
                    "URIs: http://mirror.example.org/debian-security\nSuites: trixie-security\nComponents: main\n"
                )
            ]),
            "1\thttp://mirror.example.org/debian\tmain"
        );
    }

    #[test]
    fn an_ubuntu_host_without_universe_goes_without_its_packages() {
        let apt = |components: &str| AptSources {
            security: true,
            archive: "http://archive.ubuntu.com/ubuntu".into(),
            components: components.into(),
        };
        let seen = |release: System, components: &str| {
            let mut found = Findings::default();
            universe(&mut found, release, &apt(components));
            (found.existing.no_universe, found.notes)
        };
        let (no_universe, notes) = seen(System::Ubuntu2404, "main restricted");
        assert!(no_universe);
        assert!(
            notes[0].contains("universe component, which holds debsums and libpam-tmpdir"),
            "{notes:?}"
        );
        assert_eq!(seen(System::Ubuntu2404, "main universe"), (false, vec![]));
        assert_eq!(seen(System::Debian13, "main"), (false, vec![]));
    }

    #[test]
    fn a_host_without_security_updates_is_warned_about_or_given_them() {
        let apt = AptSources {
            security: false,
            archive: "http://mirror.example.org/debian".into(),
            components: "main".into(),
        };
        let mut found = Findings::default();
        security_source(
            &mut found,
            &spec(serde_json::json!({})),
            System::Debian13,
            &apt,
        );
        assert!(found.notes[0].starts_with("warning: apt has no source for Debian 13 (trixie)'s security archive (trixie-security)"), "{:?}", found.notes);
        assert_eq!(found.existing.security_source, None);
        let adds = spec(serde_json::json!({"apt": {"security_source": true}}));
        let mut found = Findings::default();
        security_source(&mut found, &adds, System::Debian13, &apt);
        let source = found.existing.security_source.unwrap();
        assert_eq!(
            (
                source.uri.as_str(),
                source.suite.as_str(),
                source.components.as_str()
            ),
            (
                "http://mirror.example.org/debian-security",
                "trixie-security",
                "main"
            )
        );
        let elsewhere = AptSources {
            archive: "http://mirror.example.org/pub".into(),
            ..apt
        };
        let mut found = Findings::default();
        security_source(&mut found, &adds, System::Debian13, &elsewhere);
        assert!(
            found.refusals[0].contains("add a source for trixie-security yourself"),
            "{:?}",
            found.refusals
        );
    }

    #[test]
    fn the_reader_finds_settings_and_default_servers() {
        let read = |text: &str| {
            let file = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(file.path(), text).unwrap();
            let out = std::process::Command::new("awk")
                .arg(NGINX_READER)
                .arg(file.path())
                .output()
                .unwrap();
            let out = String::from_utf8(out.stdout).unwrap();
            let (default, rest) = out.split_once('\t').unwrap();
            let (web, directives) = rest.split_once('\t').unwrap();
            let mut directives: Vec<String> = directives
                .split(',')
                .filter(|d| !d.is_empty())
                .map(str::to_string)
                .collect();
            directives.sort();
            (default == "1", directives, web == "1")
        };
        let site = "server {\n    listen 80;\n    listen [::]:80; # default_server\n    server_name blog;\n}\n";
        assert_eq!(read(site), (false, vec!["server".to_string()], true));
        assert!(!read("server { listen 8080; listen [::]:8443 ssl; }").2);
        assert!(
            read("server { listen 198.51.100.1; }").2,
            "port 80 by default"
        );
        for listen in [
            "listen 80 default_server;",
            "listen [::]:443 ssl default;",
            "listen 198.51.100.1 default_server;",
            "listen 0.0.0.0:80\n  default_server ;",
        ] {
            assert!(read(&format!("server {{ {listen} }}")).0, "{listen}");
        }
        assert!(!read("server { listen 127.0.0.1:8080 default_server; }").0);
        assert_eq!(
            read("server_tokens off; gzip on;\nupstream u { server 127.0.0.1:1; }\nmap $a $b { default 1; }\n").1,
            ["gzip", "map", "server_tokens", "upstream"]
        );
    }

    #[test]
    fn a_file_setting_what_nginx_conf_sets_is_refused() {
        let survey = Survey {
            cores: 1,
            os: ("debian".into(), "12".into()),
            sites: vec![Site {
                directives: vec!["server_tokens".into(), "gzip".into(), "upstream".into()],
                ..site("/etc/nginx/conf.d/tuning.conf", false, false)
            }],
            ..Survey::default()
        };
        let spec = spec(serde_json::json!({}));
        let found = findings(&spec, &spec.hosts[0], &ONE_CORE, &survey);
        assert_eq!(found.refusals.len(), 1, "{:?}", found.refusals);
        assert!(
            found.refusals[0]
                .contains("sets `server_tokens`, `gzip`, which deployer's nginx.conf sets too"),
            "{}",
            found.refusals[0]
        );
    }

    #[test]
    fn a_system_deployer_does_not_support_is_refused() {
        let spec = spec(serde_json::json!({}));
        let on = |id: &str, version: &str| {
            let survey = Survey {
                cores: 1,
                os: (id.into(), version.into()),
                ..Survey::default()
            };
            findings(&spec, &spec.hosts[0], &ONE_CORE, &survey)
        };
        let old = on("debian", "11");
        assert_eq!(old.refusals.len(), 1);
        assert!(
            old.refusals[0].starts_with("it runs debian 11, which deployer does not support: it supports Debian 12 (bookworm), Debian 13 (trixie), Ubuntu 24.04 LTS, Ubuntu 26.04 LTS"),
            "{}",
            old.refusals[0]
        );
        assert!(on("", "").refusals[0].contains("without /etc/os-release"));
        let trixie = on("debian", "13");
        assert!(trixie.refusals.is_empty());
        assert_eq!(trixie.existing.platform.system, System::Debian13);
    }

    #[test]
    fn other_apps_share_the_host_unless_they_conflict() {
        let blog_spec = spec(serde_json::json!({
            "app": {"name": "blog", "start": "node server.js", "port": 4000},
            "domain": "blog.example.com",
            "tls": {"mode": "self-signed"},
        }));
        let blog = claims::of(&blog_spec, &blog_spec.hosts[0], &ONE_CORE);
        let survey = |apps: Vec<App>| Survey {
            cores: 1,
            os: ("debian".into(), "12".into()),
            apps,
            ..Survey::default()
        };
        let app = |name: &str, deployed: bool, claims: Option<Claims>| App {
            name: name.into(),
            deployed,
            claims,
        };
        let shop =
            spec(serde_json::json!({"domain": "shop.example.com", "tls": {"mode": "self-signed"}}));
        let found = findings(
            &shop,
            &shop.hosts[0],
            &ONE_CORE,
            &survey(vec![
                app("shop", true, None),
                app("blog", true, Some(blog.clone())),
                app("old", false, None),
            ]),
        );
        assert_eq!(found.refusals, Vec::<String>::new());
        assert_eq!(found.existing.other_apps, std::slice::from_ref(&blog));
        assert_eq!(found.notes.len(), 2, "{:?}", found.notes);

        let clash =
            spec(serde_json::json!({"domain": "blog.example.com", "tls": {"mode": "self-signed"}}));
        let found = findings(
            &clash,
            &clash.hosts[0],
            &ONE_CORE,
            &survey(vec![
                app("blog", true, Some(blog)),
                app("older", true, None),
            ]),
        );
        assert_eq!(found.refusals.len(), 2, "{:?}", found.refusals);
        assert!(found.refusals[0].contains("blog.example.com is app `blog`'s"));
        assert!(
            found.refusals[1].contains("apply `older` again"),
            "{}",
            found.refusals[1]
        );
    }
}
