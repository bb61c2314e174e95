//! What keeps an apply safe for the hosts and the operator: the deploy lock
//! (one apply per host at a time) and the lockout guard (a firewall or sshd
//! change that would shut the operator out is put back by the host itself).

pub mod lock;
pub mod lockout;
