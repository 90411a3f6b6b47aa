//! v1 manager against a fake cgroupfs: which file gets which value.

use serde_json::json;

use super::*;
use crate::testutil::{resources, FakeFs};

const CG: &str = "berth/c1";

/// A fake host with the usual v1 controllers and the leaf already there.
fn host() -> (FakeFs, V1Manager) {
    let fs = FakeFs::new();
    for (ctl, files) in [
        (
            "memory",
            &[
                "memory.limit_in_bytes",
                "memory.memsw.limit_in_bytes",
                "memory.soft_limit_in_bytes",
                "memory.swappiness",
                "memory.oom_control",
                "memory.kmem.limit_in_bytes",
                "cgroup.procs",
            ][..],
        ),
        (
            "cpu",
            &[
                "cpu.shares",
                "cpu.cfs_quota_us",
                "cpu.cfs_period_us",
                "cpu.cfs_burst_us",
                "cpu.idle",
                "cgroup.procs",
            ][..],
        ),
        ("cpuacct", &["cgroup.procs"][..]),
        (
            "cpuset",
            &["cpuset.cpus", "cpuset.mems", "cgroup.procs"][..],
        ),
        ("pids", &["pids.max", "cgroup.procs"][..]),
        (
            "blkio",
            &[
                "blkio.bfq.weight",
                "blkio.bfq.weight_device",
                "blkio.throttle.read_bps_device",
                "blkio.throttle.write_iops_device",
                "cgroup.procs",
            ][..],
        ),
        (
            "devices",
            &["devices.allow", "devices.deny", "cgroup.procs"][..],
        ),
        ("freezer", &["freezer.state", "cgroup.procs"][..]),
    ] {
        for f in files {
            fs.file(&format!("{ctl}/{CG}/{f}"), "");
        }
    }
    fs.file(
        &format!("memory/{CG}/memory.memsw.limit_in_bytes"),
        "9223372036854771712\n",
    );
    let m = V1Manager::new(fs.root(), Path::new(CG));
    (fs, m)
}

#[test]
fn memory_fields_go_to_their_files() {
    let (fs, m) = host();
    m.apply(&resources(json!({"memory": {
        "limit": 104857600, "swap": 209715200, "reservation": 52428800,
        "kernel": 1000000, "kernelTCP": 1000000, "swappiness": 10, "disableOOMKiller": true
    }})))
    .unwrap();
    assert_eq!(
        fs.read("memory/berth/c1/memory.limit_in_bytes"),
        "104857600"
    );
    assert_eq!(
        fs.read("memory/berth/c1/memory.memsw.limit_in_bytes"),
        "209715200"
    );
    assert_eq!(
        fs.read("memory/berth/c1/memory.soft_limit_in_bytes"),
        "52428800"
    );
    assert_eq!(
        fs.read("memory/berth/c1/memory.kmem.limit_in_bytes"),
        "1000000"
    );
    assert_eq!(fs.read("memory/berth/c1/memory.swappiness"), "10");
    assert_eq!(fs.read("memory/berth/c1/memory.oom_control"), "1");
}

#[test]
fn unlimited_memory_lifts_memsw_too() {
    let (fs, m) = host();
    fs.file("memory/berth/c1/memory.memsw.limit_in_bytes", "1000");
    m.apply(&resources(json!({"memory": {"limit": -1}})))
        .unwrap();
    assert_eq!(fs.read("memory/berth/c1/memory.memsw.limit_in_bytes"), "-1");
    assert_eq!(fs.read("memory/berth/c1/memory.limit_in_bytes"), "-1");
}

#[test]
fn finite_swap_over_unlimited_memory_is_refused() {
    let (_fs, m) = host();
    let e = m
        .apply(&resources(json!({"memory": {"limit": -1, "swap": 1000}})))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("linux.resources.memory.swap"), "{e}");
}

#[test]
fn swap_below_limit_and_bad_swappiness_are_refused() {
    let (_fs, m) = host();
    let e = m
        .apply(&resources(json!({"memory": {"limit": 200, "swap": 100}})))
        .unwrap_err();
    assert!(
        e.to_string().starts_with("linux.resources.memory.swap"),
        "{e}"
    );
    let e = m
        .apply(&resources(json!({"memory": {"swappiness": 101}})))
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("linux.resources.memory.swappiness"),
        "{e}"
    );
}

#[test]
fn cpu_and_cpuset_fields_go_to_their_files() {
    let (fs, m) = host();
    m.apply(&resources(json!({"cpu": {
        "shares": 512, "quota": 50000, "period": 100000, "burst": 10000,
        "idle": 0, "cpus": "0", "mems": "0"
    }})))
    .unwrap();
    assert_eq!(fs.read("cpu/berth/c1/cpu.shares"), "512");
    assert_eq!(fs.read("cpu/berth/c1/cpu.cfs_quota_us"), "50000");
    assert_eq!(fs.read("cpu/berth/c1/cpu.cfs_period_us"), "100000");
    assert_eq!(fs.read("cpu/berth/c1/cpu.cfs_burst_us"), "10000");
    assert_eq!(fs.read("cpu/berth/c1/cpu.idle"), "0");
    assert_eq!(fs.read("cpuset/berth/c1/cpuset.cpus"), "0");
    assert_eq!(fs.read("cpuset/berth/c1/cpuset.mems"), "0");
}

#[test]
fn realtime_without_kernel_support_names_the_field() {
    let (_fs, m) = host();
    let e = m
        .apply(&resources(json!({"cpu": {"realtimeRuntime": 950000}})))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "linux.resources.cpu.realtimeRuntime: the kernel has no cpu.rt_runtime_us"
    );
}

#[test]
fn burst_above_quota_is_refused() {
    let (_fs, m) = host();
    let e = m
        .apply(&resources(json!({"cpu": {"quota": 1000, "burst": 2000}})))
        .unwrap_err();
    assert!(
        e.to_string().starts_with("linux.resources.cpu.burst"),
        "{e}"
    );
}

#[test]
fn pids_limit_zero_or_negative_is_max() {
    let (fs, m) = host();
    m.apply(&resources(json!({"pids": {"limit": 0}}))).unwrap();
    assert_eq!(fs.read("pids/berth/c1/pids.max"), "max");
    m.apply(&resources(json!({"pids": {"limit": 32}}))).unwrap();
    assert_eq!(fs.read("pids/berth/c1/pids.max"), "32");
    m.apply(&resources(json!({"pids": {"limit": -1}}))).unwrap();
    assert_eq!(fs.read("pids/berth/c1/pids.max"), "max");
}

#[test]
fn blkio_uses_bfq_files_when_cfq_is_absent() {
    let (fs, m) = host();
    m.apply(&resources(json!({"blockIO": {
        "weight": 300,
        "weightDevice": [{"major": 8, "minor": 0, "weight": 500}],
        "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
        "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 300}]
    }})))
    .unwrap();
    assert_eq!(fs.read("blkio/berth/c1/blkio.bfq.weight"), "300");
    assert_eq!(fs.read("blkio/berth/c1/blkio.bfq.weight_device"), "8:0 500");
    assert_eq!(
        fs.read("blkio/berth/c1/blkio.throttle.read_bps_device"),
        "8:0 1048576"
    );
    assert_eq!(
        fs.read("blkio/berth/c1/blkio.throttle.write_iops_device"),
        "8:16 300"
    );
    let e = m
        .apply(&resources(json!({"blockIO": {"leafWeight": 10}})))
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("linux.resources.blockIO.leafWeight"),
        "{e}"
    );
}

#[test]
fn devices_deny_all_first_then_rules_in_order() {
    let rules = crate::devices::rules_from_spec(
        &resources(json!({"devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"},
            {"allow": false, "type": "c", "major": 5, "minor": 1, "access": "w"}
        ]}))
        .devices()
        .clone()
        .unwrap(),
    )
    .unwrap();
    let w = devices::writes(&rules);
    assert_eq!(
        w,
        [
            ("devices.deny", "a *:* rwm".to_string()),
            ("devices.deny", "a *:* rwm".to_string()),
            ("devices.allow", "c 1:3 rw".to_string()),
            ("devices.deny", "c 5:1 w".to_string()),
        ]
    );
    let (fs, m) = host();
    m.apply(&resources(
        json!({"devices": [{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}]}),
    ))
    .unwrap();
    assert_eq!(fs.read("devices/berth/c1/devices.deny"), "a *:* rwm");
    assert_eq!(fs.read("devices/berth/c1/devices.allow"), "c 1:3 rw");
}

#[test]
fn missing_controllers_name_the_field() {
    let (_fs, m) = host();
    let e = m
        .apply(&resources(json!({"network": {"classID": 1048577}})))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "linux.resources.network.classID: net_cls controller not mounted"
    );
    let e = m
        .apply(&resources(
            json!({"network": {"priorities": [{"name": "eth0", "priority": 5}]}}),
        ))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "linux.resources.network.priorities: net_prio controller not mounted"
    );
    let e = m
        .apply(&resources(
            json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]}),
        ))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "linux.resources.hugepageLimits: hugetlb controller not mounted"
    );
    let e = m
        .apply(&resources(json!({"rdma": {"mlx5_1": {"hcaHandles": 3}}})))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "linux.resources.rdma: rdma controller not mounted"
    );
    let e = m
        .apply(&resources(json!({"unified": {"memory.high": "1"}})))
        .unwrap_err();
    assert!(e.to_string().starts_with("linux.resources.unified:"), "{e}");
}

#[test]
fn net_cls_net_prio_hugetlb_rdma_when_mounted() {
    let (fs, m) = host();
    fs.file("net_cls/berth/c1/net_cls.classid", "");
    fs.file("net_prio/berth/c1/net_prio.ifpriomap", "");
    fs.file("hugetlb/berth/c1/hugetlb.2MB.limit_in_bytes", "");
    fs.file("rdma/berth/c1/rdma.max", "");
    m.apply(&resources(json!({
        "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
        "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 100}}
    })))
    .unwrap();
    assert_eq!(fs.read("net_cls/berth/c1/net_cls.classid"), "1048577");
    assert_eq!(fs.read("net_prio/berth/c1/net_prio.ifpriomap"), "eth0 5");
    assert_eq!(
        fs.read("hugetlb/berth/c1/hugetlb.2MB.limit_in_bytes"),
        "4194304"
    );
    assert_eq!(
        fs.read("rdma/berth/c1/rdma.max"),
        "mlx5_1 hca_handle=3 hca_object=100"
    );
    let e = m
        .apply(&resources(
            json!({"hugepageLimits": [{"pageSize": "3MB", "limit": 1}]}),
        ))
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("linux.resources.hugepageLimits[0]: page size `3MB`"),
        "{e}"
    );
}

#[test]
fn create_copies_cpuset_from_parent_at_every_level() {
    let fs = FakeFs::new();
    fs.file("cpuset/cpuset.cpus", "0-1\n")
        .file("cpuset/cpuset.mems", "0\n");
    for lvl in ["cpuset/berth", "cpuset/berth/c1"] {
        fs.file(&format!("{lvl}/cpuset.cpus"), "\n")
            .file(&format!("{lvl}/cpuset.mems"), "\n");
    }
    let m = V1Manager::new(fs.root(), Path::new(CG));
    m.create().unwrap();
    assert_eq!(fs.read("cpuset/berth/cpuset.cpus"), "0-1");
    assert_eq!(fs.read("cpuset/berth/c1/cpuset.cpus"), "0-1");
    assert_eq!(fs.read("cpuset/berth/c1/cpuset.mems"), "0");
}

#[test]
fn create_makes_the_path_in_every_mounted_hierarchy() {
    let fs = FakeFs::new();
    for c in ["memory", "pids", "freezer"] {
        std::fs::create_dir(fs.path(c)).unwrap();
    }
    let m = V1Manager::new(fs.root(), Path::new("a/b/c"));
    assert!(!m.exists());
    m.create().unwrap();
    for c in ["memory", "pids", "freezer"] {
        assert!(fs.path(&format!("{c}/a/b/c")).is_dir());
    }
    assert!(m.exists());
    m.destroy().unwrap();
    assert!(!m.exists());
    assert!(
        fs.path("memory/a/b").is_dir(),
        "only the container's own cgroup is removed"
    );
    m.destroy().unwrap();
}

#[test]
fn stats_parse_sample_files() {
    let (fs, m) = host();
    fs.file("cpuacct/berth/c1/cpuacct.usage", "123456789\n")
        .file("cpuacct/berth/c1/cpuacct.usage_percpu", "100 200 \n")
        .file("cpuacct/berth/c1/cpuacct.stat", "user 10\nsystem 5\n")
        .file(
            "cpu/berth/c1/cpu.stat",
            "nr_periods 7\nnr_throttled 2\nthrottled_time 999\n",
        )
        .file("memory/berth/c1/memory.usage_in_bytes", "4096\n")
        .file("memory/berth/c1/memory.limit_in_bytes", "1048576\n")
        .file("memory/berth/c1/memory.max_usage_in_bytes", "8192\n")
        .file("memory/berth/c1/memory.failcnt", "3\n")
        .file(
            "memory/berth/c1/memory.kmem.limit_in_bytes",
            "9223372036854771712\n",
        )
        .file(
            "memory/berth/c1/memory.stat",
            "cache 100\ntotal_cache 200\nrss 50\n",
        )
        .file("pids/berth/c1/pids.current", "4\n")
        .file("pids/berth/c1/pids.max", "max\n")
        .file(
            "blkio/berth/c1/blkio.throttle.io_service_bytes_recursive",
            "8:0 Read 4096\n8:0 Write 512\n8:0 Total 4608\nTotal 4608\n",
        )
        .file(
            "blkio/berth/c1/blkio.throttle.io_serviced_recursive",
            "8:0 Read 2\n8:0 Write 1\n",
        );
    let s = m.stats().unwrap();
    assert_eq!(s.cpu.usage.total, 123456789);
    assert_eq!(s.cpu.usage.percpu, [100, 200]);
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    assert_eq!(s.cpu.usage.user, 10 * (1_000_000_000 / hz));
    assert_eq!(s.cpu.throttling.throttled_periods, 2);
    assert_eq!(s.memory.usage.usage, 4096);
    assert_eq!(s.memory.usage.limit, 1048576);
    assert_eq!(s.memory.usage.max, 8192);
    assert_eq!(s.memory.usage.failcnt, 3);
    assert_eq!(s.memory.cache, 200, "hierarchical total_cache wins");
    assert_eq!(s.memory.raw["rss"], 50);
    assert_eq!((s.pids.current, s.pids.limit), (4, 0));
    assert_eq!(
        s.blkio.io_service_bytes_recursive.len(),
        3,
        "the bare Total line is dropped"
    );
    assert_eq!(s.blkio.io_service_bytes_recursive[1].op, "Write");
    assert_eq!(s.blkio.io_serviced_recursive[0].value, 2);
}

#[test]
fn freezer_state_and_oom_counter_parse() {
    let (fs, m) = host();
    fs.file("freezer/berth/c1/freezer.state", "FREEZING\n");
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Freezing);
    fs.file(
        "memory/berth/c1/memory.oom_control",
        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
    );
    assert_eq!(m.oom_kill_count().unwrap(), 2);
}

#[test]
fn add_task_writes_every_hierarchy() {
    let (fs, m) = host();
    m.add_task(4242).unwrap();
    for c in ["memory", "cpu", "pids", "freezer", "devices"] {
        assert_eq!(fs.read(&format!("{c}/berth/c1/cgroup.procs")), "4242");
    }
}
