//! `linux.resources.cpu` shares, CFS quota/period/burst, realtime and idle
//! on the v1 `cpu` controller.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::common::{parse_flat_keyed, read_optional, write_field};
use crate::error::{CgroupError, Result};
use crate::stats::Throttling;

fn field(name: &str) -> String {
    format!("linux.resources.cpu.{name}")
}

/// True if a field of the `cpu` controller (not cpuset) is set.
pub(crate) fn requested(c: &LinuxCpu) -> bool {
    c.shares().is_some()
        || c.quota().is_some()
        || c.period().is_some()
        || c.burst().is_some()
        || c.realtime_runtime().is_some()
        || c.realtime_period().is_some()
        || c.idle().is_some()
}

fn require(dir: &Path, file: &str, name: &str) -> Result<()> {
    if dir.join(file).exists() {
        Ok(())
    } else {
        Err(CgroupError::unsupported(
            field(name),
            format!("the kernel has no {file}"),
        ))
    }
}

/// Writes the CPU settings into the cgroup `dir`.
pub(crate) fn apply(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(s) = c.shares() {
        write_field(dir, "cpu.shares", &s.to_string(), &field("shares"))?;
    }
    match (c.period(), c.quota()) {
        (Some(p), Some(q)) => {
            // A new period can be refused against the old quota; then the
            // quota goes first.
            if write_field(dir, "cpu.cfs_period_us", &p.to_string(), &field("period")).is_err() {
                write_field(dir, "cpu.cfs_quota_us", &q.to_string(), &field("quota"))?;
                write_field(dir, "cpu.cfs_period_us", &p.to_string(), &field("period"))?;
            } else {
                write_field(dir, "cpu.cfs_quota_us", &q.to_string(), &field("quota"))?;
            }
        }
        (Some(p), None) => write_field(dir, "cpu.cfs_period_us", &p.to_string(), &field("period"))?,
        (None, Some(q)) => write_field(dir, "cpu.cfs_quota_us", &q.to_string(), &field("quota"))?,
        (None, None) => {}
    }
    if let Some(b) = c.burst() {
        if let Some(q) = c.quota().filter(|&q| q > 0) {
            if b > q as u64 {
                return Err(CgroupError::invalid(
                    field("burst"),
                    format!("{b} is larger than quota {q}"),
                ));
            }
        }
        require(dir, "cpu.cfs_burst_us", "burst")?;
        write_field(dir, "cpu.cfs_burst_us", &b.to_string(), &field("burst"))?;
    }
    // Period before runtime: the runtime must fit in the period.
    if let Some(p) = c.realtime_period() {
        require(dir, "cpu.rt_period_us", "realtimePeriod")?;
        write_field(
            dir,
            "cpu.rt_period_us",
            &p.to_string(),
            &field("realtimePeriod"),
        )?;
    }
    if let Some(r) = c.realtime_runtime() {
        require(dir, "cpu.rt_runtime_us", "realtimeRuntime")?;
        write_field(
            dir,
            "cpu.rt_runtime_us",
            &r.to_string(),
            &field("realtimeRuntime"),
        )?;
    }
    if let Some(i) = c.idle() {
        require(dir, "cpu.idle", "idle")?;
        write_field(dir, "cpu.idle", &i.to_string(), &field("idle"))?;
    }
    Ok(())
}

/// Reads the throttling counters of `cpu.stat`.
pub(crate) fn throttling(dir: &Path) -> Result<Throttling> {
    let m = read_optional(dir, "cpu.stat")?
        .map(|s| parse_flat_keyed(&s))
        .unwrap_or_default();
    let g = |k: &str| m.get(k).copied().unwrap_or(0);
    Ok(Throttling {
        periods: g("nr_periods"),
        throttled_periods: g("nr_throttled"),
        throttled_time: g("throttled_time"),
    })
}
