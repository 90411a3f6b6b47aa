//! Device nodes and the `/dev` symlinks, in the init, before `pivot_root`.
//!
//! On a `/dev` that berth mounted itself (a tmpfs), nodes are made with `mknod`. Anywhere
//! else (the image's own `/dev`, or in a user namespace where `mknod` is refused) the host's
//! device is bind-mounted onto the path, which is created only if missing: the bundle's files
//! are never replaced, and a symlink at a device path is refused.

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use super::resolve::{self, fd_path};
use crate::plan::DeviceNode;
use crate::{Error, Result};

/// Creates `node` under the root. `mknod`: the node may be made (a tmpfs `/dev` of berth's,
/// outside a user namespace); otherwise the host's device is bound onto the path.
pub fn create(root: BorrowedFd<'_>, node: &DeviceNode, mknod: bool) -> Result<()> {
    if !mknod {
        return bind_from_host(root, node);
    }
    let rel = resolve::relative(&node.path);
    let parent = rel.parent().unwrap_or(Path::new("."));
    // An O_PATH fd of the parent works as the dirfd of mknodat and unlinkat.
    let dir = resolve::mkdir_all_in_root(root, parent, false)?;
    let name = CString::new(rel.file_name().unwrap_or_default().as_bytes())
        .map_err(|_| Error::sys("mknod", &node.path, Errno::EINVAL))?;
    // What an earlier mount entry put at that path (on berth's own tmpfs) is replaced.
    match nix::unistd::unlinkat(
        &dir,
        name.as_c_str(),
        nix::unistd::UnlinkatFlags::NoRemoveDir,
    ) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(Error::sys("unlink", &node.path, e)),
    }
    let dev = nix::sys::stat::makedev(node.major, node.minor);
    nix::sys::stat::mknodat(
        &dir,
        name.as_c_str(),
        node.kind.sflag(),
        Mode::from_bits_truncate(node.mode),
        dev,
    )
    .map_err(|e| Error::sys("mknod", &node.path, e))?;
    let fd = resolve::open_no_symlinks(root, &node.path, OFlag::O_PATH)?;
    let p = fd_path(fd.as_fd());
    // mknod applies the umask; set the exact mode and the owner through the fd.
    nix::sys::stat::fchmodat(
        nix::fcntl::AT_FDCWD,
        &p,
        Mode::from_bits_truncate(node.mode),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .map_err(|e| Error::sys("chmod", &node.path, e))?;
    nix::unistd::chown(&p, Some(node.uid.into()), Some(node.gid.into()))
        .map_err(|e| Error::sys("chown", &node.path, e))?;
    Ok(())
}

/// Binds the host's node at the same path onto the container's path (made if missing).
fn bind_from_host(root: BorrowedFd<'_>, node: &DeviceNode) -> Result<()> {
    let target = match resolve::open_no_symlinks(root, &node.path, OFlag::O_PATH) {
        Ok(fd) => fd,
        Err(Error::Sys {
            errno: Errno::ENOENT,
            ..
        }) => {
            resolve::mkdir_all_in_root(root, &node.path, true)?;
            resolve::open_no_symlinks(root, &node.path, OFlag::O_PATH)?
        }
        Err(e) => return Err(e),
    };
    let tree = resolve::clone_tree(&node.path, false)?;
    resolve::attach(&tree, &target, &node.path)
}

/// The `/dev` symlinks of runtime-spec "Dev symbolic links" (on berth's own `/dev` only).
pub fn create_symlinks(root: BorrowedFd<'_>, ptmx: bool) -> Result<()> {
    let dev =
        resolve::open_no_symlinks(root, Path::new("/dev"), OFlag::O_PATH | OFlag::O_DIRECTORY)?;
    let mut links = vec![
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
    ];
    if ptmx {
        links.push(("ptmx", "pts/ptmx"));
    }
    for (name, target) in links {
        match nix::unistd::symlinkat(target, &dev, name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(Error::sys("symlink", Path::new("/dev").join(name), e)),
        }
    }
    Ok(())
}
