//! What the cgroup tests need: a container context like the runtime harness's (private
//! state root, busybox bundle, deletion on drop) that also gives every test its own
//! `linux.cgroupsPath` and removes that cgroup if a failed test left it; readers of the
//! container's cgroup files; polling with a deadline.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub use crate::runtime::harness::{default_config, is_berth, runtime, text};

pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// True on a pure cgroup v2 host; false on v1 and hybrid hosts (containers are managed
/// through the v1 hierarchies there).
pub fn is_v2() -> bool {
    use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};
    statfs(CGROUP_ROOT)
        .map(|s| s.filesystem_type() == CGROUP2_SUPER_MAGIC)
        .unwrap_or(false)
}

/// The v1 hierarchies a runtime manages that this host mounts.
pub fn v1_controllers() -> Vec<&'static str> {
    [
        "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "pids", "blkio", "hugetlb",
        "net_cls", "net_prio", "rdma",
    ]
    .into_iter()
    .filter(|c| Path::new(CGROUP_ROOT).join(c).is_dir())
    .collect()
}

/// A container's cgroup, by its path relative to the mount root(s).
#[derive(Clone, Debug)]
pub struct Cgroup {
    pub path: String,
}

impl Cgroup {
    pub fn new(path: &str) -> Cgroup {
        Cgroup {
            path: path.trim_start_matches('/').to_string(),
        }
    }

    /// The directory holding `controller`'s files (v2: the one directory).
    pub fn dir(&self, controller: &str) -> PathBuf {
        if is_v2() {
            Path::new(CGROUP_ROOT).join(&self.path)
        } else {
            Path::new(CGROUP_ROOT).join(controller).join(&self.path)
        }
    }

    /// Every directory of this cgroup that could exist on this host.
    pub fn dirs(&self) -> Vec<PathBuf> {
        if is_v2() {
            vec![Path::new(CGROUP_ROOT).join(&self.path)]
        } else {
            v1_controllers().iter().map(|c| self.dir(c)).collect()
        }
    }

    /// The directories that exist.
    pub fn existing(&self) -> Vec<PathBuf> {
        self.dirs().into_iter().filter(|d| d.exists()).collect()
    }

    /// The trimmed content of `file` in `controller`'s directory.
    pub fn read(&self, controller: &str, file: &str) -> String {
        let p = self.dir(controller).join(file);
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
            .trim()
            .to_string()
    }

    pub fn has(&self, controller: &str, file: &str) -> bool {
        self.dir(controller).join(file).exists()
    }

    /// A `key value` line of a flat-keyed file (`memory.events`, `pids.events`, ...).
    pub fn key(&self, controller: &str, file: &str, key: &str) -> Option<u64> {
        self.read(controller, file).lines().find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == key).then(|| v.trim().parse().ok())?
        })
    }

    /// Kills what a failed test left in the cgroup and removes it, children first.
    fn remove(&self) {
        for d in self.dirs() {
            remove_tree(&d);
        }
    }
}

fn remove_tree(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            remove_tree(&e.path());
        }
    }
    let _ = std::fs::write(dir.join("freezer.state"), "THAWED");
    let _ = std::fs::write(dir.join("cgroup.freeze"), "0");
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::remove_dir(dir).is_err() && Instant::now() < deadline {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines().filter_map(|p| p.parse::<i32>().ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The cgroup path of `pid` as `/proc/PID/cgroup` shows it for `controller` (v2: the
/// `0::` line).
pub fn proc_cgroup(pid: i32, controller: &str) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    cgroup_line(&s, if is_v2() { "" } else { controller })
}

/// The path of `controller`'s line (`""`: the v2 `0::` line) in a `/proc/PID/cgroup` text.
pub fn cgroup_line(text: &str, controller: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        let hit = if controller.is_empty() {
            ctrls.is_empty()
        } else {
            ctrls.split(',').any(|c| c == controller)
        };
        hit.then(|| path.to_string())
    })
}

/// Polls `f` every 20 ms until it returns `Some`, or panics after `secs` seconds.
pub fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `cmd` with stdout and stderr in temporary files (a created container's init keeps
/// the caller's stdio open); kills it and panics if it takes longer than `timeout`.
pub fn capture(cmd: Command, timeout: Duration) -> Output {
    let dbg = format!("{cmd:?}");
    try_capture(cmd, timeout).unwrap_or_else(|| panic!("{dbg} did not finish within {timeout:?}"))
}

/// [`capture`], but `None` on timeout.
pub fn try_capture(mut cmd: Command, timeout: Duration) -> Option<Output> {
    let out = tempfile::tempfile().unwrap();
    let err = tempfile::tempfile().unwrap();
    cmd.stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap());
    let mut child = cmd.spawn().expect("spawn runtime");
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let read = |mut f: std::fs::File| {
        use std::io::{Read, Seek};
        let mut v = Vec::new();
        f.seek(std::io::SeekFrom::Start(0)).unwrap();
        f.read_to_end(&mut v).unwrap();
        v
    };
    Some(Output {
        status,
        stdout: read(out),
        stderr: read(err),
    })
}

/// A child process killed (and reaped) on drop, e.g. a streaming `events`.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const APPLETS: &[&str] = &[
    "sh", "cat", "echo", "true", "false", "sleep", "ls", "grep", "head", "ps", "mount", "touch",
    "test", "kill", "awk", "cut", "tr", "sed", "tail", "rm", "seq", "dd", "wc", "yes",
];

/// One test's world: state root, bundle with a busybox rootfs, container ids and a cgroups
/// path of its own. Dropping it deletes its containers and then its cgroups.
pub struct Ctx {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub bundle: PathBuf,
    pub config: Value,
    ids: std::cell::RefCell<Vec<String>>,
    cgroups: std::cell::RefCell<Vec<Cgroup>>,
}

impl Ctx {
    pub fn new() -> Ctx {
        assert!(
            nix::unistd::geteuid().is_root(),
            "the cgroup tests need root"
        );
        let bb = Path::new("/bin/busybox");
        assert!(
            bb.exists(),
            "/bin/busybox missing: apt-get install busybox-static"
        );
        let dir = tempfile::Builder::new()
            .prefix("berth-cgtest-")
            .tempdir()
            .expect("tempdir");
        let root = dir.path().join("state");
        let bundle = dir.path().join("bundle");
        let bin = bundle.join("rootfs/bin");
        std::fs::create_dir_all(&bin).unwrap();
        if std::fs::hard_link(bb, bin.join("busybox")).is_err() {
            std::fs::copy(bb, bin.join("busybox")).unwrap();
        }
        for a in APPLETS {
            std::os::unix::fs::symlink("busybox", bin.join(a)).unwrap();
        }
        for d in ["proc", "sys", "dev", "tmp", "etc"] {
            std::fs::create_dir_all(bundle.join("rootfs").join(d)).unwrap();
        }
        let mut c = Ctx {
            root,
            bundle,
            config: default_config(),
            ids: Default::default(),
            cgroups: Default::default(),
            dir,
        };
        let path = format!(
            "/berth-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        c.config["linux"]["cgroupsPath"] = json!(path);
        c.cgroups.borrow_mut().push(Cgroup::new(&path));
        c
    }

    /// This test's cgroup (as `linux.cgroupsPath` now says).
    pub fn cgroup(&self) -> Cgroup {
        let path = self.config["linux"]["cgroupsPath"]
            .as_str()
            .expect("cgroupsPath set");
        Cgroup::new(path)
    }

    /// Remembers a cgroup the test made some other way (e.g. the default path), for cleanup.
    pub fn own_cgroup(&self, path: &str) {
        self.cgroups.borrow_mut().push(Cgroup::new(path));
    }

    /// A fresh container id, remembered for cleanup.
    pub fn id(&self) -> String {
        let id = format!(
            "bcg{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        self.ids.borrow_mut().push(id.clone());
        id
    }

    pub fn rootfs(&self) -> PathBuf {
        self.bundle.join("rootfs")
    }

    /// `sh -c SCRIPT` as the process.
    pub fn sh(&mut self, script: &str) -> &mut Self {
        self.config["process"]["args"] = json!(["sh", "-c", script]);
        self
    }

    /// Sets `linux.resources.KEY` (keeping the device rules).
    pub fn resource(&mut self, key: &str, v: Value) -> &mut Self {
        self.config["linux"]["resources"][key] = v;
        self
    }

    /// Adds a cgroup namespace and a `type: cgroup` mount at /sys/fs/cgroup.
    pub fn cgroupns(&mut self) -> &mut Self {
        self.config["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "cgroup"}));
        self.config["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]
        }));
        self
    }

    pub fn write_config(&self) {
        std::fs::write(
            self.bundle.join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }

    /// A runtime command with this test's `--root`.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(runtime());
        c.arg("--root").arg(&self.root).args(args);
        c.stdin(Stdio::null());
        c
    }

    /// Runs the runtime with `args` (at most 60 s), capturing output.
    pub fn rt(&self, args: &[&str]) -> Output {
        capture(self.cmd(args), Duration::from_secs(60))
    }

    /// Runs the runtime and expects success; returns stdout.
    pub fn rt_ok(&self, args: &[&str]) -> String {
        let out = self.rt(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}\nstdout: {}\nstderr: {}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// `create` with the current config; the output, and the id.
    pub fn try_create(&self) -> (Output, String) {
        self.write_config();
        let id = self.id();
        let out = self.rt(&["create", "--bundle", self.bundle.to_str().unwrap(), &id]);
        (out, id)
    }

    /// `create`, expecting success; returns the id.
    pub fn create(&self) -> String {
        let (out, id) = self.try_create();
        assert!(out.status.success(), "create failed: {}", text(&out.stderr));
        id
    }

    /// `create` and `start`; returns the id and the init's host pid.
    pub fn start(&self) -> (String, i32) {
        let id = self.create();
        self.rt_ok(&["start", &id]);
        let pid = self.state(&id)["pid"].as_i64().unwrap() as i32;
        (id, pid)
    }

    /// Writes the config and `run`s it in the foreground.
    pub fn run(&self) -> Output {
        self.write_config();
        let id = self.id();
        self.rt(&["run", "--bundle", self.bundle.to_str().unwrap(), &id])
    }

    /// The `state` JSON of `id`.
    pub fn state(&self, id: &str) -> Value {
        let out = self.rt_ok(&["state", id]);
        serde_json::from_str(&out).expect("state is JSON")
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap().to_string()
    }

    /// Waits until `id` has stopped.
    pub fn wait_stopped(&self, id: &str) {
        wait_for(20, &format!("{id} to stop"), || {
            (self.status(id) == "stopped").then_some(())
        });
    }

    /// `run` with `input` on stdin.
    pub fn rt_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        let mut c = self.cmd(args);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn runtime");
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Writes an executable script into the rootfs at `/NAME`.
    pub fn script(&self, name: &str, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        let p = self.rootfs().join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// A file inside a running container, reached through its init's root.
pub fn in_container(pid: i32, path: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/root{path}"))
}

impl Drop for Ctx {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = try_capture(
                self.cmd(&["delete", "--force", id]),
                Duration::from_secs(30),
            );
        }
        for cg in self.cgroups.borrow().iter() {
            cg.remove();
        }
    }
}

/// The v2 `cpu.weight` for v1 shares: runc's first linear map or the current one.
pub fn weights_for(shares: u64) -> [u64; 2] {
    [
        1 + ((shares - 2) * 9999) / 262142,
        berth_cgroups::v2::cpu::shares_to_weight(shares),
    ]
}
