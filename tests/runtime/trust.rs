//! Regression tests of the trust issue (#13): each is named after the defect it pins down and
//! failed on the main branch before the fix.

use std::path::Path;

use serde_json::json;

use super::harness::{capture, is_berth, mounts_under, text, Ctx};

fn hook(script: &str) -> serde_json::Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", script]})
}

/// #1: a failure after `start` connected (here a startContainer hook) reaches `start` and
/// `run`: non-zero exit, the message, once.
#[test]
fn berth_only_a_failing_start_container_hook_fails_start_and_run() {
    // runc 1.1.5 reports success here (the point: berth does better).
    let mut c = Ctx::new();
    c.sh("sleep 5");
    c.config["hooks"] = json!({"startContainer": [hook("exit 3")]});
    let id = c.create();
    let out = c.rt(&["start", &id]);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "start succeeded: {err}");
    assert!(
        err.contains("startContainer hook #0") && err.contains("exit status 3"),
        "{err}"
    );
    assert_eq!(
        err.matches("exit status 3").count(),
        1,
        "printed more than once: {err}"
    );
    let (out, _) = c.run();
    let err = text(&out.stderr);
    assert!(!out.status.success(), "run succeeded: {err}");
    assert!(err.contains("exit status 3"), "{err}");
}

/// #1, the exec step itself: a missing binary fails `start`, not only the container.
#[test]
fn berth_only_start_of_a_missing_binary_fails() {
    let mut c = Ctx::new();
    c.args(&["/no/such/binary"]);
    // With the check at create (as runc) create fails; make the binary vanish after create.
    c.args(&["/bin/vanishing"]);
    std::fs::copy(
        c.rootfs().join("bin/busybox"),
        c.rootfs().join("bin/vanishing"),
    )
    .unwrap();
    let id = c.create();
    std::fs::remove_file(c.rootfs().join("bin/vanishing")).unwrap();
    let out = c.rt(&["start", &id]);
    let err = text(&out.stderr);
    assert!(
        !out.status.success(),
        "start of a vanished binary succeeded"
    );
    assert!(err.contains("vanishing"), "{err}");
}

fn ns(pid: &str, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// #2: prestart and createRuntime hooks run in the runtime's namespaces, even when the
/// container joins a pid namespace by path and has a new time namespace.
#[test]
fn prestart_and_create_runtime_hooks_run_in_the_runtime_namespaces() {
    let mut holder = std::process::Command::new("unshare")
        .args(["--pid", "--fork", "sleep", "30"])
        .spawn()
        .unwrap();
    // The forked sleep is pid 1 of the new pid namespace: find it as unshare's child.
    let mut target = None;
    for _ in 0..100 {
        let kids = std::fs::read_to_string(format!(
            "/proc/{}/task/{}/children",
            holder.id(),
            holder.id()
        ))
        .unwrap_or_default();
        if let Some(k) = kids.split_whitespace().next() {
            target = Some(k.to_string());
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let target = target.expect("unshare's child");
    let mut c = Ctx::new();
    let out = c.dir.path().join("hook-ns");
    let record = format!(
        "readlink /proc/self/ns/pid >> {o}; readlink /proc/self/ns/time >> {o}",
        o = out.display()
    );
    c.config["hooks"] = json!({"prestart": [hook(&record)], "createRuntime": [hook(&record)]});
    let nss = c.config["linux"]["namespaces"].as_array_mut().unwrap();
    nss.retain(|n| n["type"] != "pid");
    nss.push(json!({"type": "pid", "path": format!("/proc/{target}/ns/pid")}));
    if is_berth() {
        // runc 1.1 has no time namespaces.
        nss.push(json!({"type": "time"}));
    }
    c.sh("true");
    let ran = c.run_ok();
    let _ = holder.kill();
    let _ = holder.wait();
    let got = std::fs::read_to_string(&out).unwrap();
    let me = std::process::id().to_string();
    let want = format!("{}\n{}\n", ns(&me, "pid"), ns(&me, "time"));
    assert_eq!(
        got,
        want.repeat(2),
        "hooks ran elsewhere (container said {ran})"
    );
    assert_ne!(ns(&target, "pid"), ns(&me, "pid"));
}

/// #3: of concurrent creates of one id exactly one wins; the others fail with "container ID
/// already exists" and harm nothing of the winner.
#[test]
fn berth_only_concurrent_creates_of_one_id_have_exactly_one_winner() {
    let mut c = Ctx::new();
    c.sh("sleep 30");
    c.write_config();
    let b = c.bundle.to_str().unwrap().to_string();
    for round in 0..50 {
        let id = c.id();
        let cmds: Vec<_> = (0..8)
            .map(|_| c.cmd(&["create", "--bundle", &b, &id]))
            .collect();
        let outs: Vec<_> = std::thread::scope(|s| {
            let hs: Vec<_> = cmds
                .into_iter()
                .map(|cmd| s.spawn(move || capture(cmd)))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners = outs.iter().filter(|o| o.status.success()).count();
        assert_eq!(winners, 1, "round {round}: {winners} creates won");
        for o in outs.iter().filter(|o| !o.status.success()) {
            let e = text(&o.stderr);
            assert!(
                e.contains("container ID already exists"),
                "round {round}: {e}"
            );
        }
        assert_eq!(c.state(&id)["status"], "created", "round {round}");
        let d = c.rt(&["delete", "--force", &id]);
        assert!(d.status.success(), "{}", text(&d.stderr));
    }
}

/// #6: a container in an already frozen cgroup is refused at once (it would hang), and
/// nothing is left (the cgroup, which berth did not make, stays as it was).
#[test]
fn berth_only_a_frozen_target_cgroup_is_refused() {
    let name = format!("berth-test-frozen-{}", std::process::id());
    let freezer = Path::new("/sys/fs/cgroup/freezer");
    // (the root cgroup of cgroup2 has no cgroup.freeze of its own)
    let unified = super::harness::is_v2();
    let dir = if unified {
        Path::new("/sys/fs/cgroup").join(&name)
    } else {
        freezer.join(&name)
    };
    std::fs::create_dir(&dir).unwrap();
    let freeze = if unified {
        "cgroup.freeze"
    } else {
        "freezer.state"
    };
    std::fs::write(dir.join(freeze), if unified { "1" } else { "FROZEN" }).unwrap();
    let mut c = Ctx::new();
    c.config["linux"]["cgroupsPath"] = json!(format!("/{name}"));
    c.sh("true");
    c.write_config();
    let id = c.id();
    let t = std::time::Instant::now();
    let out = c.rt(&["run", "-d", "--bundle", c.bundle.to_str().unwrap(), &id]);
    let err = text(&out.stderr);
    std::fs::write(dir.join(freeze), if unified { "0" } else { "THAWED" }).unwrap();
    let _ = std::fs::remove_dir(&dir);
    assert!(!out.status.success(), "ran in a frozen cgroup");
    assert!(
        err.contains("frozen") && err.contains("linux.cgroupsPath"),
        "{err}"
    );
    assert!(t.elapsed().as_secs() < 10, "took {:?}", t.elapsed());
    assert!(!c.root.join(&id).exists(), "state left behind");
}

/// #7: a config without a mount namespace runs (as with runc and crun), and `delete`
/// undoes every mount the setup made in the runtime's namespace. runc 1.1.5 refuses this
/// config ("unable to restrict sys entries without a private MNT namespace"), and without
/// maskedPaths/readonlyPaths leaves every mount behind after delete (crun 1.8.1 too).
#[test]
fn berth_only_a_config_without_a_mount_namespace_runs_and_delete_undoes_its_mounts() {
    let mut c = Ctx::new();
    c.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "mount");
    c.sh("sleep 30");
    let id = c.create();
    let start = c.rt(&["start", &id]);
    assert!(start.status.success(), "{}", text(&start.stderr));
    assert!(!mounts_under(&c.bundle).is_empty(), "no mounts were made?");
    let d = c.rt(&["delete", "--force", &id]);
    assert!(d.status.success(), "{}", text(&d.stderr));
    assert_eq!(mounts_under(&c.bundle), Vec::<String>::new());
}

/// #8: a `/dev/console` symlink in the rootfs is refused, not followed.
#[test]
fn berth_only_a_console_symlink_in_the_rootfs_is_refused() {
    let mut c = Ctx::new();
    // The image's own /dev (no tmpfs), with /dev/console pointing at a host file.
    c.config["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| !m["destination"].as_str().unwrap().starts_with("/dev"));
    let target = c.dir.path().join("host-file");
    std::fs::write(&target, "host").unwrap();
    std::os::unix::fs::symlink(&target, c.rootfs().join("dev/console")).unwrap();
    c.config["process"]["terminal"] = json!(true);
    c.sh("true");
    c.write_config();
    let sock = c.dir.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let id = c.id();
    let out = c.rt(&[
        "create",
        "--bundle",
        c.bundle.to_str().unwrap(),
        "--console-socket",
        sock.to_str().unwrap(),
        &id,
    ]);
    drop(listener);
    let err = text(&out.stderr);
    assert!(
        !out.status.success(),
        "a symlinked /dev/console was accepted"
    );
    assert!(
        err.contains("/dev/console") && err.contains("symlink"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "host");
    assert!(mounts_under(&c.bundle).is_empty());
}

/// #8: a rootfs whose `/proc` is a symlink is refused, with a message that says why.
#[test]
fn a_proc_symlink_in_the_rootfs_is_refused_clearly() {
    let mut c = Ctx::new();
    std::fs::remove_dir(c.rootfs().join("proc")).unwrap();
    std::os::unix::fs::symlink("tmp", c.rootfs().join("proc")).unwrap();
    c.sh("true");
    let (out, _) = c.run();
    let err = text(&out.stderr);
    assert!(!out.status.success(), "a symlinked /proc was accepted");
    if is_berth() {
        assert!(
            err.contains("mounts[0] (/proc)") && err.contains("ordinary directory"),
            "{err}"
        );
    }
    assert!(mounts_under(&c.bundle).is_empty());
}

/// #8 and CVE-2024-21626: `exec` checks that its cwd is inside the container's root (a cwd
/// reached through a leaked fd would not be).
#[test]
fn exec_refuses_a_cwd_outside_the_root() {
    let mut c = Ctx::new();
    c.sh("sleep 30");
    let id = c.create();
    assert!(c.rt(&["start", &id]).status.success());
    let host_dir = c.dir.path().join("host-side");
    std::fs::create_dir(&host_dir).unwrap();
    std::fs::write(host_dir.join("berth-host-marker"), "").unwrap();
    let host = std::fs::File::open(&host_dir).unwrap();
    let mut cmd = c.cmd(&[
        "exec",
        "--preserve-fds",
        "5",
        "--cwd",
        "/proc/self/fd/7",
        &id,
        "sh",
        "-c",
        "ls; true",
    ]);
    Ctx::with_fd(&mut cmd, host, 7);
    let out = capture(cmd);
    let seen = text(&out.stdout);
    assert!(
        !seen.contains("berth-host-marker"),
        "exec listed the host's directory: {seen}"
    );
    assert!(!out.status.success(), "exec ran in {seen}");
    if is_berth() {
        let err = text(&out.stderr);
        assert!(err.contains("process.cwd") || err.contains("cwd"), "{err}");
    }
}

/// #9: bad input is refused, naming the field, the path and the errno. (runc 1.1.5 refuses
/// some of these, naming none.)
#[test]
fn berth_only_bad_input_is_refused_by_name() {
    let c = Ctx::new();
    let run_with = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut cfg = c.config.clone();
        edit(&mut cfg);
        std::fs::write(
            c.bundle.join("config.json"),
            serde_json::to_vec(&cfg).unwrap(),
        )
        .unwrap();
        let id = c.id();
        let out = c.rt(&["run", "--bundle", c.bundle.to_str().unwrap(), &id]);
        assert!(!out.status.success(), "accepted");
        assert!(!c.root.join(&id).exists(), "state left behind");
        text(&out.stderr)
    };
    let e = run_with(&|v| v["linux"]["resources"] = json!([]));
    assert!(e.contains("linux.resources"), "{e}");
    let e = run_with(&|v| v["process"]["env"] = json!(["A=1", "NOEQUALS"]));
    assert!(e.contains("process.env[1]"), "{e}");
    let e = run_with(&|v| *v = json!([]));
    assert!(
        e.contains("config.json") && !e.contains("root: missing"),
        "{e}"
    );
    let e = run_with(&|v| {
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "cgroup", "path": "/etc/hostname"}))
    });
    assert!(
        e.contains("linux.namespaces[5].path") && e.contains("not a namespace"),
        "{e}"
    );
    let e = run_with(&|v| {
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "cgroup", "path": "/proc/self/ns/net"}))
    });
    assert!(
        e.contains("linux.namespaces[5].path") && e.contains("net namespace"),
        "{e}"
    );
    // A capability the runtime lacks: CAP_SYS_RESOURCE where the host's bounding set has
    // none (this VM's); a guest's root has them all, and `process::berth_only_capability_
    // beyond_the_bounding_set_is_an_error` drops one from a thread for that case.
    let bounding = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    if bounding & (1 << 24) /* CAP_SYS_RESOURCE */ == 0 {
        let e = run_with(&|v| {
            v["process"]["capabilities"]["bounding"]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_SYS_RESOURCE"))
        });
        assert!(e.contains("CAP_SYS_RESOURCE"), "{e}");
    }
}

/// #9: an error of the init longer than the old 64 KiB limit arrives whole.
#[test]
fn a_long_init_error_arrives_whole() {
    let mut c = Ctx::new();
    let long = "x".repeat(100_000);
    c.args(&[&format!("/{long}")]);
    let (out, _) = c.run();
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains(&long), "cut: {} bytes", err.len());
}

/// #10: `kill --all` of a stopped container succeeds (containerd's shim calls it after the
/// init exited), and plain `kill` says the container is not running.
#[test]
fn kill_all_of_a_stopped_container_succeeds() {
    let mut c = Ctx::new();
    c.sh("true");
    let id = c.create();
    assert!(c.rt(&["start", &id]).status.success());
    for _ in 0..100 {
        if c.state(&id)["status"] == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = c.rt(&["kill", "--all", &id, "KILL"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = c.rt(&["kill", &id, "KILL"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("container not running"),
        "{}",
        text(&out.stderr)
    );
}
