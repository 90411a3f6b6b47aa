//! The whole path through the real `berth` binary: log in to a registry that
//! wants a password, pull, make two bundles, run containers in them, commit
//! one, push it, and read it back with skopeo and umoci.

use crate::harness::*;
use berth_image::bundle::OVERLAY_ANNOTATION;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// One run's own state dir, store and container ids; on drop (also when an
/// assertion failed) deletes the containers and lazily unmounts anything
/// still mounted below the work dir, before the temp dirs go.
struct Run {
    bin: PathBuf,
    work: tempfile::TempDir,
    auth_file: PathBuf,
    ids: Vec<String>,
}

impl Run {
    fn new() -> Run {
        let bin = berth_bin();
        let work = tempfile::tempdir().unwrap();
        let auth_file = work.path().join("auth.json");
        Run {
            bin,
            work,
            auth_file,
            ids: Vec::new(),
        }
    }

    fn w(&self) -> &Path {
        self.work.path()
    }

    fn state_root(&self) -> PathBuf {
        self.w().join("state")
    }

    fn store(&self) -> PathBuf {
        self.w().join("store")
    }

    fn berth(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.env("REGISTRY_AUTH_FILE", &self.auth_file);
        cmd
    }

    /// `berth image --store STORE ARGS…`, which must succeed.
    fn image(&self, args: &[&str]) -> String {
        let store = self.store();
        run(self
            .berth()
            .args(["image", "--store"])
            .arg(&store)
            .args(args))
    }

    fn container_id(&mut self, name: &str) -> String {
        let id = format!("berth-image-e2e-{}-{name}", std::process::id());
        self.ids.push(id.clone());
        id
    }

    /// `berth --root STATE run -b BUNDLE ID` in the foreground.
    fn run_container(&self, bundle: &Path, id: &str) -> Output {
        self.berth()
            .arg("--root")
            .arg(self.state_root())
            .args(["run", "-b"])
            .arg(bundle)
            .arg(id)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = Command::new(&self.bin)
                .arg("--root")
                .arg(self.state_root())
                .args(["delete", "--force", id])
                .stderr(Stdio::null())
                .status();
        }
        let w = self.work.path().display().to_string();
        for m in overlay_mounts_under(&w).into_iter().rev() {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// Mount points in this mount namespace that are below `dir` or whose
/// overlay options name it (the upper dir of a leaked container root).
fn overlay_mounts_under(dir: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(dir))
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .collect()
}

/// Size of `dir` on disk in KiB, as `du` counts it.
fn du_kib(dir: &Path) -> u64 {
    let out = run(Command::new("du").arg("-sk").arg(dir));
    out.split_whitespace().next().unwrap().parse().unwrap()
}

/// Rewrites a bundle's process to run `script` as root.
fn set_script(bundle: &Path, script: &str) {
    let path = bundle.join("config.json");
    let mut c: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    c["process"]["args"] = serde_json::json!(["/bin/sh", "-c", script]);
    c["process"]["user"] = serde_json::json!({"uid": 0, "gid": 0});
    std::fs::write(&path, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
}

fn annotation(bundle: &Path) -> String {
    let c: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    c["annotations"][OVERLAY_ANNOTATION]
        .as_str()
        .unwrap()
        .to_string()
}

fn lowerdirs(data: &str) -> Vec<PathBuf> {
    data.split(',')
        .find_map(|o| o.strip_prefix("lowerdir="))
        .unwrap()
        .split(':')
        .map(PathBuf::from)
        .collect()
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn login_pull_two_bundles_run_commit_push_with_the_real_runtime() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !ready("login_pull_two_bundles_run_commit_push_with_the_real_runtime") {
        return;
    }
    let mut r = Run::new();
    let reg = Registry::start_htpasswd("alice", "s3cret");
    let creds = "alice:s3cret";
    build_busybox_image(r.w());
    let image = format!("{}/e2e/busybox:1", reg.host());
    skopeo_copy(
        &format!("oci:{}:bb", r.w().join("oci").display()),
        &format!("docker://{image}"),
        Some(creds),
    );

    // Without credentials the pull is refused, with the way out in the message.
    let out = r
        .berth()
        .args(["image", "--store"])
        .arg(r.store())
        .args(["pull", &image])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("berth image login"),
        "{}",
        text(&out)
    );

    // `login` reads the password from stdin and stores it in the auth file.
    let store = r.store();
    let mut login = r
        .berth()
        .args(["image", "--store"])
        .arg(&store)
        .args([
            "login",
            &reg.host(),
            "--username",
            "alice",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    login.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    let out = login.wait_with_output().unwrap();
    assert!(out.status.success(), "login: {}", text(&out));
    assert!(r.auth_file.exists());

    r.image(&["pull", &image]);

    // Two bundles share the store's layer directories and cost kilobytes each.
    let a = r.w().join("bundle-a");
    let b = r.w().join("bundle-b");
    r.image(&["bundle", &image, a.to_str().unwrap()]);
    r.image(&["bundle", &image, b.to_str().unwrap()]);
    let (data_a, data_b) = (annotation(&a), annotation(&b));
    let lowers = lowerdirs(&data_a);
    assert_eq!(
        lowers,
        lowerdirs(&data_b),
        "the bundles do not share layers"
    );
    let store_c = std::fs::canonicalize(&store).unwrap();
    for l in &lowers {
        assert!(l.starts_with(store_c.join("layers")), "{}", l.display());
    }
    let layers_kib: u64 = lowers.iter().map(|l| du_kib(l)).sum();
    for bundle in [&a, &b] {
        let kib = du_kib(bundle);
        eprintln!(
            "{}: {kib} KiB; shared layers: {layers_kib} KiB",
            bundle.display()
        );
        assert!(
            kib <= 64,
            "bundle {} takes {kib} KiB of its own (layers: {layers_kib} KiB)",
            bundle.display()
        );
    }
    assert!(layers_kib > 500, "layers hold only {layers_kib} KiB");

    // A container in A writes a file; it lands in A's upper dir only.
    set_script(
        &a,
        "echo written-in-a > /tmp/from-a.txt && cat /tmp/from-a.txt",
    );
    let id_a = r.container_id("a");
    let out = r.run_container(&a, &id_a);
    assert!(out.status.success(), "container in A: {}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("written-in-a"),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read_to_string(a.join("upper/tmp/from-a.txt")).unwrap(),
        "written-in-a\n"
    );
    for l in &lowers {
        assert!(!l.join("tmp/from-a.txt").exists(), "a shared layer changed");
    }

    set_script(
        &b,
        "if [ -e /tmp/from-a.txt ]; then echo SEES-A; else echo CLEAN; fi; ls /bin/busybox",
    );
    let id_b = r.container_id("b");
    let out = r.run_container(&b, &id_b);
    assert!(out.status.success(), "container in B: {}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("CLEAN") && stdout.contains("/bin/busybox"),
        "{}",
        text(&out)
    );
    assert!(!b.join("upper/tmp/from-a.txt").exists());

    // The containers are gone and their overlay roots went with them.
    let w = std::fs::canonicalize(r.w()).unwrap();
    let leaked = overlay_mounts_under(&w.display().to_string());
    assert!(leaked.is_empty(), "mounts left on the host: {leaked:?}");
    for (bundle, id) in [(&a, &id_a), (&b, &id_b)] {
        assert_eq!(
            std::fs::read_dir(bundle.join("rootfs")).unwrap().count(),
            0,
            "{} rootfs is not empty on the host",
            bundle.display()
        );
        let out = r
            .berth()
            .arg("--root")
            .arg(r.state_root())
            .args(["state", id])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{id} still exists: {}", text(&out));
    }

    // Commit A, push it with the stored credentials, read it back elsewhere.
    let committed = format!("{}/e2e/committed:1", reg.host());
    r.image(&["commit", a.to_str().unwrap(), &committed]);
    r.image(&["push", &committed]);
    let back = r.w().join("back");
    skopeo_copy(
        &format!("docker://{committed}"),
        &format!("oci:{}:c", back.display()),
        Some(creds),
    );
    let unpacked = r.w().join("unpacked");
    run(Command::new("umoci")
        .args(["unpack", "--image", &format!("{}:c", back.display())])
        .arg(&unpacked));
    assert_eq!(
        std::fs::read_to_string(unpacked.join("rootfs/tmp/from-a.txt")).unwrap(),
        "written-in-a\n"
    );
    assert!(unpacked.join("rootfs/bin/busybox").is_file());
}
