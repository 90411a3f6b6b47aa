//! `linux.cgroupsPath` and `linux.resources`: the container's cgroup and the limits written to
//! it at create, normalized as runc's callers expect.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

/// The container's cgroup.
#[derive(Debug, Clone)]
pub struct CgroupPlan {
    /// `linux.cgroupsPath`, or the default for the container.
    pub path: String,
    /// Use the systemd driver (`--systemd-cgroup`).
    pub systemd: bool,
    /// The limits, normalized, without device rules: written when the cgroup is made.
    pub resources: LinuxResources,
    /// The device rules, with those every container gets: written once the init has made
    /// its device nodes (as runc: its own mknods must not be refused).
    pub devices: Vec<LinuxDeviceCgroup>,
}

fn allow(typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>) -> LinuxDeviceCgroup {
    let mut d = LinuxDeviceCgroup::default();
    d.set_allow(true);
    d.set_typ(Some(typ));
    d.set_major(major);
    d.set_minor(minor);
    d.set_access(Some("rwm".into()));
    d
}

/// The device rules: the spec's own, then what every container needs, as runc adds them:
/// null, zero, full, random, urandom, tty, console, ptmx and the pts devices. Nodes created
/// from `linux.devices` get no rule of their own: the spec's rules decide (as in runc).
pub fn device_rules(spec_rules: Option<&Vec<LinuxDeviceCgroup>>) -> Vec<LinuxDeviceCgroup> {
    let mut rules: Vec<LinuxDeviceCgroup> = spec_rules.cloned().unwrap_or_default();
    for (maj, min) in [
        (1, Some(3)),
        (1, Some(5)),
        (1, Some(7)),
        (1, Some(8)),
        (1, Some(9)),
        (5, Some(0)),
        (5, Some(1)),
        (5, Some(2)),
        (136, None),
    ] {
        rules.push(allow(LinuxDeviceType::C, Some(maj), min));
    }
    rules
}

/// Drops the values runc treats as "not set" (dockerd sends `blockIO.weight: 0`,
/// `cpu.shares: 0`, `memory.reservation: 0`, ... in every config): writing them would fail
/// or set the minimum instead of leaving the default.
pub fn normalize(r: &mut LinuxResources) {
    if let Some(m) = r.memory_mut() {
        if m.limit() == Some(0) {
            m.set_limit(None);
        }
        if m.reservation() == Some(0) {
            m.set_reservation(None);
        }
        if m.swap() == Some(0) {
            m.set_swap(None);
        }
        if m.kernel() == Some(0) {
            m.set_kernel(None);
        }
        if m.kernel_tcp() == Some(0) {
            m.set_kernel_tcp(None);
        }
    }
    if let Some(c) = r.cpu_mut() {
        if c.shares() == Some(0) {
            c.set_shares(None);
        }
        if c.quota() == Some(0) {
            c.set_quota(None);
        }
        if c.period() == Some(0) {
            c.set_period(None);
        }
        if c.realtime_runtime() == Some(0) {
            c.set_realtime_runtime(None);
        }
        if c.realtime_period() == Some(0) {
            c.set_realtime_period(None);
        }
        if c.cpus().as_deref() == Some("") {
            c.set_cpus(None);
        }
        if c.mems().as_deref() == Some("") {
            c.set_mems(None);
        }
    }
    if r.pids().as_ref().is_some_and(|p| p.limit() == 0) {
        r.set_pids(None);
    }
    if let Some(b) = r.block_io_mut() {
        if b.weight() == Some(0) {
            b.set_weight(None);
        }
        if b.leaf_weight() == Some(0) {
            b.set_leaf_weight(None);
        }
    }
}

/// The resources of an `update`: normalized, and without device rules (as runc: podman sends
/// the whole `linux.resources`, whose `devices` lack the defaults added at create).
pub fn for_update(mut r: LinuxResources) -> LinuxResources {
    r.set_devices(None);
    normalize(&mut r);
    r
}

/// The resources written at create: the limits, and apart from them the device rules.
pub fn for_create(spec: Option<&LinuxResources>) -> (LinuxResources, Vec<LinuxDeviceCgroup>) {
    let mut r = spec.cloned().unwrap_or_default();
    let devices = device_rules(spec.and_then(|s| s.devices().as_ref()));
    r.set_devices(None);
    normalize(&mut r);
    (r, devices)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerd_zeros_mean_unset() {
        let mut r: LinuxResources = serde_json::from_str(
            r#"{"memory":{"limit":134217728,"reservation":0,"swap":0,"kernel":0},
                "cpu":{"shares":0,"quota":50000,"period":0,"cpus":""},
                "pids":{"limit":0},"blockIO":{"weight":0}}"#,
        )
        .unwrap();
        normalize(&mut r);
        let m = r.memory().as_ref().unwrap();
        assert_eq!(
            (m.limit(), m.reservation(), m.swap(), m.kernel()),
            (Some(134217728), None, None, None)
        );
        let c = r.cpu().as_ref().unwrap();
        assert_eq!(
            (c.shares(), c.quota(), c.period(), c.cpus().clone()),
            (None, Some(50000), None, None)
        );
        assert!(r.pids().is_none());
        assert_eq!(r.block_io().as_ref().unwrap().weight(), None);
    }

    #[test]
    fn spec_rules_first_then_the_defaults_and_nothing_for_linux_devices() {
        let spec: LinuxResources =
            serde_json::from_str(r#"{"devices":[{"allow":false,"access":"rwm"}]}"#).unwrap();
        let (r, rules) = for_create(Some(&spec));
        assert!(r.devices().is_none());
        assert!(!rules[0].allow());
        assert_eq!(rules.len(), 10);
        assert!(rules[1..].iter().all(|d| d.allow()));
        assert!(for_update(spec).devices().is_none());
    }
}
