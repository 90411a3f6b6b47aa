//! Linux security modules: `process.apparmorProfile`, `process.selinuxLabel` and
//! `linux.mountLabel`.
//!
//! The process labels are requested for the next `execve` through `attr/exec` files of our
//! own task, written through the private procfs handle (never through a `/proc` the image
//! could have redirected). The mount label becomes a `context=` option of the filesystems
//! berth mounts itself.

use std::path::Path;

use nix::errno::Errno;

use crate::procfs::Proc;
use crate::{Error, Result};

/// Whether AppArmor is the active (or a stacked) LSM on this host.
pub fn apparmor_enabled() -> bool {
    Path::new("/sys/kernel/security/apparmor").exists()
        && std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|s| s.trim() == "Y")
}

/// Whether SELinux is enabled (selinuxfs is mounted, so a policy can be loaded).
pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// Writes `data` to our `attr/<lsm>/exec`, or to the shared `attr/exec` on kernels without
/// per-LSM directories (before 5.8). Only a missing file falls back: an error of the write
/// itself is the LSM's answer.
fn write_exec_attr(proc: &Proc, lsm: &str, data: &[u8]) -> Result<()> {
    let own = format!("thread-self/attr/{lsm}/exec");
    let (fd, rel) = match proc.open_write(&own) {
        Err(Error::Sys {
            errno: Errno::ENOENT,
            ..
        }) => {
            let shared = "thread-self/attr/exec".to_string();
            (proc.open_write(&shared)?, shared)
        }
        r => (r?, own),
    };
    nix::unistd::write(&fd, data)
        .map_err(|e| Error::sys("write", Path::new("/proc").join(rel), e))?;
    Ok(())
}

/// Asks AppArmor to confine us with `profile` from the next `execve` on.
pub fn apparmor_exec(proc: &Proc, profile: &str) -> Result<()> {
    let field = "process.apparmorProfile";
    let data = format!("exec {profile}");
    write_exec_attr(proc, "apparmor", data.as_bytes()).map_err(|e| match e {
        Error::Sys {
            errno: Errno::ENOENT,
            ..
        } => Error::config(field, format!("profile {profile:?} is not loaded")),
        e => Error::config(field, format!("{profile:?}: {e}")),
    })
}

/// Asks SELinux to run the next `execve` with `label`.
pub fn selinux_exec(proc: &Proc, label: &str) -> Result<()> {
    write_exec_attr(proc, "selinux", label.as_bytes())
        .map_err(|e| Error::config("process.selinuxLabel", format!("{label:?}: {e}")))
}

/// Applies the labels of a process about to exec.
pub fn apply(proc: &Proc, apparmor: Option<&str>, selinux: Option<&str>) -> Result<()> {
    if let Some(p) = apparmor {
        apparmor_exec(proc, p)?;
    }
    if let Some(l) = selinux {
        selinux_exec(proc, l)?;
    }
    Ok(())
}

/// Adds the SELinux mount label `label` to the data of a mount of type `fstype`, as
/// `context="<label>"`, for the filesystems that take it: proc, sysfs, cgroup and mqueue do
/// not (the kernel refuses or ignores it there), and binds keep their files' own labels.
pub fn add_mount_label(fstype: &str, bind: bool, data: &mut Vec<String>, label: Option<&str>) {
    let Some(label) = label else { return };
    if bind
        || matches!(
            fstype,
            "proc" | "sysfs" | "cgroup" | "cgroup2" | "mqueue" | "securityfs" | "overlay"
        )
        || data.iter().any(|o| o.starts_with("context="))
    {
        return;
    }
    data.push(format!("context=\"{label}\""));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_label_goes_to_filesystems_that_take_it() {
        let l = Some("system_u:object_r:container_file_t:s0:c1,c2");
        let ctx = "context=\"system_u:object_r:container_file_t:s0:c1,c2\"".to_string();
        let with = |t: &str, bind: bool, d: &[&str], l: Option<&str>| {
            let mut v: Vec<String> = d.iter().map(|s| s.to_string()).collect();
            add_mount_label(t, bind, &mut v, l);
            v
        };
        assert_eq!(
            with("tmpfs", false, &["mode=755"], l),
            vec!["mode=755".into(), ctx.clone()]
        );
        assert_eq!(with("devpts", false, &[], l), vec![ctx]);
        assert!(with("proc", false, &[], l).is_empty());
        assert!(with("mqueue", false, &[], l).is_empty());
        assert!(with("none", true, &[], l).is_empty());
        assert!(with("tmpfs", false, &[], None).is_empty());
        // An explicit context in the config wins.
        assert_eq!(
            with("tmpfs", false, &["context=\"a\""], l),
            vec!["context=\"a\"".to_string()]
        );
    }
}
