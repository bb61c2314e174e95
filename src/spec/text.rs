//! What each kind of text in a spec may hold: names, DNS names, email
//! addresses, URLs, account names, one-line values. `validate` holds every
//! key to these; `deployer init` checks answers with them as they are typed.

pub const NAME_RULE: &str =
    "lowercase letters, digits and `-`, starting with a letter, at most 32 characters";

pub const DOMAIN_RULE: &str =
    "a lowercase DNS name such as `example.com` (no scheme, port or wildcard)";

/// Names become unit names, user names and directory names.
pub fn safe_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 32
        && !name.ends_with('-')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A DNS name as certificates and nginx accept it: its last label is not
/// all digits (that would be an IP address, or no name at all).
pub fn domain_ok(name: &str) -> bool {
    name.len() <= 253
        && name.contains('.')
        && name
            .rsplit('.')
            .next()
            .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()))
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

/// One mailbox, `local@domain`: the local part in letters, digits and
/// `.!#%&'*+/=?^_{|}~-` (no quoting, spaces or control characters), the
/// domain a DNS name.
pub fn email_ok(email: &str) -> bool {
    email.split_once('@').is_some_and(|(user, host)| {
        !user.is_empty()
            && user.len() <= 64
            && !user.starts_with('.')
            && !user.ends_with('.')
            && !user.contains("..")
            && user
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".!#%&'*+/=?^_{|}~-".contains(c))
            && domain_ok(host)
    })
}

/// An http(s) URL with a host: what curl, dehydrated and apt fetch. Its
/// text must be what the URL parser would write back (no spaces, quotes,
/// control characters or other characters that need escaping).
pub fn url_ok(url: &str) -> bool {
    url.len() <= 2048
        && url::Url::parse(url).is_ok_and(|parsed| {
            matches!(parsed.scheme(), "http" | "https")
                && parsed.host_str().is_some_and(|h| !h.is_empty())
                && parsed.username().is_empty()
                && parsed.password().is_none()
                && parsed.port() != Some(0)
                && !url.contains(['\'', '"', '`', '\\', '<', '>', '{', '}', '|', '^'])
                && parsed.as_str().trim_end_matches('/') == url.trim_end_matches('/')
        })
}

/// An account name as `useradd` and sshd's `AllowUsers` take it.
pub fn user_ok(user: &str) -> bool {
    user.chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && user.len() <= 32
        && user
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Text for one line of a file: no control characters (tab aside) and no
/// line or paragraph separators.
/// Text for one line of a file: no control characters (tab aside), and
/// nothing invisible (zero-width or bidirectional characters, separators).
pub fn one_line(text: &str) -> bool {
    !text
        .chars()
        .any(|c| c != '\t' && crate::dialect::terminal::invisible(c))
}

/// A URL a package tool fetches from (`apt`, the Node.js download): also
/// no query and no fragment, which its layout has no room for.
pub fn download_url_ok(url: &str) -> bool {
    url_ok(url) && !url.contains(['?', '#'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_are_safe_for_units_users_and_paths() {
        for good in ["hello", "a", "web-1", "api2"] {
            assert!(safe_name(good), "{good}");
        }
        for bad in [
            "",
            "Hello",
            "1web",
            "web-",
            "a b",
            "a;b",
            "a/b",
            "x$(id)",
            &"a".repeat(33),
        ] {
            assert!(!safe_name(bad), "{bad}");
        }
    }

    #[test]
    fn domains() {
        assert!(domain_ok("example.com"));
        assert!(domain_ok("a-b.example.co.uk"));
        for bad in [
            "localhost",
            "Example.com",
            "-a.com",
            "a..com",
            "*.a.com",
            "https://a.com",
            "a.com:443",
        ] {
            assert!(!domain_ok(bad), "{bad}");
        }
    }

    #[test]
    fn emails_are_one_plain_mailbox() {
        for good in [
            "ops@example.com",
            "a.b+tag@mail.example.org",
            "o'neil@example.com",
        ] {
            assert!(email_ok(good), "{good}");
        }
        for bad in [
            "ops",
            "a@b",
            "a b@example.com",
            "a@example.com, b@example.com",
            "\"x\"@example.com",
            "a\0@example.com",
            "a\n@example.com",
            "<a@example.com>",
            ".a@example.com",
        ] {
            assert!(!email_ok(bad), "{bad:?}");
        }
    }

    #[test]
    fn urls_are_what_the_parser_writes_back() {
        for good in [
            "https://example.com",
            "https://example.com/",
            "http://198.18.0.1:8097/nodesource",
            "https://[2001:db8::1]:8443/x?y=1",
        ] {
            assert!(url_ok(good), "{good}");
        }
        for bad in [
            "example.com",
            "ftp://example.com",
            "https://exa mple.com",
            "https://example.com/a b",
            "https://example.com/\"x",
            "https://user:pw@example.com",
            "https://example.com/\n",
            "https://",
        ] {
            assert!(!url_ok(bad), "{bad:?}");
        }
    }
}
