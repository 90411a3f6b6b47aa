//! Where the container's processes live, and that `delete` (and a failed `create`) leaves
//! no cgroup behind.

use serde_json::json;

use super::util::{cgroup_line, is_berth, is_v2, proc_cgroup, text, v1_controllers, wait_for, Ctx};

/// The controllers whose `/proc/PID/cgroup` line must name the container's cgroup.
fn controllers() -> Vec<&'static str> {
    if is_v2() {
        vec![""]
    } else {
        v1_controllers()
    }
}

#[test]
fn init_and_exec_are_in_the_container_cgroup() {
    let mut c = Ctx::new();
    c.sh("exec sleep 1000");
    let (id, pid) = c.start();
    let want = format!("/{}", c.cgroup().path);
    for ctrl in controllers() {
        assert_eq!(
            proc_cgroup(pid, ctrl).as_deref(),
            Some(want.as_str()),
            "init's {ctrl:?} cgroup"
        );
    }
    // Without a cgroup namespace the container sees the host's paths.
    let seen = c.rt_ok(&["exec", &id, "cat", "/proc/self/cgroup"]);
    let ctrl = if is_v2() { "" } else { "memory" };
    assert_eq!(cgroup_line(&seen, ctrl), Some(want), "{seen}");
}

#[test]
fn cgroup_namespace_makes_the_container_cgroup_its_root() {
    let mut c = Ctx::new();
    c.cgroupns().sh("cat /proc/self/cgroup");
    let (out, _) = c.run();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let seen = text(&out.stdout);
    for ctrl in controllers() {
        assert_eq!(
            cgroup_line(&seen, ctrl).as_deref(),
            Some("/"),
            "{ctrl:?}: {seen}"
        );
    }
}

/// An exec'd process joins the container's cgroup and its cgroup namespace (on v2 the runtime
/// clones it into the cgroup before it enters the namespace: the other order is refused).
#[test]
fn exec_in_a_cgroup_namespace_is_in_the_container_cgroup() {
    let mut c = Ctx::new();
    c.cgroupns().sh("exec sleep 1000");
    let (id, _) = c.start();
    let seen = c.rt_ok(&["exec", &id, "cat", "/proc/self/cgroup"]);
    for ctrl in controllers() {
        assert_eq!(
            cgroup_line(&seen, ctrl).as_deref(),
            Some("/"),
            "{ctrl:?}: {seen}"
        );
    }
}

#[test]
fn default_cgroup_path_is_named_after_the_id() {
    let mut c = Ctx::new();
    c.config["linux"]
        .as_object_mut()
        .unwrap()
        .remove("cgroupsPath");
    c.sh("exec sleep 1000");
    let (id, pid) = c.start();
    let ctrl = if is_v2() { "" } else { "memory" };
    let path = proc_cgroup(pid, ctrl).expect("init has a cgroup");
    c.own_cgroup(&path);
    assert!(path.ends_with(&format!("/{id}")), "{path}");
    if is_berth() {
        assert_eq!(path, format!("/berth/{id}"));
    }
    let cg = super::util::Cgroup::new(&path);
    assert!(!cg.existing().is_empty());
    c.rt_ok(&["delete", "--force", &id]);
    assert_eq!(cg.existing(), Vec::<std::path::PathBuf>::new());
}

#[test]
fn delete_of_a_stopped_container_removes_its_cgroup() {
    let mut c = Ctx::new();
    c.sh("exit 0");
    let (id, _) = c.start();
    c.wait_stopped(&id);
    let cg = c.cgroup();
    assert!(!cg.existing().is_empty(), "the cgroup lives until delete");
    c.rt_ok(&["delete", &id]);
    assert_eq!(cg.existing(), Vec::<std::path::PathBuf>::new());
}

#[test]
fn delete_after_kill_removes_the_cgroup() {
    let mut c = Ctx::new();
    c.sh("exec sleep 1000");
    let (id, _) = c.start();
    c.rt_ok(&["kill", &id, "KILL"]);
    c.wait_stopped(&id);
    c.rt_ok(&["delete", &id]);
    assert_eq!(c.cgroup().existing(), Vec::<std::path::PathBuf>::new());
}

#[test]
fn delete_of_a_created_container_removes_its_cgroup() {
    let c = Ctx::new();
    let id = c.create();
    assert!(!c.cgroup().existing().is_empty());
    c.rt_ok(&["delete", &id]);
    assert_eq!(c.cgroup().existing(), Vec::<std::path::PathBuf>::new());
}

#[test]
fn delete_force_of_a_running_container_kills_everything_and_removes_the_cgroup() {
    let mut c = Ctx::new();
    c.sh("sleep 1000 & sleep 1000 & exec sleep 1000");
    let (id, pid) = c.start();
    c.rt_ok(&["exec", "--detach", &id, "sleep", "999"]);
    let cg = c.cgroup();
    let procs = wait_for(10, "4 processes in the cgroup", || {
        let ps: Vec<i32> = serde_json::from_str(&c.rt_ok(&["ps", "--format", "json", &id])).ok()?;
        (ps.len() == 4).then_some(ps)
    });
    assert!(procs.contains(&pid));
    c.rt_ok(&["delete", "--force", &id]);
    assert_eq!(cg.existing(), Vec::<std::path::PathBuf>::new());
    for p in procs {
        wait_for(10, &format!("pid {p} to be gone"), || {
            // A zombie of ours would still be in /proc; none of these is our child.
            (!std::path::Path::new(&format!("/proc/{p}")).exists()).then_some(())
        });
    }
}

#[test]
fn failed_create_leaves_no_cgroup() {
    let mut c = Ctx::new();
    // A CFS quota below 1 ms is refused by the kernel (EINVAL).
    c.resource("cpu", json!({"quota": 500, "period": 100000}));
    let (out, _) = c.try_create();
    assert!(!out.status.success(), "create with quota 500us succeeded");
    let err = text(&out.stderr);
    if is_berth() {
        assert!(
            err.contains("linux.resources.cpu"),
            "error names the field: {err}"
        );
    }
    assert_eq!(c.cgroup().existing(), Vec::<std::path::PathBuf>::new());
    assert_eq!(
        c.rt_ok(&["list", "-q"]).trim(),
        "",
        "no container state left"
    );
}
