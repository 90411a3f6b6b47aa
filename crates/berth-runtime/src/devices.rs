//! Device nodes: the default set every container gets, `linux.devices`, and `/dev` symlinks.

use std::ffi::CString;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use crate::fs;
use crate::{Error, Result};

/// One device node to create in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    pub path: PathBuf,
    pub kind: SFlag,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The devices every container has (runtime-spec "Default Devices").
pub fn defaults() -> Vec<DeviceNode> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .into_iter()
    .map(|(name, major, minor)| DeviceNode {
        path: PathBuf::from("/dev").join(name),
        kind: SFlag::S_IFCHR,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

/// Validates `linux.devices` into nodes; a device with the path of a default replaces it.
pub fn plan(devices: &[LinuxDevice]) -> Result<Vec<DeviceNode>> {
    let mut out = defaults();
    for (i, d) in devices.iter().enumerate() {
        let field = format!("linux.devices[{i}]");
        if !d.path().is_absolute() {
            return Err(Error::config(
                format!("{field}.path"),
                format!("{} is not absolute", d.path().display()),
            ));
        }
        if d.path()
            .components()
            .any(|c| c == std::path::Component::ParentDir)
        {
            return Err(Error::config(
                format!("{field}.path"),
                "must not contain `..`",
            ));
        }
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(Error::config(
                    format!("{field}.type"),
                    "type `a` is only valid in cgroup device rules",
                ))
            }
        };
        if kind != SFlag::S_IFIFO && (d.major() < 0 || d.minor() < 0) {
            return Err(Error::config(
                format!("{field}.major"),
                "major and minor must be >= 0",
            ));
        }
        let node = DeviceNode {
            path: d.path().clone(),
            kind,
            major: d.major().max(0) as u64,
            minor: d.minor().max(0) as u64,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        };
        out.retain(|n| n.path != node.path);
        out.push(node);
    }
    Ok(out)
}

/// Creates `node` under the root fd. In a user namespace, where `mknod` is not allowed, the
/// host's device is bind-mounted onto an empty file instead.
pub fn create(root: RawFd, node: &DeviceNode, bind_from_host: bool) -> Result<()> {
    let rel = fs::relative(&node.path);
    let parent = rel.parent().unwrap_or(Path::new("."));
    // An O_PATH fd of the parent works as the dirfd of mknodat and unlinkat.
    let dir = fs::mkdir_all_in_root(root, parent, false)?;
    let name = CString::new(rel.file_name().unwrap_or_default().as_bytes())
        .map_err(|_| Error::sys("mknod", &node.path, Errno::EINVAL))?;
    if bind_from_host {
        let target = fs::mkdir_all_in_root(root, &node.path, true)?;
        let tree = fs::open_tree_clone(&node.path, false)?;
        return fs::move_mount(tree.as_raw_fd(), target.as_raw_fd(), &node.path);
    }
    let dev = nix::sys::stat::makedev(node.major, node.minor);
    // Remove what the image may have at that path, then create the node with exact mode.
    // SAFETY: valid dirfd and name; unlinkat does not retain them.
    unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) };
    nix::sys::stat::mknodat(
        &dir,
        name.as_c_str(),
        node.kind,
        Mode::from_bits_truncate(node.mode),
        dev,
    )
    .map_err(|e| Error::sys("mknod", &node.path, e))?;
    let fd = fs::open_in_root(root, &node.path, OFlag::O_PATH | OFlag::O_NOFOLLOW, 0)?;
    let p = fs::fd_path(fd.as_raw_fd());
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

/// The `/dev` symlinks of runtime-spec "Dev symbolic links".
pub fn create_symlinks(root: RawFd, ptmx: bool) -> Result<()> {
    let dev = fs::open_in_root(
        root,
        Path::new("/dev"),
        OFlag::O_PATH | OFlag::O_DIRECTORY,
        0,
    )?;
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
        match nix::unistd::symlinkat(target, dev.as_fd_compat(), name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(Error::sys("symlink", Path::new("/dev").join(name), e)),
        }
    }
    Ok(())
}

trait AsFdCompat {
    fn as_fd_compat(&self) -> std::os::fd::BorrowedFd<'_>;
}

impl AsFdCompat for std::os::fd::OwnedFd {
    fn as_fd_compat(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_then_spec_devices_override() {
        let devs: Vec<LinuxDevice> = serde_json::from_str(
            r#"[{"path":"/dev/null","type":"c","major":1,"minor":3,"fileMode":384},
                {"path":"/dev/fuse","type":"c","major":10,"minor":229,"uid":5,"gid":6}]"#,
        )
        .unwrap();
        let p = plan(&devs).unwrap();
        assert_eq!(p.len(), 7);
        let null = p.iter().find(|n| n.path == Path::new("/dev/null")).unwrap();
        assert_eq!(null.mode, 0o600);
        let fuse = p.iter().find(|n| n.path == Path::new("/dev/fuse")).unwrap();
        assert_eq!(
            (fuse.major, fuse.minor, fuse.uid, fuse.gid),
            (10, 229, 5, 6)
        );
    }

    #[test]
    fn bad_devices_name_the_field() {
        let devs: Vec<LinuxDevice> =
            serde_json::from_str(r#"[{"path":"dev/x","type":"c","major":1,"minor":1}]"#).unwrap();
        assert!(plan(&devs)
            .unwrap_err()
            .to_string()
            .contains("linux.devices[0].path"));
        let devs: Vec<LinuxDevice> =
            serde_json::from_str(r#"[{"path":"/dev/../x","type":"c","major":1,"minor":1}]"#)
                .unwrap();
        assert!(plan(&devs).is_err());
    }
}
