//! `USER[:GROUP]` (names or numbers) resolved in the image's (or a running container's)
//! `/etc/passwd` and `/etc/group`, as Docker does: the user's primary group and every group
//! that lists it, and its home directory for `HOME`.

use std::io::Read;
use std::os::fd::AsFd;
use std::path::PathBuf;

use berth_image::bundle::{read_layered, resolve_user, ResolvedUser};

use crate::{Error, Result};

/// Resolves `spec` against the image's layers (top-most first); `flag` names where the
/// value came from for the error (`-u` or the image's `User`).
pub fn in_image(
    flag: &'static str,
    spec: &str,
    layers_top_first: &[PathBuf],
) -> Result<ResolvedUser> {
    let read = |p: &str| {
        read_layered(layers_top_first, p).map(|b| String::from_utf8_lossy(&b).into_owned())
    };
    resolve(flag, spec, read("etc/passwd"), read("etc/group"))
}

fn resolve(
    flag: &'static str,
    spec: &str,
    passwd: Option<String>,
    group: Option<String>,
) -> Result<ResolvedUser> {
    resolve_user(spec, passwd.as_deref(), group.as_deref()).map_err(|e| match e {
        berth_image::bundle::BundleError::User { reason, .. } => Error::flag(flag, spec, reason),
        e => Error::Bundle(e),
    })
}

/// Reads `path` inside the root of process `pid`, resolving every symlink within that root.
fn read_in_root(pid: i32, path: &str) -> Option<String> {
    use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
    let root_path = format!("/proc/{pid}/root");
    let root = std::fs::File::open(&root_path).ok()?;
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = openat2(root.as_fd(), path, how).ok()?;
    let mut s = String::new();
    std::fs::File::from(fd)
        .take(4 << 20)
        .read_to_string(&mut s)
        .ok()?;
    Some(s)
}

/// Resolves `spec` in the running container whose init is `pid` (for `exec -u`).
pub fn in_container(spec: &str, pid: i32) -> Result<ResolvedUser> {
    resolve(
        "-u",
        spec,
        read_in_root(pid, "etc/passwd"),
        read_in_root(pid, "etc/group"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_from_layers() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base");
        std::fs::create_dir_all(base.join("etc")).unwrap();
        std::fs::write(
            base.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:100:101::/srv/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            base.join("etc/group"),
            "root:x:0:\napp:x:101:\nweb:x:33:app\n",
        )
        .unwrap();
        let u = in_image("-u", "app", std::slice::from_ref(&base)).unwrap();
        assert_eq!(
            (u.uid, u.gid, u.additional_gids.clone()),
            (100, 101, vec![33])
        );
        assert_eq!(u.home.as_deref(), Some("/srv/app"));
        let e = in_image("-u", "nobody", &[base]).unwrap_err().to_string();
        assert!(
            e.starts_with("-u `nobody`") && e.contains("/etc/passwd"),
            "{e}"
        );
    }

    #[test]
    fn files_in_our_own_root() {
        let me = std::process::id() as i32;
        assert!(read_in_root(me, "etc/passwd").is_some());
    }
}
