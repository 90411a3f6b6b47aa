//! Linux security modules: `process.apparmorProfile` and `process.selinuxLabel`.
//!
//! The process labels are requested for the next `execve` through `attr/exec` files of our
//! own task, written through the private procfs handle (never through a `/proc` the image
//! could have redirected). (The mount label is planned: see `plan::mounts`.)

use std::path::Path;

use nix::errno::Errno;

use crate::procfs::Proc;
use crate::{Error, Result};

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
