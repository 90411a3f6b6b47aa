//! The one harness of the integration tests (`runtime::` and `cgroups::`).
//!
//! Each test gets a [`Ctx`]: a private temp dir, state root (`--root`), busybox bundle and
//! container ids. Every runtime call goes through [`capture`], which fails the test when the
//! call has not finished within [`timeout`] instead of hanging the suite. Dropping the `Ctx`
//! removes what the test made, also when it failed: its containers (`delete --force`), the
//! cgroups it named and its ids' default cgroups, and anything still mounted under its
//! directory (a mount the runtime left there fails a test that otherwise passed).
//! The cgroup tests extend it in `cgroups::util`.
//!
//! `BERTH_TEST_CGROUP_DRIVER=systemd` (default `cgroupfs`) runs every runtime command with
//! `--systemd-cgroup` (a host with systemd as PID 1: the systemd guest of `integration/vm/run
//! --systemd`). Dropping the `Ctx` then also stops the systemd units of its own that are
//! still there (its ids' default scopes and the units the test named), and fails a test that
//! otherwise passed when it had to.

use std::cell::RefCell;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub mod strict;

pub use strict::cannot_run;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A number unique in this test process, for ids and cgroup names.
pub fn unique() -> usize {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// The runtime under test: `$RUNTIME`, or the berth binary of this build.
pub fn runtime() -> PathBuf {
    std::env::var_os("RUNTIME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_berth")))
}

/// Whether the runtime under test is berth. Tests of berth-only behaviour are named
/// `berth_only_*` (`make test-runc` passes `--skip berth_only`); elsewhere this only guards
/// extra checks on top of what every runtime must do.
pub fn is_berth() -> bool {
    std::env::var_os("RUNTIME").is_none()
}

/// Whether the tests drive the runtime's systemd cgroup driver: `BERTH_TEST_CGROUP_DRIVER`
/// is `systemd`; unset or `cgroupfs` is the cgroupfs driver, anything else a mistake.
pub fn systemd() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(
        || match std::env::var("BERTH_TEST_CGROUP_DRIVER").as_deref() {
            Err(_) | Ok("") | Ok("cgroupfs") => false,
            Ok("systemd") => {
                assert!(
                    Path::new("/run/systemd/system").is_dir(),
                    "BERTH_TEST_CGROUP_DRIVER=systemd needs systemd as PID 1 \
                     (integration/vm/run --systemd)"
                );
                true
            }
            Ok(other) => panic!("BERTH_TEST_CGROUP_DRIVER={other}: systemd or cgroupfs"),
        },
    )
}

/// How long one runtime command may take: `$BERTH_TEST_TIMEOUT` seconds, default 60.
pub fn timeout() -> Duration {
    let secs = std::env::var("BERTH_TEST_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

fn busybox() -> &'static Path {
    static BB: OnceLock<PathBuf> = OnceLock::new();
    BB.get_or_init(|| {
        assert!(
            nix::unistd::geteuid().is_root(),
            "the integration tests need root"
        );
        let p = PathBuf::from("/bin/busybox");
        assert!(
            p.exists(),
            "/bin/busybox missing: apt-get install busybox-static"
        );
        p
    })
}

const APPLETS: &[&str] = &[
    "sh",
    "cat",
    "echo",
    "true",
    "false",
    "sleep",
    "id",
    "hostname",
    "ls",
    "grep",
    "head",
    "ps",
    "mount",
    "touch",
    "readlink",
    "stat",
    "wc",
    "mkdir",
    "ln",
    "dd",
    "env",
    "pwd",
    "test",
    "kill",
    "ulimit",
    "awk",
    "cut",
    "tr",
    "sed",
    "nsenter",
    "unshare",
    "tail",
    "domainname",
    "rm",
    "chmod",
    "umask",
    "sysctl",
    "uname",
    "stty",
    "seq",
    "yes",
];

/// One test's world. Dropping it deletes every container it made, then its cgroups, then
/// whatever is mounted under its directory, then the directory.
pub struct Ctx {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub bundle: PathBuf,
    pub config: Value,
    ids: RefCell<Vec<String>>,
    cgroups: RefCell<Vec<String>>,
    units: RefCell<Vec<String>>,
}

impl Ctx {
    pub fn new() -> Ctx {
        let bb = busybox();
        let dir = tempfile::Builder::new()
            .prefix("berth-test-")
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
        Ctx {
            root,
            bundle,
            config: default_config(),
            ids: Default::default(),
            cgroups: Default::default(),
            units: Default::default(),
            dir,
        }
    }

    /// A fresh container id, remembered for cleanup.
    pub fn id(&self) -> String {
        let id = format!("bt{}-{}", std::process::id(), unique());
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// Remembers a cgroup (path relative to the hierarchies' roots) to remove on drop.
    pub fn own_cgroup(&self, path: &str) {
        self.cgroups.borrow_mut().push(path.to_string());
    }

    /// Remembers a systemd unit (a scope, a slice) to stop on drop, if it is still there.
    pub fn own_unit(&self, unit: &str) {
        self.units.borrow_mut().push(unit.to_string());
    }

    pub fn rootfs(&self) -> PathBuf {
        self.bundle.join("rootfs")
    }

    /// Sets `process.args`.
    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.config["process"]["args"] = json!(args);
        self
    }

    /// `sh -c SCRIPT` as the process.
    pub fn sh(&mut self, script: &str) -> &mut Self {
        self.args(&["sh", "-c", script])
    }

    pub fn write_config(&self) {
        std::fs::write(
            self.bundle.join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }

    /// Writes an executable script into the rootfs at `/NAME`.
    pub fn script(&self, name: &str, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        let p = self.rootfs().join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// A runtime command with this test's `--root` (and `--systemd-cgroup` under
    /// [`systemd`]), stdin from /dev/null.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(runtime());
        c.arg("--root").arg(&self.root);
        if systemd() {
            c.arg("--systemd-cgroup");
        }
        c.args(args);
        c.stdin(Stdio::null());
        c
    }

    /// Runs the runtime with `args`, capturing output (see [`capture`]).
    pub fn rt(&self, args: &[&str]) -> Output {
        capture(self.cmd(args))
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

    /// Runs the runtime with `input` on its stdin.
    pub fn rt_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::{Seek, Write};
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(input).unwrap();
        f.rewind().unwrap();
        let mut c = self.cmd(args);
        c.stdin(f);
        capture(c)
    }

    /// Writes the config and `run`s it in the foreground; returns the output and the id.
    pub fn run(&self) -> (Output, String) {
        self.write_config();
        let id = self.id();
        let out = self.rt(&["run", "--bundle", self.bundle.to_str().unwrap(), &id]);
        (out, id)
    }

    /// Runs and expects success; returns stdout.
    pub fn run_ok(&self) -> String {
        let (out, _) = self.run();
        assert!(
            out.status.success(),
            "run failed: {}\nstdout: {}\nstderr: {}",
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

    /// A started container whose init sleeps (for `exec`, `kill`, `pause` ...); its id.
    pub fn running(&mut self) -> String {
        self.args(&["sleep", "1000"]);
        let id = self.create();
        self.rt_ok(&["start", &id]);
        id
    }

    /// `create` and `start`; returns the id and the init's host pid.
    pub fn start(&self) -> (String, i32) {
        let id = self.create();
        self.rt_ok(&["start", &id]);
        let pid = self.state(&id)["pid"].as_i64().unwrap() as i32;
        (id, pid)
    }

    /// The `state` JSON of `id`.
    pub fn state(&self, id: &str) -> Value {
        let out = self.rt_ok(&["state", id]);
        serde_json::from_str(&out).expect("state is JSON")
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap().to_string()
    }

    /// Waits (at most 20 s) until `id` has stopped.
    pub fn wait_stopped(&self, id: &str) {
        wait_for(20, &format!("{id} to stop"), || {
            (self.status(id) == "stopped").then_some(())
        });
    }

    /// A command that runs with an extra inherited fd (not close-on-exec) at `target`.
    pub fn with_fd(cmd: &mut Command, file: std::fs::File, target: i32) {
        use std::os::fd::IntoRawFd;
        let fd = file.into_raw_fd();
        // SAFETY: dup2 and close are async-signal-safe; fds are valid in the child.
        unsafe {
            cmd.pre_exec(move || {
                if fd == target {
                    // dup2 onto itself keeps close-on-exec: clear it by hand.
                    if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                } else if libc::dup2(fd, target) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let mut c = self.cmd(&["delete", "--force", id]);
            c.stderr(Stdio::null());
            let _ = try_capture(c, Duration::from_secs(30));
        }
        // The units the test named, and each id's default scope (berth's and runc's), if
        // still there after `delete --force`; before the cgroups: systemd owns theirs.
        let mut left_units = Vec::new();
        if systemd() {
            let mut units = self.units.borrow().clone();
            for id in self.ids.borrow().iter() {
                units.push(format!("berth-{id}.scope"));
                units.push(format!("runc-{id}.scope"));
            }
            for unit in &units {
                if let Some(state) = unit_left(unit) {
                    stop_unit(unit);
                    left_units.push(format!("{unit} ({state})"));
                }
            }
        }
        // The cgroups the test named, and each id's default ones (`/berth/ID` for berth,
        // `/ID` for runc): nothing of anyone else's, the ids are unique.
        let mut cgroups = self.cgroups.borrow().clone();
        for id in self.ids.borrow().iter() {
            cgroups.push(format!("berth/{id}"));
            cgroups.push(id.clone());
        }
        for cg in &cgroups {
            remove_cgroup(cg);
        }
        let left = mounts_under(self.dir.path());
        for m in left.iter().rev() {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        if !mounts_under(self.dir.path()).is_empty() {
            // Never delete through a mount: it could reach a host directory.
            self.dir.disable_cleanup(true);
            eprintln!("kept {}: still mounted under it", self.dir.path().display());
        }
        if !left.is_empty() && !std::thread::panicking() {
            panic!("mounts left under the test's directory after delete: {left:?}");
        }
        if !left_units.is_empty() && !std::thread::panicking() {
            panic!("systemd units left after delete --force: {left_units:?}");
        }
    }
}

// ---- systemd: the units of the systemd mode (see [`systemd`]) ----

/// `systemctl show -p NAME...` of `unit` as (name, value) pairs, in systemd's order.
pub fn unit_properties(unit: &str, names: &[&str]) -> Vec<(String, String)> {
    let mut cmd = Command::new("systemctl");
    cmd.arg("show");
    for n in names {
        cmd.arg("-p").arg(n);
    }
    cmd.arg("--").arg(unit);
    let out = capture(cmd);
    assert!(
        out.status.success(),
        "systemctl show {unit}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `Some("ActiveState/SubState")` when systemd has `unit` in any state but inactive (a
/// failed unit is left too: it stays until reset), `None` when it is gone or inactive.
pub fn unit_left(unit: &str) -> Option<String> {
    let p = unit_properties(unit, &["ActiveState", "SubState", "LoadState"]);
    let get = |k: &str| {
        p.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    (get("ActiveState") != "inactive").then(|| {
        format!(
            "{}/{}, {}",
            get("ActiveState"),
            get("SubState"),
            get("LoadState")
        )
    })
}

/// `systemctl stop` and `reset-failed` of `unit` (one of the test's own).
pub fn stop_unit(unit: &str) {
    for verb in ["stop", "reset-failed"] {
        let mut cmd = Command::new("systemctl");
        cmd.args([verb, "--", unit]).stderr(Stdio::null());
        let _ = try_capture(cmd, Duration::from_secs(30));
    }
}

/// Runs `cmd` (at most [`timeout`]) with stdout and stderr in temporary files, and returns
/// them; panics if it did not finish in time. Files, not pipes: a created container's init
/// keeps the caller's stdio open until it exits.
pub fn capture(cmd: Command) -> Output {
    capture_within(cmd, timeout())
}

/// [`capture`] with its own time limit.
pub fn capture_within(cmd: Command, limit: Duration) -> Output {
    let what = format!("{cmd:?}");
    try_capture(cmd, limit).unwrap_or_else(|| panic!("{what} did not finish within {limit:?}"))
}

/// [`capture`], but `None` on timeout. The command runs in a process group of its own,
/// which is killed whole when the time is up.
pub fn try_capture(mut cmd: Command, limit: Duration) -> Option<Output> {
    let out = tempfile::tempfile().unwrap();
    let err = tempfile::tempfile().unwrap();
    cmd.stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap())
        .process_group(0);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() >= deadline {
            let group = nix::unistd::Pid::from_raw(-(child.id() as i32));
            let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
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

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
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

/// Accepts the next connection on `listener` (a console socket, a seccomp agent): fails the
/// test when the runtime has not connected within [`timeout`].
pub fn accept(listener: &std::os::unix::net::UnixListener) -> std::os::unix::net::UnixStream {
    listener.set_nonblocking(true).unwrap();
    let conn = wait_for(
        timeout().as_secs(),
        "the runtime to connect",
        || match listener.accept() {
            Ok((conn, _)) => Some(conn),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
            Err(e) => panic!("accept: {e}"),
        },
    );
    conn.set_nonblocking(false).unwrap();
    conn
}

/// A child process killed (and reaped) on drop, e.g. a streaming `events`.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The spec `runc spec` writes, with terminal off: the common ground of both runtimes.
pub fn default_config() -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "ambient": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "berth-test",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

/// The mount points at or under `dir`, in mount order (a leak, when the test is over).
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let d = dir.to_string_lossy().into_owned();
    info.lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .map(|mp| mp.replace("\\040", " "))
        .filter(|mp| *mp == d || mp.starts_with(&format!("{d}/")))
        .collect()
}

/// Pids of processes whose command line mentions `needle`.
pub fn processes_with(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == std::process::id() as i32 {
            continue;
        }
        if let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            if text(&cmd).contains(needle) {
                out.push(pid);
            }
        }
    }
    out
}

/// A file inside a running container, reached through its init's root.
pub fn in_container(pid: i32, path: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/root{path}"))
}

// ---- cgroupfs: what the cleanup needs; the cgroup tests build on it (`cgroups::util`) ----

pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// True on a pure cgroup v2 host; false on v1 and hybrid hosts (containers are managed
/// through the v1 hierarchies there).
pub fn is_v2() -> bool {
    use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};
    statfs(CGROUP_ROOT)
        .map(|s| s.filesystem_type() == CGROUP2_SUPER_MAGIC)
        .unwrap_or(false)
}

/// The kernel's v1 controllers (a hierarchy's super options also hold flags and `name=`).
pub const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

/// A mounted cgroup hierarchy: its v1 controllers (none for a named or a v2 hierarchy).
pub struct Hierarchy {
    pub controllers: Vec<String>,
    pub mount: PathBuf,
}

/// Every cgroup and cgroup2 mount under /sys/fs/cgroup, from /proc/self/mountinfo: a
/// directory there may be another tool's leftover, never to be taken for a hierarchy.
/// Co-mounted controllers (`cpu,cpuacct`) share one entry.
pub fn hierarchies() -> Vec<Hierarchy> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out = Vec::new();
    for line in info.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let Some(sep) = f.iter().position(|x| *x == "-") else {
            continue;
        };
        let mount = PathBuf::from(f[4]);
        if !mount.starts_with(CGROUP_ROOT) {
            continue;
        }
        let controllers = match f.get(sep + 1) {
            Some(&"cgroup") => f
                .get(sep + 3)
                .unwrap_or(&"")
                .split(',')
                .filter(|o| V1_CONTROLLERS.contains(o))
                .map(str::to_string)
                .collect(),
            Some(&"cgroup2") => Vec::new(),
            _ => continue,
        };
        out.push(Hierarchy { controllers, mount });
    }
    out
}

/// The mount point of the v1 hierarchy holding `controller`.
pub fn v1_mount(controller: &str) -> Option<PathBuf> {
    hierarchies()
        .into_iter()
        .find(|h| h.controllers.iter().any(|c| c == controller))
        .map(|h| h.mount)
}

/// The directories of the cgroup `path` (relative to the roots) in every hierarchy.
pub fn cgroup_dirs(path: &str) -> Vec<PathBuf> {
    let rel = path.trim_start_matches('/');
    hierarchies()
        .into_iter()
        .map(|h| h.mount.join(rel))
        .collect()
}

/// Thaws, empties (SIGKILL) and removes the cgroup `path` in every hierarchy, children first.
pub fn remove_cgroup(path: &str) {
    let rel = path.trim_matches('/');
    // Never a hierarchy's root or something outside it.
    if rel.is_empty()
        || rel
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return;
    }
    for d in cgroup_dirs(rel) {
        remove_tree(&d);
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
