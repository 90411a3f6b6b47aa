//! v1 manager against a fake cgroupfs: which file gets which value.

use serde_json::json;

use super::*;
use crate::testutil::{resources, FakeFs};

const CG: &str = "berth/c1";

/// The hierarchies of [`host`]: one per controller, as on the build host.
const USUAL: [&[&str]; 8] = [
    &["memory"],
    &["cpu"],
    &["cpuacct"],
    &["cpuset"],
    &["pids"],
    &["blkio"],
    &["devices"],
    &["freezer"],
];

fn manager(fs: &FakeFs, hierarchies: &[&[&str]], hybrid: bool, rel: &str) -> V1Manager {
    let hier = Hierarchies::v1_at(fs.root(), hierarchies, hybrid);
    V1Manager::new(Arc::new(hier), Path::new(rel))
}

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
    let m = manager(&fs, &USUAL, false, CG);
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
            ("devices.deny", "a".to_string()),
            ("devices.allow", "c 1:3 rw".to_string()),
            ("devices.deny", "c 5:1 w".to_string()),
        ]
    );
    let (fs, m) = host();
    m.apply(&resources(
        json!({"devices": [{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}]}),
    ))
    .unwrap();
    assert_eq!(fs.read("devices/berth/c1/devices.deny"), "a");
    assert_eq!(fs.read("devices/berth/c1/devices.allow"), "c 1:3 rw");
}

#[test]
fn devices_written_once_per_rule() {
    // The runtime's list: the spec's deny-all, runc's defaults, then the
    // defaults again as `linux.devices` entries.
    let mut list = vec![json!({"allow": false, "access": "rwm"})];
    let defaults = [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
    ];
    for _ in 0..2 {
        for (maj, min) in defaults {
            list.push(
                json!({"allow": true, "type": "c", "major": maj, "minor": min, "access": "rwm"}),
            );
        }
    }
    let rules = crate::devices::rules_from_spec(
        &resources(json!({ "devices": list }))
            .devices()
            .clone()
            .unwrap(),
    )
    .unwrap();
    let w = devices::writes(&rules);
    assert_eq!(w.len(), 1 + defaults.len(), "{w:?}");
    assert_eq!(w[0], ("devices.deny", "a".to_string()));
}

#[test]
fn an_a_rule_with_numbers_is_written_as_c_and_b() {
    // `a 1:3 r` would read as "allow everything" to the kernel.
    let rules = crate::devices::rules_from_spec(
        &resources(json!({"devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "a", "major": 1, "minor": 3, "access": "r"},
            {"allow": true, "access": "r"}
        ]}))
        .devices()
        .clone()
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        devices::writes(&rules),
        [
            ("devices.deny", "a".to_string()),
            ("devices.allow", "c 1:3 r".to_string()),
            ("devices.allow", "b 1:3 r".to_string()),
            ("devices.allow", "c *:* r".to_string()),
            ("devices.allow", "b *:* r".to_string()),
        ]
    );
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
    let fs = FakeFs::new();
    let mut all = USUAL.to_vec();
    all.extend([&["net_cls"][..], &["net_prio"], &["hugetlb"], &["rdma"]]);
    let m = manager(&fs, &all, false, CG);
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
fn a_new_cpuset_level_gets_the_parent_values_and_clone_children() {
    let fs = FakeFs::new();
    fs.file("cpuset/cpuset.cpus", "0-1\n")
        .file("cpuset/cpuset.mems", "0\n");
    // What the kernel gives a new level without clone_children in its parent.
    fs.file("cpuset/berth/cpuset.cpus", "\n")
        .file("cpuset/berth/cpuset.mems", "\n")
        .file("cpuset/berth/cgroup.clone_children", "0\n");
    let top = fs.path("cpuset");
    cpuset::init_new_level(&fs.path("cpuset/berth"), &top, false).unwrap();
    assert_eq!(fs.read("cpuset/berth/cpuset.cpus"), "0-1");
    assert_eq!(fs.read("cpuset/berth/cpuset.mems"), "0");
    assert_eq!(fs.read("cpuset/berth/cgroup.clone_children"), "1");
    // Below it the kernel copies the values: the leaf is read once, no more.
    fs.file("cpuset/berth/c1/cpuset.cpus", "0-1\n")
        .file("cpuset/berth/c1/cpuset.mems", "untouched");
    cpuset::init_new_level(&fs.path("cpuset/berth/c1"), &top, true).unwrap();
    assert_eq!(fs.read("cpuset/berth/c1/cpuset.mems"), "untouched");
}

#[test]
fn an_empty_cpuset_parent_made_by_someone_else_is_filled_from_above() {
    let fs = FakeFs::new();
    fs.file("cpuset/cpuset.cpus", "0-1\n")
        .file("cpuset/cpuset.mems", "0\n");
    for lvl in ["cpuset/a", "cpuset/a/c1"] {
        fs.file(&format!("{lvl}/cpuset.cpus"), "\n")
            .file(&format!("{lvl}/cpuset.mems"), "\n");
    }
    cpuset::init_new_level(&fs.path("cpuset/a/c1"), &fs.path("cpuset"), true).unwrap();
    for lvl in ["cpuset/a", "cpuset/a/c1"] {
        assert_eq!(fs.read(&format!("{lvl}/cpuset.cpus")), "0-1");
        assert_eq!(fs.read(&format!("{lvl}/cpuset.mems")), "0");
    }
}

#[test]
fn create_leaves_existing_levels_alone() {
    let fs = FakeFs::new();
    // Existing levels (the kernel would have filled them long ago) are not
    // read: these empty files would make the leaf unusable if they were.
    fs.file("cpuset/cpuset.cpus", "0-1\n")
        .file("cpuset/berth/c1/cpuset.cpus", "")
        .file("cpuset/berth/c1/cpuset.mems", "");
    let m = manager(&fs, &[&["cpuset"]], false, CG);
    m.create().unwrap();
    assert_eq!(fs.read("cpuset/berth/c1/cpuset.cpus"), "");
}

#[test]
fn create_makes_the_path_in_every_mounted_hierarchy() {
    let fs = FakeFs::new();
    for c in ["memory", "pids", "freezer"] {
        std::fs::create_dir(fs.path(c)).unwrap();
    }
    let m = manager(
        &fs,
        &[&["memory"], &["pids"], &["freezer"], &["name=systemd"]],
        true,
        "a/b/c",
    );
    // A plain directory named after a controller is no hierarchy.
    std::fs::create_dir(fs.path("hugetlb")).unwrap();
    for d in ["systemd", "unified"] {
        std::fs::create_dir(fs.path(d)).unwrap();
    }
    assert!(!m.exists());
    m.create().unwrap();
    for c in ["memory", "pids", "freezer", "systemd", "unified"] {
        assert!(fs.path(&format!("{c}/a/b/c")).is_dir(), "{c}");
    }
    assert!(!fs.path("hugetlb/a").exists());
    assert!(m.exists());
    m.destroy().unwrap();
    assert!(!m.exists());
    assert!(
        fs.path("memory/a/b").is_dir() && fs.path("unified/a/b").is_dir(),
        "only the container's own cgroup is removed"
    );
    m.destroy().unwrap();
}

#[test]
fn co_mounted_controllers_share_one_directory() {
    let fs = FakeFs::new();
    let m = manager(
        &fs,
        &[&["cpu", "cpuacct"], &["net_cls", "net_prio"]],
        false,
        CG,
    );
    assert_eq!(m.dir(Controller::Cpuacct), m.dir(Controller::Cpu));
    assert_eq!(m.dir(Controller::Cpu), Some(fs.path("cpu/berth/c1")));
    assert_eq!(
        m.dir(Controller::NetPrio),
        Some(fs.path("net_cls/berth/c1"))
    );
    assert_eq!(m.dirs().len(), 2);
}

#[test]
fn a_level_that_is_a_file_is_named_and_nothing_is_left() {
    let fs = FakeFs::new();
    for c in ["memory", "pids", "freezer"] {
        std::fs::create_dir(fs.path(c)).unwrap();
    }
    // Only the pids hierarchy has a file where the path goes through.
    fs.file("pids/cgroup.procs", "");
    let m = manager(
        &fs,
        &[&["memory"], &["pids"], &["freezer"]],
        false,
        "cgroup.procs/c1",
    );
    let e = m.create().unwrap_err();
    assert!(matches!(e, CgroupError::NotADirectory { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!(
            "linux.cgroupsPath: `{}` is not a directory, so no cgroup can be made there",
            fs.path("pids/cgroup.procs").display()
        )
    );
    assert!(
        !fs.path("memory/cgroup.procs").exists(),
        "memory's levels are removed"
    );
    assert_eq!(m.check_usable().unwrap(), Vec::<i32>::new());
}

#[test]
fn frozen_target_or_parent_is_refused_before_create() {
    let fs = FakeFs::new();
    for c in ["pids", "freezer"] {
        std::fs::create_dir(fs.path(c)).unwrap();
    }
    let m = manager(&fs, &[&["pids"], &["freezer"]], false, CG);
    // Nothing there yet, nothing frozen.
    fs.file("freezer/freezer.state", "THAWED\n");
    assert_eq!(m.check_usable().unwrap(), Vec::<i32>::new());
    fs.file("freezer/berth/freezer.state", "FROZEN\n");
    let e = m.check_usable().unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "container's cgroup is frozen: `{}` is FROZEN; thaw it or use another linux.cgroupsPath",
            fs.path("freezer/berth").display()
        )
    );
    fs.file("freezer/berth/freezer.state", "THAWED\n")
        .file("freezer/berth/c1/freezer.state", "FREEZING\n");
    assert!(matches!(
        m.check_usable(),
        Err(CgroupError::Frozen {
            state: "FREEZING",
            ..
        })
    ));
    // An existing, thawed cgroup with processes: their pids.
    fs.file("freezer/berth/c1/freezer.state", "THAWED\n")
        .file("pids/berth/c1/cgroup.procs", "12\n34\n")
        .file("pids/berth/c1/sub/cgroup.procs", "56\n");
    assert_eq!(m.check_usable().unwrap(), [12, 34, 56]);
}

#[test]
fn without_hierarchies_create_says_so() {
    let fs = FakeFs::new();
    let m = manager(&fs, &[&["name=mytool"]], false, CG);
    let e = m.create().unwrap_err();
    assert!(matches!(e, CgroupError::NoHierarchy { .. }), "{e:?}");
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
