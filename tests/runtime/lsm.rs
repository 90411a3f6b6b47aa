//! Linux security modules. Where the kernel has AppArmor (the cgroup v2 guest of
//! `make test` boots with it), a real profile is loaded and must confine the container and
//! its exec'd processes; where it has not (this host), asking for one is a clear error.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use super::harness::{is_berth, text, Ctx};

fn apparmor() -> bool {
    Path::new("/sys/kernel/security/apparmor").exists()
}

/// An AppArmor profile loaded for one test and removed after it.
struct Profile {
    file: PathBuf,
}

impl Profile {
    fn load(dir: &Path, name: &str, rules: &str) -> Profile {
        let file = dir.join(format!("{name}.apparmor"));
        // Everything a busybox shell needs, and the test's own rule.
        let body = format!(
            "profile {name} flags=(attach_disconnected,mediate_deleted) {{\n  file,\n  capability,\n  network,\n  signal,\n  ptrace,\n  unix,\n  mount,\n  umount,\n  pivot_root,\n  {rules}\n}}\n"
        );
        std::fs::write(&file, body).unwrap();
        let out = Command::new("apparmor_parser")
            .args(["-r", "-K", "-q"])
            .arg(&file)
            .output()
            .expect("apparmor_parser (package apparmor) is needed where AppArmor is enabled");
        assert!(out.status.success(), "load: {}", text(&out.stderr));
        Profile { file }
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        let _ = Command::new("apparmor_parser")
            .args(["-R", "-K", "-q"])
            .arg(&self.file)
            .status();
    }
}

/// Starts the configured container (running `sleep`) and returns what an exec'd process
/// reads in its `/proc/self/attr/current`.
fn label_of_exec(c: &mut Ctx) -> String {
    c.args(&["sleep", "1000"]);
    let id = c.create();
    let out = c.rt(&["start", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = c.rt(&["exec", &id, "cat", "/proc/self/attr/current"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn apparmor_profile_confines_the_container_and_its_exec() {
    let mut c = Ctx::new();
    if !apparmor() {
        c.config["process"]["apparmorProfile"] = json!("berth-test");
        c.args(&["true"]);
        let (out, _) = c.run();
        // runc 1.1 ignores a profile the host cannot apply.
        if is_berth() {
            assert!(!out.status.success());
            let err = text(&out.stderr);
            assert!(err.contains("process.apparmorProfile"), "{err}");
        }
        return;
    }
    let name = format!("berth-test-{}", c.id());
    let _profile = Profile::load(c.dir.path(), &name, "deny /etc/berth-secret r,");
    std::fs::write(c.rootfs().join("etc/berth-secret"), "s3cret\n").unwrap();
    c.config["process"]["apparmorProfile"] = json!(name);
    c.sh("cat /proc/self/attr/current; cat /etc/berth-secret 2>/dev/null || echo denied");
    let stdout = c.run_ok();
    assert!(stdout.contains(&format!("{name} (enforce)")), "{stdout}");
    assert!(
        stdout.contains("denied") && !stdout.contains("s3cret"),
        "{stdout}"
    );

    // An exec'd process is confined like the container.
    let label = label_of_exec(&mut c);
    assert!(label.contains(&format!("{name} (enforce)")), "{label}");
}

#[test]
fn apparmor_profile_that_is_not_loaded_is_a_clear_error() {
    if !apparmor() {
        // Covered by the test above: without AppArmor every profile is refused.
        return;
    }
    let mut c = Ctx::new();
    c.config["process"]["apparmorProfile"] = json!("berth-no-such-profile");
    c.args(&["true"]);
    c.write_config();
    let id = c.id();
    let out = c.rt(&["create", "--bundle", c.bundle.to_str().unwrap(), &id]);
    assert!(!out.status.success());
    if is_berth() {
        let err = text(&out.stderr);
        assert!(
            err.contains("process.apparmorProfile") && err.contains("berth-no-such-profile"),
            "{err}"
        );
        assert!(!c.root.join(&id).exists(), "state dir left behind");
    }
}

fn selinux() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// With SELinux (the guest run with `CGV2_LSM=selinux` loads Debian's policy, permissive),
/// `process.selinuxLabel` becomes the container's context, an exec'd process inherits it,
/// and `linux.mountLabel` is the context of the filesystems berth mounts. Without SELinux,
/// `hostile_values_and_absent_lsms` checks the clear errors.
#[test]
fn selinux_labels_apply_to_the_process_its_exec_and_mounts() {
    if !selinux() {
        return;
    }
    // Debian's default policy has no container_t: any valid domain and file type will do.
    let label = "system_u:system_r:unconfined_t:s0:c1,c2";
    let mount_label = "system_u:object_r:tmpfs_t:s0:c1,c2";
    let mut c = Ctx::new();
    c.config["process"]["selinuxLabel"] = json!(label);
    c.config["linux"]["mountLabel"] = json!(mount_label);
    c.sh("cat /proc/self/attr/current; echo; grep ' /tmp ' /proc/self/mountinfo");
    let stdout = c.run_ok();
    assert!(stdout.starts_with(label), "{stdout}");
    assert!(
        stdout.contains(&format!("context=\"{mount_label}\"")),
        "{stdout}"
    );

    let exec_label = label_of_exec(&mut c);
    assert!(exec_label.starts_with(label), "{exec_label}");

    // A label the policy does not know is refused, naming the field.
    let mut c = Ctx::new();
    c.config["process"]["selinuxLabel"] = json!("system_u:system_r:no_such_t:s0");
    c.args(&["true"]);
    let (out, _) = c.run();
    assert!(!out.status.success());
    if is_berth() {
        let err = text(&out.stderr);
        assert!(err.contains("process.selinuxLabel"), "{err}");
    }
}
