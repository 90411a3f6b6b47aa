//! Root-only tests on real cgroups: whichever version this host runs (v1 or hybrid here,
//! v2 in the cgroup v2 guest). Every test works in its own `/berth-test-<pid>-<n>` cgroup
//! and removes it even when it fails. Without root they cannot run: see `strict`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use berth_cgroups::{
    detect, CgroupError, CgroupManager, CgroupMode, FreezerState, Hierarchies, Manager, OomEvent,
};
use nix::sys::signal::Signal;
use oci_spec::runtime::LinuxResources;

/// Strict mode and the skip log, shared with the repository's other suites.
#[path = "../../../tests/harness/strict.rs"]
mod strict;

/// True when not root: the test cannot run (a failure in strict mode, else a logged skip).
fn skip() -> bool {
    if nix::unistd::geteuid().is_root() {
        return false;
    }
    strict::cannot_run("the berth-cgroups root tests need root");
    true
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A test cgroup, destroyed (with everything under it) on drop.
struct TestCg {
    top: String,
    path: String,
    mgr: Manager,
}

impl TestCg {
    /// A fresh cgroup at `/berth-test-<pid>-<n>` plus `sub` below it.
    fn new(sub: &str) -> TestCg {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let top = format!("/berth-test-{}-{n}", std::process::id());
        let path = format!("{top}{sub}");
        let mgr = Manager::new(&path, "test", false).unwrap();
        mgr.create().unwrap();
        TestCg { top, path, mgr }
    }

    /// The container's directory in hierarchy `ctl` (v1) or the unified one.
    fn dir(&self, ctl: &str) -> PathBuf {
        match &self.mgr {
            Manager::V2(m) => m.dir().to_path_buf(),
            _ => Path::new("/sys/fs/cgroup")
                .join(ctl)
                .join(self.path.trim_start_matches('/')),
        }
    }

    fn read(&self, ctl: &str, file: &str) -> String {
        let p = self.dir(ctl).join(file);
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .trim()
            .to_string()
    }

    fn v2(&self) -> bool {
        matches!(self.mgr, Manager::V2(_))
    }

    /// Starts `sh -c script` inside the cgroup: the shell waits on stdin
    /// until it has been moved in, so the script runs entirely inside.
    fn spawn(&self, script: &str) -> Child {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("read _go; {script}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        self.mgr.add_task(child.id() as i32).unwrap();
        child.stdin.take().unwrap().write_all(b"go\n").unwrap();
        child
    }
}

impl Drop for TestCg {
    fn drop(&mut self) {
        let top = Manager::new(&self.top, "test", false).unwrap();
        if let Err(e) = top.destroy() {
            eprintln!("cleanup of {} failed: {e}", self.top);
        }
    }
}

fn resources(v: serde_json::Value) -> LinuxResources {
    serde_json::from_value(v).unwrap()
}

fn killed_by(child: &mut Child) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    child.wait().unwrap().signal()
}

#[test]
fn detect_matches_the_mounts() {
    if skip() {
        return;
    }
    let mode = detect().unwrap();
    let unified = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    assert_eq!(mode == CgroupMode::Unified, unified, "{mode:?}");
}

#[test]
fn lifecycle_limits_freeze_stats_destroy() {
    if skip() {
        return;
    }
    let cg = TestCg::new("/ctr");
    let mut child = cg.spawn("exec sleep 1000");
    let pid = child.id() as i32;
    cg.mgr
        .apply(&resources(serde_json::json!({
            "memory": {"limit": 67108864, "reservation": 33554432},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
            "pids": {"limit": 20}
        })))
        .unwrap();
    if cg.v2() {
        assert_eq!(cg.read("", "memory.max"), "67108864");
        assert_eq!(cg.read("", "memory.low"), "33554432");
        assert_eq!(cg.read("", "cpu.weight"), "59");
        assert_eq!(cg.read("", "cpu.max"), "50000 100000");
        assert_eq!(cg.read("", "cpuset.cpus"), "0");
        assert_eq!(cg.read("", "pids.max"), "20");
    } else {
        assert_eq!(cg.read("memory", "memory.limit_in_bytes"), "67108864");
        assert_eq!(cg.read("memory", "memory.soft_limit_in_bytes"), "33554432");
        assert_eq!(cg.read("cpu", "cpu.shares"), "512");
        assert_eq!(cg.read("cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(cg.read("cpuset", "cpuset.cpus"), "0");
        assert_eq!(cg.read("pids", "pids.max"), "20");
    }
    // update: a second apply replaces the values.
    cg.mgr
        .apply(&resources(
            serde_json::json!({"memory": {"limit": 134217728}}),
        ))
        .unwrap();
    let limit = if cg.v2() {
        cg.read("", "memory.max")
    } else {
        cg.read("memory", "memory.limit_in_bytes")
    };
    assert_eq!(limit, "134217728");

    assert_eq!(cg.mgr.pids().unwrap(), [pid]);
    let stats = cg.mgr.stats().unwrap();
    assert_eq!(stats.pids.current, 1);
    assert_eq!(stats.pids.limit, 20);
    assert_eq!(stats.memory.usage.limit, 134217728);
    // A freshly exec'd `sleep` may not have been charged yet (v1 charges in per-cpu
    // batches), and runc's JSON leaves zeros out, so only the agreement of the counter
    // and its JSON form is checked here; enforcement tests cover real usage.
    let json = serde_json::to_value(&stats).unwrap();
    assert_eq!(
        json["memory"]["usage"]["usage"].as_u64().unwrap_or(0),
        stats.memory.usage.usage
    );

    cg.mgr.freeze().unwrap();
    assert_eq!(cg.mgr.freezer_state().unwrap(), FreezerState::Frozen);
    cg.mgr.thaw().unwrap();
    assert_eq!(cg.mgr.freezer_state().unwrap(), FreezerState::Thawed);

    // destroy from a manager rebuilt from the same string, frozen on purpose.
    cg.mgr.freeze().unwrap();
    let again = Manager::new(&cg.path, "test", false).unwrap();
    again.destroy().unwrap();
    assert!(!again.exists());
    assert_eq!(killed_by(&mut child), Some(libc::SIGKILL));
    again.destroy().unwrap();
}

#[test]
fn memory_limit_is_enforced_by_the_oom_killer() {
    if skip() {
        return;
    }
    let cg = TestCg::new("");
    cg.mgr
        .apply(&resources(
            serde_json::json!({"memory": {"limit": 33554432}}),
        ))
        .unwrap();
    let mut watcher = cg.mgr.oom_watcher().unwrap();
    // dd touches its whole 128M buffer while reading /dev/zero into it.
    let mut child = cg.spawn("exec dd if=/dev/zero of=/dev/null bs=128M count=1");
    assert_eq!(killed_by(&mut child), Some(libc::SIGKILL));
    assert!(cg.mgr.oom_kill_count().unwrap() >= 1);
    assert_eq!(
        watcher.wait(Some(Duration::from_secs(30))).unwrap(),
        OomEvent::Oom
    );
}

#[test]
fn forks_past_pids_limit_fail() {
    if skip() {
        return;
    }
    let cg = TestCg::new("");
    cg.mgr
        .apply(&resources(serde_json::json!({"pids": {"limit": 4}})))
        .unwrap();
    // The shell reports each fork that worked and dies at the first one
    // refused; the sleeps do not hold its stdout, so EOF comes then.
    let mut child =
        cg.spawn("for i in 1 2 3 4 5 6 7 8; do sleep 1000 >/dev/null 2>&1 & echo forked; done");
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(
        out.lines().count(),
        3,
        "shell + 3 sleeps fill pids.max=4: {out}"
    );
    assert!(!status.success());
    assert!(err.to_lowercase().contains("fork"), "stderr: {err}");
    assert_eq!(cg.mgr.pids().unwrap().len(), 3);
    let ctl = if cg.v2() { "" } else { "pids" };
    let events = cg.read(ctl, "pids.events");
    let refused: u64 = events.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(refused >= 1, "pids.events: {events}");
}

#[test]
fn device_rules_are_enforced() {
    if skip() {
        return;
    }
    let cg = TestCg::new("");
    let rules = serde_json::json!({"devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
    ]});
    cg.mgr.apply(&resources(rules.clone())).unwrap();
    // Applying again (update) replaces the filter rather than stacking one.
    cg.mgr.apply(&resources(rules)).unwrap();
    if let Manager::V2(m) = &cg.mgr {
        assert_eq!(
            berth_cgroups::v2::devices::attached_count(m.dir()).unwrap(),
            1
        );
    } else {
        assert_eq!(cg.read("devices", "devices.list"), "c 1:3 rwm");
    }
    let mut child = cg.spawn(
        "echo x > /dev/null && echo null-ok; head -c1 /dev/zero > /dev/null 2>&1 && echo zero-ok || echo zero-denied",
    );
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, "null-ok\nzero-denied\n");
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn kill_all_signals_every_process_in_sub_cgroups_too() {
    if skip() {
        return;
    }
    let cg = TestCg::new("/ctr");
    let mut a = cg.spawn("exec sleep 1000");
    // A sub-cgroup with its own task: pids() and destroy() go recursive.
    let sub = TestCg {
        top: cg.top.clone(),
        path: format!("{}/sub", cg.path),
        mgr: Manager::new(&format!("{}/sub", cg.path), "test", false).unwrap(),
    };
    if let Manager::V2(m) = &sub.mgr {
        // As a process inside the container would: a parent with tasks
        // cannot pass controllers down (no internal processes on v2).
        std::fs::create_dir(m.dir()).unwrap();
    } else {
        sub.mgr.create().unwrap();
    }
    let mut b = sub.spawn("exec sleep 1000");
    let mut pids = vec![a.id() as i32, b.id() as i32];
    pids.sort();
    assert_eq!(cg.mgr.pids().unwrap(), pids);
    cg.mgr.kill_all(Signal::SIGTERM).unwrap();
    assert_eq!(killed_by(&mut a), Some(libc::SIGTERM));
    assert_eq!(killed_by(&mut b), Some(libc::SIGTERM));
    cg.mgr.destroy().unwrap();
    assert!(!sub.mgr.exists() && !cg.mgr.exists());
}

#[test]
fn fields_the_host_cannot_honour_name_the_field() {
    if skip() {
        return;
    }
    let cg = TestCg::new("");
    // No net_cls here: not mounted on this v1 host, nonexistent on v2.
    let e = cg
        .mgr
        .apply(&resources(
            serde_json::json!({"network": {"classID": 1048577}}),
        ))
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("linux.resources.network.classID: "),
        "{e}"
    );
    let e = cg
        .mgr
        .apply(&resources(
            serde_json::json!({"hugepageLimits": [{"pageSize": "3MB", "limit": 1}]}),
        ))
        .unwrap_err();
    assert!(
        e.to_string().starts_with("linux.resources.hugepageLimits"),
        "{e}"
    );
}

#[test]
fn v2_cgroup_fd_for_clone_into_cgroup() {
    if skip() {
        return;
    }
    let cg = TestCg::new("");
    match cg.mgr.open_cgroup_fd() {
        Ok(fd) => {
            assert!(cg.v2());
            let st = nix::sys::stat::fstat(&fd).unwrap();
            assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFDIR);
        }
        Err(e) => {
            assert!(!cg.v2(), "{e}");
            assert!(e.to_string().contains("v1"), "{e}");
        }
    }
}

/// The pids of `child`'s `/proc/PID/cgroup` lines, as (hierarchy, path).
fn proc_cgroup(pid: i32) -> Vec<(String, String)> {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let _ = it.next()?;
            Some((it.next()?.to_string(), it.next()?.to_string()))
        })
        .collect()
}

#[test]
fn every_hierarchy_is_joined_and_removed() {
    if skip() {
        return;
    }
    let cg = TestCg::new("/ctr");
    let mut child = cg.spawn("exec sleep 1000");
    let pid = child.id() as i32;
    let lines = proc_cgroup(pid);
    let host = Hierarchies::host().unwrap();
    let want = &cg.path;
    for (hier, path) in &lines {
        // Every hierarchy the kernel lists for the process: each v1 one with a
        // controller, name=systemd, and the cgroup2 one (hybrid and v2).
        let named_other = hier.starts_with("name=") && hier != "name=systemd";
        if named_other {
            continue;
        }
        assert_eq!(path, want, "{hier:?} in {lines:?}");
    }
    if host.mode() == CgroupMode::Hybrid {
        assert!(lines.iter().any(|(h, p)| h.is_empty() && p == want));
    }
    let paths = cg.mgr.paths();
    assert!(paths.iter().all(|p| p.is_dir()), "{paths:?}");
    cg.mgr.destroy().unwrap();
    assert_eq!(killed_by(&mut child), Some(libc::SIGKILL));
    let left: Vec<_> = paths.iter().filter(|p| p.exists()).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn a_frozen_target_is_refused_and_a_busy_one_reported() {
    if skip() {
        return;
    }
    let cg = TestCg::new("/ctr");
    assert_eq!(cg.mgr.check_usable().unwrap(), Vec::<i32>::new());
    let mut child = cg.spawn("exec sleep 1000");
    assert_eq!(cg.mgr.check_usable().unwrap(), [child.id() as i32]);
    cg.mgr.freeze().unwrap();
    let e = cg.mgr.check_usable().unwrap_err();
    assert!(matches!(e, CgroupError::Frozen { .. }), "{e}");
    assert!(
        e.to_string().starts_with("container's cgroup is frozen"),
        "{e}"
    );
    // A new cgroup below a frozen one is refused too, before it exists.
    let below = Manager::new(&format!("{}/below", cg.path), "test", false).unwrap();
    assert!(matches!(
        below.check_usable(),
        Err(CgroupError::Frozen { .. })
    ));
    assert!(!below.exists());
    // create refuses it by itself too, and leaves nothing.
    let e = below.create().unwrap_err();
    assert!(matches!(e, CgroupError::Frozen { .. }), "{e}");
    assert!(!below.exists());
    let e = cg.mgr.create().unwrap_err();
    assert!(matches!(e, CgroupError::Frozen { .. }), "{e}");
    assert!(
        cg.mgr.exists(),
        "an existing cgroup is not removed by a refused create"
    );
    cg.mgr.thaw().unwrap();
    cg.mgr.destroy().unwrap();
    assert_eq!(killed_by(&mut child), Some(libc::SIGKILL));
}

#[test]
fn a_path_through_a_file_is_named_and_leaves_nothing() {
    if skip() {
        return;
    }
    let cg = TestCg::new("");
    // `cgroup.procs` is a file in every hierarchy.
    let path = format!("{}/cgroup.procs/c1", cg.path);
    let m = Manager::new(&path, "test", false).unwrap();
    let e = m.create().unwrap_err();
    assert!(matches!(e, CgroupError::NotADirectory { .. }), "{e:?}");
    assert!(
        e.to_string().contains("cgroup.procs` is not a directory"),
        "{e}"
    );
    // v1: a file that exists only in some hierarchies; the levels made in
    // the others are removed.
    if !cg.v2() {
        let path = format!("{}/memory.limit_in_bytes/c1", cg.path);
        let m = Manager::new(&path, "test", false).unwrap();
        let e = m.create().unwrap_err();
        assert!(matches!(e, CgroupError::NotADirectory { .. }), "{e:?}");
    }
    for p in cg.mgr.paths() {
        let left: Vec<_> = std::fs::read_dir(&p)
            .unwrap()
            .flatten()
            .filter(|e| e.file_type().unwrap().is_dir())
            .map(|e| e.path())
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}

/// Set (to the cgroup path to use) in the private mount namespace that
/// [`stray_directories_are_not_hierarchies`] runs its second half in.
const PRIVATE_NS_ENV: &str = "BERTH_CGROUPS_TEST_PRIVATE_NS";

/// The v1 hierarchies bound into the private cgroup root, and the plain
/// directories put beside them.
const STRAYS: [&str; 5] = ["hugetlb", "net_cls", "rdma", "unified", "memory.stray"];

/// A private mount namespace gets its own tmpfs over /sys/fs/cgroup (the
/// host's is never touched), the host's v1 hierarchies bound back into it
/// except cgroup2, and plain directories named after controllers (and
/// `unified`). Its second half, in that namespace, must find only the bound
/// hierarchies, make a working cgroup in them and nothing in the plain
/// directories. On a v2 host nothing is bound: create must say that no
/// hierarchy is mounted, and make nothing.
#[test]
fn stray_directories_are_not_hierarchies() {
    if skip() {
        return;
    }
    let host = Hierarchies::host().unwrap();
    let root = Path::new("/sys/fs/cgroup");
    let bound: Vec<String> = host
        .v1()
        .iter()
        .filter(|h| h.joined() && h.mount_point.parent() == Some(root))
        .map(|h| {
            h.mount_point
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let path = format!("/berth-test-{}-{n}-ns", std::process::id());
    let tmp = tempfile::Builder::new()
        .prefix("berth-test-")
        .tempdir()
        .unwrap();
    let script = r#"set -e
t=$1; shift
mkdir "$t/old"
mount --rbind /sys/fs/cgroup "$t/old"
mount -t tmpfs berth-test /sys/fs/cgroup
for h in $BOUND; do mkdir "/sys/fs/cgroup/$h"; mount --bind "$t/old/$h" "/sys/fs/cgroup/$h"; done
umount -l "$t/old"
for s in $STRAYS; do mkdir "/sys/fs/cgroup/$s"; done
exec "$@""#;
    let out = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(tmp.path())
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "private_ns_second_half",
            "--ignored",
            "--nocapture",
        ])
        .env("BOUND", bound.join(" "))
        .env("STRAYS", STRAYS.join(" "))
        .env(PRIVATE_NS_ENV, &path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Cleanup on the host whatever happened: the same cgroup in the real
    // hierarchies.
    let _ = Manager::new(&path, "test", false).and_then(|m| m.destroy());
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("1 passed"),
        "the second half did not run: {text}"
    );
    for b in &bound {
        assert!(!root.join(b).join(path.trim_start_matches('/')).exists());
    }
}

/// The second half of [`stray_directories_are_not_hierarchies`]; does
/// nothing unless run by it.
#[test]
#[ignore = "run by stray_directories_are_not_hierarchies in a private mount namespace"]
fn private_ns_second_half() {
    let Some(path) = std::env::var_os(PRIVATE_NS_ENV) else {
        return;
    };
    let path = path.to_string_lossy().into_owned();
    let root = Path::new("/sys/fs/cgroup");
    let bound: Vec<String> = std::env::var("BOUND")
        .unwrap()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let host = Hierarchies::host().unwrap();
    assert_eq!(host.mode(), CgroupMode::Legacy, "{host:?}");
    assert!(host.unified().is_none(), "{host:?}");
    assert_eq!(host.v1().len(), bound.len(), "{host:?}");
    for c in ["hugetlb", "net_cls", "rdma"] {
        assert!(host.v1_mount(c).is_none(), "{c}: {host:?}");
    }
    let m = Manager::new(&path, "test", false).unwrap();
    let strays_untouched = || {
        for s in STRAYS {
            let n = std::fs::read_dir(root.join(s)).unwrap().count();
            assert_eq!(n, 0, "something was made in the plain directory {s}");
        }
    };
    if bound.is_empty() {
        let e = m.create().unwrap_err();
        assert!(matches!(e, CgroupError::NoHierarchy { .. }), "{e}");
        strays_untouched();
        return;
    }
    assert_eq!(m.check_usable().unwrap(), Vec::<i32>::new());
    m.create().unwrap();
    let mut child = Command::new("sleep").arg("1000").spawn().unwrap();
    m.add_task(child.id() as i32).unwrap();
    let lines = proc_cgroup(child.id() as i32);
    let joined = lines.iter().filter(|(_, p)| *p == path).count();
    assert_eq!(joined, bound.len(), "{lines:?}");
    if host.v1_mount("memory").is_some() {
        m.apply(&resources(
            serde_json::json!({"memory": {"limit": 67108864}}),
        ))
        .unwrap();
    }
    strays_untouched();
    m.destroy().unwrap();
    assert_eq!(killed_by(&mut child), Some(libc::SIGKILL));
    assert!(!m.exists());
    strays_untouched();
}

/// Forks a child that calls `join_self(born)` and returns its
/// `/proc/self/cgroup` lines, or the error it met.
fn child_joining(mgr: &Manager, born: bool) -> std::result::Result<Vec<(String, String)>, String> {
    let (r, w) = nix::unistd::pipe().unwrap();
    // SAFETY: the child runs only join_self and a /proc read (glibc's malloc
    // is fork-safe), writes to the pipe and leaves with _exit.
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => {
            drop(r);
            let out = match mgr.join_self(born) {
                Ok(()) => format!(
                    "ok\n{}",
                    std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default()
                ),
                Err(e) => format!("err\n{e}"),
            };
            let mut f = std::fs::File::from(w);
            let _ = f.write_all(out.as_bytes());
            // SAFETY: leaves the forked child without running the parent's
            // destructors or atexit handlers.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(w);
            let mut f = std::fs::File::from(r);
            let mut out = String::new();
            f.read_to_string(&mut out).unwrap();
            nix::sys::wait::waitpid(child, None).unwrap();
            match out.split_once('\n') {
                Some(("ok", lines)) => Ok(lines
                    .lines()
                    .filter_map(|l| {
                        let mut it = l.splitn(3, ':');
                        let _ = it.next()?;
                        Some((it.next()?.to_string(), it.next()?.to_string()))
                    })
                    .collect()),
                _ => Err(out),
            }
        }
    }
}

#[test]
fn a_single_threaded_process_joins_by_itself() {
    if skip() {
        return;
    }
    let cg = TestCg::new("/ctr");
    let hybrid = detect().unwrap() == CgroupMode::Hybrid;
    // The test process has several threads: refused, nothing moved.
    let e = cg.mgr.join_self(false).unwrap_err();
    assert!(matches!(e, CgroupError::MultiThreaded { .. }), "{e}");
    assert!(cg.mgr.pids().unwrap().is_empty());
    let in_cg = |lines: &[(String, String)], hier: &str| {
        lines.iter().any(|(h, p)| h == hier && *p == cg.path)
    };
    let lines = child_joining(&cg.mgr, false).unwrap();
    for (hier, path) in &lines {
        if hier.starts_with("name=") && hier != "name=systemd" {
            continue;
        }
        assert_eq!(path, &cg.path, "{hier:?} in {lines:?}");
    }
    // Born in the cgroup2 directory (by clone3): that one is left alone.
    let lines = child_joining(&cg.mgr, true).unwrap();
    if cg.v2() {
        assert!(!in_cg(&lines, ""), "{lines:?}");
    } else {
        assert!(in_cg(&lines, "memory"), "{lines:?}");
        assert!(!in_cg(&lines, ""), "{lines:?}");
    }
    let into = cg.mgr.open_clone_into_fd().unwrap();
    assert_eq!(into.is_some(), cg.v2() || hybrid);
}
