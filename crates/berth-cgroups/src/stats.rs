//! Resource usage, in the JSON shape of runc's `events --stats` data
//! (field names and omitted zero values as runc prints them).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Everything `stats()` reports; serialises as runc's `data` object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// CPU usage and throttling.
    pub cpu: CpuStats,
    /// Memory usage, limits and the raw `memory.stat` counters.
    pub memory: MemoryStats,
    /// Task count and limit.
    pub pids: PidsStats,
    /// Block I/O counters.
    pub blkio: BlkioStats,
    /// Per page size ("2MB") huge page usage.
    pub hugetlb: BTreeMap<String, HugetlbStats>,
}

/// `cpu` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuStats {
    /// Time used.
    pub usage: CpuUsage,
    /// CFS bandwidth throttling.
    pub throttling: Throttling,
}

/// CPU time in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuUsage {
    /// Total CPU time.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub total: u64,
    /// Per-CPU total (v1 only).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub percpu: Vec<u64>,
    /// Time in kernel mode.
    pub kernel: u64,
    /// Time in user mode.
    pub user: u64,
}

/// CFS throttling counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    /// Enforcement periods elapsed.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub periods: u64,
    /// Periods in which the group was throttled.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub throttled_periods: u64,
    /// Total throttled time, nanoseconds.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub throttled_time: u64,
}

/// `memory` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryStats {
    /// Page cache (v1 `cache`, v2 `file`).
    #[serde(skip_serializing_if = "is_zero", default)]
    pub cache: u64,
    /// Memory usage and limit.
    pub usage: MemoryEntry,
    /// Swap (v1: memory+swap; v2: swap alone) usage and limit.
    pub swap: MemoryEntry,
    /// Kernel memory (v1 only).
    pub kernel: MemoryEntry,
    /// Kernel TCP buffers (v1 only).
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// `memory.stat` as read.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub raw: BTreeMap<String, u64>,
}

/// Usage, peak, limit and failure count of one memory counter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryEntry {
    /// The limit (`u64::MAX`-ish for unlimited, as the kernel reports).
    pub limit: u64,
    /// Current usage in bytes.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub usage: u64,
    /// Peak usage in bytes.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub max: u64,
    /// Times the limit was hit.
    pub failcnt: u64,
}

/// `pids` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PidsStats {
    /// Tasks in the cgroup.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub current: u64,
    /// The limit; 0 means unlimited.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub limit: u64,
}

/// `blkio` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlkioStats {
    /// Bytes transferred per device and operation.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    /// I/O operations per device and operation.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

/// One blkio counter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlkioEntry {
    /// Device major.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub major: u64,
    /// Device minor.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub minor: u64,
    /// `Read`, `Write`, `Sync`, `Async`, `Discard` or `Total`.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub op: String,
    /// The counter.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub value: u64,
}

/// Huge page usage for one page size.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HugetlbStats {
    /// Bytes in use.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub usage: u64,
    /// Peak bytes (v1 only).
    #[serde(skip_serializing_if = "is_zero", default)]
    pub max: u64,
    /// Times the limit was hit.
    pub failcnt: u64,
}

/// Huge page sizes the kernel supports, as cgroup file names spell them
/// ("2MB", "1GB"), from `/sys/kernel/mm/hugepages`.
pub(crate) fn hugepage_sizes() -> Vec<String> {
    let Ok(rd) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return Vec::new();
    };
    let mut out: Vec<String> = rd
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let kb: u64 = name
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            Some(hugepage_size_name(kb * 1024))
        })
        .collect();
    out.sort();
    out
}

/// Formats a page size in bytes as the kernel names it in cgroup files.
pub(crate) fn hugepage_size_name(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = bytes;
    let mut u = 0;
    while v >= 1024 && v.is_multiple_of(1024) && u < UNITS.len() - 1 {
        v /= 1024;
        u += 1;
    }
    format!("{v}{}", UNITS[u])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_with_runc_field_names() {
        let mut s = Stats::default();
        s.memory.usage.usage = 5;
        s.pids.current = 2;
        s.blkio.io_service_bytes_recursive.push(BlkioEntry {
            major: 8,
            minor: 0,
            op: "Read".into(),
            value: 10,
        });
        s.hugetlb.insert("2MB".into(), HugetlbStats::default());
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["memory"]["usage"]["usage"], 5);
        assert_eq!(v["memory"]["kernelTCP"]["failcnt"], 0);
        assert_eq!(v["pids"]["current"], 2);
        assert!(
            v["pids"].get("limit").is_none(),
            "zero is omitted as in runc"
        );
        assert_eq!(v["blkio"]["ioServiceBytesRecursive"][0]["op"], "Read");
        assert_eq!(v["hugetlb"]["2MB"]["failcnt"], 0);
        assert!(v["cpu"]["throttling"].is_object());
    }

    #[test]
    fn hugepage_names_match_kernel_files() {
        assert_eq!(hugepage_size_name(2 * 1024 * 1024), "2MB");
        assert_eq!(hugepage_size_name(1024 * 1024 * 1024), "1GB");
        assert_eq!(hugepage_size_name(64 * 1024), "64KB");
    }
}
