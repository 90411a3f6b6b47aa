//! `update`: new resource limits for a running container.

use berth_cgroups::{CgroupManager, Manager};
use oci_spec::runtime::LinuxResources;

use super::{cgroup, Container};
use crate::plan::resources;
use crate::state::Verb;
use crate::{Error, Result};

impl Container {
    /// Applies `r` to the container's cgroup. Zeros mean "not set" (as runc's callers send
    /// them) and device rules are left alone; `-1` means unlimited.
    pub fn update(&self, r: LinuxResources) -> Result<()> {
        self.check(Verb::Update)?;
        let mut r = resources::for_update(r);
        let m = cgroup::manager(&self.state)?;
        complete_swap(&m, &mut r)?;
        Ok(m.apply(&r)?)
    }
}

/// A swap limit (memory+swap, the v1 meaning) given without a memory limit gets the
/// cgroup's current one, as runc takes it from the container's config: v2 needs both to
/// compute `memory.swap.max`. With no memory limit in force it stays an error.
fn complete_swap(m: &Manager, r: &mut LinuxResources) -> Result<()> {
    let Some(mut mem) = *r.memory() else {
        return Ok(());
    };
    if mem.limit().is_some() || mem.swap().is_none_or(|s| s <= 0) {
        return Ok(());
    }
    let Some(dir) = m.unified_dir() else {
        return Ok(()); // v1 writes memory.memsw.limit_in_bytes alone.
    };
    let path = dir.join("memory.max");
    let current = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
    if let Ok(limit) = current.trim().parse::<i64>() {
        mem.set_limit(Some(limit));
        r.set_memory(Some(mem));
    }
    Ok(())
}
