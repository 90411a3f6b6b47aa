//! `linux.resources` as systemd unit properties (systemd.resource-control(5)).
//!
//! Only what systemd itself understands goes here; the driver then writes
//! every limit to the scope's cgroup files as well (the cgroupfs code), so
//! the files hold exactly what cgroupfs would write and systemd's view
//! agrees with them where it has one. Values are converted the way the
//! cgroupfs code converts them (shares to weight, swap), so a later
//! re-apply by systemd (daemon-reload) writes the same numbers.

use std::borrow::Cow;

use oci_spec::runtime::{LinuxCpu, LinuxMemory, LinuxResources};

use super::devices::device_properties;
use super::unit::Scope;
use crate::devices::{rules_from_spec, DeviceKind};
use crate::error::{CgroupError, Result};
use crate::v2::cpu::shares_to_weight;
use crate::v2::io::blkio_weight_to_io_weight;
use crate::v2::memory::swap_max;

/// systemd's "infinity" for the u64 limits.
pub const INFINITY: u64 = u64::MAX;

/// The kernel's default CFS period, used when only a quota is given.
const DEFAULT_PERIOD_US: u64 = 100_000;

/// A D-Bus property value, kept apart from zbus so conversions can be
/// tested as plain data.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `b`
    Bool(bool),
    /// `y`
    Byte(u8),
    /// `n`
    I16(i16),
    /// `q`
    U16(u16),
    /// `i`
    I32(i32),
    /// `u`
    U32(u32),
    /// `x`
    I64(i64),
    /// `t`
    U64(u64),
    /// `d`
    F64(f64),
    /// `s`
    Str(String),
    /// `as`
    Strs(Vec<String>),
    /// `ay` (CPU and memory node masks)
    Bytes(Vec<u8>),
    /// `au` (PIDs)
    U32s(Vec<u32>),
    /// `a(ss)`: (device path or group, `rwm` subset) pairs.
    DeviceAllow(Vec<(String, String)>),
}

/// One unit property.
#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    /// The property name, e.g. `MemoryMax`.
    pub name: Cow<'static, str>,
    /// Its value.
    pub value: Value,
}

pub(crate) fn prop(name: &'static str, value: Value) -> Property {
    Property {
        name: Cow::Borrowed(name),
        value,
    }
}

/// What the conversion needs to know about the host.
#[derive(Debug, Clone, Copy)]
pub struct Host {
    /// The host runs cgroup v1 (legacy or hybrid): systemd's v1 property
    /// names (`MemoryLimit`, `CPUShares`, `BlockIOWeight`).
    pub v1: bool,
    /// systemd's version: `CPUQuotaPeriodUSec` needs 242, `AllowedCPUs`
    /// and `AllowedMemoryNodes` need 244.
    pub version: u32,
}

/// The properties that make the transient scope: its slice, description,
/// delegation, the first process, accounting, no default dependencies.
pub fn scope_properties(scope: &Scope, pid: i32, v1: bool) -> Vec<Property> {
    let io_accounting = if v1 {
        "BlockIOAccounting"
    } else {
        "IOAccounting"
    };
    vec![
        prop(
            "Description",
            Value::Str(format!("berth container {}", scope.name)),
        ),
        prop("Slice", Value::Str(scope.slice.clone())),
        // The container manages its own cgroup below the scope.
        prop("Delegate", Value::Bool(true)),
        prop("PIDs", Value::U32s(vec![pid as u32])),
        // As runc: accounting on, so every controller is enabled for the
        // scope as cgroupfs would have it.
        prop("MemoryAccounting", Value::Bool(true)),
        prop("CPUAccounting", Value::Bool(true)),
        prop(io_accounting, Value::Bool(true)),
        prop("TasksAccounting", Value::Bool(true)),
        // No ordering against shutdown targets or sockets: the container's
        // lifetime is the runtime's business.
        prop("DefaultDependencies", Value::Bool(false)),
    ]
}

/// The properties for the limits systemd understands in `r`. Device rules
/// read `/proc/devices` through `proc_devices` only when a rule needs a
/// device group name.
pub fn resource_properties(
    r: &LinuxResources,
    host: Host,
    proc_devices: &mut dyn FnMut() -> String,
) -> Result<Vec<Property>> {
    let mut out = Vec::new();
    if let Some(devs) = r.devices() {
        let rules = rules_from_spec(devs)?;
        let mut table: Option<String> = None;
        let mut lookup = |kind: DeviceKind, major: u32| {
            device_group(table.get_or_insert_with(&mut *proc_devices), kind, major)
        };
        out.extend(device_properties(&rules, &mut lookup));
    }
    if let Some(m) = r.memory() {
        memory(m, host, &mut out)?;
    }
    if let Some(c) = r.cpu() {
        cpu(c, host, &mut out)?;
    }
    if let Some(p) = r.pids() {
        let max = if p.limit() > 0 {
            p.limit() as u64
        } else {
            INFINITY
        };
        out.push(prop("TasksMax", Value::U64(max)));
    }
    if let Some(w) = r
        .block_io()
        .as_ref()
        .and_then(|b| b.weight())
        .filter(|&w| w != 0)
    {
        if host.v1 {
            out.push(prop("BlockIOWeight", Value::U64(u64::from(w))));
        } else {
            out.push(prop("IOWeight", Value::U64(blkio_weight_to_io_weight(w))));
        }
    }
    if let Some(u) = r.unified().as_ref().filter(|_| !host.v1) {
        let mut keys: Vec<&String> = u.keys().collect();
        keys.sort();
        for k in keys {
            unified(k, u[k].trim(), host, &mut out)?;
        }
    }
    Ok(out)
}

fn memory(m: &LinuxMemory, host: Host, out: &mut Vec<Property>) -> Result<()> {
    let bytes = |v: i64| if v < 0 { INFINITY } else { v as u64 };
    if let Some(l) = m.limit().filter(|&l| l != 0) {
        let name = if host.v1 { "MemoryLimit" } else { "MemoryMax" };
        out.push(prop(name, Value::U64(bytes(l))));
    }
    if host.v1 {
        return Ok(());
    }
    if let Some(r) = m.reservation().filter(|&r| r != 0) {
        out.push(prop("MemoryLow", Value::U64(bytes(r))));
    }
    if let Some(s) = swap_max(m.limit(), m.swap())? {
        let field = "linux.resources.memory.swap";
        out.push(prop("MemorySwapMax", Value::U64(parse_max(&s, field)?)));
    }
    Ok(())
}

fn cpu(c: &LinuxCpu, host: Host, out: &mut Vec<Property>) -> Result<()> {
    if let Some(s) = c.shares().filter(|&s| s != 0) {
        if host.v1 {
            out.push(prop("CPUShares", Value::U64(s)));
        } else {
            out.push(prop("CPUWeight", Value::U64(shares_to_weight(s))));
        }
    }
    quota(
        c.quota().filter(|&q| q != 0),
        c.period().filter(|&p| p != 0),
        ["linux.resources.cpu.quota", "linux.resources.cpu.period"],
        host,
        out,
    )?;
    if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.trim().is_empty()) {
        cpuset("AllowedCPUs", cpus, "linux.resources.cpu.cpus", host, out)?;
    }
    if let Some(mems) = c.mems().as_deref().filter(|s| !s.trim().is_empty()) {
        cpuset(
            "AllowedMemoryNodes",
            mems,
            "linux.resources.cpu.mems",
            host,
            out,
        )?;
    }
    Ok(())
}

/// The kernel's bounds (kernel/sched/core.c): a CFS period of 1 ms to 1 s,
/// a quota of at least 1 ms.
const MIN_CFS_US: u64 = 1_000;
const MAX_CFS_PERIOD_US: u64 = 1_000_000;

/// `CPUQuotaPeriodUSec` (systemd 242) and `CPUQuotaPerSecUSec`. A quota
/// of -1 is unlimited; a period alone leaves systemd's quota as it is.
/// Values the kernel refuses are refused here, before systemd sees them
/// (`fields`: the quota's and the period's names for the error): systemd
/// would round a 0.5 ms quota up to its 10 ms step and write that to
/// `cpu.max`, so the failed write of the files would leave a changed limit.
fn quota(
    quota: Option<i64>,
    period: Option<u64>,
    fields: [&str; 2],
    host: Host,
    out: &mut Vec<Property>,
) -> Result<()> {
    if let Some(q) = quota.filter(|&q| q > 0 && (q as u64) < MIN_CFS_US) {
        return Err(CgroupError::invalid(
            fields[0],
            format!("{q} µs is below the kernel's minimum quota of {MIN_CFS_US} µs"),
        ));
    }
    if let Some(p) = period.filter(|p| !(MIN_CFS_US..=MAX_CFS_PERIOD_US).contains(p)) {
        return Err(CgroupError::invalid(
            fields[1],
            format!(
                "{p} µs is outside the kernel's periods, {MIN_CFS_US} to {MAX_CFS_PERIOD_US} µs"
            ),
        ));
    }
    if let Some(p) = period.filter(|_| host.version >= 242) {
        out.push(prop("CPUQuotaPeriodUSec", Value::U64(p)));
    }
    if let Some(q) = quota {
        out.push(prop(
            "CPUQuotaPerSecUSec",
            Value::U64(quota_per_sec(q, period)),
        ));
    }
    Ok(())
}

/// CPU time per second of wall time, as systemd wants the quota. systemd
/// keeps it at 10 ms (1 %) granularity, so it is rounded up to that (as
/// runc does): the container may then set its own `cpu.max` below it.
pub fn quota_per_sec(quota: i64, period: Option<u64>) -> u64 {
    if quota <= 0 {
        return INFINITY;
    }
    let period = u128::from(period.filter(|&p| p > 0).unwrap_or(DEFAULT_PERIOD_US));
    let per_sec = (quota as u128) * 1_000_000 / period;
    let rounded = per_sec.div_ceil(10_000) * 10_000;
    u64::try_from(rounded).unwrap_or(INFINITY)
}

fn cpuset(
    name: &'static str,
    list: &str,
    field: &str,
    host: Host,
    out: &mut Vec<Property>,
) -> Result<()> {
    // Validated even when systemd is too old to take it.
    let mask = list_to_mask(list).map_err(|why| CgroupError::invalid(field, why))?;
    if host.version >= 244 {
        out.push(prop(name, Value::Bytes(mask)));
    }
    Ok(())
}

/// The largest CPU or memory node number accepted in a list.
const MAX_BIT: u32 = 1 << 16;

/// A cpuset list (`0-3,8`) as systemd's byte mask: bit `n % 8` of byte
/// `n / 8` is CPU (or node) `n`.
pub fn list_to_mask(list: &str) -> std::result::Result<Vec<u8>, String> {
    let mut bits: Vec<u32> = Vec::new();
    for part in list.trim().split(',') {
        let part = part.trim();
        let num = |s: &str| -> std::result::Result<u32, String> {
            let n: u32 = s
                .trim()
                .parse()
                .map_err(|_| format!("`{s}` in `{list}` is not a number"))?;
            if n > MAX_BIT {
                return Err(format!("{n} in `{list}` is too large"));
            }
            Ok(n)
        };
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => {
                let n = num(part)?;
                (n, n)
            }
        };
        if lo > hi {
            return Err(format!("`{part}` in `{list}` is a descending range"));
        }
        bits.extend(lo..=hi);
    }
    let max = bits.iter().copied().max().unwrap_or(0);
    let mut mask = vec![0u8; max as usize / 8 + 1];
    for b in bits {
        mask[b as usize / 8] |= 1 << (b % 8);
    }
    Ok(mask)
}

/// A `max`-or-number cgroup value as a systemd u64.
fn parse_max(v: &str, field: &str) -> Result<u64> {
    if v == "max" {
        return Ok(INFINITY);
    }
    v.parse()
        .map_err(|_| CgroupError::invalid(field, format!("`{v}` is neither `max` nor a number")))
}

/// The `linux.resources.unified` keys that have a systemd property; the
/// others are only written to the files.
fn unified(key: &str, v: &str, host: Host, out: &mut Vec<Property>) -> Result<()> {
    let field = format!("linux.resources.unified.{key}");
    let name = match key {
        "memory.min" => "MemoryMin",
        "memory.low" => "MemoryLow",
        "memory.high" => "MemoryHigh",
        "memory.max" => "MemoryMax",
        "memory.swap.max" => "MemorySwapMax",
        "pids.max" => "TasksMax",
        "cpu.weight" => {
            let w = v
                .parse()
                .map_err(|_| CgroupError::invalid(&field, format!("`{v}` is not a number")))?;
            out.push(prop("CPUWeight", Value::U64(w)));
            return Ok(());
        }
        "cpu.max" => {
            let mut it = v.split_whitespace();
            let q = match it.next() {
                Some("max") => -1,
                Some(q) => q
                    .parse()
                    .map_err(|_| CgroupError::invalid(&field, format!("bad quota in `{v}`")))?,
                None => return Err(CgroupError::invalid(&field, "empty value")),
            };
            let p = it
                .next()
                .map(|p| p.parse::<u64>())
                .transpose()
                .map_err(|_| CgroupError::invalid(&field, format!("bad period in `{v}`")))?;
            return quota(Some(q), p, [&field, &field], host, out);
        }
        "cpuset.cpus" => return cpuset("AllowedCPUs", v, &field, host, out),
        "cpuset.mems" => return cpuset("AllowedMemoryNodes", v, &field, host, out),
        _ => return Ok(()),
    };
    out.push(prop(name, Value::U64(parse_max(v, &field)?)));
    Ok(())
}

/// The device group name systemd uses for all devices of one major
/// (`char-pts`), from the contents of `/proc/devices`.
pub fn device_group(proc_devices: &str, kind: DeviceKind, major: u32) -> Option<String> {
    let (header, prefix) = match kind {
        DeviceKind::Char => ("Character devices:", "char-"),
        DeviceKind::Block => ("Block devices:", "block-"),
        DeviceKind::All => return None,
    };
    let mut in_section = false;
    for line in proc_devices.lines() {
        let line = line.trim();
        if line.ends_with(':') {
            in_section = line == header;
            continue;
        }
        if !in_section {
            continue;
        }
        let mut it = line.split_whitespace();
        if it.next().and_then(|m| m.parse::<u32>().ok()) == Some(major) {
            return it.next().map(|name| format!("{prefix}{name}"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::systemd::unit::Instance;
    use crate::testutil::resources;
    use serde_json::json;

    const V2: Host = Host {
        v1: false,
        version: 252,
    };
    const V1: Host = Host {
        v1: true,
        version: 252,
    };

    fn props(r: serde_json::Value, host: Host) -> Vec<Property> {
        resource_properties(&resources(r), host, &mut || String::new()).unwrap()
    }

    fn get<'a>(p: &'a [Property], name: &str) -> Option<&'a Value> {
        p.iter().find(|p| p.name == name).map(|p| &p.value)
    }

    #[test]
    fn scope_has_delegate_pid_slice_and_no_default_dependencies() {
        let s = Scope::new("", "", "berth", "c1", Instance::System).unwrap();
        let p = scope_properties(&s, 42, false);
        assert_eq!(get(&p, "Slice"), Some(&Value::Str("system.slice".into())));
        assert_eq!(get(&p, "Delegate"), Some(&Value::Bool(true)));
        assert_eq!(get(&p, "PIDs"), Some(&Value::U32s(vec![42])));
        assert_eq!(get(&p, "DefaultDependencies"), Some(&Value::Bool(false)));
        assert_eq!(
            get(&p, "Description"),
            Some(&Value::Str("berth container c1".into()))
        );
        assert!(get(&p, "IOAccounting").is_some());
        assert!(get(&scope_properties(&s, 1, true), "BlockIOAccounting").is_some());
    }

    #[test]
    fn v2_memory_pids_cpu() {
        let p = props(
            json!({"memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728},
                   "pids": {"limit": 50},
                   "cpu": {"shares": 1024, "quota": 50000, "period": 100000}}),
            V2,
        );
        assert_eq!(get(&p, "MemoryMax"), Some(&Value::U64(67108864)));
        assert_eq!(get(&p, "MemoryLow"), Some(&Value::U64(33554432)));
        // swap is memory+swap in the spec: systemd gets the swap part only.
        assert_eq!(get(&p, "MemorySwapMax"), Some(&Value::U64(67108864)));
        assert_eq!(get(&p, "TasksMax"), Some(&Value::U64(50)));
        // Same map as the cgroupfs code's cpu.weight: 1024 shares is the default 100.
        assert_eq!(get(&p, "CPUWeight"), Some(&Value::U64(100)));
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(500_000)));
        assert_eq!(get(&p, "CPUQuotaPeriodUSec"), Some(&Value::U64(100_000)));
        assert!(get(&p, "MemoryLimit").is_none() && get(&p, "CPUShares").is_none());
    }

    #[test]
    fn v1_names() {
        let p = props(
            json!({"memory": {"limit": 1048576, "reservation": 4096},
                   "cpu": {"shares": 512}, "blockIO": {"weight": 300}}),
            V1,
        );
        assert_eq!(get(&p, "MemoryLimit"), Some(&Value::U64(1048576)));
        assert_eq!(get(&p, "CPUShares"), Some(&Value::U64(512)));
        assert_eq!(get(&p, "BlockIOWeight"), Some(&Value::U64(300)));
        for v2_only in ["MemoryMax", "MemoryLow", "CPUWeight", "IOWeight"] {
            assert!(get(&p, v2_only).is_none(), "{v2_only}");
        }
    }

    #[test]
    fn unlimited_values_are_infinity() {
        let p = props(
            json!({"memory": {"limit": -1}, "pids": {"limit": -1}, "cpu": {"quota": -1}}),
            V2,
        );
        assert_eq!(get(&p, "MemoryMax"), Some(&Value::U64(INFINITY)));
        assert_eq!(get(&p, "MemorySwapMax"), Some(&Value::U64(INFINITY)));
        assert_eq!(get(&p, "TasksMax"), Some(&Value::U64(INFINITY)));
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(INFINITY)));
    }

    #[test]
    fn quota_is_per_second_rounded_up_to_a_percent() {
        assert_eq!(quota_per_sec(50_000, Some(100_000)), 500_000);
        assert_eq!(quota_per_sec(50_000, None), 500_000);
        assert_eq!(quota_per_sec(12_345, Some(100_000)), 130_000);
        assert_eq!(quota_per_sec(200_000, Some(50_000)), 4_000_000);
        assert_eq!(quota_per_sec(1, Some(1_000_000)), 10_000);
        assert_eq!(quota_per_sec(-1, Some(100_000)), INFINITY);
        assert_eq!(quota_per_sec(i64::MAX, Some(1)), INFINITY);
    }

    #[test]
    fn quota_and_period_the_kernel_refuses_are_refused_by_name() {
        let refused = |cpu: serde_json::Value| {
            let r: LinuxResources = serde_json::from_value(json!({ "cpu": cpu })).unwrap();
            resource_properties(&r, V2, &mut || String::new())
                .unwrap_err()
                .to_string()
        };
        let e = refused(json!({"quota": 500, "period": 100000}));
        assert!(e.contains("linux.resources.cpu.quota"), "{e}");
        for p in [999, 1_000_001] {
            let e = refused(json!({"quota": 50000, "period": p}));
            assert!(e.contains("linux.resources.cpu.period"), "{e}");
        }
        let r: LinuxResources =
            serde_json::from_value(json!({"unified": {"cpu.max": "500 100000"}})).unwrap();
        let e = resource_properties(&r, V2, &mut || String::new()).unwrap_err();
        assert!(e.to_string().contains("unified.cpu.max"), "{e}");
        // The bounds themselves are fine.
        props(json!({"cpu": {"quota": 1000, "period": 1000}}), V2);
        props(json!({"cpu": {"quota": 1000, "period": 1_000_000}}), V2);
    }

    #[test]
    fn period_alone_keeps_systemds_quota() {
        let p = props(json!({"cpu": {"period": 50000}}), V2);
        assert_eq!(get(&p, "CPUQuotaPeriodUSec"), Some(&Value::U64(50_000)));
        assert!(get(&p, "CPUQuotaPerSecUSec").is_none());
    }

    #[test]
    fn old_systemd_gets_no_period_and_no_cpuset() {
        let old = Host {
            v1: false,
            version: 241,
        };
        let p = props(
            json!({"cpu": {"quota": 20000, "period": 100000, "cpus": "0-1", "mems": "0"}}),
            old,
        );
        assert!(get(&p, "CPUQuotaPeriodUSec").is_none());
        assert!(get(&p, "AllowedCPUs").is_none() && get(&p, "AllowedMemoryNodes").is_none());
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(200_000)));
    }

    #[test]
    fn cpusets_become_byte_masks() {
        assert_eq!(list_to_mask("0").unwrap(), vec![0x01]);
        assert_eq!(list_to_mask("0-3,5").unwrap(), vec![0x2f]);
        assert_eq!(list_to_mask("8").unwrap(), vec![0x00, 0x01]);
        assert_eq!(list_to_mask(" 1 , 9-10 ").unwrap(), vec![0x02, 0x06]);
        assert_eq!(list_to_mask("7-8").unwrap(), vec![0x80, 0x01]);
        for bad in ["", "a", "3-1", "1-", "0,,1", "99999999"] {
            assert!(list_to_mask(bad).is_err(), "{bad}");
        }
        let p = props(json!({"cpu": {"cpus": "0-1", "mems": "0"}}), V2);
        assert_eq!(get(&p, "AllowedCPUs"), Some(&Value::Bytes(vec![3])));
        assert_eq!(get(&p, "AllowedMemoryNodes"), Some(&Value::Bytes(vec![1])));
        let e = resource_properties(
            &resources(json!({"cpu": {"cpus": "1-x"}})),
            V2,
            &mut String::new,
        )
        .unwrap_err();
        assert!(e.to_string().contains("linux.resources.cpu.cpus"), "{e}");
    }

    #[test]
    fn io_weight_is_converted_like_the_io_weight_file() {
        let p = props(json!({"blockIO": {"weight": 300}}), V2);
        assert_eq!(get(&p, "IOWeight"), Some(&Value::U64(2930)));
    }

    #[test]
    fn unified_keys_systemd_knows() {
        let p = props(
            json!({"unified": {"memory.high": "1000000", "memory.min": "max", "pids.max": "7",
                               "cpu.max": "25000 50000", "cpu.weight": "300",
                               "cpuset.cpus": "1", "io.max": "8:0 rbps=1", "memory.oom.group": "1"}}),
            V2,
        );
        assert_eq!(get(&p, "MemoryHigh"), Some(&Value::U64(1_000_000)));
        assert_eq!(get(&p, "MemoryMin"), Some(&Value::U64(INFINITY)));
        assert_eq!(get(&p, "TasksMax"), Some(&Value::U64(7)));
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(500_000)));
        assert_eq!(get(&p, "CPUQuotaPeriodUSec"), Some(&Value::U64(50_000)));
        assert_eq!(get(&p, "CPUWeight"), Some(&Value::U64(300)));
        assert_eq!(get(&p, "AllowedCPUs"), Some(&Value::Bytes(vec![2])));
        assert_eq!(
            p.len(),
            7,
            "io.max and memory.oom.group stay file-only: {p:?}"
        );
        let e = resource_properties(
            &resources(json!({"unified": {"memory.max": "lots"}})),
            V2,
            &mut String::new,
        )
        .unwrap_err();
        assert!(e.to_string().contains("unified.memory.max"), "{e}");
        assert!(props(json!({"unified": {"memory.high": "1"}}), V1).is_empty());
    }

    #[test]
    fn limits_systemd_does_not_know_stay_file_only() {
        let r = json!({
            "memory": {"swappiness": 10, "kernelTCP": 1048576, "disableOOMKiller": true},
            "cpu": {"realtimeRuntime": 1000, "realtimePeriod": 10000, "idle": 1, "burst": 1000},
            "blockIO": {"leafWeight": 200,
                        "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}]},
            "hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}],
            "network": {"classID": 1},
            "rdma": {"mlx5_0": {"hcaHandles": 1}},
        });
        assert!(
            props(r.clone(), V2).is_empty(),
            "{:?}",
            props(r.clone(), V2)
        );
        assert!(props(r, V1).is_empty());
    }

    #[test]
    fn nothing_set_nothing_sent() {
        assert!(props(json!({}), V2).is_empty());
        assert!(props(json!({"memory": {}, "cpu": {}}), V2).is_empty());
    }

    #[test]
    fn device_groups_from_proc_devices() {
        let pd = "Character devices:\n  1 mem\n  5 /dev/tty\n136 pts\n\nBlock devices:\n  8 sd\n259 blkext\n";
        assert_eq!(
            device_group(pd, DeviceKind::Char, 136).as_deref(),
            Some("char-pts")
        );
        assert_eq!(
            device_group(pd, DeviceKind::Block, 8).as_deref(),
            Some("block-sd")
        );
        assert_eq!(device_group(pd, DeviceKind::Char, 8), None);
        assert_eq!(device_group(pd, DeviceKind::Block, 136), None);
    }
}
