//! The systemd driver against a real systemd (PID 1) and D-Bus: run as
//! root in a guest booted with systemd, e.g.
//!
//! ```sh
//! useradd -m u1 && loginctl enable-linger u1      # for the user instance
//! CI=true BERTH_TEST_SYSTEMD_USER=u1 \
//!   cargo test -p berth-cgroups --test systemd -- --ignored --test-threads=2
//! ```
//!
//! The guest needs systemd as PID 1 with `dbus.service` up, and works on
//! cgroup v2, hybrid and legacy v1 hierarchies (legacy: systemd must not
//! believe it runs in a container, e.g. because of a `/.dockerenv` in the
//! root filesystem, or it has no release agent and never sees a scope
//! empty).
//!
//! The tests are `#[ignore]`d so the host's `cargo test` (no systemd as
//! PID 1 there) does not run them. Run without systemd they print a loud
//! SKIPPED, except under `CI=true`, where they fail. Every test uses its own
//! unit names (`berth-test-<pid>-<n>`) and removes its scope even when it
//! fails. `BERTH_TEST_SYSTEMD_USER=<user>` (a user with lingering enabled)
//! is needed for the user instance test (required under CI), which re-runs
//! this binary as that user.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use berth_cgroups::systemd::SystemdManager;
use berth_cgroups::{detect, CgroupManager, CgroupMode, FreezerState, Manager};
use oci_spec::runtime::LinuxResources;
use serde_json::json;

/// False (after saying so) when systemd is not PID 1 or we are not root;
/// a failure under CI.
fn systemd_here() -> bool {
    let why = if !Path::new("/run/systemd/system").is_dir() {
        "systemd is not running as PID 1 (no /run/systemd/system)"
    } else if !nix::unistd::geteuid().is_root() {
        "the system instance tests need root"
    } else {
        return true;
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("berth-cgroups systemd tests cannot run under CI: {why}");
    }
    eprintln!("!!!!! SKIPPED: berth-cgroups systemd tests: {why} !!!!!");
    false
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn unique(tag: &str) -> String {
    format!(
        "{tag}{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

fn resources(v: serde_json::Value) -> LinuxResources {
    serde_json::from_value(v).unwrap()
}

/// `systemctl show -p <prop> --value <unit>` (for the user instance with
/// `--user`).
fn show(unit: &str, prop: &str) -> String {
    show_as(&[], unit, prop)
}

fn show_as(extra: &[&str], unit: &str, prop: &str) -> String {
    let out = Command::new("systemctl")
        .args(extra)
        .args(["show", "-p", prop, "--value", unit])
        .output()
        .expect("systemctl");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Every `DeviceAllow=` line of the unit.
fn device_allow(unit: &str) -> Vec<String> {
    let out = Command::new("systemctl")
        .args(["show", "-p", "DeviceAllow", unit])
        .output()
        .expect("systemctl");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("DeviceAllow=").map(str::to_string))
        .collect()
}

/// A scope for a `sleep` process; stopped (and the process killed) on drop.
struct TestScope {
    path: String,
    id: String,
    mgr: Manager,
    child: Child,
}

impl TestScope {
    /// A manager for `slice:berth-test:<unique>` and a process to put in it.
    fn new(slice: &str) -> TestScope {
        let id = unique("t");
        let path = format!("{slice}:berth-test:{id}");
        let mgr = Manager::new(&path, &id, true).unwrap();
        let child = Command::new("sleep")
            .arg("1000")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        TestScope {
            path,
            id,
            mgr,
            child,
        }
    }

    fn sd(&self) -> &SystemdManager {
        match &self.mgr {
            Manager::Systemd(m) => m,
            other => panic!("not the systemd driver: {other:?}"),
        }
    }

    fn unit(&self) -> String {
        self.sd().unit().to_string()
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The scope's directory in `ctl`'s hierarchy (v1) or the unified one.
    fn dir(&self, ctl: &str) -> PathBuf {
        let rel = self.sd().rel();
        if v2() {
            Path::new("/sys/fs/cgroup").join(rel)
        } else {
            Path::new("/sys/fs/cgroup").join(ctl).join(rel)
        }
    }

    fn read(&self, ctl: &str, file: &str) -> String {
        let p = self.dir(ctl).join(file);
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .trim()
            .to_string()
    }

    /// Waits for the process to die and returns the signal that killed it.
    fn killed_by(&mut self) -> Option<i32> {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.signal();
            }
            assert!(Instant::now() < end, "process {} still alive", self.pid());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TestScope {
    fn drop(&mut self) {
        if let Err(e) = self.mgr.destroy() {
            eprintln!("cleanup of {} failed: {e}", self.path);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn v2() -> bool {
    detect().unwrap() == CgroupMode::Unified
}

/// The unit is gone from systemd: not loaded, not failed.
fn assert_gone(unit: &str) {
    assert_eq!(show(unit, "LoadState"), "not-found", "{unit} still loaded");
    assert_eq!(show(unit, "ActiveState"), "inactive", "{unit}");
}

#[test]
#[ignore = "needs systemd as PID 1: run in the systemd guest with --ignored"]
fn create_gives_systemd_and_the_files_the_limits() {
    if !systemd_here() {
        return;
    }
    let mut t = TestScope::new("system.slice");
    let r = resources(json!({
        "memory": {"limit": 67108864, "reservation": 33554432},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 50},
        "devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": true, "type": "c", "major": 136, "access": "rwm"}
        ]
    }));
    let annotations = [
        ("org.systemd.property.TimeoutStopSec", "uint64 7"),
        ("org.systemd.property.CollectMode", "'inactive-or-failed'"),
        ("io.example.unrelated", "x"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .into();
    let mgr = t.mgr.clone().with_annotations(&annotations).unwrap();
    mgr.create_with_pid(t.pid(), &r).unwrap();
    let unit = t.unit();
    assert_eq!(unit, format!("berth-test-{}.scope", t.id));
    assert_eq!(show(&unit, "TimeoutStopUSec"), "7s");
    assert_eq!(show(&unit, "CollectMode"), "inactive-or-failed");

    assert_eq!(show(&unit, "ActiveState"), "active");
    assert_eq!(show(&unit, "Slice"), "system.slice");
    assert_eq!(show(&unit, "Delegate"), "yes");
    assert_eq!(show(&unit, "DefaultDependencies"), "no");
    assert_eq!(
        show(&unit, "Description"),
        format!("berth container {}", t.id)
    );
    assert_eq!(show(&unit, "TasksMax"), "50");
    assert_eq!(show(&unit, "CPUQuotaPerSecUSec"), "500ms");
    assert_eq!(show(&unit, "DevicePolicy"), "strict");
    let allow = device_allow(&unit);
    for want in ["/dev/char/1:3 rwm", "char-pts rwm"] {
        assert!(allow.iter().any(|a| a == want), "{want} not in {allow:?}");
    }
    let cgroup = show(&unit, "ControlGroup");
    assert_eq!(cgroup, format!("/system.slice/{unit}"));
    let own = std::fs::read_to_string(format!("/proc/{}/cgroup", t.pid())).unwrap();
    assert!(own.contains(&cgroup), "{own}");

    if v2() {
        assert_eq!(show(&unit, "MemoryMax"), "67108864");
        assert_eq!(show(&unit, "MemoryLow"), "33554432");
        // Same as the cgroupfs driver's cpu.weight for 512 shares.
        assert_eq!(show(&unit, "CPUWeight"), "59");
        assert_eq!(show(&unit, "CPUQuotaPeriodUSec"), "100ms");
        assert_eq!(show(&unit, "AllowedCPUs"), "0");
        assert_eq!(t.read("", "memory.max"), "67108864");
        assert_eq!(t.read("", "memory.low"), "33554432");
        assert_eq!(t.read("", "cpu.weight"), "59");
        assert_eq!(t.read("", "cpu.max"), "50000 100000");
        assert_eq!(t.read("", "cpuset.cpus"), "0");
        assert_eq!(t.read("", "pids.max"), "50");
    } else {
        assert_eq!(show(&unit, "MemoryLimit"), "67108864");
        assert_eq!(show(&unit, "CPUShares"), "512");
        assert_eq!(t.read("memory", "memory.limit_in_bytes"), "67108864");
        assert_eq!(t.read("memory", "memory.soft_limit_in_bytes"), "33554432");
        assert_eq!(t.read("cpu", "cpu.shares"), "512");
        assert_eq!(t.read("cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(t.read("cpuset", "cpuset.cpus"), "0");
        assert_eq!(t.read("pids", "pids.max"), "50");
        // Hierarchies systemd does not manage got the scope too.
        assert!(t
            .read("freezer", "cgroup.procs")
            .contains(&t.pid().to_string()));
    }
    assert_eq!(t.mgr.pids().unwrap(), [t.pid()]);

    // delete, from a manager rebuilt from the path as another process would.
    let again = Manager::new(&t.path, &t.id, true).unwrap();
    again.destroy().unwrap();
    assert_eq!(t.killed_by(), Some(libc::SIGKILL));
    assert_gone(&unit);
    assert!(!t.dir("memory").exists());
    assert!(!again.exists());
    // A second delete finds nothing and is fine.
    again.destroy().unwrap();
}

#[test]
#[ignore = "needs systemd as PID 1: run in the systemd guest with --ignored"]
fn probe_finds_the_system_instance() {
    if !systemd_here() {
        return;
    }
    let v = berth_cgroups::systemd::probe(berth_cgroups::systemd::Instance::System);
    assert!(v.is_some_and(|v| v >= 240), "{v:?}");
}

#[test]
#[ignore = "needs systemd as PID 1: run in the systemd guest with --ignored"]
fn update_changes_systemd_and_the_files() {
    if !systemd_here() {
        return;
    }
    let t = TestScope::new("system.slice");
    let r = resources(json!({"memory": {"limit": 67108864}, "pids": {"limit": 50}}));
    t.mgr.create_with_pid(t.pid(), &r).unwrap();
    let unit = t.unit();
    t.mgr
        .apply(&resources(json!({
            "memory": {"limit": 33554432},
            "pids": {"limit": 40},
            "cpu": {"quota": 20000, "period": 100000}
        })))
        .unwrap();
    assert_eq!(show(&unit, "TasksMax"), "40");
    assert_eq!(show(&unit, "CPUQuotaPerSecUSec"), "200ms");
    if v2() {
        assert_eq!(show(&unit, "MemoryMax"), "33554432");
        assert_eq!(t.read("", "memory.max"), "33554432");
        assert_eq!(t.read("", "pids.max"), "40");
        assert_eq!(t.read("", "cpu.max"), "20000 100000");
    } else {
        assert_eq!(show(&unit, "MemoryLimit"), "33554432");
        assert_eq!(t.read("memory", "memory.limit_in_bytes"), "33554432");
        assert_eq!(t.read("pids", "pids.max"), "40");
        assert_eq!(t.read("cpu", "cpu.cfs_quota_us"), "20000");
    }
    // A limit systemd does not know goes to the files only.
    if v2() {
        t.mgr
            .apply(&resources(json!({"unified": {"memory.oom.group": "1"}})))
            .unwrap();
        assert_eq!(t.read("", "memory.oom.group"), "1");
    }
}

#[test]
#[ignore = "needs systemd as PID 1: run in the systemd guest with --ignored"]
fn nested_slice_and_pause_stats_kill() {
    if !systemd_here() {
        return;
    }
    let top = unique("bt").replace('-', "x");
    let slice = format!("{top}-a.slice");
    let mut t = TestScope::new(&slice);
    t.mgr
        .create_with_pid(t.pid(), &resources(json!({"pids": {"limit": 10}})))
        .unwrap();
    let unit = t.unit();
    assert_eq!(show(&unit, "Slice"), slice);
    let want = format!("/{top}.slice/{slice}/{unit}");
    assert_eq!(show(&unit, "ControlGroup"), want);
    assert!(t.dir("pids").ends_with(want.trim_start_matches('/')));

    t.mgr.freeze().unwrap();
    assert_eq!(t.mgr.freezer_state().unwrap(), FreezerState::Frozen);
    t.mgr.thaw().unwrap();
    assert_eq!(t.mgr.freezer_state().unwrap(), FreezerState::Thawed);
    let stats = t.mgr.stats().unwrap();
    assert_eq!((stats.pids.current, stats.pids.limit), (1, 10));
    assert_eq!(t.mgr.oom_kill_count().unwrap(), 0);

    t.mgr.kill_all(nix::sys::signal::Signal::SIGTERM).unwrap();
    assert_eq!(t.killed_by(), Some(libc::SIGTERM));
    // systemd stops a scope whose processes are all gone by itself.
    let end = Instant::now() + Duration::from_secs(10);
    while show(&unit, "LoadState") == "loaded" && show(&unit, "ActiveState") == "active" {
        assert!(Instant::now() < end, "{unit} still active");
        std::thread::sleep(Duration::from_millis(50));
    }
    t.mgr.destroy().unwrap();
    assert_gone(&unit);
    let _ = Command::new("systemctl")
        .args(["stop", &format!("{top}.slice")])
        .status();
}

#[test]
#[ignore = "needs systemd as PID 1: run in the systemd guest with --ignored"]
fn failed_create_leaves_no_scope() {
    if !systemd_here() {
        return;
    }
    // A process that is gone before systemd can move it: the job fails.
    let mut dead = Command::new("true").spawn().unwrap();
    let dead_pid = dead.id() as i32;
    dead.wait().unwrap();
    let t = TestScope::new("system.slice");
    let unit = t.unit();
    let e = t
        .mgr
        .create_with_pid(dead_pid, &LinuxResources::default())
        .unwrap_err();
    eprintln!("expected error: {e}");
    assert_gone(&unit);

    // A limit only the cgroupfs code refuses, after the scope is up: the
    // scope is stopped again and its process killed.
    let mut t = TestScope::new("system.slice");
    let unit = t.unit();
    let bad = if v2() {
        json!({"unified": {"memory.no_such_file": "1"}})
    } else {
        json!({"unified": {"memory.max": "1"}})
    };
    let e = t.mgr.create_with_pid(t.pid(), &resources(bad)).unwrap_err();
    eprintln!("expected error: {e}");
    assert_gone(&unit);
    assert!(t.killed_by().is_some());
}

#[test]
#[ignore = "needs systemd as PID 1: run in the systemd guest with --ignored"]
fn delete_cleans_what_a_killed_create_left() {
    if !systemd_here() {
        return;
    }
    // 1. A failed scope whose process is gone: started by hand with a
    //    runtime limit, so systemd kills the process and marks it failed.
    let mut t = TestScope::new("system.slice");
    let unit = t.unit();
    let pid = t.pid().to_string();
    let st = Command::new("busctl")
        .args([
            "call",
            "org.freedesktop.systemd1",
            "/org/freedesktop/systemd1",
            "org.freedesktop.systemd1.Manager",
            "StartTransientUnit",
            "ssa(sv)a(sa(sv))",
            &unit,
            "replace",
            "3",
            "PIDs",
            "au",
            "1",
            &pid,
            "Delegate",
            "b",
            "true",
            "RuntimeMaxUSec",
            "t",
            "300000",
            "0",
        ])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let end = Instant::now() + Duration::from_secs(10);
    while show(&unit, "ActiveState") != "failed" {
        assert!(
            Instant::now() < end,
            "{unit}: {}",
            show(&unit, "ActiveState")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(t.killed_by(), Some(libc::SIGTERM));
    Manager::new(&t.path, &t.id, true)
        .unwrap()
        .destroy()
        .unwrap();
    assert_gone(&unit);

    // 2. A scope with its process running and nobody left to delete it.
    let mut t = TestScope::new("system.slice");
    let unit = t.unit();
    t.mgr
        .create_with_pid(t.pid(), &LinuxResources::default())
        .unwrap();
    t.mgr.freeze().unwrap();
    Manager::new(&t.path, &t.id, true)
        .unwrap()
        .destroy()
        .unwrap();
    assert_eq!(t.killed_by(), Some(libc::SIGKILL));
    assert_gone(&unit);
}

#[test]
#[ignore = "needs systemd as PID 1: run in the systemd guest with --ignored"]
fn a_running_scope_of_the_same_name_is_refused() {
    if !systemd_here() {
        return;
    }
    let t = TestScope::new("system.slice");
    t.mgr
        .create_with_pid(t.pid(), &LinuxResources::default())
        .unwrap();
    let mut other = Command::new("sleep").arg("1000").spawn().unwrap();
    let e = t
        .mgr
        .create_with_pid(other.id() as i32, &LinuxResources::default())
        .unwrap_err();
    // Refused as in use (systemd's UnitExists), and the live scope is left alone.
    assert!(
        e.to_string()
            .contains("already exists: the cgroups path is in use"),
        "{e}"
    );
    assert_eq!(show(&t.unit(), "ActiveState"), "active");
    let _ = other.kill();
    let _ = other.wait();
}

/// The uid of `user`, from /etc/passwd.
fn uid_of(user: &str) -> Option<u32> {
    std::fs::read_to_string("/etc/passwd")
        .ok()?
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&user)).then(|| f.get(2)?.parse().ok())?
        })
}

/// Rootless: as root this re-runs itself as `$BERTH_TEST_SYSTEMD_USER`
/// (a user with lingering enabled, so `user@UID.service` and its session
/// bus are up); as that user it drives the user instance.
#[test]
#[ignore = "needs systemd as PID 1: run in the systemd guest with --ignored"]
fn user_instance_scope() {
    if std::env::var_os("BERTH_TEST_SYSTEMD_INNER").is_some() {
        return user_instance_inner();
    }
    if !systemd_here() {
        return;
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let Some(user) = std::env::var("BERTH_TEST_SYSTEMD_USER").ok() else {
        assert!(
            !ci,
            "BERTH_TEST_SYSTEMD_USER is not set: the user instance is untested"
        );
        eprintln!("!!!!! SKIPPED: user_instance_scope: set BERTH_TEST_SYSTEMD_USER !!!!!");
        return;
    };
    let uid = uid_of(&user).unwrap_or_else(|| panic!("no user {user}"));
    let runtime_dir = format!("/run/user/{uid}");
    let bus = format!("{runtime_dir}/bus");
    let end = Instant::now() + Duration::from_secs(30);
    while !Path::new(&bus).exists() {
        assert!(
            Instant::now() < end,
            "{bus} missing: is lingering enabled for {user}?"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    // The user may not reach this binary where cargo built it (a checkout under /root, say):
    // it runs a copy in a directory of its own that anyone may enter.
    let dir = tempfile::Builder::new()
        .prefix("berth-test-user-")
        .tempdir()
        .unwrap();
    let exe = dir.path().join("systemd-test");
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    for p in [dir.path(), exe.as_path()] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = Command::new(&exe)
        .args(["--ignored", "--exact", "user_instance_scope", "--nocapture"])
        .env("BERTH_TEST_SYSTEMD_INNER", "1")
        .env("XDG_RUNTIME_DIR", &runtime_dir)
        .env("DBUS_SESSION_BUS_ADDRESS", format!("unix:path={bus}"))
        .env("HOME", "/")
        .uid(uid)
        .gid(uid)
        .current_dir("/")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "as {user}:\n{text}");
    assert!(text.contains("1 passed"), "as {user}:\n{text}");
}

fn user_instance_inner() {
    let id = unique("u");
    let path = format!(":berth-test:{id}");
    let mgr = Manager::new(&path, &id, true).unwrap();
    let Manager::Systemd(sd) = &mgr else {
        panic!("{mgr:?}")
    };
    assert_eq!(sd.instance(), berth_cgroups::systemd::Instance::User);
    let unit = sd.unit().to_string();
    let mut child = Command::new("sleep").arg("1000").spawn().unwrap();
    let pid = child.id() as i32;
    let r = resources(json!({"memory": {"limit": 33554432}, "pids": {"limit": 10}}));
    let created = mgr.create_with_pid(pid, &r);
    if !v2() {
        let _ = child.kill();
        let _ = child.wait();
        let e = created.unwrap_err().to_string();
        assert!(
            e.contains("cannot delegate cgroups on a cgroup v1 host"),
            "{e}"
        );
        return;
    }
    let check = || {
        created.as_ref().map_err(|e| e.to_string())?;
        let user = ["--user"];
        let uid = nix::unistd::getuid();
        let want = format!("/user.slice/user-{uid}.slice/user@{uid}.service/user.slice/{unit}");
        let cg = show_as(&user, &unit, "ControlGroup");
        if cg != want {
            return Err(format!("ControlGroup {cg}, want {want}"));
        }
        for (prop, want) in [
            ("MemoryMax", "33554432"),
            ("TasksMax", "10"),
            ("Delegate", "yes"),
        ] {
            let got = show_as(&user, &unit, prop);
            if got != want {
                return Err(format!("{prop}={got}, want {want}"));
            }
        }
        let dir = Path::new("/sys/fs/cgroup").join(cg.trim_start_matches('/'));
        let max = std::fs::read_to_string(dir.join("memory.max")).map_err(|e| e.to_string())?;
        if max.trim() != "33554432" {
            return Err(format!("memory.max {max}"));
        }
        if mgr.pids().map_err(|e| e.to_string())? != [pid] {
            return Err("the sleeper is not in the scope".into());
        }
        Ok(dir)
    };
    let checked = check();
    let destroyed = mgr.destroy();
    let _ = child.kill();
    let _ = child.wait();
    let dir = checked.unwrap();
    destroyed.unwrap();
    assert_eq!(show_as(&["--user"], &unit, "LoadState"), "not-found");
    assert!(!dir.exists(), "{}", dir.display());
}

#[test]
#[ignore = "needs systemd as PID 1: run in the systemd guest with --ignored"]
fn oom_kill_in_the_scope_is_an_event() {
    if !systemd_here() {
        return;
    }
    use std::io::Write;
    let t = TestScope::new("system.slice");
    let r = resources(json!({"memory": {"limit": 33554432, "swap": 33554432}}));
    t.mgr.create_with_pid(t.pid(), &r).unwrap();
    // A second process joins the scope (as an exec'd one does), waits until
    // it is in, then needs 128M under the 32M limit. The first one keeps
    // the scope alive: systemd removes a scope once it is empty.
    let mut dd = Command::new("sh")
        .args([
            "-c",
            "read _go; exec dd if=/dev/zero of=/dev/null bs=128M count=1",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    t.mgr.add_task(dd.id() as i32).unwrap();
    assert_eq!(t.mgr.pids().unwrap().len(), 2);
    let mut watcher = t.mgr.oom_watcher().unwrap();
    dd.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let ev = watcher.wait(Some(Duration::from_secs(60))).unwrap();
    assert_eq!(ev, berth_cgroups::OomEvent::Oom);
    assert_eq!(dd.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert!(t.mgr.oom_kill_count().unwrap() >= 1);
}
