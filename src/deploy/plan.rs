//! Planning: every prepared host's facts read and compared, in parallel.

use super::hosts::{self, run_parallel};
use super::prepare::{Prepared, Source, prepare};
use super::{Reach, host};
use crate::plan::{HostPlan, Plan};
use crate::spec::Loaded;

/// `deployer plan`: what would change on every chosen host, and the hosts
/// that could not be planned.
pub struct Planned {
    pub plan: Plan,
    pub failures: Vec<anyhow::Error>,
}

pub fn plan(loaded: &Loaded, reach: &Reach) -> anyhow::Result<Planned> {
    let chosen = hosts::select(loaded, reach)?;
    let prepared = prepare(loaded, &chosen, reach, Source::Ship)?;
    let (planned, failures) = plan_all(prepared, reach.parallel);
    Ok(Planned {
        plan: Plan::new(planned.into_iter().map(|(_, plan)| plan).collect()),
        failures,
    })
}

/// Plans every prepared host in parallel, handing each back for reuse.
pub(super) fn plan_all(
    prepared: Vec<Prepared>,
    parallel: usize,
) -> (Vec<(Prepared, HostPlan)>, Vec<anyhow::Error>) {
    let outcomes = run_parallel(prepared, parallel, false, |mut prepared| {
        let plan = host::plan(
            &prepared.name,
            prepared.transport.as_mut(),
            &prepared.desired,
        )?;
        Ok((prepared, plan))
    });
    hosts::partition(outcomes)
}
