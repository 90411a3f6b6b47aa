//! CVE-2019-5736, second wall: the processes the runtime puts into a container run from a
//! read-only view of the runtime binary, so whatever reaches `/proc/<pid>/exe` of one of them
//! gets a file it cannot open for writing, even after the runtime exits.
//!
//! The view is a detached, read-only bind mount of the binary (`open_tree` + `mount_setattr`):
//! no copy, and nothing attached to any mount table. Without the new mount API (or the
//! privilege for it) a binary the runtime cannot write is used as it is (the container, with
//! less privilege, cannot write it either); otherwise a sealed memfd copy is made.

use std::collections::HashMap;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::sys::mount::attr;
use crate::{sys, Error, Result};

/// A protected view of a binary, kept open for the life of the process (a shim spawns many
/// containers from one).
pub struct View {
    pub fd: OwnedFd,
    /// The binary's identity, which the container must never execute.
    pub identity: Option<crate::setup::exe_guard::Identity>,
}

static VIEWS: OnceLock<Mutex<HashMap<PathBuf, Arc<View>>>> = OnceLock::new();

fn views() -> std::sync::MutexGuard<'static, HashMap<PathBuf, Arc<View>>> {
    VIEWS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// The view of `binary` (`None`: the running executable), made once per process.
pub fn of(binary: Option<&Path>) -> Result<Arc<View>> {
    let path = binary.unwrap_or(Path::new("/proc/self/exe")).to_path_buf();
    let mut views = views();
    if let Some(v) = views.get(&path) {
        return Ok(v.clone());
    }
    let v = Arc::new(View {
        fd: make(&path)?,
        identity: crate::setup::exe_guard::identity_of(&path),
    });
    views.insert(path, v.clone());
    Ok(v)
}

/// Takes `fd`, a view of the running executable its caller made the way [`of`] does (a
/// detached read-only bind mount of `/proc/self/exe`; berth's entry point makes one before
/// the C library starts), as that view. Ignored if the process has one already.
pub fn adopt(fd: OwnedFd) {
    let path = PathBuf::from("/proc/self/exe");
    views().entry(path.clone()).or_insert_with(|| {
        Arc::new(View {
            fd,
            identity: crate::setup::exe_guard::identity_of(&path),
        })
    });
}

fn make(path: &Path) -> Result<OwnedFd> {
    let ro = sys::mount::clone_tree(path, false).and_then(|t| {
        sys::mount::set_attrs(t.as_fd(), false, attr::RDONLY | attr::NODEV, 0).map(|()| t)
    });
    if let Ok(t) = ro {
        return Ok(t);
    }
    if nix::unistd::access(path, nix::unistd::AccessFlags::W_OK).is_err() {
        return nix::fcntl::open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|e| Error::sys("open", path, e));
    }
    sealed_copy(path)
}

/// A memfd holding a copy of the binary, sealed so that nobody can change it.
fn sealed_copy(path: &Path) -> Result<OwnedFd> {
    let mut src = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    let fd = sys::exec::memfd_executable(c"berth").map_err(|e| Error::call("memfd_create", e))?;
    let mut dst = std::fs::File::from(fd);
    std::io::copy(&mut src, &mut dst).map_err(|e| Error::io("copy", path, e))?;
    dst.flush().map_err(|e| Error::io("copy", path, e))?;
    let fd = OwnedFd::from(dst);
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    nix::fcntl::fcntl(
        &fd,
        nix::fcntl::FcntlArg::F_ADD_SEALS(nix::fcntl::SealFlag::from_bits_truncate(seals)),
    )
    .map_err(|e| Error::call("fcntl(F_ADD_SEALS)", e))?;
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn fd_path(fd: &OwnedFd) -> String {
        format!("/proc/self/fd/{}", fd.as_raw_fd())
    }

    #[test]
    fn the_memfd_fallback_is_a_sealed_copy() {
        let fd = sealed_copy(Path::new("/proc/self/exe")).unwrap();
        let seals = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GET_SEALS).unwrap();
        assert_ne!(seals & libc::F_SEAL_WRITE, 0);
        assert_ne!(seals & libc::F_SEAL_SEAL, 0);
        let copy = std::fs::read(fd_path(&fd)).unwrap();
        assert_eq!(copy, std::fs::read("/proc/self/exe").unwrap());
        let w = std::fs::OpenOptions::new().write(true).open(fd_path(&fd));
        if let Ok(mut f) = w {
            assert!(f.write_all(b"x").is_err(), "a sealed copy took a write");
        }
        // And it runs (this test binary lists its tests).
        let out = std::process::Command::new(fd_path(&fd))
            .arg("--list")
            .output()
            .unwrap();
        assert!(out.status.success(), "the sealed copy does not run");
    }

    #[test]
    fn the_view_is_read_only_and_cached() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let a = of(None).unwrap();
        let b = of(None).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let w = std::fs::OpenOptions::new().write(true).open(fd_path(&a.fd));
        assert!(w.is_err(), "the view opened for writing");
    }
}
