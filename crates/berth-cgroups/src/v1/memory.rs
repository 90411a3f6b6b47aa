//! `linux.resources.memory` on the v1 `memory` controller.

use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use crate::common::{parse_flat_keyed, read_optional, read_u64_optional, write_field};
use crate::error::{CgroupError, Result};
use crate::stats::{MemoryEntry, MemoryStats};

const LIMIT: &str = "memory.limit_in_bytes";
const MEMSW: &str = "memory.memsw.limit_in_bytes";

fn field(name: &str) -> String {
    format!("linux.resources.memory.{name}")
}

/// True if any memory field is set.
pub(crate) fn requested(m: &LinuxMemory) -> bool {
    m.limit().is_some()
        || m.reservation().is_some()
        || m.swap().is_some()
        || m.kernel().is_some()
        || m.kernel_tcp().is_some()
        || m.swappiness().is_some()
        || m.disable_oom_killer().is_some()
        || m.use_hierarchy().is_some()
}

/// Writes the memory settings into the cgroup `dir`.
pub(crate) fn apply(dir: &Path, m: &LinuxMemory) -> Result<()> {
    let has = |f: &str| dir.join(f).exists();
    if let Some(s) = m.swap() {
        if !has(MEMSW) {
            return Err(CgroupError::unsupported(
                field("swap"),
                "swap accounting is not enabled (no memory.memsw.limit_in_bytes)",
            ));
        }
        if s != -1 && m.limit().is_some_and(|l| l != -1 && s < l) {
            return Err(CgroupError::invalid(
                field("swap"),
                "memory+swap must not be below the memory limit",
            ));
        }
        // The kernel keeps limit <= memory+swap: an unlimited memory limit cannot sit under
        // a finite memory+swap one (as v2 refuses too).
        if s > 0 && m.limit() == Some(-1) {
            return Err(CgroupError::invalid(
                field("swap"),
                "a finite memory+swap limit needs a finite memory limit",
            ));
        }
    }
    // The kernel keeps limit <= memsw at every step, so the order of the
    // two writes depends on whether memsw grows or shrinks.
    match (m.limit(), m.swap()) {
        (Some(limit), Some(swap)) => {
            let cur_memsw = read_u64_optional(dir, MEMSW)?.unwrap_or(u64::MAX);
            let grows = swap == -1 || (swap as u64) > cur_memsw;
            if grows {
                write_field(dir, MEMSW, &swap.to_string(), &field("swap"))?;
                write_field(dir, LIMIT, &limit.to_string(), &field("limit"))?;
            } else {
                write_field(dir, LIMIT, &limit.to_string(), &field("limit"))?;
                write_field(dir, MEMSW, &swap.to_string(), &field("swap"))?;
            }
        }
        (Some(limit), None) => {
            if limit == -1 && has(MEMSW) {
                // Unlimited memory needs memsw lifted first.
                write_field(dir, MEMSW, "-1", &field("limit"))?;
            }
            write_field(dir, LIMIT, &limit.to_string(), &field("limit"))?;
        }
        (None, Some(swap)) => write_field(dir, MEMSW, &swap.to_string(), &field("swap"))?,
        (None, None) => {}
    }
    if let Some(r) = m.reservation() {
        write_field(
            dir,
            "memory.soft_limit_in_bytes",
            &r.to_string(),
            &field("reservation"),
        )?;
    }
    // Kernel memory limits are deprecated; honoured where the file exists.
    if let Some(k) = m.kernel() {
        if has("memory.kmem.limit_in_bytes") {
            write_field(
                dir,
                "memory.kmem.limit_in_bytes",
                &k.to_string(),
                &field("kernel"),
            )?;
        }
    }
    if let Some(k) = m.kernel_tcp() {
        if has("memory.kmem.tcp.limit_in_bytes") {
            write_field(
                dir,
                "memory.kmem.tcp.limit_in_bytes",
                &k.to_string(),
                &field("kernelTCP"),
            )?;
        }
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(CgroupError::invalid(
                field("swappiness"),
                format!("{s} is not in 0..=100"),
            ));
        }
        write_field(
            dir,
            "memory.swappiness",
            &s.to_string(),
            &field("swappiness"),
        )?;
    }
    if let Some(d) = m.disable_oom_killer() {
        write_field(
            dir,
            "memory.oom_control",
            if d { "1" } else { "0" },
            &field("disableOOMKiller"),
        )?;
    }
    if let Some(h) = m.use_hierarchy() {
        // Always on in recent kernels, where the file may be read-only 1.
        let cur = read_u64_optional(dir, "memory.use_hierarchy")?;
        if cur != Some(u64::from(h)) {
            write_field(
                dir,
                "memory.use_hierarchy",
                if h { "1" } else { "0" },
                &field("useHierarchy"),
            )?;
        }
    }
    Ok(())
}

fn entry(dir: &Path, prefix: &str) -> Result<MemoryEntry> {
    let get = |s: &str| -> Result<u64> {
        Ok(read_u64_optional(dir, &format!("{prefix}.{s}"))?.unwrap_or(0))
    };
    Ok(MemoryEntry {
        limit: get("limit_in_bytes")?,
        usage: get("usage_in_bytes")?,
        max: get("max_usage_in_bytes")?,
        failcnt: get("failcnt")?,
    })
}

/// Reads usage, limits and `memory.stat`.
pub(crate) fn stats(dir: &Path) -> Result<MemoryStats> {
    let raw: std::collections::BTreeMap<String, u64> = read_optional(dir, "memory.stat")?
        .map(|s| parse_flat_keyed(&s).into_iter().collect())
        .unwrap_or_default();
    Ok(MemoryStats {
        cache: raw
            .get("total_cache")
            .or(raw.get("cache"))
            .copied()
            .unwrap_or(0),
        usage: entry(dir, "memory")?,
        swap: entry(dir, "memory.memsw")?,
        kernel: entry(dir, "memory.kmem")?,
        kernel_tcp: entry(dir, "memory.kmem.tcp")?,
        raw,
    })
}

/// The `oom_kill` counter of `memory.oom_control`.
pub(crate) fn oom_kill_count(dir: &Path) -> Result<u64> {
    Ok(read_optional(dir, "memory.oom_control")?
        .map(|s| parse_flat_keyed(&s).get("oom_kill").copied().unwrap_or(0))
        .unwrap_or(0))
}
