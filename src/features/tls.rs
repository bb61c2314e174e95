//! `tls.mode: self-signed` (and ACME's stand-in before the first issue): the
//! host makes its own key and certificate, so the key never travels.

use super::Conditional;
use crate::dialect::shell::quote;
use crate::layout::Paths;
use crate::spec::Host;

/// How long a self-signed certificate lives: as long as an ACME one, well
/// under the 366 days Mozilla's TLS profiles allow.
const SELF_SIGNED_DAYS: u32 = 90;

/// Renewed with fewer than 30 days left, as ACME's are.
const RENEW_SECS: u32 = 30 * 86_400;

/// One that expires later than this was not made under SELF_SIGNED_DAYS.
const LONGEST_SECS: u32 = (SELF_SIGNED_DAYS + 1) * 86_400;

/// Makes a key and a certificate for `names` (or, with none, the host's
/// address) on the host. Made again when the names change, fewer than 30
/// days are left, or it outlives SELF_SIGNED_DAYS (one made before that
/// limit); a names file records what it covers and until when.
pub fn self_signed(names: &[String], host: &Host, paths: &Paths) -> Conditional {
    let san = if names.is_empty() {
        let kind = if host.address.parse::<std::net::IpAddr>().is_ok() {
            "IP"
        } else {
            "DNS"
        };
        format!("{kind}:{}", host.address)
    } else {
        names
            .iter()
            .map(|n| format!("DNS:{n}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let common_name = names.first().unwrap_or(&host.address);
    let (cert, key) = (quote(&paths.tls_cert), quote(&paths.tls_key));
    let names_path = format!("{}/self-signed.names", paths.tls_dir);
    let names_file = quote(&names_path);
    let (new_cert, new_key) = (
        quote(&format!("{}.new", paths.tls_cert)),
        quote(&format!("{}.new", paths.tls_key)),
    );
    Conditional {
        name: "make a self-signed certificate".into(),
        // The names file records what the certificate covers, when it
        // expires (read from it here, once) and the certificate itself, so
        // that checking it in every plan starts no program. A certificate
        // whose dates are still good, recorded for these names (from before
        // the names file held all that), is kept.
        run: format!(
            "umask 077 && {{ {{ IFS= read -r names; }} 2>/dev/null <{names_file} && [ \"$names\" = {san} ] && test -s {key} && openssl x509 -in {cert} -noout -checkend {renew} >/dev/null 2>&1 && ! openssl x509 -in {cert} -noout -checkend {longest} >/dev/null 2>&1 || {{ openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days {SELF_SIGNED_DAYS} -subj {subject} -addext {san_ext} -keyout {new_key} -out {new_cert} 2>/dev/null && chmod 0644 {new_cert} && mv -f {new_key} {key} && mv -f {new_cert} {cert}; }}; }} && {record}",
            subject = quote(&format!("/CN={common_name}")),
            san_ext = quote(&format!("subjectAltName={san}")),
            san = quote(&san),
            renew = RENEW_SECS,
            longest = LONGEST_SECS,
            record = record(&paths.tls_cert, &names_path, &san),
        ),
        // Made again unless the names file names the same subject, an
        // expiry within bounds and, byte for byte, the certificate there.
        unless: format!(
            "{} && [ \"$left\" -le {LONGEST_SECS} ] && test -s {key}",
            recorded(&paths.tls_cert, &names_path, &san, RENEW_SECS)
        ),
        owns: vec![paths.tls_cert.clone(), paths.tls_key.clone(), names_path],
    }
}

/// Shell that records in `file` what `cert` covers (`subject`, one line),
/// when it expires (read with openssl, once) and the certificate itself,
/// replacing `file` (root's, 0600) at once: what [`recorded`] checks with
/// no program.
pub fn record(cert: &str, file: &str, subject: &str) -> String {
    let (cert, new) = (quote(cert), quote(&format!("{file}.new")));
    format!(
        "(umask 077 && end=$(openssl x509 -in {cert} -noout -enddate) && expires=$(date -d \"${{end#notAfter=}}\" +%s) && {{ printf '%s\\n%s\\n' {subject} \"$expires\" && cat {cert}; }} >{new} && mv -f {new} {file})",
        subject = quote(subject),
        file = quote(file),
    )
}

/// Bash that holds while `file` ([`record`]) names `subject`, holds `cert`
/// byte for byte, and an expiry more than `renew` seconds away: builtins
/// alone, for the checks every plan runs. Leaves the seconds left in
/// `$left` and the certificate in `$current`.
pub fn recorded(cert: &str, file: &str, subject: &str, renew: u32) -> String {
    format!(
        "{{ IFS= read -r names && IFS= read -r expires && {{ IFS= read -r -d '' recorded || [ -n \"$recorded\" ]; }}; }} 2>/dev/null <{file} && {{ IFS= read -r -d '' current || [ -n \"$current\" ]; }} 2>/dev/null <{cert} && [ \"$names\" = {subject} ] && [[ $expires =~ ^[0-9]{{1,12}}$ ]] && left=$((expires - EPOCHSECONDS)) && [ \"$left\" -gt {renew} ] && [ \"$recorded\" = \"$current\" ]",
        file = quote(file),
        cert = quote(cert),
        subject = quote(subject),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::testing::{bash, check_of};

    /// The make and its check, run by bash as the facts and converge
    /// scripts run them, in a directory standing in for the host's.
    #[test]
    fn the_check_holds_until_the_certificate_or_its_names_change() {
        let dir = tempfile::tempdir().unwrap();
        let mut paths = Paths::new("hello");
        paths.tls_dir = dir.path().display().to_string();
        paths.tls_cert = format!("{}/fullchain.pem", paths.tls_dir);
        paths.tls_key = format!("{}/privkey.pem", paths.tls_dir);
        let host = Host {
            name: "web1".into(),
            address: "198.18.0.10".into(),
            private_address: None,
            mesh_derived: false,
            roles: Vec::new(),
            user: None,
            port: None,
        };
        let names = vec!["hello.lab.test".to_string()];
        let made = self_signed(&names, &host, &paths);
        let check = check_of(&made.unless);
        assert!(!bash(&check), "no certificate yet");
        assert!(bash(&format!("sh -c {}", quote(&made.run))), "made");
        assert!(bash(&check), "a fresh certificate holds");

        let other = self_signed(&["shop.lab.test".to_string()], &host, &paths);
        assert!(!bash(&check_of(&other.unless)), "other names");

        let names_file = format!("{}/self-signed.names", paths.tls_dir);
        let (subject, expires) = {
            let text = std::fs::read_to_string(&names_file).unwrap();
            let mut lines = text.lines();
            let subject = lines.next().unwrap().to_string();
            (subject, lines.next().unwrap().parse::<i64>().unwrap())
        };
        assert_eq!(subject, "DNS:hello.lab.test");
        let now = std::time::UNIX_EPOCH.elapsed().unwrap().as_secs() as i64;
        assert!((expires - now - 90 * 86_400).abs() < 60, "{expires}");

        let cert = std::fs::read_to_string(&paths.tls_cert).unwrap();
        assert_eq!(
            std::fs::read_to_string(&names_file).unwrap(),
            format!("{subject}\n{expires}\n{cert}"),
            "names, expiry, the certificate"
        );

        // Due with 30 days left, with a names file from before it held the
        // expiry and the certificate, or one that does not hold this one.
        for stale in [
            format!("{subject}\n{}\n{cert}", now + 29 * 86_400),
            format!("{subject}\n"),
            format!("{subject}\n{expires}\n"),
            format!("{subject}\nsoon\n{cert}"),
            format!("{subject}\n{expires}\n{}", cert.replacen('A', "B", 1)),
        ] {
            std::fs::write(&names_file, &stale).unwrap();
            assert!(!bash(&check), "{stale}");
        }
        // A certificate still good for its names is kept and recorded.
        std::fs::write(&names_file, format!("{subject}\n")).unwrap();
        assert!(bash(&format!("sh -c {}", quote(&made.run))), "recorded");
        assert_eq!(
            std::fs::read_to_string(&paths.tls_cert).unwrap(),
            cert,
            "kept"
        );
        assert_eq!(
            std::fs::read_to_string(&names_file).unwrap(),
            format!("{subject}\n{expires}\n{cert}")
        );
        assert!(bash(&check));
        // Whatever its file's time (a clock set right since), it holds.
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&paths.tls_cert)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert!(bash(&check), "a certificate dated later");
        // One for other names is not kept.
        assert!(bash(&format!("sh -c {}", quote(&other.run))), "made anew");
        assert_ne!(
            std::fs::read_to_string(&paths.tls_cert).unwrap(),
            cert,
            "replaced"
        );
        assert!(!bash(&check));
        assert!(bash(&format!("sh -c {}", quote(&made.run))), "made back");
        assert!(bash(&check));

        // Another certificate put in its place, whatever its file's time,
        // is not the one the names file describes.
        let made_back = std::fs::read_to_string(&paths.tls_cert).unwrap();
        std::fs::write(&paths.tls_cert, &cert).unwrap();
        assert!(!bash(&check), "another certificate");
        std::fs::write(&paths.tls_cert, &made_back).unwrap();
        assert!(bash(&check));
        std::fs::write(&paths.tls_key, "").unwrap();
        assert!(!bash(&check), "no key");
        std::fs::remove_file(&paths.tls_cert).unwrap();
        assert!(!bash(&check), "no certificate");
    }
}
