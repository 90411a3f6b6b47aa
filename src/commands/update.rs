//! `berth update`: runc's flags, or a LinuxResources JSON with `--resources` (as podman
//! sends it).

use std::io::Read;

use anyhow::Context;
use berth_runtime::Runtime;
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

use crate::cli::UpdateArgs;

fn from_flags(a: &UpdateArgs) -> anyhow::Result<LinuxResources> {
    anyhow::ensure!(
        a.l3_cache_schema.is_none() && a.mem_bw_schema.is_none(),
        "--l3-cache-schema/--mem-bw-schema: Intel RDT is not supported"
    );
    let mut r = LinuxResources::default();
    if a.memory.is_some() || a.memory_reservation.is_some() || a.memory_swap.is_some() {
        let mut m = LinuxMemory::default();
        m.set_limit(a.memory);
        m.set_reservation(a.memory_reservation);
        m.set_swap(a.memory_swap);
        r.set_memory(Some(m));
    }
    let mut c = LinuxCpu::default();
    c.set_period(a.cpu_period);
    c.set_quota(a.cpu_quota);
    c.set_burst(a.cpu_burst);
    c.set_shares(a.cpu_share);
    c.set_realtime_period(a.cpu_rt_period);
    c.set_realtime_runtime(a.cpu_rt_runtime);
    c.set_cpus(a.cpuset_cpus.clone());
    c.set_mems(a.cpuset_mems.clone());
    if c != LinuxCpu::default() {
        r.set_cpu(Some(c));
    }
    if let Some(n) = a.pids_limit {
        let mut p = LinuxPids::default();
        p.set_limit(n);
        r.set_pids(Some(p));
    }
    if let Some(w) = a.blkio_weight {
        let mut b = LinuxBlockIo::default();
        b.set_weight(Some(w));
        r.set_block_io(Some(b));
    }
    Ok(r)
}

pub fn run(rt: &Runtime, a: UpdateArgs) -> anyhow::Result<i32> {
    let resources: LinuxResources = match &a.resources {
        Some(src) => {
            let mut raw = Vec::new();
            if src == "-" {
                std::io::stdin().read_to_end(&mut raw)?;
            } else {
                raw = std::fs::read(src).with_context(|| format!("read --resources {src}"))?;
            }
            serde_json::from_slice(&raw).with_context(|| format!("parse --resources {src}"))?
        }
        None => from_flags(&a)?,
    };
    rt.load_locked(&a.id)?.update(resources)?;
    Ok(0)
}
