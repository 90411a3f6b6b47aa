//! Test harness: a private state root, bundle and container ids per test; everything is
//! deleted when the test ends, also when it fails.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use serde_json::{json, Value};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The runtime under test: `$RUNTIME`, or the berth binary of this build.
pub fn runtime() -> PathBuf {
    std::env::var_os("RUNTIME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_berth")))
}

/// Whether the runtime under test is berth (some checks are berth-only extensions).
pub fn is_berth() -> bool {
    std::env::var_os("RUNTIME").is_none()
}

fn busybox() -> &'static Path {
    static BB: OnceLock<PathBuf> = OnceLock::new();
    BB.get_or_init(|| {
        assert!(
            nix::unistd::geteuid().is_root(),
            "the runtime tests need root"
        );
        let p = PathBuf::from("/bin/busybox");
        assert!(
            p.exists(),
            "/bin/busybox missing: apt-get install busybox-static"
        );
        p
    })
}

/// One test's world: state root, bundle, ids. Dropping it deletes every container it made.
pub struct Ctx {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub bundle: PathBuf,
    pub config: Value,
    ids: std::cell::RefCell<Vec<String>>,
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
];

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
            dir,
        }
    }

    /// A fresh container id, remembered for cleanup.
    pub fn id(&self) -> String {
        let id = format!(
            "bt{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        self.ids.borrow_mut().push(id.clone());
        id
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

    /// A runtime command with this test's `--root`.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(runtime());
        c.arg("--root").arg(&self.root).args(args);
        c.stdin(Stdio::null());
        c
    }

    /// Runs the runtime with `args`, capturing output. Output goes through files, not pipes:
    /// a created container's init keeps the caller's stdio open until it exits.
    pub fn rt(&self, args: &[&str]) -> Output {
        capture(self.cmd(args))
    }

    /// Writes the config and `run`s it in the foreground; returns the output.
    pub fn run(&self) -> (Output, String) {
        self.write_config();
        let id = self.id();
        let b = self.bundle.to_str().unwrap();
        let out = self.rt(&["run", "--bundle", b, &id]);
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

    /// `create` with the current config; returns the id.
    pub fn create(&self) -> String {
        self.write_config();
        let id = self.id();
        let out = self.rt(&["create", "--bundle", self.bundle.to_str().unwrap(), &id]);
        assert!(out.status.success(), "create failed: {}", text(&out.stderr));
        id
    }

    /// The `state` JSON of `id`.
    pub fn state(&self, id: &str) -> Value {
        let out = self.rt(&["state", id]);
        assert!(out.status.success(), "state failed: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("state is JSON")
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
            let _ = self
                .cmd(&["delete", "--force", id])
                .stderr(Stdio::null())
                .status();
        }
        // Anything a failed test left mounted under the bundle (it should be nothing).
        let _ = nix::mount::umount2(&self.rootfs(), nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Runs `cmd` with stdout and stderr in temporary files, and returns them.
pub fn capture(mut cmd: Command) -> Output {
    let out = tempfile::tempfile().unwrap();
    let err = tempfile::tempfile().unwrap();
    cmd.stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap());
    let status = cmd.status().expect("spawn runtime");
    let read = |mut f: std::fs::File| {
        use std::io::{Read, Seek};
        let mut v = Vec::new();
        f.seek(std::io::SeekFrom::Start(0)).unwrap();
        f.read_to_end(&mut v).unwrap();
        v
    };
    Output {
        status,
        stdout: read(out),
        stderr: read(err),
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
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

/// Whether any mount under `dir` is still there (a leak).
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let d = dir.to_string_lossy().into_owned();
    info.lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .filter(|mp| mp.starts_with(&d))
        .map(str::to_string)
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
