//! This process's own costs, apart from the hosts' processes.

use std::time::Duration;

/// CPU time (user + system) this process has used: deployer's own side of
/// the work, apart from the sshd and bash processes of the hosts.
pub fn own_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("procfs");
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    // utime and stime, fields 14 and 15 of stat(5), counted after the `)`.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_secs_f64(ticks as f64 / 100.0)
}
