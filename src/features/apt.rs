//! apt sources judged before they go live: apt fetches and verifies a staged
//! source alone, into throwaway lists, so a source that does not answer or
//! is not signed by the key it names never breaks the host's `apt-get
//! update`.

/// Shell lines that have apt fetch and verify the sources listed in the
/// file `sources` (a shell word) alone, into throwaway lists: `verified`
/// is then `yes` or empty, and `said` holds what apt said. The InRelease
/// apt verified is copied to `keep` (a shell word), if given.
pub fn fetch(sources: &str, keep: Option<&str>) -> String {
    let keep = keep
        .map(|file| format!("\n[ -z \"$verified\" ] || cat \"$apt\"/lists/*_InRelease >{file}"))
        .unwrap_or_default();
    format!(
        r#"apt=$(mktemp -d)
mkdir -p "$apt/lists/partial" "$apt/parts"
chmod 0755 "$apt" "$apt/lists"
chown _apt "$apt/lists/partial" 2>/dev/null || true
if said=$(apt-get update -o APT::Update::Error-Mode=any -o Dir::Etc::SourceList={sources} -o Dir::Etc::SourceParts="$apt/parts" -o Dir::State::Lists="$apt/lists" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= 2>&1); then verified=yes; else verified=; fi{keep}
rm -rf "$apt""#
    )
}

/// The check of a staged apt source file (`{}`, as a file check gets it):
/// `what` (a shell word) names it in the refusal.
pub fn source_check(what: &str) -> String {
    format!(
        r#"{fetch}
[ -n "$verified" ] || {{ printf '%s\n' "$said" | grep -E '^(E|W): ' >&2; echo "deployer: apt could not fetch or verify "{what}"; the source was not added" >&2; exit 1; }}"#,
        fetch = fetch("{}", None),
    )
}
