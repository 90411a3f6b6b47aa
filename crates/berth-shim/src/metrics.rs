//! berth's cgroup statistics in containerd's metrics types: `io.containerd.cgroups.v1.Metrics`
//! on cgroup v1 (and hybrid) hosts, `io.containerd.cgroups.v2.Metrics` on cgroup v2.

use std::collections::BTreeMap;

use berth_cgroups::Stats;
use containerd_shim::protos::cgroups::metrics as v1;
use containerd_shim::protos::cgroups_v2::metrics as v2;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::Message;

use crate::error::{Error, Result};
use crate::runtime::CgroupVersion;

fn entry(e: &berth_cgroups::stats::MemoryEntry) -> v1::MemoryEntry {
    v1::MemoryEntry {
        limit: e.limit,
        usage: e.usage,
        max: e.max,
        failcnt: e.failcnt,
        ..Default::default()
    }
}

fn raw(r: &BTreeMap<String, u64>, key: &str) -> u64 {
    r.get(key).copied().unwrap_or(0)
}

/// The v1 metrics of `s`.
pub fn v1(s: &Stats) -> v1::Metrics {
    let r = &s.memory.raw;
    let memory = v1::MemoryStat {
        cache: raw(r, "cache"),
        rss: raw(r, "rss"),
        rss_huge: raw(r, "rss_huge"),
        mapped_file: raw(r, "mapped_file"),
        dirty: raw(r, "dirty"),
        writeback: raw(r, "writeback"),
        pg_pg_in: raw(r, "pgpgin"),
        pg_pg_out: raw(r, "pgpgout"),
        pg_fault: raw(r, "pgfault"),
        pg_maj_fault: raw(r, "pgmajfault"),
        inactive_anon: raw(r, "inactive_anon"),
        active_anon: raw(r, "active_anon"),
        inactive_file: raw(r, "inactive_file"),
        active_file: raw(r, "active_file"),
        unevictable: raw(r, "unevictable"),
        hierarchical_memory_limit: raw(r, "hierarchical_memory_limit"),
        hierarchical_swap_limit: raw(r, "hierarchical_memsw_limit"),
        total_cache: raw(r, "total_cache"),
        total_rss: raw(r, "total_rss"),
        total_rss_huge: raw(r, "total_rss_huge"),
        total_mapped_file: raw(r, "total_mapped_file"),
        total_dirty: raw(r, "total_dirty"),
        total_writeback: raw(r, "total_writeback"),
        total_pg_pg_in: raw(r, "total_pgpgin"),
        total_pg_pg_out: raw(r, "total_pgpgout"),
        total_pg_fault: raw(r, "total_pgfault"),
        total_pg_maj_fault: raw(r, "total_pgmajfault"),
        total_inactive_anon: raw(r, "total_inactive_anon"),
        total_active_anon: raw(r, "total_active_anon"),
        total_inactive_file: raw(r, "total_inactive_file"),
        total_active_file: raw(r, "total_active_file"),
        total_unevictable: raw(r, "total_unevictable"),
        usage: Some(entry(&s.memory.usage)).into(),
        swap: Some(entry(&s.memory.swap)).into(),
        kernel: Some(entry(&s.memory.kernel)).into(),
        kernel_tcp: Some(entry(&s.memory.kernel_tcp)).into(),
        ..Default::default()
    };
    let blkio = |list: &[berth_cgroups::stats::BlkioEntry]| -> Vec<v1::BlkIOEntry> {
        list.iter()
            .map(|e| v1::BlkIOEntry {
                op: e.op.clone(),
                major: e.major,
                minor: e.minor,
                value: e.value,
                ..Default::default()
            })
            .collect()
    };
    v1::Metrics {
        hugetlb: s
            .hugetlb
            .iter()
            .map(|(size, h)| v1::HugetlbStat {
                usage: h.usage,
                max: h.max,
                failcnt: h.failcnt,
                pagesize: size.clone(),
                ..Default::default()
            })
            .collect(),
        pids: Some(v1::PidsStat {
            current: s.pids.current,
            limit: s.pids.limit,
            ..Default::default()
        })
        .into(),
        cpu: Some(v1::CPUStat {
            usage: Some(v1::CPUUsage {
                total: s.cpu.usage.total,
                kernel: s.cpu.usage.kernel,
                user: s.cpu.usage.user,
                per_cpu: s.cpu.usage.percpu.clone(),
                ..Default::default()
            })
            .into(),
            throttling: Some(v1::Throttle {
                periods: s.cpu.throttling.periods,
                throttled_periods: s.cpu.throttling.throttled_periods,
                throttled_time: s.cpu.throttling.throttled_time,
                ..Default::default()
            })
            .into(),
            ..Default::default()
        })
        .into(),
        memory: Some(memory).into(),
        blkio: Some(v1::BlkIOStat {
            io_service_bytes_recursive: blkio(&s.blkio.io_service_bytes_recursive),
            io_serviced_recursive: blkio(&s.blkio.io_serviced_recursive),
            ..Default::default()
        })
        .into(),
        ..Default::default()
    }
}

/// The v2 metrics of `s` (berth keeps CPU times in nanoseconds, v2 reports microseconds).
pub fn v2(s: &Stats) -> v2::Metrics {
    let r = &s.memory.raw;
    let memory = v2::MemoryStat {
        anon: raw(r, "anon"),
        file: raw(r, "file"),
        kernel_stack: raw(r, "kernel_stack"),
        slab: raw(r, "slab"),
        sock: raw(r, "sock"),
        shmem: raw(r, "shmem"),
        file_mapped: raw(r, "file_mapped"),
        file_dirty: raw(r, "file_dirty"),
        file_writeback: raw(r, "file_writeback"),
        anon_thp: raw(r, "anon_thp"),
        inactive_anon: raw(r, "inactive_anon"),
        active_anon: raw(r, "active_anon"),
        inactive_file: raw(r, "inactive_file"),
        active_file: raw(r, "active_file"),
        unevictable: raw(r, "unevictable"),
        slab_reclaimable: raw(r, "slab_reclaimable"),
        slab_unreclaimable: raw(r, "slab_unreclaimable"),
        pgfault: raw(r, "pgfault"),
        pgmajfault: raw(r, "pgmajfault"),
        workingset_refault: raw(r, "workingset_refault"),
        workingset_activate: raw(r, "workingset_activate"),
        workingset_nodereclaim: raw(r, "workingset_nodereclaim"),
        pgrefill: raw(r, "pgrefill"),
        pgscan: raw(r, "pgscan"),
        pgsteal: raw(r, "pgsteal"),
        pgactivate: raw(r, "pgactivate"),
        pgdeactivate: raw(r, "pgdeactivate"),
        pglazyfree: raw(r, "pglazyfree"),
        pglazyfreed: raw(r, "pglazyfreed"),
        thp_fault_alloc: raw(r, "thp_fault_alloc"),
        thp_collapse_alloc: raw(r, "thp_collapse_alloc"),
        usage: s.memory.usage.usage,
        usage_limit: s.memory.usage.limit,
        swap_usage: s.memory.swap.usage,
        swap_limit: s.memory.swap.limit,
        max_usage: s.memory.usage.max,
        swap_max_usage: s.memory.swap.max,
        ..Default::default()
    };
    // One entry per device: bytes and operations of reads and writes.
    let mut io: BTreeMap<(u64, u64), v2::IOEntry> = BTreeMap::new();
    for (list, bytes) in [
        (&s.blkio.io_service_bytes_recursive, true),
        (&s.blkio.io_serviced_recursive, false),
    ] {
        for e in list {
            let d = io.entry((e.major, e.minor)).or_insert_with(|| v2::IOEntry {
                major: e.major,
                minor: e.minor,
                ..Default::default()
            });
            match (e.op.as_str(), bytes) {
                ("Read", true) => d.rbytes = e.value,
                ("Write", true) => d.wbytes = e.value,
                ("Read", false) => d.rios = e.value,
                ("Write", false) => d.wios = e.value,
                _ => {}
            }
        }
    }
    v2::Metrics {
        pids: Some(v2::PidsStat {
            current: s.pids.current,
            limit: s.pids.limit,
            ..Default::default()
        })
        .into(),
        cpu: Some(v2::CPUStat {
            usage_usec: s.cpu.usage.total / 1000,
            user_usec: s.cpu.usage.user / 1000,
            system_usec: s.cpu.usage.kernel / 1000,
            nr_periods: s.cpu.throttling.periods,
            nr_throttled: s.cpu.throttling.throttled_periods,
            throttled_usec: s.cpu.throttling.throttled_time / 1000,
            ..Default::default()
        })
        .into(),
        memory: Some(memory).into(),
        io: Some(v2::IOStat {
            usage: io.into_values().collect(),
            ..Default::default()
        })
        .into(),
        hugetlb: s
            .hugetlb
            .iter()
            .map(|(size, h)| v2::HugeTlbStat {
                current: h.usage,
                max: h.max,
                pagesize: size.clone(),
                failcnt: h.failcnt,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// The type names containerd's typeurl registry knows the metrics by (spelled out: protobuf
/// reflection descriptors would cost the shim heap).
const V1_TYPE: &str = "io.containerd.cgroups.v1.Metrics";
const V2_TYPE: &str = "io.containerd.cgroups.v2.Metrics";

fn pack<M: Message>(m: &M, type_url: &str) -> Result<Any> {
    Ok(Any {
        type_url: type_url.to_string(),
        value: m
            .write_to_bytes()
            .map_err(|e| Error::invalid("stats", e.to_string()))?,
        ..Default::default()
    })
}

/// `s` as the `Any` of a `StatsResponse`.
pub fn to_any(s: &Stats, version: CgroupVersion) -> Result<Any> {
    match version {
        CgroupVersion::V1 => pack(&v1(s), V1_TYPE),
        CgroupVersion::V2 => pack(&v2(s), V2_TYPE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use containerd_shim::protos::protobuf::MessageFull;

    fn sample() -> Stats {
        let mut s = Stats::default();
        s.pids.current = 2;
        s.pids.limit = 100;
        s.memory.usage.usage = 4096;
        s.memory.usage.limit = 67108864;
        s.memory.raw.insert("total_rss".into(), 8192);
        s.memory.raw.insert("anon".into(), 1234);
        s.cpu.usage.total = 5_000_000;
        s.cpu.usage.user = 3_000_000;
        s.cpu.usage.kernel = 2_000_000;
        s.blkio
            .io_service_bytes_recursive
            .push(berth_cgroups::stats::BlkioEntry {
                major: 8,
                minor: 0,
                op: "Read".into(),
                value: 512,
            });
        s.blkio
            .io_serviced_recursive
            .push(berth_cgroups::stats::BlkioEntry {
                major: 8,
                minor: 0,
                op: "Write".into(),
                value: 3,
            });
        s
    }

    #[test]
    fn v1_keeps_the_values_and_names() {
        let m = v1(&sample());
        assert_eq!(m.pids.current, 2);
        assert_eq!(m.pids.limit, 100);
        assert_eq!(m.memory.usage.usage, 4096);
        assert_eq!(m.memory.usage.limit, 67108864);
        assert_eq!(m.memory.total_rss, 8192);
        assert_eq!(m.cpu.usage.total, 5_000_000);
        assert_eq!(m.blkio.io_service_bytes_recursive[0].value, 512);
        let any = to_any(&sample(), CgroupVersion::V1).unwrap();
        assert_eq!(any.type_url, "io.containerd.cgroups.v1.Metrics");
        assert_eq!(V1_TYPE, v1::Metrics::descriptor().full_name());
        assert_eq!(V2_TYPE, v2::Metrics::descriptor().full_name());
        assert_eq!(v1::Metrics::parse_from_bytes(&any.value).unwrap(), m);
    }

    #[test]
    fn v2_converts_units_and_groups_io_per_device() {
        let m = v2(&sample());
        assert_eq!(m.cpu.usage_usec, 5000);
        assert_eq!(m.cpu.user_usec, 3000);
        assert_eq!(m.cpu.system_usec, 2000);
        assert_eq!(m.memory.usage, 4096);
        assert_eq!(m.memory.usage_limit, 67108864);
        assert_eq!(m.memory.anon, 1234);
        assert_eq!(m.io.usage.len(), 1);
        assert_eq!((m.io.usage[0].rbytes, m.io.usage[0].wios), (512, 3));
        let any = to_any(&sample(), CgroupVersion::V2).unwrap();
        assert_eq!(any.type_url, "io.containerd.cgroups.v2.Metrics");
    }
}
