//! Where the container's processes live, and that `delete` (and a failed `create`) leaves
//! no cgroup behind.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;

use super::util::{
    cgroup_dirs, cgroup_line, is_berth, is_v2, proc_cgroup, systemd, text, unit_left,
    v1_controllers, wait_for, Cgroup, Ctx, KillOnDrop,
};
use crate::harness::{self, unique};

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
    // The scope is the container's: delegated, devices as the spec's rules say.
    c.cgroup().assert_properties(&[
        ("ActiveState", "active"),
        ("Delegate", "yes"),
        ("DevicePolicy", "strict"),
    ]);
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

/// berth records where the host's hierarchies are mounted when it makes a container, and
/// the namespace types of its config; `exec` and `pause` go by those records instead of
/// reading mountinfo and comparing every namespace with the caller's. A container recorded
/// without them (by an older berth) still gets every cgroup and namespace of its init.
#[test]
fn berth_only_exec_and_pause_without_recorded_cgroup_mounts_and_namespaces() {
    let mut c = Ctx::new();
    c.sh("exec sleep 1000");
    let (id, pid) = c.start();
    let edit = |file: &str, f: &dyn Fn(&mut serde_json::Value)| {
        let path = c.root.join(&id).join(file);
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        f(&mut v);
        std::fs::write(&path, v.to_string()).unwrap();
    };
    edit("state.json", &|v| {
        assert!(
            v["cgroupMounts"].as_array().is_some_and(|m| !m.is_empty()),
            "{v}"
        );
        v.as_object_mut().unwrap().remove("cgroupMounts");
    });
    edit("container.json", &|v| {
        assert!(v["exec"]["new_namespaces"].is_array(), "{v}");
        v["exec"].as_object_mut().unwrap().remove("new_namespaces");
    });
    let want = format!("/{}", c.cgroup().path);
    let seen = c.rt_ok(&["exec", &id, "cat", "/proc/self/cgroup"]);
    for ctrl in controllers() {
        assert_eq!(
            cgroup_line(&seen, ctrl).as_deref(),
            Some(want.as_str()),
            "{ctrl:?}: {seen}"
        );
    }
    for ns in ["mnt", "net", "pid", "uts", "ipc"] {
        let init = std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
        let seen = c.rt_ok(&["exec", &id, "readlink", &format!("/proc/self/ns/{ns}")]);
        assert_eq!(seen.trim(), init.to_str().unwrap(), "{ns}");
    }
    c.rt_ok(&["pause", &id]);
    let out = c.rt(&["exec", &id, "true"]);
    assert!(!out.status.success(), "exec into a paused container");
    assert!(
        text(&out.stderr).contains("paused"),
        "{}",
        text(&out.stderr)
    );
    c.rt_ok(&["resume", &id]);
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
    let mut cg = Cgroup::new(&path);
    if systemd() {
        // runc's and berth's default: `system.slice:<runtime>:<id>`.
        let unit = path.rsplit('/').next().unwrap().to_string();
        assert!(path.starts_with("/system.slice/"), "{path}");
        assert!(unit.ends_with(&format!("-{id}.scope")), "{path}");
        if is_berth() {
            assert_eq!(unit, format!("berth-{id}.scope"));
        }
        cg.unit = Some(unit);
        cg.assert_properties(&[("ActiveState", "active"), ("Delegate", "yes")]);
    } else {
        assert!(path.ends_with(&format!("/{id}")), "{path}");
        if is_berth() {
            assert_eq!(path, format!("/berth/{id}"));
        }
    }
    assert!(!cg.existing().is_empty());
    c.rt_ok(&["delete", "--force", &id]);
    cg.assert_gone();
}

#[test]
fn delete_of_a_stopped_container_removes_its_cgroup() {
    let mut c = Ctx::new();
    c.sh("exit 0");
    let (id, _) = c.start();
    c.wait_stopped(&id);
    let cg = c.cgroup();
    if !systemd() {
        assert!(!cg.existing().is_empty(), "the cgroup lives until delete");
    }
    // systemd stops a scope whose last process is gone, and removes its cgroup, by itself
    // (runc's as berth's): that `delete` succeeds all the same and leaves nothing is the test.
    c.rt_ok(&["delete", &id]);
    cg.assert_gone();
}

#[test]
fn delete_after_kill_removes_the_cgroup() {
    let mut c = Ctx::new();
    c.sh("exec sleep 1000");
    let (id, _) = c.start();
    c.rt_ok(&["kill", &id, "KILL"]);
    c.wait_stopped(&id);
    c.rt_ok(&["delete", &id]);
    c.cgroup().assert_gone();
}

#[test]
fn delete_of_a_created_container_removes_its_cgroup() {
    let c = Ctx::new();
    let id = c.create();
    assert!(!c.cgroup().existing().is_empty());
    c.cgroup()
        .assert_properties(&[("ActiveState", "active"), ("Delegate", "yes")]);
    c.rt_ok(&["delete", &id]);
    c.cgroup().assert_gone();
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
    cg.assert_gone();
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
    c.cgroup().assert_gone();
    assert_eq!(
        c.rt_ok(&["list", "-q"]).trim(),
        "",
        "no container state left"
    );
}

/// A nested `linux.cgroupsPath` is made level by level. systemd: the slice `T-a-b.slice` is
/// `T.slice/T-a.slice/T-a-b.slice` on disk (systemd's and runc's expansion of the dashes),
/// each level a slice unit, the scope in the innermost.
#[test]
fn nested_cgroup_path_is_made_on_disk() {
    let mut c = Ctx::new();
    let n = format!("{}_{}", std::process::id(), unique());
    let (top, want) = if systemd() {
        let top = format!("berthtest{n}");
        c.set_cgroups_path(&format!("{top}-a-b.slice:berth-test:{n}"));
        for s in ["", "-a", "-a-b"] {
            c.own_unit(&format!("{top}{s}.slice"));
        }
        let want = format!("{top}.slice/{top}-a.slice/{top}-a-b.slice/berth-test-{n}.scope");
        (top, want)
    } else {
        let top = format!("berth-test-{n}");
        c.set_cgroups_path(&format!("/{top}/a/b"));
        c.own_cgroup(&format!("{top}/a"));
        c.own_cgroup(&top);
        (top.clone(), format!("{top}/a/b"))
    };
    c.sh("exec sleep 1000");
    let (id, pid) = c.start();
    let ctrl = if is_v2() { "" } else { "memory" };
    assert_eq!(proc_cgroup(pid, ctrl), Some(format!("/{want}")));
    let cg = c.cgroup();
    assert_eq!(cg.path, want);
    assert!(!cg.existing().is_empty(), "{want} not on disk");
    if systemd() {
        cg.assert_properties(&[("Slice", &format!("{top}-a-b.slice"))]);
        let middle = format!("{top}-a.slice");
        let p = harness::unit_properties(&middle, &["ActiveState", "ControlGroup"]);
        let cgroup = format!("/{top}.slice/{middle}");
        assert!(
            p.contains(&("ActiveState".into(), "active".into()))
                && p.contains(&("ControlGroup".into(), cgroup.clone())),
            "{middle}: {p:?}, want active in {cgroup}"
        );
        assert!(
            cgroup_dirs(&cgroup[1..]).iter().any(|d| d.is_dir()),
            "{cgroup} not on disk"
        );
    }
    c.rt_ok(&["delete", "--force", &id]);
    cg.assert_gone();
    // The slices (cgroupfs: the parents) are the caller's to remove, for runc as for berth.
    if systemd() {
        harness::stop_unit(&format!("{top}.slice"));
    }
}

/// A `linux.cgroupsPath` that cannot be made fails `create` and leaves nothing: systemd, a
/// slice without `.slice`; cgroupfs, a path through a file (`cgroup.procs`).
#[test]
fn failed_create_with_a_bad_cgroups_path_leaves_nothing() {
    let mut c = Ctx::new();
    let n = format!("{}-{}", std::process::id(), unique());
    let bad = if systemd() {
        format!("berth-test-{n}:berth-test:{n}")
    } else {
        format!("/cgroup.procs/berth-test-{n}")
    };
    c.config["linux"]["cgroupsPath"] = json!(bad);
    c.sh("exec sleep 1000");
    let (out, _) = c.try_create();
    assert!(
        !out.status.success(),
        "create with cgroupsPath {bad} succeeded"
    );
    if is_berth() {
        let err = text(&out.stderr);
        assert!(
            err.contains("linux.cgroupsPath"),
            "error names the field: {err}"
        );
    }
    assert_eq!(
        c.rt_ok(&["list", "-q"]).trim(),
        "",
        "no container state left"
    );
    if systemd() {
        let unit = format!("berth-test-{n}.scope");
        assert_eq!(harness::unit_left(&unit), None, "scope {unit} left");
    }
}

/// `create` SIGKILLed once its cgroup is there (systemd: the scope started around the
/// init), at a few instants after that; then `delete --force`: no scope, no cgroup and no
/// state is left. berth only: runc 1.1.5 killed there has written no state.json yet, so its
/// `delete -f` finds no container and removes only the state directory; the (empty) cgroup
/// stays in every hierarchy (seen on this host with the cgroupfs driver).
#[test]
fn berth_only_killed_create_then_delete_force_leaves_nothing() {
    let mut c = Ctx::new();
    c.sh("exec sleep 1000");
    c.write_config();
    let cg = c.cgroup();
    for delay in [0, 20, 100] {
        let id = c.id();
        let mut cmd = c.cmd(&["create", "--bundle", c.bundle.to_str().unwrap(), &id]);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = KillOnDrop(cmd.spawn().expect("spawn create"));
        let seen = wait_for(60, "the cgroup of create (or its end)", || {
            if !cg.existing().is_empty() {
                return Some(true);
            }
            child.0.try_wait().unwrap().map(|_| false)
        });
        assert!(seen, "create ended before its cgroup was seen");
        std::thread::sleep(Duration::from_millis(delay));
        drop(child);
        c.rt_ok(&["delete", "--force", &id]);
        wait_for(
            10,
            &format!("nothing left of {id} (killed at +{delay} ms)"),
            || {
                (cg.existing().is_empty() && cg.unit.as_deref().and_then(unit_left).is_none())
                    .then_some(())
            },
        );
        cg.assert_gone();
        assert_eq!(c.rt_ok(&["list", "-q"]).trim(), "", "state left");
    }
}

/// A second container given the first one's `linux.cgroupsPath`. cgroupfs: both share the
/// cgroup (runc and berth). berth's systemd driver: a scope is one unit, so the second
/// `create` fails, and must not take the first container's scope with it (stopping it on its
/// way out would kill the first container). runc 1.1.5's systemd driver ignores systemd's
/// UnitExists: the second `create` succeeds, and its init stays in the cgroup of runc's
/// caller, without any of the spec's limits (seen in the systemd guest); that placement is
/// not checked for it.
#[test]
fn second_create_in_the_same_cgroup_leaves_the_first_running() {
    let mut c = Ctx::new();
    c.sh("exec sleep 1000");
    let (first, pid) = c.start();
    let cg = c.cgroup();
    let (out, second) = c.try_create();
    if systemd() && is_berth() {
        assert!(
            !out.status.success(),
            "a second container in {} was created",
            cg.unit.as_deref().unwrap()
        );
        if is_berth() {
            let err = text(&out.stderr);
            assert!(err.contains(cg.unit.as_deref().unwrap()), "{err}");
        }
        let list = c.rt_ok(&["list", "-q"]);
        assert_eq!(list.trim(), first, "state of the failed create left");
        cg.assert_properties(&[("ActiveState", "active")]);
    } else {
        assert!(out.status.success(), "{}", text(&out.stderr));
        let init = c.state(&second)["pid"].as_i64().unwrap() as i32;
        let ctrl = if is_v2() { "" } else { "memory" };
        let at = proc_cgroup(init, ctrl);
        if systemd() {
            eprintln!("runc's second container is in {at:?}");
        } else {
            assert_eq!(at, Some(format!("/{}", cg.path)));
        }
    }
    assert_eq!(c.status(&first), "running");
    let procs = std::fs::read_to_string(cg.dir("pids").join("cgroup.procs")).unwrap();
    assert!(
        procs.lines().any(|l| l == pid.to_string()),
        "the first init {pid} is no longer in {}: {procs}",
        cg.path
    );
}
