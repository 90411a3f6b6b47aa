//! v2 manager against a fake cgroupfs: which file gets which value.

use serde_json::json;

use super::*;
use crate::testutil::{resources, FakeFs};

const CG: &str = "berth/c1";

/// A fake unified hierarchy whose leaf has the common controllers' files.
fn host() -> (FakeFs, V2Manager) {
    let fs = FakeFs::new();
    fs.file("cgroup.controllers", "cpuset cpu io memory pids hugetlb\n")
        .file("cgroup.subtree_control", "")
        .file(
            &format!("{CG}/cgroup.controllers"),
            "cpuset cpu io memory pids\n",
        )
        .file(&format!("{CG}/cpu.max"), "max 100000\n");
    for f in [
        "cgroup.procs",
        "cgroup.freeze",
        "cgroup.events",
        "memory.max",
        "memory.swap.max",
        "memory.low",
        "memory.high",
        "cpu.weight",
        "cpu.max.burst",
        "cpu.idle",
        "pids.max",
        "io.weight",
        "io.max",
        "cpuset.cpus",
        "cpuset.mems",
    ] {
        fs.file(&format!("{CG}/{f}"), "");
    }
    let m = V2Manager::new(fs.root(), Path::new(CG));
    (fs, m)
}

#[test]
fn memory_limit_and_swap_follow_runc_semantics() {
    let (fs, m) = host();
    m.apply(&resources(json!({"memory": {
        "limit": 104857600, "swap": 314572800, "reservation": 52428800,
        "kernel": 1, "kernelTCP": 1, "disableOOMKiller": false
    }})))
    .unwrap();
    assert_eq!(fs.read("berth/c1/memory.max"), "104857600");
    assert_eq!(fs.read("berth/c1/memory.swap.max"), "209715200");
    assert_eq!(fs.read("berth/c1/memory.low"), "52428800");
    m.apply(&resources(json!({"memory": {"limit": -1}})))
        .unwrap();
    assert_eq!(fs.read("berth/c1/memory.max"), "max");
    assert_eq!(fs.read("berth/c1/memory.swap.max"), "max");
}

#[test]
fn v1_only_memory_fields_are_refused() {
    let (_fs, m) = host();
    let e = m
        .apply(&resources(json!({"memory": {"swappiness": 10}})))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "linux.resources.memory.swappiness: not available on cgroup v2"
    );
    let e = m
        .apply(&resources(json!({"memory": {"disableOOMKiller": true}})))
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("linux.resources.memory.disableOOMKiller"),
        "{e}"
    );
}

#[test]
fn check_before_update_refuses_limit_below_usage() {
    let (fs, m) = host();
    fs.file("berth/c1/memory.current", "5000\n");
    let r = resources(json!({"memory": {"limit": 1000, "checkBeforeUpdate": true}}));
    let e = m.apply(&r).unwrap_err();
    assert!(
        e.to_string().contains("below the current usage 5000"),
        "{e}"
    );
    assert_eq!(fs.read("berth/c1/memory.max"), "", "nothing written");
    m.apply(&resources(
        json!({"memory": {"limit": 10000, "checkBeforeUpdate": true}}),
    ))
    .unwrap();
    assert_eq!(fs.read("berth/c1/memory.max"), "10000");
}

#[test]
fn cpu_fields_map_to_v2_files() {
    let (fs, m) = host();
    m.apply(&resources(json!({"cpu": {
        "shares": 1024, "quota": 50000, "period": 200000, "burst": 1000, "idle": 1, "cpus": "0-1", "mems": "0"
    }})))
    .unwrap();
    assert_eq!(fs.read("berth/c1/cpu.weight"), "100");
    assert_eq!(fs.read("berth/c1/cpu.max"), "50000 200000");
    assert_eq!(fs.read("berth/c1/cpu.max.burst"), "1000");
    assert_eq!(fs.read("berth/c1/cpu.idle"), "1");
    assert_eq!(fs.read("berth/c1/cpuset.cpus"), "0-1");
    assert_eq!(fs.read("berth/c1/cpuset.mems"), "0");
    let e = m
        .apply(&resources(json!({"cpu": {"realtimePeriod": 1000000}})))
        .unwrap_err();
    assert!(e.to_string().contains("realtime"), "{e}");
}

#[test]
fn io_weight_is_converted_and_throttles_go_to_io_max() {
    let (fs, m) = host();
    m.apply(&resources(json!({"blockIO": {"weight": 500}})))
        .unwrap();
    assert_eq!(fs.read("berth/c1/io.weight"), "default 4950");
    m.apply(&resources(
        json!({"blockIO": {"throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}]}}),
    ))
    .unwrap();
    assert_eq!(fs.read("berth/c1/io.max"), "8:0 wbps=1048576");
    // With BFQ the blkio range is used as is.
    fs.file("berth/c1/io.bfq.weight", "");
    m.apply(&resources(
        json!({"blockIO": {"weightDevice": [{"major": 8, "minor": 0, "weight": 300}]}}),
    ))
    .unwrap();
    assert_eq!(fs.read("berth/c1/io.bfq.weight"), "8:0 300");
    let e = m
        .apply(&resources(json!({"blockIO": {"leafWeight": 300}})))
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("linux.resources.blockIO.leafWeight"),
        "{e}"
    );
}

#[test]
fn controller_not_enabled_names_the_field() {
    let (_fs, m) = host();
    let e = m
        .apply(&resources(
            json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]}),
        ))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "linux.resources.hugepageLimits: hugetlb controller not available in the cgroup"
    );
    let e = m
        .apply(&resources(json!({"network": {"classID": 7}})))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "linux.resources.network.classID: net_cls does not exist on cgroup v2"
    );
}

#[test]
fn pids_limit() {
    let (fs, m) = host();
    m.apply(&resources(json!({"pids": {"limit": 100}})))
        .unwrap();
    assert_eq!(fs.read("berth/c1/pids.max"), "100");
    m.apply(&resources(json!({"pids": {"limit": -1}}))).unwrap();
    assert_eq!(fs.read("berth/c1/pids.max"), "max");
}

#[test]
fn unified_writes_existing_files_and_names_missing_ones() {
    let (fs, m) = host();
    m.apply(&resources(json!({"unified": {"memory.high": "123456"}})))
        .unwrap();
    assert_eq!(fs.read("berth/c1/memory.high"), "123456");
    let e = m
        .apply(&resources(json!({"unified": {"rdma.max": "x"}})))
        .unwrap_err();
    assert!(
        e.to_string().contains("controller `rdma` is not available"),
        "{e}"
    );
    let e = m
        .apply(&resources(json!({"unified": {"memory.nope": "1"}})))
        .unwrap_err();
    assert!(e.to_string().contains("no such file `memory.nope`"), "{e}");
    let e = m
        .apply(&resources(json!({"unified": {"../memory.max": "1"}})))
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("linux.resources.unified.../memory.max"),
        "{e}"
    );
}

#[test]
fn controllers_to_enable_skips_enabled_ones() {
    assert_eq!(
        controllers_to_enable("cpu io memory pids\n", "io pids\n"),
        ["cpu", "memory"]
    );
    assert!(controllers_to_enable("cpu\n", "cpu").is_empty());
}

#[test]
fn create_makes_parents_and_leaves_leaf_subtree_alone() {
    let fs = FakeFs::new();
    fs.file("cgroup.controllers", "memory pids\n")
        .file("cgroup.subtree_control", "pids\n");
    let m = V2Manager::new(fs.root(), Path::new("a/b"));
    // A plain directory gets no files on mkdir: the new level `a` has no
    // cgroup.subtree_control, so its write fails and nothing is passed down
    // (a real cgroupfs makes the file); the root's missing one is written
    // in one go.
    m.create().unwrap();
    assert!(fs.path("a/b").is_dir());
    assert_eq!(fs.read("cgroup.subtree_control"), "+memory");
    assert!(!fs.path("a/b/cgroup.subtree_control").exists());
    m.destroy().unwrap();
    assert!(!fs.path("a/b").exists() && fs.path("a").is_dir());
}

#[test]
fn controllers_are_enabled_in_one_write() {
    let fs = FakeFs::new();
    fs.file("a/cgroup.subtree_control", "");
    assert_eq!(
        enable_these(&fs.path("a"), &["cpu", "memory", "pids"]),
        ["cpu", "memory", "pids"]
    );
    assert_eq!(fs.read("a/cgroup.subtree_control"), "+cpu +memory +pids");
}

#[test]
fn an_existing_parent_is_trusted_and_fixed_only_when_a_field_needs_it() {
    let fs = FakeFs::new();
    fs.file("cgroup.controllers", "cpu memory pids\n")
        .file("cgroup.subtree_control", "")
        .file("berth/cgroup.controllers", "cpu memory pids\n")
        .file("berth/cgroup.subtree_control", "");
    let m = V2Manager::new(fs.root(), Path::new(CG));
    m.create().unwrap();
    // Only the leaf was made: no level was read or written.
    assert_eq!(fs.read("cgroup.subtree_control"), "");
    assert_eq!(fs.read("berth/cgroup.subtree_control"), "");
    // The kernel would now list pids in the leaf once enabled above it.
    fs.file(&format!("{CG}/cgroup.controllers"), "")
        .file(&format!("{CG}/pids.max"), "");
    m.apply(&resources(json!({"pids": {"limit": 5}}))).unwrap();
    assert_eq!(fs.read("cgroup.subtree_control"), "+pids");
    assert_eq!(fs.read("berth/cgroup.subtree_control"), "+pids");
    assert_eq!(fs.read(&format!("{CG}/pids.max")), "5");
}

#[test]
fn stats_parse_sample_files() {
    let (fs, m) = host();
    fs.file("berth/c1/cpu.stat", "usage_usec 10\nuser_usec 6\nsystem_usec 4\nnr_periods 3\nnr_throttled 1\nthrottled_usec 7\n")
        .file("berth/c1/memory.current", "4096\n")
        .file("berth/c1/memory.max", "max\n")
        .file("berth/c1/memory.swap.max", "max\n")
        .file("berth/c1/memory.events", "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n")
        .file("berth/c1/memory.stat", "anon 100\nfile 300\n")
        .file("berth/c1/pids.current", "3\n")
        .file("berth/c1/pids.max", "64\n")
        .file("berth/c1/io.stat", "8:0 rbytes=4096 wbytes=512 rios=2 wios=1 dbytes=0 dios=0\n");
    let s = m.stats().unwrap();
    assert_eq!(s.cpu.usage.total, 10_000);
    assert_eq!(s.cpu.usage.user, 6_000);
    assert_eq!(s.cpu.throttling.throttled_time, 7_000);
    assert_eq!(s.memory.usage.usage, 4096);
    assert_eq!(s.memory.usage.limit, u64::MAX);
    assert_eq!(s.memory.usage.failcnt, 5);
    assert_eq!(s.memory.cache, 300);
    assert_eq!((s.pids.current, s.pids.limit), (3, 64));
    assert_eq!(s.blkio.io_service_bytes_recursive[0].value, 4096);
    assert_eq!(s.blkio.io_serviced_recursive[1].op, "Write");
    assert_eq!(m.oom_kill_count().unwrap(), 1);
}

#[test]
fn freezer_state_reads_freeze_and_events() {
    let (fs, m) = host();
    fs.file("berth/c1/cgroup.freeze", "0\n")
        .file("berth/c1/cgroup.events", "populated 1\nfrozen 0\n");
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Thawed);
    fs.file("berth/c1/cgroup.freeze", "1\n");
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Freezing);
    fs.file("berth/c1/cgroup.events", "populated 1\nfrozen 1\n");
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Frozen);
    // Frozen by an ancestor.
    fs.file("berth/c1/cgroup.freeze", "0\n");
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Frozen);
}

#[test]
fn manager_from_cgroups_path() {
    use crate::hierarchy::Hierarchies;
    use std::sync::Arc;
    let fs = FakeFs::new();
    let unified = Arc::new(Hierarchies::unified_at(fs.root()));
    let m = crate::Manager::with_hierarchies(unified.clone(), "/berth/x", "x", false).unwrap();
    assert_eq!(m.unified_dir().unwrap(), fs.path("berth/x"));
    assert_eq!(m.paths(), [fs.path("berth/x")]);
    let hybrid = Arc::new(Hierarchies::v1_at(fs.root(), &[&["memory"]], true));
    let m = crate::Manager::with_hierarchies(hybrid, "", "x", false).unwrap();
    assert_eq!(m.version(), "v1");
    assert!(m.unified_dir().is_none());
    assert_eq!(
        m.paths(),
        [fs.path("memory/berth/x"), fs.path("unified/berth/x")]
    );
    let m = crate::Manager::with_hierarchies(unified.clone(), "system.slice:berth:x", "x", true)
        .unwrap();
    assert_eq!(m.version(), "systemd");
    let e = m.create().unwrap_err();
    assert!(e.to_string().contains("create_with_pid"), "{e}");
    let e =
        crate::Manager::with_hierarchies(unified, "system.slice:berth:x", "x", false).unwrap_err();
    assert!(e.to_string().contains("cgroupfs driver"), "{e}");
}

#[test]
fn frozen_target_or_parent_is_refused_before_create() {
    let fs = FakeFs::new();
    let m = V2Manager::new(fs.root(), Path::new(CG));
    // The root has no cgroup.events and cannot be frozen; nothing made yet.
    assert_eq!(m.check_usable().unwrap(), Vec::<i32>::new());
    fs.file("berth/cgroup.events", "populated 0\nfrozen 1\n");
    let e = m.check_usable().unwrap_err();
    assert!(
        matches!(&e, CgroupError::Frozen { path, state: "FROZEN" } if path == &fs.path("berth")),
        "{e:?}"
    );
    fs.file("berth/cgroup.events", "populated 0\nfrozen 0\n")
        .file(&format!("{CG}/cgroup.events"), "populated 0\nfrozen 0\n")
        .file(&format!("{CG}/cgroup.freeze"), "1\n");
    assert!(matches!(
        m.check_usable(),
        Err(CgroupError::Frozen {
            state: "FREEZING",
            ..
        })
    ));
    fs.file(&format!("{CG}/cgroup.freeze"), "0\n")
        .file(&format!("{CG}/cgroup.procs"), "7\n");
    assert_eq!(m.check_usable().unwrap(), [7]);
}

#[test]
fn a_level_that_is_a_file_is_named() {
    let fs = FakeFs::new();
    fs.file("cgroup.procs", "");
    let m = V2Manager::new(fs.root(), Path::new("cgroup.procs/c1"));
    let e = m.create().unwrap_err();
    assert!(
        matches!(&e, CgroupError::NotADirectory { path } if path == &fs.path("cgroup.procs")),
        "{e:?}"
    );
    assert_eq!(m.check_usable().unwrap(), Vec::<i32>::new());
    m.destroy().unwrap();
}
