//! CPU usage statistics from the v1 `cpuacct` controller.

use std::path::Path;

use crate::common::{parse_flat_keyed, read_optional, read_u64_optional};
use crate::error::Result;
use crate::stats::CpuUsage;

/// Reads total, per-CPU, user and kernel time (nanoseconds).
pub(crate) fn usage(dir: &Path) -> Result<CpuUsage> {
    let percpu = read_optional(dir, "cpuacct.usage_percpu")?
        .map(|s| {
            s.split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    // cpuacct.stat counts USER_HZ ticks.
    let ticks = parse_flat_keyed(&read_optional(dir, "cpuacct.stat")?.unwrap_or_default());
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let ns = |k: &str| ticks.get(k).copied().unwrap_or(0) * (1_000_000_000 / hz);
    Ok(CpuUsage {
        total: read_u64_optional(dir, "cpuacct.usage")?.unwrap_or(0),
        percpu,
        kernel: ns("system"),
        user: ns("user"),
    })
}
