//! What is on a host before deployer renders anything for it, read in the
//! same round trip as its core count: nginx sites that are not deployer's,
//! other firewall managers and rule sets, and the apps deployer keeps a
//! manifest for. What deployer finds decides what it renders (nginx.conf
//! includes the sites) and what the plan says or refuses.

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::claims::{self, Claims};
use crate::dialect::shell::quote;
use crate::dialect::terminal::shown;
use crate::layout::{self, CoreCounts};
use crate::protocol::{self, Tag};
use crate::render::context::Existing;
use crate::resource::owned;
use crate::spec::{Forward, Host, OtherSites, Role, Spec};

/// An nginx site found on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub path: String,
    /// Debian's placeholder (`sites-enabled/default` as the package ships
    /// it), which deployer's site replaces.
    pub placeholder: bool,
    /// It claims `default_server` on some port.
    pub default_server: bool,
}

/// What [`script`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Survey {
    pub cores: u32,
    pub sites: Vec<Site>,
    /// Other active firewall managers: `ufw`, `firewalld`.
    pub managers: Vec<String>,
    /// nftables tables that are not deployer's, as `family name`.
    pub tables: Vec<String>,
    /// Apps with a manifest on the host.
    pub apps: Vec<App>,
}

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

/// The survey, as one script. The placeholder is Debian's `default` site,
/// linked to sites-available and unchanged from the package (dpkg's
/// checksum of the conffile).
pub fn script(state_dir: &str) -> String {
    let owned = quote(&owned::manifest_path(state_dir, ""));
    let tag = |t: Tag| t.prefix();
    format!(
        r#"set -u
printf '{cores}%s\n' "$(nproc)"
for site in /etc/nginx/sites-enabled/* /etc/nginx/conf.d/*.conf; do
  [ -f "$site" ] || continue
  placeholder=0
  if [ "$site" = /etc/nginx/sites-enabled/default ] && [ "$(readlink -f "$site")" = /etc/nginx/sites-available/default ]; then
    sum=$(dpkg-query -W -f='${{Conffiles}}\n' nginx-common 2>/dev/null | awk '$1 == "/etc/nginx/sites-available/default" {{ print $2 }}')
    [ -n "$sum" ] && [ "$(md5sum <"$site" | cut -d' ' -f1)" = "$sum" ] && placeholder=1
  fi
  default_server=0
  grep -v '^[[:space:]]*#' "$site" | grep -qw default_server && default_server=1
  printf '{site}%s\t%s\t%s\n' "$(printf %s "$site" | base64 -w0)" "$placeholder" "$default_server"
done
if command -v ufw >/dev/null && grep -qs '^ENABLED=yes' /etc/ufw/ufw.conf; then
  printf '{manager}ufw\n'
fi
if systemctl is-active -q firewalld.service 2>/dev/null; then
  printf '{manager}firewalld\n'
fi
if command -v nft >/dev/null; then
  nft list tables 2>/dev/null | while read -r _ family name; do
    [ "$family $name" = "inet deployer" ] || printf '{table}%s %s\n' "$family" "$name"
  done
fi
for manifest in {owned}*; do
  [ -f "$manifest" ] || continue
  app=${{manifest##*/}}
  # A manifest that lists no unit is what a destroy kept (data).
  if grep -q '^service'$'\t' "$manifest"; then units=1; else units=0; fi
  claims={claims}/$app.json
  if [ -f "$claims" ]; then claimed=$(base64 -w0 <"$claims"); else claimed=; fi
  printf '{app}%s\t%s\t%s\n' "$app" "$units" "$claimed"
done
exit 0
"#,
        cores = tag(Tag::Cores),
        site = tag(Tag::Site),
        manager = tag(Tag::Manager),
        table = tag(Tag::Table),
        app = tag(Tag::App),
        claims = quote(layout::CLAIMS),
    )
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
            (Tag::Site, [path, placeholder, default_server]) => {
                let path = BASE64
                    .decode(path)
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                    .with_context(|| format!("{host}: a site path that is not base64 text"))?;
                survey.sites.push(Site {
                    path,
                    placeholder: *placeholder == "1",
                    default_server: *default_server == "1",
                });
            }
            (Tag::Manager, [name]) => survey.managers.push(name.to_string()),
            (Tag::Table, [table]) => survey.tables.push(table.to_string()),
            (Tag::App, [name, units, claims]) => {
                let claims = if claims.is_empty() {
                    None
                } else {
                    let json = BASE64.decode(claims).with_context(|| {
                        format!("{host}: the claims of app {} are not base64", shown(name))
                    })?;
                    Some(serde_json::from_slice(&json).with_context(|| {
                        format!(
                            "{host}: {}/{}.json is not what deployer writes there",
                            layout::CLAIMS,
                            shown(name)
                        )
                    })?)
                };
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
}

pub fn findings(spec: &Spec, host: &Host, cores: &dyn CoreCounts, survey: &Survey) -> Findings {
    let mut found = Findings::default();
    let serves = host.has(Role::Lb);
    for site in &survey.sites {
        let path = shown(&site.path);
        if site.placeholder {
            if serves {
                found.notes.push(format!(
                    "nginx site {path}: Debian's placeholder, not served (the app's site takes its place)"
                ));
            }
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
                if crate::dialect::nginx::string(&site.path).is_err() {
                    found.refusals.push(format!(
                        "the nginx site {path} has a name nginx.conf cannot include (a `$` or a control character): rename it, or set nginx.other_sites: ignore"
                    ));
                } else if site.default_server {
                    found.refusals.push(format!(
                        "the nginx site {path} claims `default_server`, which the app's site needs (it answers, or refuses, the names no site serves): take `default_server` out of it, or set nginx.other_sites: ignore to stop serving it"
                    ));
                } else {
                    found.notes.push(format!(
                        "nginx site {path}: kept, served beside the app's site"
                    ));
                    found.existing.nginx_sites.push(site.path.clone());
                }
            }
        }
    }
    for manager in &survey.managers {
        found.refusals.push(format!(
            "{manager} is active: deployer's firewall would be a second policy beside it, and a packet either one drops is dropped. \
             Turn it off ({}) and list the ports it opened in firewall.open, then plan again",
            match manager.as_str() {
                "ufw" => "`ufw disable`",
                _ => "`systemctl disable --now firewalld`",
            }
        ));
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
                "deployer runs the app {name} here, deployed before deployer recorded what apps claim of a host: apply {name} again from its spec first, so that both can share the host"
            )),
            None => found.notes.push(format!(
                "app {name}: only its data is left here (destroyed without --purge)"
            )),
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_survey_reads_back() {
        let path = BASE64.encode("/etc/nginx/sites-enabled/blog");
        let output = format!(
            "cores\t4\nsite\t{path}\t0\t1\nmanager\tufw\ntable\tip nat\napp\tshop\t1\t\nchatter\n"
        );
        assert_eq!(
            parse("web1", &output).unwrap(),
            Survey {
                cores: 4,
                sites: vec![Site {
                    path: "/etc/nginx/sites-enabled/blog".into(),
                    placeholder: false,
                    default_server: true,
                }],
                managers: vec!["ufw".into()],
                tables: vec!["ip nat".into()],
                apps: vec![App {
                    name: "shop".into(),
                    deployed: true,
                    claims: None
                }],
            }
        );
        assert!(parse("web1", "site\tnot base64!\t0\t0\ncores\t1\n").is_err());
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
        }
    }

    #[test]
    fn sites_are_kept_unless_they_cannot_be() {
        let survey = Survey {
            cores: 1,
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
            ["/etc/nginx/sites-enabled/blog"]
        );
        assert_eq!(found.notes.len(), 2, "{:?}", found.notes);
        assert_eq!(found.refusals.len(), 1);
        assert!(
            found.refusals[0].contains("wiki.conf") && found.refusals[0].contains("default_server")
        );

        let ignored = spec(serde_json::json!({"nginx": {"other_sites": "ignore"}}));
        let found = findings(&ignored, &ignored.hosts[0], &ONE_CORE, &survey);
        assert!(found.existing.nginx_sites.is_empty() && found.refusals.is_empty());
        assert_eq!(found.notes.len(), 3);
    }

    #[test]
    fn other_firewalls_stop_the_plan_tables_do_not() {
        let survey = Survey {
            cores: 1,
            managers: vec!["ufw".into()],
            tables: vec!["ip nat".into(), "ip filter".into()],
            ..Survey::default()
        };
        let spec = spec(serde_json::json!({}));
        let found = findings(&spec, &spec.hosts[0], &ONE_CORE, &survey);
        assert_eq!(found.refusals.len(), 1, "{:?}", found.refusals);
        assert!(found.refusals[0].contains("ufw disable"));
        assert_eq!(found.notes.len(), 2);
        assert!(found.notes[0].contains("not what it forwards"));
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
        assert!(found.refusals[1].contains("apply `older` again"));
    }
}
