//! `linux.resources.cpu` shares, quota/period/burst and idle on the v2
//! `cpu` controller.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::common::{parse_flat_keyed, read_file, read_optional, write_field};
use crate::error::{CgroupError, Result};
use crate::stats::{CpuUsage, Throttling};

fn field(name: &str) -> String {
    format!("linux.resources.cpu.{name}")
}

/// Converts v1 `cpu.shares` (2..=262144, default 1024) to v2 `cpu.weight`
/// (1..=10000, default 100); 0 means unset.
///
/// runc and crun first shipped a linear map, `1 + (shares - 2) * 9999 /
/// 262142`, which turns the default 1024 into 39, not 100, so containers
/// ran at a fraction of the default priority. The fixed map (runc 1.3.2,
/// crun 1.23) is quadratic in log2(shares) and hits all three anchor
/// points exactly: 2 -> 1, 1024 -> 100, 262144 -> 10000:
/// `weight = ceil(10^((l^2 + 125 l) / 612 - 7/34))`, `l = log2(shares)`.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    if shares <= 2 {
        return 1;
    }
    if shares >= 262_144 {
        return 10_000;
    }
    let l = (shares as f64).log2();
    let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
    // Round off float noise first so exact anchors (1024 -> 100) stay exact.
    let w = (10f64.powf(exponent) * 1e6).round() / 1e6;
    (w.ceil() as u64).clamp(1, 10_000)
}

/// True if a field of the `cpu` controller (not cpuset) is set.
pub(crate) fn requested(c: &LinuxCpu) -> bool {
    crate::v1::cpu::requested(c)
}

/// The `cpu.max` value for the spec's quota and period; `current` is the
/// file's present content, whose other half is kept.
pub fn cpu_max(quota: Option<i64>, period: Option<u64>, current: &str) -> Option<String> {
    if quota.is_none() && period.is_none() {
        return None;
    }
    let mut cur = current.split_whitespace();
    let cur_quota = cur.next().unwrap_or("max").to_string();
    let cur_period = cur.next().unwrap_or("100000").to_string();
    let q = match quota {
        Some(q) if q > 0 => q.to_string(),
        Some(_) => "max".to_string(),
        None => cur_quota,
    };
    let p = period
        .filter(|&p| p > 0)
        .map_or(cur_period, |p| p.to_string());
    Some(format!("{q} {p}"))
}

/// Writes the CPU settings into the cgroup `dir`.
pub(crate) fn apply(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if c.realtime_runtime().is_some_and(|v| v != 0) || c.realtime_period().is_some_and(|v| v != 0) {
        return Err(CgroupError::unsupported(
            field("realtimeRuntime"),
            "realtime scheduling limits are not available on cgroup v2",
        ));
    }
    if let Some(s) = c.shares().filter(|&s| s != 0) {
        write_field(
            dir,
            "cpu.weight",
            &shares_to_weight(s).to_string(),
            &field("shares"),
        )?;
    }
    if c.quota().is_some() || c.period().is_some() {
        let current = read_file(dir, "cpu.max").map_err(|e| e.in_field(field("quota")))?;
        if let Some(v) = cpu_max(c.quota(), c.period(), &current) {
            write_field(dir, "cpu.max", &v, &field("quota"))?;
        }
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
        if !dir.join("cpu.max.burst").exists() {
            return Err(CgroupError::unsupported(
                field("burst"),
                "the kernel has no cpu.max.burst",
            ));
        }
        write_field(dir, "cpu.max.burst", &b.to_string(), &field("burst"))?;
    }
    if let Some(i) = c.idle() {
        if !dir.join("cpu.idle").exists() {
            return Err(CgroupError::unsupported(
                field("idle"),
                "the kernel has no cpu.idle",
            ));
        }
        write_field(dir, "cpu.idle", &i.to_string(), &field("idle"))?;
    }
    Ok(())
}

/// Reads `cpu.stat` (microseconds, reported in nanoseconds).
pub(crate) fn stats(dir: &Path) -> Result<(CpuUsage, Throttling)> {
    let m = parse_flat_keyed(&read_optional(dir, "cpu.stat")?.unwrap_or_default());
    let g = |k: &str| m.get(k).copied().unwrap_or(0);
    Ok((
        CpuUsage {
            total: g("usage_usec") * 1000,
            percpu: Vec::new(),
            kernel: g("system_usec") * 1000,
            user: g("user_usec") * 1000,
        },
        Throttling {
            periods: g("nr_periods"),
            throttled_periods: g("nr_throttled"),
            throttled_time: g("throttled_usec") * 1000,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_anchor_points_are_exact() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(
            shares_to_weight(1024),
            100,
            "the default maps to the default"
        );
        assert_eq!(shares_to_weight(262_144), 10_000);
    }

    #[test]
    fn weight_edges_and_monotonic() {
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(1), 1);
        assert_eq!(shares_to_weight(1 << 20), 10_000);
        let mut prev = 0;
        for s in (2..=262_144).step_by(97) {
            let w = shares_to_weight(s);
            assert!(w >= prev && (1..=10_000).contains(&w), "shares {s} -> {w}");
            prev = w;
        }
    }

    #[test]
    fn weight_is_not_the_old_linear_map() {
        // The old formula gave 39 for 1024, 20 for 512 and 79 for 2048.
        assert_eq!(shares_to_weight(512), 59);
        assert_eq!(shares_to_weight(2048), 174);
        assert_eq!(shares_to_weight(100), 17);
    }

    #[test]
    fn cpu_max_keeps_the_other_half() {
        assert_eq!(
            cpu_max(Some(50_000), None, "max 100000\n").as_deref(),
            Some("50000 100000")
        );
        assert_eq!(
            cpu_max(None, Some(20_000), "30000 100000\n").as_deref(),
            Some("30000 20000")
        );
        assert_eq!(
            cpu_max(Some(-1), Some(10_000), "").as_deref(),
            Some("max 10000")
        );
        assert_eq!(cpu_max(None, None, "max 100000"), None);
    }
}
