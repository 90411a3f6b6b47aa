//! runc parity (#14): where clients and scripts notice. Each test also passes against runc
//! where runc has the behaviour (berth-only ones say why).

use std::time::{Duration, Instant};

use serde_json::json;

use super::harness::{capture, is_berth, mounts_under, text, Ctx};

fn running(c: &mut Ctx, script: &str) -> String {
    c.sh(script);
    let id = c.create();
    let out = c.rt(&["start", &id]);
    assert!(out.status.success(), "start: {}", text(&out.stderr));
    id
}

/// `exec --ignore-paused`, and runc's exit status 255 when exec itself fails (so callers can
/// tell it from the process's own).
#[test]
fn exec_into_a_paused_container_and_exec_failures_exit_255() {
    let mut c = Ctx::new();
    let id = running(&mut c, "sleep 30");
    assert!(c.rt(&["pause", &id]).status.success());
    let out = c.rt(&["exec", &id, "true"]);
    assert_eq!(out.status.code(), Some(255), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("paused"),
        "{}",
        text(&out.stderr)
    );
    // With --ignore-paused it joins the frozen container (as runc: it completes once the
    // container is resumed).
    let exec = c.cmd(&["exec", "--ignore-paused", &id, "sh", "-c", "echo joined"]);
    let waiter = std::thread::spawn(move || capture(exec));
    std::thread::sleep(Duration::from_millis(300));
    assert!(!waiter.is_finished(), "exec ran in a frozen container");
    assert!(c.rt(&["resume", &id]).status.success());
    let out = waiter.join().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "joined");
    for args in [
        vec!["exec", &id, "/no/such/binary"],
        vec!["exec", "--pid-file", "/no/such/dir/pid", &id, "true"],
        vec!["exec", "berth-no-such-container", "true"],
    ] {
        let out = c.rt(&args);
        assert_eq!(
            out.status.code(),
            Some(255),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let out = c.rt(&["exec", &id, "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
}

/// A `process.json` without `user` runs as uid 0 (runc).
#[test]
fn exec_process_json_without_user_is_uid_0() {
    let mut c = Ctx::new();
    let id = running(&mut c, "sleep 30");
    let p = c.dir.path().join("process.json");
    std::fs::write(&p, r#"{"cwd":"/","args":["id","-u"],"env":["PATH=/bin"]}"#).unwrap();
    let out = c.rt(&["exec", "--process", p.to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "0");
}

/// `exec --cgroup [CTRL:]PATH` runs in a sub-cgroup of the container's; escapes are refused.
#[test]
fn exec_into_a_sub_cgroup_and_escapes_refused() {
    let mut c = Ctx::new();
    let id = running(&mut c, "sleep 30");
    let pid = c.state(&id)["pid"].as_i64().unwrap();
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let pids_line = own
        .lines()
        .find(|l| l.contains(":pids:"))
        .map(str::to_string);
    if let Some(line) = &pids_line {
        let rel = line.split(':').nth(2).unwrap().trim_start_matches('/');
        let sub = std::path::Path::new("/sys/fs/cgroup/pids")
            .join(rel)
            .join("sub");
        std::fs::create_dir_all(&sub).unwrap();
        let out = c.rt(&[
            "exec",
            "--cgroup",
            "pids:sub",
            &id,
            "cat",
            "/proc/self/cgroup",
        ]);
        let _ = std::fs::remove_dir(&sub);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let seen = text(&out.stdout);
        assert!(
            seen.lines()
                .any(|l| l.contains(":pids:") && l.ends_with("/sub")),
            "{seen}"
        );
    }
    let out = c.rt(&["exec", "--cgroup", "../escape", &id, "true"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("is not a sub cgroup path"),
        "{}",
        text(&out.stderr)
    );
}

/// An exec'd process is in every cgroup hierarchy the init is in, the cgroup2 one on hybrid
/// hosts included (runc places the init there too).
#[test]
fn exec_joins_every_hierarchy_of_the_init() {
    let mut c = Ctx::new();
    let id = running(&mut c, "sleep 30");
    let pid = c.state(&id)["pid"].as_i64().unwrap();
    let init = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let out = c.rt(&["exec", &id, "cat", "/proc/self/cgroup"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The container has a cgroup namespace in neither case here: paths compare as they are.
    let mut a: Vec<&str> = init.lines().collect();
    let exec = text(&out.stdout);
    let mut b: Vec<&str> = exec.lines().collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    assert!(
        init.lines().any(|l| l.starts_with("0::") && l != "0::/"),
        "{init}"
    );
}

/// `update` takes -1 for "unlimited", as runc.
#[test]
fn update_takes_minus_one_for_unlimited() {
    let mut c = Ctx::new();
    c.config["linux"]["resources"]["memory"] = json!({"limit": 67108864});
    c.config["linux"]["resources"]["pids"] = json!({"limit": 50});
    let id = running(&mut c, "sleep 30");
    let out = c.rt(&[
        "update",
        "--memory",
        "-1",
        "--memory-swap",
        "-1",
        "--cpu-quota",
        "-1",
        "--pids-limit",
        "-1",
        &id,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// The device cgroup enforces `linux.resources.devices` (plus the documented defaults), not
/// every node of `linux.devices`: a deny-all config that creates /dev/kmsg cannot write it.
#[test]
fn device_nodes_get_no_cgroup_rule_of_their_own() {
    let mut c = Ctx::new();
    c.config["linux"]["devices"] =
        json!([{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}]);
    c.sh("test -c /dev/kmsg && echo exists; (echo x > /dev/kmsg) 2>&1; echo rc=$?");
    let out = c.run_ok();
    assert!(
        out.contains("exists") && out.contains("Operation not permitted"),
        "{out}"
    );
    assert!(!out.contains("rc=0"), "{out}");
}

/// `list --format json` and `events` print keys in runc's order; `--interval` holds.
#[test]
fn list_and_events_in_runcs_key_order_and_interval() {
    let mut c = Ctx::new();
    let id = running(&mut c, "sleep 30");
    let out = c.rt(&["list", "--format", "json"]);
    let s = text(&out.stdout);
    let keys = [
        "\"ociVersion\"",
        "\"id\"",
        "\"pid\"",
        "\"status\"",
        "\"bundle\"",
        "\"rootfs\"",
        "\"created\"",
        "\"owner\"",
    ];
    let pos: Vec<usize> = keys
        .iter()
        .map(|k| s.find(k).unwrap_or(usize::MAX))
        .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{s}");
    let out = c.rt(&["events", "--stats", &id]);
    let line = text(&out.stdout);
    assert!(
        line.starts_with(&format!("{{\"type\":\"stats\",\"id\":\"{id}\",\"data\":")),
        "{line}"
    );
    let mut ev = c.cmd(&["events", "--interval", "100ms", &id]);
    ev.stdout(std::process::Stdio::piped());
    let mut child = ev.spawn().unwrap();
    let t = Instant::now();
    let mut lines = 0;
    let mut r = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut buf = String::new();
    // 5 lines at 100 ms take 0.4 s and more; at a whole second (or the default 5 s) 4 s and
    // more. The bound between leaves room for a slow (emulated) host.
    while t.elapsed() < Duration::from_millis(3000) {
        buf.clear();
        if std::io::BufRead::read_line(&mut r, &mut buf).unwrap_or(0) == 0 {
            break;
        }
        lines += 1;
        if lines == 5 {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(lines, 5, "got {lines} lines in {:?}", t.elapsed());
    assert!(
        t.elapsed() >= Duration::from_millis(390) && t.elapsed() < Duration::from_millis(3000),
        "{:?}",
        t.elapsed()
    );
}

/// `--debug` logs the steps of the verbs at debug level, to stderr or to `--log`.
#[test]
fn debug_logs_the_steps() {
    // runc logs other steps in other words; the format and the level are what is shared.
    let mut c = Ctx::new();
    c.sh("true");
    c.write_config();
    let id = c.id();
    let out = c.rt(&[
        "--debug",
        "run",
        "--bundle",
        c.bundle.to_str().unwrap(),
        &id,
    ]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.lines().filter(|l| l.contains("level=debug")).count() >= 3,
        "{err}"
    );
    if is_berth() {
        assert!(err.contains("create") && err.contains("delete"), "{err}");
    }
    let log = c.dir.path().join("log.json");
    let id = c.id();
    let out = c.rt(&[
        "--debug",
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "run",
        "--bundle",
        c.bundle.to_str().unwrap(),
        &id,
    ]);
    assert!(out.status.success());
    let l = std::fs::read_to_string(&log).unwrap();
    assert!(
        l.lines().all(|x| x.contains("\"level\":\"debug\"")) && l.lines().count() >= 3,
        "{l}"
    );
}

/// The container's terminal belongs to its user.
#[test]
fn the_terminal_belongs_to_the_process_user() {
    let mut c = Ctx::new();
    c.config["process"]["terminal"] = json!(true);
    c.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    c.sh("stat -c %u /proc/self/fd/0; sleep 2");
    c.write_config();
    let id = c.id();
    let mut master = super::terminal::create_with_console(&c, &id);
    assert!(c.rt(&["start", &id]).status.success());
    let mut got = String::new();
    let t = Instant::now();
    let mut buf = [0u8; 256];
    while !got.contains('\n') && t.elapsed() < Duration::from_secs(5) {
        let n = std::io::Read::read(&mut master, &mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        got.push_str(&text(&buf[..n]));
    }
    assert_eq!(got.trim(), "1000");
}

/// createContainer hooks run in the container's rootfs (hook libraries written for runc use
/// relative paths there).
#[test]
fn create_container_hooks_run_in_the_rootfs() {
    let mut c = Ctx::new();
    let out = c.dir.path().join("hook-cwd");
    c.config["hooks"] = json!({"createContainer": [
        {"path": "/bin/sh", "args": ["sh", "-c", format!("pwd > {}", out.display())]}]});
    // The hook runs in the container's mount namespace: give it a view of the output dir.
    c.config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": c.dir.path(), "type": "bind", "source": c.dir.path(), "options": ["rbind"]}));
    c.sh("true");
    c.run_ok();
    let cwd = std::fs::read_to_string(out).unwrap();
    assert_eq!(
        cwd.trim(),
        std::fs::canonicalize(c.rootfs()).unwrap().to_str().unwrap()
    );
}

/// startContainer hooks run under the container's seccomp filter (as runc's do).
#[test]
fn start_container_hooks_run_under_the_seccomp_filter() {
    let mut c = Ctx::new();
    let shared = c.dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    c.config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/shared", "type": "bind", "source": shared, "options": ["rbind"]}));
    c.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    });
    c.config["hooks"] = json!({"startContainer": [{"path": "/bin/sh", "args": ["sh", "-c",
        "mkdir /shared/by-hook 2>/dev/null; echo $? > /shared/rc"]}]});
    c.sh("true");
    c.run_ok();
    assert_ne!(
        std::fs::read_to_string(shared.join("rc")).unwrap().trim(),
        "0"
    );
    assert!(!shared.join("by-hook").exists());
}

/// A NOTIFY filter over syscalls the runtime's own init still makes after loading it
/// (execve, openat, read, close) does not hang it: the agent gets the fd and answers them.
/// runc 1.1.5's agent hand-off hangs here (`run` never returns), as in
/// `seccomp::berth_only_notify_goes_to_the_agent`.
#[test]
fn berth_only_notify_over_the_inits_own_syscalls_reaches_the_agent() {
    for nnp in [true, false] {
        let mut c = Ctx::new();
        let l = super::seccomp::notify_profile(&mut c, &["execve", "openat", "read", "close"]);
        c.config["process"]["noNewPrivileges"] = json!(nnp);
        c.sh("echo notified");
        c.write_config();
        let id = c.id();
        let run = c.cmd(&["run", "--bundle", c.bundle.to_str().unwrap(), &id]);
        let runner = std::thread::spawn(move || capture(run));
        let (_, fds) = super::seccomp::agent_accept(&l);
        let fd = fds.into_iter().next().unwrap();
        let agent = std::thread::spawn(move || {
            super::seccomp::answer(fd, berth_seccomp::notify::Response::Continue)
        });
        let out = runner.join().unwrap();
        assert!(out.status.success(), "nnp={nnp}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("notified"));
        assert!(agent.join().unwrap() > 0);
    }
}

/// With no agent listening, the error says it failed to connect with the seccomp agent.
#[test]
fn notify_without_an_agent_says_so() {
    let mut c = Ctx::new();
    let l = super::seccomp::notify_profile(&mut c, &["mkdir"]);
    drop(l);
    c.sh("true");
    let (out, id) = c.run();
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("failed to connect with seccomp agent"),
        "{err}"
    );
    assert!(!c.root.join(&id).exists());
}

/// A read-only /dev with mounts under it: /dev turns read-only after its submounts.
#[test]
fn a_read_only_dev_with_submounts() {
    let mut c = Ctx::new();
    for m in c.config["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/dev" {
            m["options"].as_array_mut().unwrap().push(json!("ro"));
        }
    }
    c.sh(
        "touch /dev/x 2>&1; ls /dev/pts/ptmx /dev/shm /dev/mqueue >/dev/null && echo submounts-ok",
    );
    let out = c.run_ok();
    assert!(
        out.contains("Read-only file system") && out.contains("submounts-ok"),
        "{out}"
    );
}

/// In a user namespace, a bind source only host root can reach is opened before the init
/// enters its user namespace (runc does too).
#[test]
fn bind_sources_only_host_root_reaches_work_in_a_user_namespace() {
    use std::os::unix::fs::PermissionsExt;
    let mut c = Ctx::new();
    let hidden = c.dir.path().join("root-only");
    let data = hidden.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("f"), "secret-ok").unwrap();
    std::fs::set_permissions(&hidden, std::fs::Permissions::from_mode(0o700)).unwrap();
    let nss = c.config["linux"]["namespaces"].as_array_mut().unwrap();
    nss.push(json!({"type": "user"}));
    c.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    c.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    c.config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/data", "type": "bind", "source": data, "options": ["rbind", "ro"]}));
    // The rootfs must be reachable by the mapped root (world-readable path), and the mount
    // point there already: the mapped root cannot create it in a rootfs owned by host root.
    std::fs::create_dir(c.rootfs().join("data")).unwrap();
    for p in [c.dir.path(), &c.bundle] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    c.sh("cat /data/f");
    let out = c.run_ok();
    assert_eq!(out.trim(), "secret-ok");
}

/// `--no-pivot` leaves no fully visible procfs in the container's mount namespace: a nested
/// unprivileged procfs mount is refused (runc: permission denied).
#[test]
fn no_pivot_leaves_no_procfs_to_remount() {
    let mut c = Ctx::new();
    c.sh("unshare -U -r -m -p -f mount -t proc proc /tmp 2>&1; echo rc=$?");
    c.write_config();
    let id = c.id();
    let out = c.rt(&[
        "run",
        "--no-pivot",
        "--bundle",
        c.bundle.to_str().unwrap(),
        &id,
    ]);
    let s = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!s.contains("rc=0"), "a nested procfs was mounted: {s}");
    assert!(mounts_under(&c.bundle).is_empty());
}

/// `berth spec` writes runc's template (scripts that add a cgroup namespace must not get a
/// duplicate).
#[test]
fn spec_template_has_no_cgroup_namespace() {
    let c = Ctx::new();
    let dir = c.dir.path().join("spec");
    std::fs::create_dir(&dir).unwrap();
    let out = c.rt(&["spec", "--bundle", dir.to_str().unwrap()]);
    assert!(out.status.success());
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    let ns = v["linux"]["namespaces"].as_array().unwrap();
    assert!(!ns.iter().any(|n| n["type"] == "cgroup"), "{ns:?}");
    assert_eq!(v["linux"]["resources"]["devices"][0]["allow"], false);
}
