//! `network.mesh: wireguard`: each host makes its own WireGuard key pair,
//! so the private key never leaves it; the other hosts learn the public
//! key from the survey.

use super::Conditional;
use crate::dialect::shell::quote;
use crate::layout::Paths;

/// Makes the host's key pair once, and its public key again whenever that
/// file is missing or does not match (a private key is never replaced:
/// the other hosts know its public key). Both land atomically, root-only.
pub fn key_pair(paths: &Paths) -> Conditional {
    let (key, public) = (
        quote(&paths.mesh_private_key),
        quote(&paths.mesh_public_key),
    );
    let (new_key, new_public) = (
        quote(&format!("{}.new", paths.mesh_private_key)),
        quote(&format!("{}.new", paths.mesh_public_key)),
    );
    Conditional {
        name: "make the host's WireGuard key pair".into(),
        run: format!(
            "umask 077 && {{ test -s {key} || {{ wg genkey >{new_key} && mv -f {new_key} {key}; }}; }} && wg pubkey <{key} >{new_public} && mv -f {new_public} {public}"
        ),
        unless: format!("test -s {key} && test \"$(wg pubkey <{key})\" = \"$(cat {public})\""),
        owns: vec![
            paths.mesh_private_key.clone(),
            paths.mesh_public_key.clone(),
        ],
    }
}
