//! Registries, test images and the `berth image` entry point for tests.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The tests change process-wide state (env vars); run them one at a time.
pub static SERIAL: Mutex<()> = Mutex::new(());

const TOOLS: &[(&str, &str)] = &[
    ("docker-registry", "docker-registry"),
    ("skopeo", "skopeo"),
    ("umoci", "umoci"),
    ("htpasswd", "apache2-utils"),
    ("busybox", "busybox-static"),
    ("openssl", "openssl"),
];

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// True when root and every tool is there (installing what is missing);
/// otherwise prints a loud SKIP line (and fails under CI=true, where every test must run).
pub fn ready(test: &str) -> bool {
    if !nix::unistd::geteuid().is_root() {
        assert!(std::env::var_os("CI").is_none(), "{test}: needs root");
        eprintln!("SKIP {test}: needs root");
        return false;
    }
    let missing: Vec<&str> = TOOLS
        .iter()
        .filter(|(t, _)| !have(t))
        .map(|(_, p)| *p)
        .collect();
    if !missing.is_empty() {
        let _ = Command::new("apt-get")
            .args(["install", "-y", "-q"])
            .args(&missing)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    let still: Vec<&str> = TOOLS
        .iter()
        .filter(|(t, _)| !have(t))
        .map(|(_, p)| *p)
        .collect();
    if !still.is_empty() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: missing Debian packages {still:?} and apt-get install failed"
        );
        eprintln!("SKIP {test}: missing Debian packages {still:?} and apt-get install failed");
        return false;
    }
    true
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `docker-registry serve` process with its own storage; killed (by its
/// pid) and cleaned up on drop.
pub struct Registry {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    /// Files the registry reads lazily (htpasswd), kept as long as it runs.
    pub extra: Option<tempfile::TempDir>,
}

impl Registry {
    pub fn start(auth: Option<&str>) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Some(a) = auth {
            config.push_str(a);
        }
        let cfg = dir.path().join("config.yml");
        std::fs::write(&cfg, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        // The registry reads REGISTRY_* variables as configuration
        // (REGISTRY_AUTH_FILE would become `auth.file`): give it none.
        let mut cmd = Command::new("docker-registry");
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("REGISTRY_") {
                cmd.env_remove(k);
            }
        }
        let child = cmd
            .arg("serve")
            .arg(&cfg)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let reg = Registry {
            child,
            port,
            dir,
            extra: None,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "registry did not start: {}",
                std::fs::read_to_string(reg.dir.path().join("registry.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        reg
    }

    /// A registry that wants htpasswd (bcrypt) credentials.
    pub fn start_htpasswd(user: &str, password: &str) -> Registry {
        let pw_dir = tempfile::tempdir().unwrap();
        let file = pw_dir.path().join("htpasswd");
        let out = Command::new("htpasswd")
            .args(["-Bbn", user, password])
            .output()
            .unwrap();
        assert!(out.status.success());
        std::fs::write(&file, &out.stdout).unwrap();
        let auth = format!(
            "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
            file.display()
        );
        let mut reg = Registry::start(Some(&auth));
        reg.extra = Some(pw_dir);
        reg
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The stored file of a blob in the registry's storage.
    pub fn blob_file(&self, hex: &str) -> PathBuf {
        self.dir.path().join(format!(
            "data/docker/registry/v2/blobs/sha256/{}/{hex}/data",
            &hex[..2]
        ))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds a busybox image with umoci in `dir/oci` (tag `bb`); returns the
/// directory whose `rootfs` is the image's tree.
pub fn build_busybox_image(dir: &Path) -> PathBuf {
    let layout = dir.join("oci");
    let image = format!("{}:bb", layout.display());
    run(Command::new("umoci")
        .args(["init", "--layout"])
        .arg(&layout));
    run(Command::new("umoci").args(["new", "--image", &image]));
    let tree = dir.join("tree");
    let rootfs = tree.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::copy(which("busybox"), rootfs.join("bin/busybox")).unwrap();
    for applet in ["sh", "ls", "cat", "echo", "id"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )
    .unwrap();
    std::fs::write(
        rootfs.join("etc/group"),
        "root:x:0:\nnogroup:x:65534:\nstaff:x:50:nobody\n",
    )
    .unwrap();
    std::fs::create_dir_all(rootfs.join("tmp")).unwrap();
    run(Command::new("umoci")
        .args(["insert", "--image", &image])
        .arg(&rootfs)
        .arg("/"));
    run(Command::new("umoci").args([
        "config",
        "--image",
        &image,
        "--config.entrypoint",
        "/bin/sh",
        "--config.cmd",
        "-c",
        "--config.cmd",
        "id",
        "--config.env",
        "FOO=bar",
        "--config.user",
        "nobody",
        "--config.workingdir",
        "/tmp",
        "--config.label",
        "org.example.test=yes",
    ]));
    tree
}

pub fn which(tool: &str) -> PathBuf {
    PathBuf::from(run(Command::new("sh").args(["-c", &format!("command -v {tool}")])).trim())
}

pub fn skopeo_push(layout_image: &str, dest: &str) {
    run(Command::new("skopeo").args([
        "copy",
        "-q",
        "--dest-tls-verify=false",
        &format!("oci:{layout_image}"),
        &format!("docker://{dest}"),
    ]));
}

pub fn skopeo_pull(src: &str, layout_image: &str) {
    run(Command::new("skopeo").args([
        "copy",
        "-q",
        "--src-tls-verify=false",
        &format!("docker://{src}"),
        &format!("oci:{layout_image}"),
    ]));
}

/// Runs `berth image --store STORE ARGS…` (the `berth` binary); an error carries its stderr.
pub fn berth(store: &Path, args: &[&str]) -> anyhow::Result<i32> {
    let out = Command::new(berth_bin())
        .args(["image", "--store"])
        .arg(store)
        .args(args)
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .output()?;
    match out.status.code() {
        Some(0) => Ok(0),
        _ => Err(anyhow::anyhow!(
            "berth image {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// Every file below `root` with its type, mode and content (or link target).
pub fn tree_listing(root: &Path) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let mode = m.permissions().mode() & 0o7777;
            if m.file_type().is_symlink() {
                out.push(format!(
                    "{rel} -> {}",
                    std::fs::read_link(&p).unwrap().display()
                ));
            } else if m.is_dir() {
                out.push(format!("{rel}/ {mode:o}"));
                stack.push(p);
            } else {
                let digest = berth_image::digest::Digest::of(&std::fs::read(&p).unwrap());
                out.push(format!("{rel} {mode:o} {}", digest.short()));
            }
        }
    }
    out.sort();
    out
}

pub fn write_file(p: &Path, s: &str) {
    std::fs::File::create(p)
        .unwrap()
        .write_all(s.as_bytes())
        .unwrap();
}

/// Sets an environment variable for the life of the guard.
pub struct EnvGuard(pub &'static str);

impl EnvGuard {
    pub fn set(key: &'static str, value: &Path) -> EnvGuard {
        std::env::set_var(key, value);
        EnvGuard(key)
    }
}

impl Drop for EnvGuard {
    fn drop(&mut self) {
        std::env::remove_var(self.0);
    }
}

/// The `berth` binary: `$BERTH_BIN`, else `<workspace>/target/debug/berth`.
/// A library crate's tests get no `CARGO_BIN_EXE_berth`, so the binary is
/// built beforehand (CI does); a missing one fails the test loudly.
pub fn berth_bin() -> PathBuf {
    let path = match std::env::var_os("BERTH_BIN").filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/berth"),
    };
    assert!(
        path.is_file(),
        "the berth binary is not at {}: build it first (`cargo build` in the workspace) \
         or point BERTH_BIN at it",
        path.display()
    );
    path
}

/// `skopeo copy` with `--src-creds`/`--dest-creds` when `creds` is given.
pub fn skopeo_copy(src: &str, dest: &str, creds: Option<&str>) {
    let mut cmd = Command::new("skopeo");
    cmd.args([
        "copy",
        "-q",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
    ]);
    if let Some(c) = creds {
        if src.starts_with("docker://") {
            cmd.args(["--src-creds", c]);
        }
        if dest.starts_with("docker://") {
            cmd.args(["--dest-creds", c]);
        }
    }
    run(cmd.args([src, dest]));
}
