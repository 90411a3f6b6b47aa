//! Escapes that hit runc and crun, each pinned by a test.

use serde_json::json;

use super::harness::{mounts_under, text, Ctx};

/// CVE-2021-30465 family: a mount destination through a symlink pointing out of the rootfs
/// must land inside the rootfs, never on the host.
#[test]
fn mount_destination_symlink_stays_inside_the_rootfs() {
    let mut c = Ctx::new();
    let host_target = c.dir.path().join("host-side");
    std::fs::create_dir(&host_target).unwrap();
    std::os::unix::fs::symlink(&host_target, c.rootfs().join("escape")).unwrap();
    c.config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/escape/x", "type": "tmpfs", "source": "tmpfs"}));
    c.sh("echo ok");
    let (out, _) = c.run();
    // berth resolves the symlink inside the rootfs, finds nothing there to mount on and
    // refuses, naming the mount; the host directory must be untouched either way.
    if super::harness::is_berth() {
        assert!(!out.status.success());
        assert!(
            text(&out.stderr).contains("/escape/x"),
            "{}",
            text(&out.stderr)
        );
    }
    assert!(
        !host_target.join("x").exists(),
        "a directory was created on the host through the symlink"
    );
    assert!(mounts_under(&host_target).is_empty());
}

/// CVE-2019-16884 family: /proc in the image replaced by a symlink must not redirect the
/// runtime's procfs writes.
#[test]
fn proc_symlink_in_the_image() {
    let mut c = Ctx::new();
    let rootfs = c.rootfs();
    std::fs::remove_dir(rootfs.join("proc")).unwrap();
    let fake = c.dir.path().join("fakeproc");
    std::fs::create_dir(&fake).unwrap();
    std::os::unix::fs::symlink(&fake, rootfs.join("proc")).unwrap();
    c.config["process"]["oomScoreAdj"] = json!(100);
    c.sh("cat /proc/self/oom_score_adj");
    let (out, _) = c.run();
    assert!(
        std::fs::read_dir(&fake).unwrap().next().is_none(),
        "the runtime wrote through the symlink"
    );
    assert!(mounts_under(&fake).is_empty());
    // berth resolves the symlink inside the rootfs and refuses the dangling target, naming
    // the mount; a runtime that goes on must still write the real procfs.
    if super::harness::is_berth() {
        assert!(!out.status.success());
        assert!(
            text(&out.stderr).contains("(/proc)"),
            "{}",
            text(&out.stderr)
        );
    } else if out.status.success() {
        assert_eq!(text(&out.stdout), "100\n");
    }
}

/// CVE-2025-31133: maskedPaths are covered with `/dev/null`. An image whose `/dev/null` is
/// a symlink to a procfs file (here the host-wide `core_pattern`) must not get that file
/// bind-mounted, writable, over a masked path (only read here: a regression must not get to
/// change the host). runc 1.1.5 predates the fix and is vulnerable.
#[test]
fn berth_only_masked_path_with_a_fake_dev_null() {
    let mut c = Ctx::new();
    // No /dev tmpfs: the image's own /dev is used.
    c.config["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| !m["destination"].as_str().unwrap().starts_with("/dev"));
    let dev = c.rootfs().join("dev");
    std::fs::create_dir_all(&dev).unwrap();
    let _ = std::fs::remove_file(dev.join("null"));
    std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", dev.join("null")).unwrap();
    c.config["linux"]["maskedPaths"] = json!(["/proc/version"]);
    c.sh("cat /proc/version; true");
    let (out, _) = c.run();
    let host = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    assert!(
        !text(&out.stdout).contains(host.trim()) || host.trim().is_empty(),
        "core_pattern was mounted over /proc/version: {}",
        text(&out.stdout)
    );
    // berth never replaces a file of the image's own /dev and never follows a symlink at a
    // device path: it refuses the container, naming the path.
    assert!(!out.status.success(), "a symlinked /dev/null was accepted");
    let err = text(&out.stderr);
    assert!(
        err.contains("/dev/null") && err.contains("symlink"),
        "{err}"
    );
    assert!(
        dev.join("null").is_symlink(),
        "the image's /dev/null was replaced"
    );
    assert!(mounts_under(&c.bundle).is_empty());
}

/// The 2025 procfs advisories: a mount over a procfs file must not redirect the runtime's
/// write into another procfs file. Here `/proc/sys/kernel/domainname` is covered by the
/// container's own `hostname` file, and the sysctl must still set the domain name.
/// runc 1.1.5 writes through the container's /proc and is redirected.
#[test]
fn berth_only_sysctl_write_is_not_redirected_by_an_overmount() {
    let mut c = Ctx::new();
    c.config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/proc/sys/kernel/domainname",
        "type": "bind",
        "source": "/proc/sys/kernel/hostname",
        "options": ["bind"]
    }));
    c.config["linux"]["sysctl"] = json!({"kernel.domainname": "redirected"});
    c.sh("uname -n");
    let (out, _) = c.run();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "berth-test\n",
        "the hostname was overwritten"
    );
}

/// CVE-2024-21626: a cwd naming a leaked fd must not give the container the host's files.
#[test]
fn leaked_fd_cwd_does_not_escape() {
    let mut c = Ctx::new();
    // fd 7 is a host directory holding a marker: the container must never list it.
    let host = c.dir.path().join("host-dir");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("berth-host-marker"), "").unwrap();
    c.config["process"]["cwd"] = json!("/proc/self/fd/7");
    c.sh("ls; ls ..; pwd");
    c.write_config();
    let id = c.id();
    let mut cmd = c.cmd(&["run", "--bundle", c.bundle.to_str().unwrap(), &id]);
    Ctx::with_fd(&mut cmd, std::fs::File::open(&host).unwrap(), 7);
    let out = super::harness::capture(cmd);
    let stdout = text(&out.stdout);
    assert!(
        !stdout.contains("berth-host-marker"),
        "container saw the host directory: {stdout}"
    );
    // berth closes the caller's fds first, so that cwd does not exist: a refusal naming it.
    if super::harness::is_berth() {
        assert!(!out.status.success(), "{stdout}");
        assert!(
            text(&out.stderr).contains("process.cwd"),
            "{}",
            text(&out.stderr)
        );
    }
}

/// CVE-2019-5736: the container must not be able to open the runtime binary for writing.
#[test]
fn runtime_binary_is_not_writable_from_the_container() {
    let mut c = Ctx::new();
    c.config["process"]["capabilities"] = json!({"bounding": ["CAP_DAC_OVERRIDE", "CAP_SYS_PTRACE"], "effective": ["CAP_DAC_OVERRIDE", "CAP_SYS_PTRACE"], "permitted": ["CAP_DAC_OVERRIDE", "CAP_SYS_PTRACE"]});
    // The init is still the runtime until start: while created, try to reach /proc/1/exe
    // from an exec'd process. Only an open for appending, never a write: a regression must
    // not get to change the binary.
    c.args(&["sleep", "1000"]);
    let id = c.create();
    let out = c.rt(&["exec", &id, "sh", "-c", "cat /proc/1/exe > /dev/null 2>&1 && echo readable; (exec 3>>/proc/1/exe) 2>/dev/null && echo WRITABLE; echo end"]);
    let stdout = text(&out.stdout);
    // The probe itself must have run to its end.
    assert!(stdout.ends_with("end\n"), "{stdout} {}", text(&out.stderr));
    assert!(!stdout.contains("WRITABLE"), "{stdout}");
}

/// CVE-2019-5736, the real attack: hold `/proc/<init>/exe` while the runtime still runs the
/// init, and reopen it for writing once the runtime is gone. The handle must not lead to a
/// writable runtime binary. `access(W_OK)` checks this without any risk of truncating it.
#[test]
fn runtime_binary_held_through_proc_exe_stays_unwritable() {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    let mut c = Ctx::new();
    c.args(&["sleep", "1000"]);
    let id = c.create();
    let pid = c.state(&id)["pid"].as_i64().unwrap();
    let held = nix::fcntl::open(
        format!("/proc/{pid}/exe").as_str(),
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .expect("open /proc/<init>/exe");
    let out = c.rt(&["delete", "--force", &id]);
    assert!(out.status.success(), "delete: {}", text(&out.stderr));
    let mut waited = 0;
    while std::path::Path::new(&format!("/proc/{pid}")).exists() && waited < 200 {
        std::thread::sleep(std::time::Duration::from_millis(10));
        waited += 1;
    }
    let via = format!("/proc/self/fd/{}", held.as_raw_fd());
    let writable = nix::unistd::access(via.as_str(), nix::unistd::AccessFlags::W_OK);
    let runtime = which(&super::harness::runtime());
    let bin = std::fs::metadata(&runtime).unwrap();
    let seen = std::fs::metadata(&via).unwrap();
    let same_file = (seen.dev(), seen.ino()) == (bin.dev(), bin.ino());
    assert!(
        !(writable.is_ok() && same_file),
        "the init's /proc/<pid>/exe gives a writable handle on {}",
        runtime.display()
    );
    if super::harness::is_berth() {
        // berth runs from a read-only view of its own binary: same file, read-only mount.
        assert!(same_file, "berth's init should run the berth binary itself");
        assert_eq!(writable, Err(nix::errno::Errno::EROFS));
    }
}

/// The same for `exec`: the forked process that joins the container runs from the read-only
/// view too. A NOTIFY filter on execve/execveat holds it at its last step, still the runtime,
/// while the test looks at its `/proc/<pid>/exe`. (runc copies itself to a sealed memfd.)
#[test]
fn berth_only_exec_process_runs_from_a_read_only_view_of_the_runtime() {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let mut c = Ctx::new();
    let listener = super::seccomp::notify_profile(&mut c, &["execve", "execveat"]);
    // The init never execs: the container stays created.
    c.args(&["sleep", "1000"]);
    let (id, init_fds) = super::seccomp::create_with_agent(&c, &listener);

    let exec = c.cmd(&["exec", &id, "true"]);
    let execer = std::thread::spawn(move || super::harness::capture(exec));
    let (_, fds) = super::seccomp::agent_accept(&listener);
    let fd = fds.into_iter().next().unwrap();
    let n = berth_seccomp::notify::recv(fd.as_fd()).unwrap();
    let exe = format!("/proc/{}/exe", n.pid);
    let seen = std::fs::metadata(&exe).unwrap();
    let bin = std::fs::metadata(super::harness::runtime()).unwrap();
    let writable = nix::unistd::access(exe.as_str(), nix::unistd::AccessFlags::W_OK);
    let _ = berth_seccomp::notify::respond(
        fd.as_fd(),
        n.id,
        berth_seccomp::notify::Response::Errno(libc::EPERM),
    );
    let _ = execer.join().unwrap();
    assert_eq!((seen.dev(), seen.ino()), (bin.dev(), bin.ino()));
    assert_eq!(writable, Err(nix::errno::Errno::EROFS));
    drop(init_fds);
}

/// `run` forks its init from the runtime process (no helper exec of the binary): until the
/// init has exec'd the container's program it still runs the runtime binary, so nothing may
/// join the container before then. A NOTIFY filter on execve holds the init at that exec:
/// the container is "creating", `exec` is refused, and the init is not dumpable (no process
/// in the container could open its /proc entries, `exe` among them, without CAP_SYS_PTRACE).
/// The debug log says the init was forked (for `create` it comes from the helper).
#[test]
fn berth_only_run_admits_no_exec_before_its_forked_init_execs() {
    use std::os::fd::AsFd;
    let mut c = Ctx::new();
    let listener = super::seccomp::notify_profile(&mut c, &["execve", "execveat"]);
    c.args(&["true"]);
    c.write_config();
    let id = c.id();
    let run = c.cmd(&[
        "--debug",
        "run",
        "--bundle",
        c.bundle.to_str().unwrap(),
        &id,
    ]);
    let runner = std::thread::spawn(move || super::harness::capture(run));
    let (_, fds) = super::seccomp::agent_accept(&listener);
    let fd = fds.into_iter().next().unwrap();
    let n = berth_seccomp::notify::recv(fd.as_fd()).unwrap();
    let status = c.status(&id);
    let exec = c.rt(&["exec", &id, "true"]);
    // /proc/PID/status has no dumpable field; a non-dumpable process's /proc/PID/exe is
    // refused to a process without CAP_SYS_PTRACE. As root with every capability but that
    // one, in the host's namespaces, the test sees what a container process would.
    let probe = std::process::Command::new("setpriv")
        .args(["--bounding-set", "-sys_ptrace", "sh", "-c"])
        .arg(format!(
            "readlink /proc/{}/exe >/dev/null 2>&1 && echo readable || echo refused",
            n.pid
        ))
        .output()
        .expect("setpriv (util-linux)");
    let _ =
        berth_seccomp::notify::respond(fd.as_fd(), n.id, berth_seccomp::notify::Response::Continue);
    let out = runner.join().unwrap();
    assert!(out.status.success(), "run: {}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("init started (forked)"),
        "the init was not forked: {}",
        text(&out.stderr)
    );
    assert_eq!(status, "creating");
    assert!(
        !exec.status.success(),
        "exec joined a container whose init had not exec'd"
    );
    assert!(
        text(&exec.stderr).contains("creating"),
        "{}",
        text(&exec.stderr)
    );
    assert_eq!(text(&probe.stdout), "refused\n", "{}", text(&probe.stderr));
    // `create` still starts its init from the helper.
    let mut c = Ctx::new();
    c.args(&["sleep", "1000"]);
    c.write_config();
    let id = c.id();
    let out = c.rt(&[
        "--debug",
        "create",
        "--bundle",
        c.bundle.to_str().unwrap(),
        &id,
    ]);
    assert!(out.status.success(), "create: {}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("init started (by the helper)"),
        "{}",
        text(&out.stderr)
    );
}

fn which(p: &std::path::Path) -> std::path::PathBuf {
    if p.is_absolute() {
        return p.to_path_buf();
    }
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join(p))
                .find(|c| c.is_file())
        })
        .unwrap_or_else(|| p.to_path_buf())
}

#[test]
fn failed_create_leaves_no_process_or_mount() {
    let mut c = Ctx::new();
    c.config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/bad", "type": "nosuchfs", "source": "x"}));
    c.args(&["sleep", "1000"]);
    c.write_config();
    let id = c.id();
    let out = c.rt(&["create", "--bundle", c.bundle.to_str().unwrap(), &id]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("/bad"), "the error names the mount: {err}");
    assert!(!c.root.join(&id).exists(), "state dir left behind");
    assert!(mounts_under(&c.bundle).is_empty(), "mounts left behind");
    assert!(super::harness::processes_with(c.bundle.to_str().unwrap()).is_empty());
}

/// CVE-2019-5736, the entry point itself: `/proc/self/exe`, a symlink to it, or a script whose
/// interpreter is it, must not run the runtime binary inside the container. runc re-executes
/// itself from a sealed memfd copy, so running it is harmless there; berth refuses to run
/// its binary at all.
#[test]
fn berth_only_container_cannot_execute_the_runtime_binary() {
    for (name, setup) in [("direct", 0), ("symlink", 1), ("script", 2)] {
        let mut c = Ctx::new();
        let arg0 = match setup {
            0 => "/proc/self/exe".to_string(),
            1 => {
                std::os::unix::fs::symlink("/proc/self/exe", c.rootfs().join("bin/evil")).unwrap();
                "/bin/evil".to_string()
            }
            _ => {
                let p = c.rootfs().join("bin/evil.sh");
                std::fs::write(&p, "#!/proc/self/exe\n").unwrap();
                std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                    .unwrap();
                "/bin/evil.sh".to_string()
            }
        };
        c.args(&[&arg0, "--version"]);
        let (out, _) = c.run();
        let stdout = text(&out.stdout);
        assert!(
            !stdout.contains("version"),
            "{name}: the runtime binary ran in the container: {stdout}"
        );
        assert!(!out.status.success(), "{name}");
    }
}

/// CVE-2021-30465: a mount destination's parent swapped between a directory and a symlink
/// to the host while the runtime sets up. Whatever it finds at each step, it must stay
/// inside the rootfs.
#[test]
fn symlink_swapped_in_during_setup_stays_inside() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let mut c = Ctx::new();
    let host = c.dir.path().join("host-target");
    std::fs::create_dir(&host).unwrap();
    c.config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/swap/x", "type": "tmpfs", "source": "tmpfs"}));
    c.config["root"]["readonly"] = json!(false);
    c.args(&["true"]);
    let swap = c.rootfs().join("swap");
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (swap, host, stop) = (swap.clone(), host.clone(), stop.clone());
        std::thread::spawn(move || {
            let tmp = swap.with_extension("tmp");
            while !stop.load(Ordering::Relaxed) {
                let _ = std::fs::create_dir(&tmp);
                let _ = std::fs::rename(&tmp, &swap);
                let _ = std::os::unix::fs::symlink(&host, &tmp);
                let _ = std::fs::rename(&tmp, &swap);
                let _ = std::fs::remove_dir(&swap);
            }
        })
    };
    for _ in 0..30 {
        let _ = c.run();
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();
    assert!(
        std::fs::read_dir(&host).unwrap().next().is_none(),
        "something was created on the host"
    );
    assert!(mounts_under(&host).is_empty(), "a mount landed on the host");
}

/// CVE-2024-21626's class: a runtime fd still open while the container's program is resolved.
/// The caller of `run --preserve-fds 3` hands on fd 3 only, leaving 4 and 5 free, so the
/// runtime's own fds (close-on-exec) land there and the forked init inherits them. Each must
/// be closed before the execve, whose path lookup runs first: through the host's
/// `/sys/fs/cgroup` (the cgroup code's fd) `/proc/self/fd/N/../../../usr/bin/busybox` was the
/// host's binary, run in the container.
#[test]
fn berth_only_runtime_fds_in_free_preserved_slots_are_closed_before_exec() {
    for n in [4, 5] {
        for probe in [
            format!("/proc/self/fd/{n}"),
            format!("/proc/self/fd/{n}/../../../usr/bin/busybox"),
        ] {
            let mut c = Ctx::new();
            c.args(&[probe.as_str(), "true"]);
            c.write_config();
            let id = c.id();
            let mut cmd = c.cmd(&[
                "run",
                "--preserve-fds",
                "3",
                "--bundle",
                c.bundle.to_str().unwrap(),
                &id,
            ]);
            Ctx::with_fd(&mut cmd, std::fs::File::open("/etc/hostname").unwrap(), 3);
            let out = super::harness::capture(cmd);
            let err = text(&out.stderr);
            assert!(!out.status.success(), "{probe} ran");
            assert!(err.contains("no such file or directory"), "{probe}: {err}");
            c.rt(&["delete", "--force", &id]);
        }
    }
}
