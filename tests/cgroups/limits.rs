//! `linux.resources` limits as the host's cgroupfs and the container itself read them back.

use serde_json::json;

use super::util::{cannot_run, is_berth, is_v2, text, weights_for, Cgroup, Ctx};

const MIB: u64 = 1 << 20;

/// Whether swap limits can be set: v1 swap accounting, or v2 `memory.swap.max`.
fn swap_supported(cg: &Cgroup) -> bool {
    if is_v2() {
        cg.has("memory", "memory.swap.max")
    } else {
        cg.has("memory", "memory.memsw.limit_in_bytes")
    }
}

#[test]
fn memory_limit_reservation_and_swap_are_written() {
    let mut c = Ctx::new();
    c.sh("exec sleep 1000");
    c.resource(
        "memory",
        json!({"limit": 64 * MIB, "reservation": 32 * MIB}),
    );
    let probe = c.create();
    let with_swap = swap_supported(&c.cgroup());
    c.rt_ok(&["delete", &probe]);
    if with_swap {
        c.config["linux"]["resources"]["memory"]["swap"] = json!(96 * MIB);
    }
    let (_id, _) = c.start();
    let cg = c.cgroup();
    if is_v2() {
        assert_eq!(cg.read("memory", "memory.max"), (64 * MIB).to_string());
        assert_eq!(cg.read("memory", "memory.low"), (32 * MIB).to_string());
        if with_swap {
            // The spec's swap is memory+swap; v2 limits swap alone.
            assert_eq!(cg.read("memory", "memory.swap.max"), (32 * MIB).to_string());
            cg.assert_properties(&[("MemorySwapMax", &(32 * MIB).to_string())]);
        }
        cg.assert_properties(&[
            ("MemoryMax", &(64 * MIB).to_string()),
            ("MemoryLow", &(32 * MIB).to_string()),
        ]);
    } else {
        assert_eq!(
            cg.read("memory", "memory.limit_in_bytes"),
            (64 * MIB).to_string()
        );
        assert_eq!(
            cg.read("memory", "memory.soft_limit_in_bytes"),
            (32 * MIB).to_string()
        );
        if with_swap {
            assert_eq!(
                cg.read("memory", "memory.memsw.limit_in_bytes"),
                (96 * MIB).to_string()
            );
        }
    }
    if !with_swap {
        cannot_run("no swap accounting: linux.resources.memory.swap not checked");
    }
}

#[test]
fn cpu_shares_quota_period_and_cpus_are_written() {
    let mut c = Ctx::new();
    c.sh("exec sleep 1000");
    c.resource(
        "cpu",
        json!({"shares": 2048, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"}),
    );
    c.start();
    let cg = c.cgroup();
    if is_v2() {
        let w: u64 = cg.read("cpu", "cpu.weight").parse().unwrap();
        assert!(weights_for(2048).contains(&w), "cpu.weight {w}");
        assert_eq!(cg.read("cpu", "cpu.max"), "50000 100000");
        // systemd keeps the quota as CPU time per second.
        cg.assert_properties(&[
            ("CPUWeight", &w.to_string()),
            ("CPUQuotaPerSecUSec", "500ms"),
            ("CPUQuotaPeriodUSec", "100ms"),
            ("AllowedCPUs", "0"),
            ("AllowedMemoryNodes", "0"),
        ]);
    } else {
        assert_eq!(cg.read("cpu", "cpu.shares"), "2048");
        assert_eq!(cg.read("cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(cg.read("cpu", "cpu.cfs_period_us"), "100000");
    }
    assert_eq!(cg.read("cpuset", "cpuset.cpus"), "0");
    assert_eq!(cg.read("cpuset", "cpuset.mems"), "0");
}

#[test]
fn pids_limit_is_written() {
    let mut c = Ctx::new();
    c.sh("exec sleep 1000");
    c.resource("pids", json!({"limit": 42}));
    c.start();
    assert_eq!(c.cgroup().read("pids", "pids.max"), "42");
    c.cgroup().assert_properties(&[("TasksMax", "42")]);
}

/// blockIO.weight: written where a weight-based I/O scheduler exists, else refused at
/// create naming the field, with nothing left behind.
#[test]
fn blkio_weight_is_written_or_refused_by_name() {
    let mut c = Ctx::new();
    c.sh("exec sleep 1000");
    c.resource("blockIO", json!({"weight": 300}));
    let (out, id) = c.try_create();
    let cg = c.cgroup();
    if !out.status.success() {
        let err = text(&out.stderr);
        if is_berth() {
            assert!(err.contains("linux.resources.blockIO"), "{err}");
        }
        cg.assert_gone();
        eprintln!("blkio weight unsupported here: {err}");
        return;
    }
    // `io.bfq.weight` and v1 BFQ files read `default N`; plain files just `N`.
    let last = |s: String| {
        s.lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .last()
            .map(str::to_string)
    };
    let got = if is_v2() {
        if cg.has("io", "io.bfq.weight") {
            last(cg.read("io", "io.bfq.weight"))
        } else {
            let w = last(cg.read("io", "io.weight")).unwrap();
            let want = 1 + (300 - 10) * 9999 / 990;
            assert_eq!(w, want.to_string(), "io.weight");
            Some("300".into())
        }
    } else if cg.has("blkio", "blkio.weight") {
        last(cg.read("blkio", "blkio.weight"))
    } else {
        last(cg.read("blkio", "blkio.bfq.weight"))
    };
    assert_eq!(got.as_deref(), Some("300"));
    c.rt_ok(&["delete", &id]);
}

/// What the container reads at /sys/fs/cgroup (a `type: cgroup` mount): its own limits,
/// with or without a cgroup namespace.
fn container_sees_its_limits(cgroupns: bool) {
    let mut c = Ctx::new();
    if cgroupns {
        c.cgroupns();
    } else {
        c.config["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]
        }));
    }
    c.resource("memory", json!({"limit": 48 * MIB}));
    c.resource("pids", json!({"limit": 37}));
    let (mem, pids) = if is_v2() && !cgroupns && !is_berth() {
        // runc 1.1.5 on v2 without a cgroup namespace mounts a new cgroup2 there: the whole
        // hierarchy as the host sees it, the container's limits at its own path in it
        // (berth binds the container's cgroup at /sys/fs/cgroup).
        let own = format!("/sys/fs/cgroup/{}", c.cgroup().path);
        (format!("{own}/memory.max"), format!("{own}/pids.max"))
    } else if is_v2() {
        (
            "/sys/fs/cgroup/memory.max".to_string(),
            "/sys/fs/cgroup/pids.max".to_string(),
        )
    } else {
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes".to_string(),
            "/sys/fs/cgroup/pids/pids.max".to_string(),
        )
    };
    c.sh(&format!(
        "cat {mem} {pids}; grep ' /sys/fs/cgroup' /proc/self/mounts"
    ));
    let (out, _) = c.run();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let seen = format!("{}\nstderr: {}", text(&out.stdout), text(&out.stderr));
    let mut lines = seen.lines();
    assert_eq!(
        lines.next(),
        Some((48 * MIB).to_string().as_str()),
        "{seen}"
    );
    assert_eq!(lines.next(), Some("37"), "{seen}");
    let mounts: Vec<&str> = lines
        .take_while(|l| !l.starts_with("stderr: "))
        .filter(|l| !l.is_empty())
        .collect();
    assert!(!mounts.is_empty(), "no cgroup mount: {seen}");
    for m in &mounts {
        let f: Vec<&str> = m.split_whitespace().collect();
        assert!(f[1].starts_with("/sys/fs/cgroup"), "{m}");
        // runc 1.1 leaves the v1 tmpfs holding the hierarchies writable.
        if f[2] != "tmpfs" || is_berth() {
            assert!(f[3].split(',').any(|o| o == "ro"), "read-only: {m}");
        }
    }
    if cgroupns {
        let want = if is_v2() { "cgroup2" } else { "cgroup" };
        assert!(
            mounts
                .iter()
                .any(|m| m.split_whitespace().nth(2) == Some(want)),
            "{seen}"
        );
    }
}

#[test]
fn container_sees_its_limits_with_cgroup_namespace() {
    container_sees_its_limits(true);
}

#[test]
fn container_sees_its_limits_without_cgroup_namespace() {
    container_sees_its_limits(false);
}
