//! Linux security modules. Where the kernel has AppArmor (the cgroup v2 guest of
//! `make test` boots with it) or SELinux (the guest run with `CGV2_LSM=selinux`), real
//! profiles and labels are applied and must confine the container and its exec'd processes;
//! where it has not (this host), asking for one is a clear error naming the field. Each test
//! checks what this host calls for; the refusals are berth's (runc 1.1 ignores a profile or
//! label the host cannot apply), hence `berth_only_`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use super::harness::{text, Ctx};

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

/// A profile or label the kernel cannot apply: `create` fails naming the field, and leaves
/// no state. Returns the error.
fn refused(c: &mut Ctx, field: &str, value: &str) -> String {
    c.config["process"][field] = json!(value);
    c.args(&["true"]);
    let (out, id) = c.try_create();
    assert!(
        !out.status.success(),
        "create with {field} {value} succeeded"
    );
    let err = text(&out.stderr);
    assert!(err.contains(&format!("process.{field}")), "{err}");
    assert!(!c.root.join(&id).exists(), "state dir left behind");
    err
}

#[test]
fn berth_only_apparmor_profile_confines_the_container_or_is_refused_without_apparmor() {
    let mut c = Ctx::new();
    if !apparmor() {
        refused(&mut c, "apparmorProfile", "berth-test");
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

/// With AppArmor, a profile that is not loaded, named in the error; without, any profile
/// (Docker's default).
#[test]
fn berth_only_apparmor_profile_that_is_not_loaded_is_a_clear_error() {
    let mut c = Ctx::new();
    if !apparmor() {
        refused(&mut c, "apparmorProfile", "docker-default");
        return;
    }
    let err = refused(&mut c, "apparmorProfile", "berth-no-such-profile");
    assert!(err.contains("berth-no-such-profile"), "{err}");
}

fn selinux() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// With SELinux (the guest run with `CGV2_LSM=selinux` loads Debian's policy, permissive),
/// `process.selinuxLabel` becomes the container's context, an exec'd process inherits it,
/// and `linux.mountLabel` is the context of the filesystems berth mounts. Without SELinux,
/// either label is refused, naming its field.
#[test]
fn berth_only_selinux_labels_apply_to_the_process_its_exec_and_mounts_or_are_refused() {
    if !selinux() {
        refused(
            &mut Ctx::new(),
            "selinuxLabel",
            "system_u:system_r:container_t:s0",
        );
        let mut c = Ctx::new();
        c.config["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0");
        c.args(&["true"]);
        let (out, id) = c.try_create();
        assert!(
            !out.status.success(),
            "create with linux.mountLabel succeeded"
        );
        let err = text(&out.stderr);
        assert!(err.contains("linux.mountLabel"), "{err}");
        assert!(!c.root.join(&id).exists(), "state dir left behind");
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
    let err = text(&out.stderr);
    assert!(err.contains("process.selinuxLabel"), "{err}");
}
