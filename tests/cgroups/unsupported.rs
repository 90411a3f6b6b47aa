//! Resource fields this host cannot honour fail `create` with an error naming the field,
//! and leave no container, cgroup or process behind.

use std::path::Path;

use serde_json::{json, Value};

use super::util::{is_berth, is_v2, text, Ctx};

fn refused(key: &str, value: Value, field: &str) {
    let mut c = Ctx::new();
    c.sh("exec sleep 1000");
    c.resource(key, value);
    let (out, _) = c.try_create();
    let err = text(&out.stderr);
    assert!(!out.status.success(), "create with {key} succeeded");
    assert!(err.contains(field), "the error names {field}: {err}");
    assert!(
        c.cgroup().existing().is_empty(),
        "cgroup left: {:?}",
        c.cgroup().existing()
    );
    assert_eq!(c.rt_ok(&["list", "-q"]).trim(), "", "state left");
}

fn mounted(controller: &str) -> bool {
    Path::new("/sys/fs/cgroup").join(controller).is_dir()
}

#[test]
fn network_class_id_is_refused_without_net_cls() {
    if !is_berth() || (!is_v2() && mounted("net_cls")) {
        eprintln!("skipped: net_cls is available (or not berth)");
        return;
    }
    refused(
        "network",
        json!({"classID": 1048577}),
        "linux.resources.network.classID",
    );
}

#[test]
fn network_priorities_are_refused_without_net_prio() {
    if !is_berth() || (!is_v2() && mounted("net_prio")) {
        eprintln!("skipped: net_prio is available (or not berth)");
        return;
    }
    refused(
        "network",
        json!({"priorities": [{"name": "lo", "priority": 5}]}),
        "linux.resources.network.priorities",
    );
}

#[test]
fn hugepage_limits_are_refused_without_hugetlb() {
    let available = if is_v2() {
        std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
            .unwrap_or_default()
            .split_whitespace()
            .any(|c| c == "hugetlb")
    } else {
        mounted("hugetlb")
    };
    if !is_berth() || available {
        eprintln!("skipped: hugetlb is available (or not berth)");
        return;
    }
    refused(
        "hugepageLimits",
        json!([{"pageSize": "2MB", "limit": 4194304}]),
        "linux.resources.hugepageLimits",
    );
}

#[test]
fn unified_is_refused_on_cgroup_v1() {
    if !is_berth() || is_v2() {
        eprintln!("skipped: cgroup v2 host (or not berth)");
        return;
    }
    refused(
        "unified",
        json!({"memory.high": "100000000"}),
        "linux.resources.unified",
    );
}

#[test]
fn rdma_is_refused_without_the_rdma_controller() {
    if !is_berth() || is_v2() || mounted("rdma") {
        eprintln!("skipped: rdma is available (or v2, or not berth)");
        return;
    }
    refused(
        "rdma",
        json!({"mlx5_0": {"hcaHandles": 3}}),
        "linux.resources.rdma",
    );
}
