//! Root-only tests on real cgroups: whichever version this host runs (v1 or hybrid here,
//! v2 in the cgroup v2 guest). Every test works in its own `/berth-test-<pid>-<n>` cgroup
//! and removes it even when it fails. Without root they cannot run: see `strict`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use berth_cgroups::{detect, CgroupManager, CgroupMode, FreezerState, Manager, OomEvent};
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
    // batches), so only the presence of the counter is checked here; enforcement tests
    // cover real usage.
    // Zero counters are left out of the JSON (runc's `omitempty`): absent reads as 0.
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
