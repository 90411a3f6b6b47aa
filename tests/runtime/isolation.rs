//! Namespaces: what the container sees of pid, uts, user, net, ipc, cgroup and time.

use serde_json::json;

use super::harness::Ctx;

#[test]
fn pid_namespace_makes_the_process_pid_1() {
    let mut c = Ctx::new();
    c.sh("echo $$; ps -o pid | wc -l");
    let out = c.run_ok();
    let mut l = out.lines();
    assert_eq!(l.next(), Some("1"));
}

#[test]
fn uts_namespace_and_hostname() {
    let mut c = Ctx::new();
    c.config["domainname"] = json!("example.org");
    c.sh("hostname; cat /proc/sys/kernel/domainname");
    // runc 1.1 predates `domainname` (runtime-spec 1.1) and leaves it unset.
    let domain = if super::harness::is_berth() {
        "example.org"
    } else {
        "(none)"
    };
    assert_eq!(c.run_ok(), format!("berth-test\n{domain}\n"));
}

#[test]
fn network_namespace_has_only_loopback() {
    let mut c = Ctx::new();
    c.sh("ls /sys/class/net");
    assert_eq!(c.run_ok().trim(), "lo");
}

#[test]
fn user_namespace_with_several_ranges() {
    let mut c = Ctx::new();
    c.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    c.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 1000}, {"containerID": 1000, "hostID": 200000, "size": 10}]);
    c.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 1000}]);
    // The rootfs must be reachable for the mapped root.
    c.sh("cat /proc/self/uid_map; cat /proc/self/gid_map; id -u");
    let out = c.run_ok();
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], vec!["0", "100000", "1000"]);
    assert_eq!(lines[1], vec!["1000", "200000", "10"]);
    assert_eq!(lines[2], vec!["0", "100000", "1000"]);
    assert_eq!(lines[3], vec!["0"]);
}

#[test]
fn joining_a_namespace_by_path() {
    // A first container's network namespace is joined by the second.
    let mut a = Ctx::new();
    a.args(&["sleep", "1000"]);
    let ida = a.create();
    let pid = a.state(&ida)["pid"].as_i64().unwrap();
    let mut b = Ctx::new();
    b.config["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
        {"type": "network", "path": format!("/proc/{pid}/ns/net")}]);
    b.sh("readlink /proc/self/ns/net");
    let inside = b.run_ok();
    let expected = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    assert_eq!(inside.trim(), expected.to_str().unwrap());
}

#[test]
fn cgroup_namespace_root() {
    let mut c = Ctx::new();
    c.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "cgroup"}));
    c.sh("cat /proc/self/cgroup");
    let out = c.run_ok();
    // In its own cgroup namespace the container sees its cgroups as roots.
    for line in out.lines() {
        assert!(line.ends_with(":/"), "{line}");
    }
}

/// runc 1.1 predates time namespaces (runtime-spec 1.2).
#[test]
fn berth_only_time_namespace_offsets() {
    let mut c = Ctx::new();
    c.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "time"}));
    c.config["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 86400 * 365, "nanosecs": 0}, "boottime": {"secs": 86400 * 400, "nanosecs": 0}});
    c.sh("cat /proc/uptime");
    let out = c.run_ok();
    let up: f64 = out.split_whitespace().next().unwrap().parse().unwrap();
    assert!(
        up > 86400.0 * 400.0,
        "uptime {up} should include the boottime offset"
    );
}
