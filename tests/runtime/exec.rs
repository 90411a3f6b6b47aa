//! `exec`: a second process joins the container's namespaces, cgroup and settings.

use super::harness::{text, Ctx};

#[test]
fn exec_joins_the_namespaces() {
    let mut c = Ctx::new();
    let id = c.running();
    let out = c.rt(&["exec", &id, "sh", "-c", "hostname; ps -o pid,comm | grep -c sleep; ls /sys/class/net; touch /x 2>/dev/null || echo ro"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "berth-test\n1\nlo\nro\n");
}

#[test]
fn exec_exit_status_env_cwd_user() {
    let mut c = Ctx::new();
    let id = c.running();
    let out = c.rt(&[
        "exec",
        "--env",
        "X=1",
        "--cwd",
        "/tmp",
        "--user",
        "5:6",
        &id,
        "sh",
        "-c",
        "echo $X; pwd; id -u; id -g; exit 4",
    ]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(text(&out.stdout), "1\n/tmp\n5\n6\n");
}

#[test]
fn exec_with_process_json_detached() {
    let mut c = Ctx::new();
    let id = c.running();
    let marker = "/tmp/exec-marker";
    let p = serde_json::json!({"terminal": false, "user": {"uid": 0, "gid": 0}, "args": ["sh", "-c", format!("echo hi > {marker}; sleep 1000")], "cwd": "/", "env": ["PATH=/bin"]});
    let pf = c.dir.path().join("process.json");
    std::fs::write(&pf, p.to_string()).unwrap();
    let pidf = c.dir.path().join("exec.pid");
    let out = c.rt(&[
        "exec",
        "--process",
        pf.to_str().unwrap(),
        "--detach",
        "--pid-file",
        pidf.to_str().unwrap(),
        &id,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pid: i32 = std::fs::read_to_string(&pidf)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    let out = c.rt(&[
        "exec",
        &id,
        "sh",
        "-c",
        &format!("while [ ! -s {marker} ]; do sleep 0.05; done; cat {marker}"),
    ]);
    assert_eq!(text(&out.stdout), "hi\n");
}

#[test]
fn exec_in_a_stopped_container_fails() {
    let mut c = Ctx::new();
    let id = c.running();
    assert!(c.rt(&["kill", &id, "KILL"]).status.success());
    c.wait_stopped(&id);
    let out = c.rt(&["exec", &id, "true"]);
    assert!(!out.status.success());
}

#[test]
fn exec_missing_binary_fails() {
    let mut c = Ctx::new();
    let id = c.running();
    let out = c.rt(&["exec", &id, "/nope"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("/nope"), "{}", text(&out.stderr));
}

/// A new user namespace for the container: its root is host uid and gid 300000.
fn own_user_namespace(c: &mut Ctx) {
    c.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"type": "user"}));
    let map = serde_json::json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
    c.config["linux"]["uidMappings"] = map.clone();
    c.config["linux"]["gidMappings"] = map;
}

#[test]
fn exec_in_a_user_namespace_container() {
    let mut c = Ctx::new();
    own_user_namespace(&mut c);
    let id = c.running();
    let out = c.rt(&["exec", &id, "sh", "-c", "id -u; cat /proc/self/uid_map"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    let mut l = s.lines();
    assert_eq!(l.next(), Some("0"));
    assert_eq!(
        l.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        vec!["0", "300000", "65536"]
    );
}

/// A container with a user namespace of its own that joins the caller's network namespace by
/// path: its exec'd process joins the user namespace but not the network namespace it is in
/// already (a setns into it from inside the container's user namespace is refused: runc
/// 1.1.5 fails this exec so).
#[test]
fn berth_only_exec_into_a_user_namespace_container_that_shares_the_callers_network() {
    let mut c = Ctx::new();
    let host_net = std::fs::read_link("/proc/self/ns/net").unwrap();
    own_user_namespace(&mut c);
    let ns = c.config["linux"]["namespaces"].as_array_mut().unwrap();
    ns.retain(|n| n["type"] != "network");
    ns.push(serde_json::json!({"type": "network", "path": "/proc/self/ns/net"}));
    let id = c.running();
    let out = c.rt(&["exec", &id, "sh", "-c", "id -u; readlink /proc/self/ns/net"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("0\n{}\n", host_net.to_str().unwrap())
    );
}

/// `exec --detach` returns once the process runs the program: its pid file names a process
/// whose command line is already the program's. (runc 1.1.5 returns earlier: its setns child
/// may still be `runc init`, 4 times in 40 on this host.)
#[test]
fn berth_only_exec_detach_returns_after_the_program_has_started() {
    let mut c = Ctx::new();
    let id = c.running();
    let pidf = c.dir.path().join("exec.pid");
    for n in 0..40 {
        let out = c.rt(&[
            "exec",
            "--detach",
            "--pid-file",
            pidf.to_str().unwrap(),
            &id,
            "sleep",
            "999",
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let pid = std::fs::read_to_string(&pidf).unwrap();
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", pid.trim())).unwrap();
        assert_eq!(text(&cmdline), "sleep\0999\0", "exec {n}");
    }
}
