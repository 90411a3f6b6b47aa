//! `linux.resources.memory` on the v2 `memory` controller.

use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use crate::common::{parse_flat_keyed, read_optional, read_u64_optional, write_field};
use crate::error::{CgroupError, Result};
use crate::stats::{MemoryEntry, MemoryStats};

fn field(name: &str) -> String {
    format!("linux.resources.memory.{name}")
}

fn limit_value(v: i64) -> String {
    if v < 0 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

/// The `memory.swap.max` value for the spec's `limit` and `swap` (which is
/// memory+swap, the v1 meaning), as runc does: `swap - limit`. `None` means
/// leave the file alone.
pub fn swap_max(limit: Option<i64>, swap: Option<i64>) -> Result<Option<String>> {
    match (limit, swap) {
        // Unlimited memory with swap unset: unlimited swap too (v1 compat).
        (Some(-1), None | Some(0)) => Ok(Some("max".into())),
        (_, None | Some(0)) => Ok(None),
        (_, Some(-1)) => Ok(Some("max".into())),
        (None | Some(0) | Some(-1), Some(_)) => Err(CgroupError::invalid(
            field("swap"),
            "a swap limit needs a memory limit (swap is memory+swap)",
        )),
        (Some(l), Some(s)) if l < 0 || s < 0 => Err(CgroupError::invalid(
            field("swap"),
            format!("negative values: limit {l}, swap {s}"),
        )),
        (Some(l), Some(s)) if s < l => Err(CgroupError::invalid(
            field("swap"),
            format!("memory+swap {s} is below the memory limit {l}"),
        )),
        (Some(l), Some(s)) => Ok(Some((s - l).to_string())),
    }
}

/// True if any memory field is set.
pub(crate) fn requested(m: &LinuxMemory) -> bool {
    crate::v1::memory::requested(m)
}

/// Writes the memory settings into the cgroup `dir`.
pub(crate) fn apply(dir: &Path, m: &LinuxMemory) -> Result<()> {
    // No v2 equivalents. Kernel memory is NOT RECOMMENDED in the spec and
    // always accounted on v2, so it is ignored; the others must not be lost.
    if m.swappiness().is_some() {
        return Err(CgroupError::unsupported(
            field("swappiness"),
            "not available on cgroup v2",
        ));
    }
    if m.disable_oom_killer() == Some(true) {
        return Err(CgroupError::unsupported(
            field("disableOOMKiller"),
            "not available on cgroup v2",
        ));
    }
    if m.use_hierarchy() == Some(false) {
        return Err(CgroupError::unsupported(
            field("useHierarchy"),
            "cgroup v2 is always hierarchical",
        ));
    }
    if let Some(swap) = swap_max(m.limit(), m.swap())? {
        if dir.join("memory.swap.max").exists() {
            write_field(dir, "memory.swap.max", &swap, &field("swap"))?;
        } else if swap != "max" {
            return Err(CgroupError::unsupported(
                field("swap"),
                "swap accounting is not enabled (no memory.swap.max)",
            ));
        }
    }
    if let Some(limit) = m.limit() {
        if m.check_before_update() == Some(true) && limit >= 0 {
            let current = read_u64_optional(dir, "memory.current")?.unwrap_or(0);
            if current > limit as u64 {
                return Err(CgroupError::invalid(
                    field("limit"),
                    format!("{limit} is below the current usage {current} (checkBeforeUpdate)"),
                ));
            }
        }
        write_field(dir, "memory.max", &limit_value(limit), &field("limit"))?;
    }
    if let Some(r) = m.reservation() {
        write_field(dir, "memory.low", &limit_value(r), &field("reservation"))?;
    }
    Ok(())
}

/// Reads usage, limits and `memory.stat`.
pub(crate) fn stats(dir: &Path) -> Result<MemoryStats> {
    let g = |f: &str| -> Result<u64> { Ok(read_u64_optional(dir, f)?.unwrap_or(0)) };
    let events = parse_flat_keyed(&read_optional(dir, "memory.events")?.unwrap_or_default());
    let raw: std::collections::BTreeMap<String, u64> = read_optional(dir, "memory.stat")?
        .map(|s| parse_flat_keyed(&s).into_iter().collect())
        .unwrap_or_default();
    Ok(MemoryStats {
        cache: raw.get("file").copied().unwrap_or(0),
        usage: MemoryEntry {
            limit: g("memory.max")?,
            usage: g("memory.current")?,
            max: g("memory.peak")?,
            failcnt: events.get("max").copied().unwrap_or(0),
        },
        swap: MemoryEntry {
            limit: g("memory.swap.max")?,
            usage: g("memory.swap.current")?,
            max: g("memory.swap.peak")?,
            failcnt: 0,
        },
        kernel: MemoryEntry::default(),
        kernel_tcp: MemoryEntry::default(),
        raw,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_is_total_minus_limit() {
        assert_eq!(
            swap_max(Some(100), Some(300)).unwrap().as_deref(),
            Some("200")
        );
        assert_eq!(
            swap_max(Some(100), Some(100)).unwrap().as_deref(),
            Some("0")
        );
    }

    #[test]
    fn unlimited_cases() {
        assert_eq!(
            swap_max(Some(100), Some(-1)).unwrap().as_deref(),
            Some("max")
        );
        assert_eq!(swap_max(Some(-1), None).unwrap().as_deref(), Some("max"));
        assert_eq!(
            swap_max(Some(-1), Some(-1)).unwrap().as_deref(),
            Some("max")
        );
    }

    #[test]
    fn unset_swap_leaves_file_alone() {
        assert_eq!(swap_max(Some(100), None).unwrap(), None);
        assert_eq!(swap_max(None, None).unwrap(), None);
        assert_eq!(swap_max(Some(100), Some(0)).unwrap(), None);
    }

    #[test]
    fn invalid_combinations_name_swap() {
        for (l, s) in [
            (Some(200), Some(100)),
            (None, Some(100)),
            (Some(-1), Some(100)),
        ] {
            let e = swap_max(l, s).unwrap_err();
            assert!(e.to_string().contains("linux.resources.memory.swap"), "{e}");
        }
    }
}
