//! One test's world: a network namespace that plays the host, a store, a state root; the
//! busybox image fixture; and the checks that nothing was left behind.

use std::io::Read;
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The image every test runs, under the name it is imported as.
pub const IMAGE: &str = "example.com/test/bb:1";

/// Tools the tests run, with the Debian package of each.
const TOOLS: &[(&str, &str)] = &[
    ("/bin/busybox", "busybox-static"),
    ("/usr/bin/skopeo", "skopeo"),
    ("/usr/bin/docker-registry", "docker-registry"),
    ("/usr/sbin/ip", "iproute2"),
    ("/usr/bin/nsenter", "util-linux"),
    ("/usr/sbin/iptables", "iptables"),
    ("/usr/lib/cni/bridge", "containernetworking-plugins"),
    ("/usr/lib/cni/portmap", "containernetworking-plugins"),
];

fn require() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the engine tests need root"
    );
    for (path, pkg) in TOOLS {
        assert!(
            Path::new(path).exists(),
            "{path} is missing: apt-get install {pkg} (integration/setup.sh does)"
        );
    }
}

/// The `berth` binary: `$BERTH_BIN`, else `<workspace>/target/debug/berth`.
pub fn berth_bin() -> PathBuf {
    let path = match std::env::var_os("BERTH_BIN").filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/berth"),
    };
    assert!(
        path.is_file(),
        "the berth binary is not at {}: run `cargo build` first or set BERTH_BIN",
        path.display()
    );
    path
}

pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The busybox image, as an OCI layout (tag `bb`) and as a docker-archive (what `docker
/// save` writes; made by skopeo), built into the target directory once (and reused by later
/// runs).
pub struct Fixture {
    pub layout: PathBuf,
    pub archive: PathBuf,
}

pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        require();
        // Named by version: a change to the image below needs a new name.
        let done = Path::new(env!("CARGO_TARGET_TMPDIR")).join("berth-engine-fixture-2");
        if done.join("bb.tar").is_file() {
            return Fixture {
                layout: done.join("oci"),
                archive: done.join("bb.tar"),
            };
        }
        // Built aside and renamed in, so a half-built fixture is never used.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("berth-engine-fixture.{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let layout = dir.join("oci");
        let rootfs = dir.join("rootfs");
        for d in ["bin", "etc", "tmp", "var/www", "home/nobody", "root"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        let applets = run_ok(Command::new("/bin/busybox").arg("--list"));
        for a in applets.lines().filter(|a| *a != "busybox") {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a)).unwrap();
        }
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home/nobody:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            rootfs.join("etc/group"),
            "root:x:0:\nnogroup:x:65534:\nstaff:x:50:nobody\n",
        )
        .unwrap();
        std::fs::write(rootfs.join("var/www/index.html"), "hello from the image\n").unwrap();
        // The OCI layout is written here rather than with umoci: Debian's umoci 0.4.7 leaves
        // out a layer tar's last padding and end-of-archive blocks, which readers (GNU tar,
        // berth) refuse when the last member is a regular file.
        let blobs = layout.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        let tar = dir.join("layer.tar");
        run_ok(
            Command::new("tar")
                .args(["--numeric-owner", "--owner=0", "--group=0", "--sort=name", "-C"])
                .arg(&rootfs)
                .arg("-cf")
                .arg(&tar)
                .arg("."),
        );
        let put = |path: &Path| -> (String, u64) {
            let sum = run_ok(Command::new("sha256sum").arg(path));
            let hex = sum.split_whitespace().next().unwrap().to_string();
            let size = std::fs::metadata(path).unwrap().len();
            std::fs::rename(path, blobs.join(&hex)).unwrap();
            (format!("sha256:{hex}"), size)
        };
        let (layer, layer_size) = put(&tar);
        let write = |name: &str, v: serde_json::Value| -> (String, u64) {
            let p = dir.join(name);
            std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
            put(&p)
        };
        let (config, config_size) = write(
            "config.json",
            serde_json::json!({
                "architecture": "amd64",
                "os": "linux",
                "config": {
                    "Cmd": ["/bin/sh"],
                    "Env": ["PATH=/bin", "FROM_IMAGE=yes"],
                    "StopSignal": "SIGUSR1",
                    "ExposedPorts": {"80/tcp": {}},
                    "Volumes": {"/cache": {}},
                },
                "rootfs": {"type": "layers", "diff_ids": [layer]},
            }),
        );
        let (manifest, manifest_size) = write(
            "manifest.json",
            serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": layer_size}],
            }),
        );
        std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        std::fs::write(
            layout.join("index.json"),
            serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2,
                "manifests": [{
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": manifest,
                    "size": manifest_size,
                    "annotations": {"org.opencontainers.image.ref.name": "bb"},
                }],
            }))
            .unwrap(),
        )
        .unwrap();
        let image = format!("{}:bb", layout.display());
        let archive = dir.join("bb.tar");
        run_ok(Command::new("skopeo").args([
            "copy",
            "-q",
            &format!("oci:{image}"),
            &format!("docker-archive:{}:{IMAGE}", archive.display()),
        ]));
        let _ = std::fs::remove_dir_all(&rootfs);
        if std::fs::rename(&dir, &done).is_err() {
            // Another test process won the race: use its copy.
            let _ = std::fs::remove_dir_all(&dir);
        }
        let _ = (layout, archive);
        Fixture {
            layout: done.join("oci"),
            archive: done.join("bb.tar"),
        }
    })
}

/// Runs `f` on a thread that has joined network namespace `ns`.
pub fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::scope(|s| {
        s.spawn(|| {
            let fd = std::fs::File::open(&path).unwrap();
            nix::sched::setns(fd.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
        .join()
        .unwrap()
    })
}

/// GET `url` (http://127.0.0.1:PORT/PATH) from inside `ns`; the body, or None.
pub fn http_get(ns: &str, port: u16, path: &str) -> Option<String> {
    in_netns(ns, || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        use std::io::Write;
        write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
    })
}

/// Waits for `check` to hold, up to `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One test's world. Dropping it removes every container, the namespace and the files,
/// also when the test failed.
pub struct World {
    pub dir: tempfile::TempDir,
    pub store: PathBuf,
    pub root: PathBuf,
    pub netns: String,
    bin: PathBuf,
    pub children: Vec<Child>,
}

impl World {
    pub fn new() -> World {
        require();
        let bin = berth_bin();
        let dir = tempfile::Builder::new()
            .prefix("berth-engine-")
            .tempdir()
            .unwrap();
        let netns = format!(
            "berth-e{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        run_ok(Command::new("ip").args(["netns", "add", &netns]));
        let w = World {
            store: dir.path().join("store"),
            root: dir.path().join("state"),
            dir,
            netns,
            bin,
            children: Vec::new(),
        };
        run_ok(Command::new("ip").args(["-n", &w.netns, "link", "set", "lo", "up"]));
        w
    }

    /// A command run inside the test's network namespace.
    pub fn netns_cmd(&self, prog: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.netns)).arg(prog);
        c
    }

    /// `berth --root ROOT image --store STORE ARGS…` inside the namespace.
    pub fn berth(&self, args: &[&str]) -> Command {
        let mut c = self.netns_cmd(&self.bin);
        c.arg("--root")
            .arg(&self.root)
            .args(["image", "--store"])
            .arg(&self.store)
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// Runs berth; it must succeed. Its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        run_ok(&mut self.berth(args))
    }

    /// Runs berth; its output, whatever its status.
    pub fn out(&self, args: &[&str]) -> Output {
        self.berth(args).output().unwrap()
    }

    /// Imports the fixture's docker-archive as [`IMAGE`].
    pub fn import(&self) -> &'static str {
        let f = fixture();
        self.ok(&["import", f.archive.to_str().unwrap()]);
        IMAGE
    }

    /// Starts `docker-registry` inside the namespace on 127.0.0.1:5000 with the fixture
    /// pushed as `127.0.0.1:5000/test/bb:1`; returns that name.
    pub fn registry(&mut self) -> String {
        let f = fixture();
        let data = self.dir.path().join("registry");
        std::fs::create_dir_all(&data).unwrap();
        let cfg = data.join("config.yml");
        std::fs::write(
            &cfg,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:5000\n",
                data.join("data").display()
            ),
        )
        .unwrap();
        let mut cmd = self.netns_cmd("docker-registry");
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("REGISTRY_") {
                cmd.env_remove(k);
            }
        }
        let child = cmd
            .arg("serve")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.children.push(child);
        let ns = self.netns.clone();
        wait_for("the registry", Duration::from_secs(15), || {
            in_netns(&ns, || TcpStream::connect(("127.0.0.1", 5000)).is_ok())
        });
        let name = "127.0.0.1:5000/test/bb:1".to_string();
        run_ok(self.netns_cmd("skopeo").args([
            "copy",
            "-q",
            "--dest-tls-verify=false",
            &format!("oci:{}:bb", f.layout.display()),
            &format!("docker://{name}"),
        ]));
        name
    }

    /// The ids of the records in the store.
    pub fn records(&self) -> Vec<String> {
        match std::fs::read_dir(self.store.join("containers")) {
            Ok(rd) => rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Nothing of any container is left: no record, no runtime state, no address lease,
    /// no veth, no per-container iptables rule, no mount.
    pub fn assert_clean(&self) {
        let left = self.records();
        let logs: Vec<String> = left
            .iter()
            .map(|id| {
                let dir = self.store.join("containers").join(id);
                let log = std::fs::read_to_string(dir.join("monitor.log")).unwrap_or_default();
                let record = std::fs::read_to_string(dir.join("record.json")).unwrap_or_default();
                format!("{id}: monitor.log: {log}\nrecord: {record}")
            })
            .collect();
        assert_eq!(
            left,
            Vec::<String>::new(),
            "container records left: {logs:#?}"
        );
        let listed = run_ok(
            Command::new(&self.bin)
                .arg("--root")
                .arg(&self.root)
                .args(["list", "-q"]),
        );
        assert_eq!(listed.trim(), "", "runtime containers left");
        let leases: Vec<String> = std::fs::read_dir(self.store.join("networks/ipam/berth"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n != "lock" && !n.starts_with("last_reserved_ip"))
                    .collect()
            })
            .unwrap_or_default();
        assert!(leases.is_empty(), "address leases left: {leases:?}");
        let links = run_ok(Command::new("ip").args(["-n", &self.netns, "-o", "link"]));
        assert!(!links.contains("veth"), "veth left:\n{links}");
        let nat = run_ok(self.netns_cmd("iptables").args(["-t", "nat", "-S"]));
        assert!(
            !nat.contains("CNI-DN-") && !nat.contains(" id: "),
            "per-container iptables rules left:\n{nat}"
        );
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let d = self.dir.path().display().to_string();
        assert!(!mounts.contains(&d), "mounts left under {d}");
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for id in self.records() {
            let _ = self
                .berth(&["rm", "-f", "-v", &id])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        if let Ok(ids) = Command::new(&self.bin)
            .arg("--root")
            .arg(&self.root)
            .args(["list", "-q"])
            .output()
        {
            for id in String::from_utf8_lossy(&ids.stdout).lines() {
                let _ = Command::new(&self.bin)
                    .arg("--root")
                    .arg(&self.root)
                    .args(["delete", "--force", id])
                    .status();
            }
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let d = self.dir.path().display().to_string();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        for m in mounts.lines().filter_map(|l| l.split(' ').nth(4)) {
            if m.starts_with(&d) {
                let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.netns])
            .status();
    }
}
