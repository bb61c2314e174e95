//! The releases a host keeps: listed by `deployer releases`, and the one
//! `deployer rollback` goes back to. A release's directory time is when it
//! last went live (the converge touches it when it switches `current`), and a
//! release that failed its health check carries [`FAILED_MARKER`].

use anyhow::{Result, bail};
use serde::Serialize;

use crate::dialect::shell::quote;
use crate::protocol::{self, Tag};
use crate::yaml::one_of;

/// In a release that failed its health check when it last went live.
pub const FAILED_MARKER: &str = ".deployer-failed";

/// One release kept on a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kept {
    pub id: String,
    /// When it last went live, UTC, RFC 3339.
    pub switched_at: String,
    /// `current` points at it.
    pub current: bool,
    /// It failed its health check when it last went live.
    pub failed: bool,
    #[serde(skip)]
    epoch: i64,
}

/// Lists the built releases under `root` (`/srv/<app>`) and where `current` points.
pub fn script(root: &str) -> String {
    format!(
        r#"export LC_ALL=C
root={root}
current=$(readlink -- "$root/current" 2>/dev/null || true)
printf '%s\t%s\n' {current_tag} "${{current##*/}}"
for rel in "$root"/releases/*; do
  case "$rel" in *.new) continue ;; esac
  [ -e "$rel/.deployer-built" ] || continue
  if [ -e "$rel/"{failed} ]; then failed=1; else failed=0; fi
  printf '%s\t%s\t%s\t%s\t%s\n' {kept_tag} "${{rel##*/}}" "$(stat -c %Y -- "$rel")" "$(date -u -r "$rel" +%Y-%m-%dT%H:%M:%SZ)" "$failed"
done
"#,
        root = quote(root),
        failed = quote(FAILED_MARKER),
        current_tag = Tag::Current,
        kept_tag = Tag::Kept,
    )
}

/// The releases `script` reported, the latest to go live first.
pub fn parse(stdout: &str) -> Result<Vec<Kept>> {
    let mut current = None;
    let mut kept = Vec::new();
    for line in stdout.lines() {
        let record = protocol::record(line);
        match record.as_ref().map(|r| (r.tag, r.fields.as_slice())) {
            Some((Tag::Current, [id])) => current = Some(id.to_string()),
            Some((Tag::Kept, [id, epoch, switched_at, failed])) => kept.push(Kept {
                id: id.to_string(),
                switched_at: switched_at.to_string(),
                current: false,
                failed: *failed == "1",
                epoch: epoch.parse().unwrap_or_default(),
            }),
            _ => bail!("unexpected line in the list of releases: {line:?}"),
        }
    }
    for release in &mut kept {
        release.current = current.as_deref() == Some(release.id.as_str());
    }
    kept.sort_by(|a, b| b.epoch.cmp(&a.epoch).then_with(|| a.id.cmp(&b.id)));
    Ok(kept)
}

/// The release to go back to: `to` (an id or a unique prefix of one), or
/// else the latest to go live before the current one that did not fail.
pub fn target<'a>(kept: &'a [Kept], to: Option<&str>) -> Result<&'a Kept> {
    let ids: Vec<&str> = kept.iter().map(|k| k.id.as_str()).collect();
    if kept.is_empty() {
        bail!("no release has been deployed here yet");
    }
    match to {
        Some("") => bail!("--to needs a release id"),
        Some(wanted) => {
            let matching: Vec<&Kept> = kept.iter().filter(|k| k.id.starts_with(wanted)).collect();
            match matching.as_slice() {
                [one] => Ok(one),
                [] => bail!("no release `{wanted}` here; it keeps {}", one_of(&ids)),
                many => match many.iter().find(|k| k.id == wanted) {
                    Some(exact) => Ok(exact),
                    None => bail!(
                        "`{wanted}` is the start of {} releases; give more of the id ({})",
                        many.len(),
                        one_of(&many.iter().map(|k| k.id.as_str()).collect::<Vec<_>>())
                    ),
                },
            }
        }
        None => kept
            .iter()
            .find(|k| !k.current && !k.failed)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no earlier release to go back to (it keeps {}); name one with --to",
                    one_of(&ids)
                )
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTED: &str = "current\tbbbbbbbbbbbb\n\
        kept\taaaaaaaaaaaa\t100\t1970-01-01T00:01:40Z\t0\n\
        kept\tcccccccccccc\t300\t1970-01-01T00:05:00Z\t1\n\
        kept\tbbbbbbbbbbbb\t200\t1970-01-01T00:03:20Z\t0\n\
        kept\tabcdefabcdef\t50\t1970-01-01T00:00:50Z\t0\n";

    fn ids(kept: &[Kept]) -> Vec<&str> {
        kept.iter().map(|k| k.id.as_str()).collect()
    }

    #[test]
    fn latest_to_go_live_comes_first_and_current_is_marked() {
        let kept = parse(LISTED).unwrap();
        assert_eq!(
            ids(&kept),
            [
                "cccccccccccc",
                "bbbbbbbbbbbb",
                "aaaaaaaaaaaa",
                "abcdefabcdef"
            ]
        );
        assert_eq!(
            kept.iter()
                .map(|k| (k.current, k.failed))
                .collect::<Vec<_>>(),
            [(false, true), (true, false), (false, false), (false, false)]
        );
    }

    #[test]
    fn rollback_skips_the_current_release_and_failed_ones() {
        let kept = parse(LISTED).unwrap();
        assert_eq!(target(&kept, None).unwrap().id, "aaaaaaaaaaaa");
    }

    #[test]
    fn a_named_release_is_found_by_a_unique_prefix_even_if_it_failed() {
        let kept = parse(LISTED).unwrap();
        assert_eq!(target(&kept, Some("ccc")).unwrap().id, "cccccccccccc");
        assert_eq!(
            target(&kept, Some("abcdefabcdef")).unwrap().id,
            "abcdefabcdef"
        );
        let ambiguous = target(&kept, Some("a")).unwrap_err().to_string();
        assert!(ambiguous.contains("start of 2 releases"), "{ambiguous}");
        let missing = target(&kept, Some("dd")).unwrap_err().to_string();
        assert!(missing.contains("no release `dd` here"), "{missing}");
    }

    #[test]
    fn nothing_to_go_back_to_is_said_plainly() {
        let only = parse("current\taaaaaaaaaaaa\nkept\taaaaaaaaaaaa\t1\tx\t0\n").unwrap();
        let error = target(&only, None).unwrap_err().to_string();
        assert!(error.contains("no earlier release"), "{error}");
        let none = parse("current\t\n").unwrap();
        assert!(target(&none, None).is_err());
    }

    #[test]
    fn the_script_lists_a_real_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("srv");
        for (id, built) in [
            ("one", true),
            ("two", true),
            ("half", false),
            ("two.new", true),
        ] {
            let rel = root.join("releases").join(id);
            std::fs::create_dir_all(&rel).unwrap();
            if built {
                std::fs::write(rel.join(".deployer-built"), "").unwrap();
            }
        }
        std::fs::write(root.join("releases/two").join(FAILED_MARKER), "").unwrap();
        std::os::unix::fs::symlink(root.join("releases/one"), root.join("current")).unwrap();
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(script(root.to_str().unwrap()))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let mut kept = parse(&String::from_utf8(out.stdout).unwrap()).unwrap();
        kept.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(ids(&kept), ["one", "two"]);
        assert!(kept[0].current && !kept[0].failed);
        assert!(!kept[1].current && kept[1].failed);
        assert!(kept[0].switched_at.ends_with('Z'), "{:?}", kept[0]);
    }
}
