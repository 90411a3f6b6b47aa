//! `berth update`: change resource limits of a running container (runc's flags, or a
//! LinuxResources JSON with `--resources`, as podman sends it).

use std::io::Read;

use anyhow::Context;
use berth_cgroups::{CgroupManager, Manager};
use berth_runtime::container::Container;
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

use crate::cli::{Global, UpdateArgs};

/// Parses `512m`, `1g`, `4096`, `-1`.
pub fn parse_bytes(field: &str, s: &str) -> anyhow::Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let t = t.trim_end_matches('b');
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num
        .parse()
        .with_context(|| format!("{field}: invalid size {s:?}"))?;
    Ok((n * mult as f64) as i64)
}

fn resources_from_flags(a: &UpdateArgs) -> anyhow::Result<LinuxResources> {
    let mut r = LinuxResources::default();
    let mut mem = LinuxMemory::default();
    let mut any_mem = false;
    if let Some(m) = &a.memory {
        mem.set_limit(Some(parse_bytes("--memory", m)?));
        any_mem = true;
    }
    if let Some(m) = &a.memory_reservation {
        mem.set_reservation(Some(parse_bytes("--memory-reservation", m)?));
        any_mem = true;
    }
    if let Some(m) = &a.memory_swap {
        mem.set_swap(Some(parse_bytes("--memory-swap", m)?));
        any_mem = true;
    }
    if any_mem {
        r.set_memory(Some(mem));
    }
    let mut cpu = LinuxCpu::default();
    let mut any_cpu = false;
    macro_rules! set_cpu {
        ($field:expr, $setter:ident) => {
            if let Some(v) = $field.clone() {
                cpu.$setter(Some(v));
                any_cpu = true;
            }
        };
    }
    set_cpu!(a.cpu_period, set_period);
    set_cpu!(a.cpu_quota, set_quota);
    set_cpu!(a.cpu_burst, set_burst);
    set_cpu!(a.cpu_share, set_shares);
    set_cpu!(a.cpu_rt_period, set_realtime_period);
    set_cpu!(a.cpu_rt_runtime, set_realtime_runtime);
    set_cpu!(a.cpuset_cpus, set_cpus);
    set_cpu!(a.cpuset_mems, set_mems);
    if any_cpu {
        r.set_cpu(Some(cpu));
    }
    if let Some(p) = a.pids_limit {
        let mut pids = LinuxPids::default();
        pids.set_limit(p);
        r.set_pids(Some(pids));
    }
    if let Some(w) = a.blkio_weight {
        let mut b = LinuxBlockIo::default();
        b.set_weight(Some(w));
        r.set_block_io(Some(b));
    }
    if a.l3_cache_schema.is_some() || a.mem_bw_schema.is_some() {
        anyhow::bail!("--l3-cache-schema/--mem-bw-schema: Intel RDT is not supported");
    }
    Ok(r)
}

pub fn run(g: &Global, a: UpdateArgs) -> anyhow::Result<i32> {
    let c = Container::load_locked(&g.root, &a.id)?;
    if c.status() == berth_runtime::state::Status::Stopped {
        anyhow::bail!("container not running");
    }
    let mut resources: LinuxResources = match &a.resources {
        Some(src) => {
            let mut raw = Vec::new();
            if src == "-" {
                std::io::stdin().read_to_end(&mut raw)?;
            } else {
                raw = std::fs::read(src).with_context(|| format!("read --resources {src}"))?;
            }
            serde_json::from_slice(&raw).with_context(|| format!("parse --resources {src}"))?
        }
        None => resources_from_flags(&a)?,
    };
    // Device rules are not updated (as in runc): podman sends the container's whole
    // `linux.resources`, whose `devices` lack the defaults berth adds at create (/dev/null,
    // /dev/tty, ...), so applying them would take those away.
    resources.set_devices(None);
    // Zeros mean "not set" to runc's callers (dockerd sends blockIO.weight 0, cpu.shares 0).
    berth_runtime::cgroups::normalize(&mut resources);
    let m = berth_runtime::cgroups::manager(&c.state.cgroups_path, &c.state.id)?;
    complete_swap(&m, &mut resources)?;
    m.apply(&resources)?;
    Ok(0)
}

/// A swap limit (memory+swap, the v1 meaning) given without a memory limit gets the
/// cgroup's current one, as runc takes it from the container's config: v2 needs both to
/// compute `memory.swap.max`. With no memory limit in force it stays an error.
fn complete_swap(m: &Manager, r: &mut LinuxResources) -> anyhow::Result<()> {
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
    let current =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    if let Ok(limit) = current.trim().parse::<i64>() {
        mem.set_limit(Some(limit));
        r.set_memory(Some(mem));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("x", "512m").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("x", "1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("x", "4096").unwrap(), 4096);
        assert_eq!(parse_bytes("x", "-1").unwrap(), -1);
        assert_eq!(parse_bytes("x", "10kb").unwrap(), 10240);
        assert!(parse_bytes("x", "lots").is_err());
    }
}
