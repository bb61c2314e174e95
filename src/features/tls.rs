//! `tls.mode: self-signed` (and ACME's stand-in before the first issue): the
//! host makes its own key and certificate, so the key never travels.

use super::Conditional;
use crate::dialect::shell::quote;
use crate::layout::Paths;
use crate::spec::Host;

/// How long a self-signed certificate lives: as long as an ACME one, well
/// under the 366 days Mozilla's TLS profiles allow.
const SELF_SIGNED_DAYS: u32 = 90;

/// Renewed with fewer than this many days left, as ACME's are.
const RENEW_DAYS: u32 = 30;

/// Makes a key and a certificate for `names` (or, with none, the host's
/// address) on the host. Made again when the names change, fewer than 30
/// days are left, or it outlives SELF_SIGNED_DAYS (one made before that
/// limit); a names file records what it covers.
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
    let names_file = quote(&format!("{}/self-signed.names", paths.tls_dir));
    let (new_cert, new_key) = (
        quote(&format!("{}.new", paths.tls_cert)),
        quote(&format!("{}.new", paths.tls_key)),
    );
    Conditional {
        name: "make a self-signed certificate".into(),
        run: format!(
            "umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days {SELF_SIGNED_DAYS} -subj {subject} -addext {san_ext} -keyout {new_key} -out {new_cert} 2>/dev/null && chmod 0644 {new_cert} && mv -f {new_key} {key} && mv -f {new_cert} {cert} && printf '%s\\n' {san} >{names_file}",
            subject = quote(&format!("/CN={common_name}")),
            san_ext = quote(&format!("subjectAltName={san}")),
            san = quote(&san),
        ),
        // One openssl, which costs the host milliseconds in every plan:
        // the seconds left, compared by the shell.
        unless: format!(
            "end=$(openssl x509 -in {cert} -noout -enddate) && left=$(($(date -d \"${{end#notAfter=}}\" +%s) - $(date +%s))) && [ \"$left\" -gt {renew} ] && [ \"$left\" -le {longest} ] && test -s {key} && test \"$(cat {names_file})\" = {}",
            quote(&san),
            renew = RENEW_DAYS * 86_400,
            longest = (SELF_SIGNED_DAYS + 1) * 86_400,
        ),
        owns: vec![
            paths.tls_cert.clone(),
            paths.tls_key.clone(),
            format!("{}/self-signed.names", paths.tls_dir),
        ],
    }
}
