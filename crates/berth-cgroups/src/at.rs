//! File operations on cgroup paths that do not walk `/sys` every time.
//!
//! A path such as `/sys/fs/cgroup/cpu/c1/tasks` is resolved through sysfs (`fs`), whose
//! directory entries are revalidated under sysfs's kernfs lock. Every new network namespace
//! takes that lock for writing while it registers its loopback device, so containers
//! starting together wait on each other's network namespaces in each of their ~40 lookups
//! (a trace of 200 parallel `run -d` had most of berth's blocked time there). Paths under
//! [`DEFAULT_ROOT`] are therefore resolved from one `O_PATH` descriptor of that directory,
//! opened once per process: the walk starts below sysfs. Other paths (tests' fake cgroup
//! trees, a cgroup2 mount elsewhere) are used as they are.
//!
//! The descriptor belongs to the mount namespace of the process that opened it; the library
//! never changes its own, and a child that does (a container's init) opens its own root
//! ([`Root::open`]).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::OnceLock;

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{Mode, SFlag};

use crate::DEFAULT_ROOT;

/// A descriptor of [`DEFAULT_ROOT`] and the paths below it.
#[derive(Debug)]
pub struct Root(OwnedFd);

impl Root {
    /// Opens [`DEFAULT_ROOT`] in the caller's mount namespace.
    pub fn open() -> Option<Root> {
        nix::fcntl::open(
            DEFAULT_ROOT,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ok()
        .map(Root)
    }

    /// `path` as this descriptor and a path relative to it, if `path` is below the root.
    pub fn split<'a>(&self, path: &'a Path) -> Option<(BorrowedFd<'_>, &'a Path)> {
        // `strip_prefix` drops a trailing `/` or `/.`, which the kernel does not ignore
        // (`file/` is ENOTDIR, `rmdir dir/.` EINVAL): such paths are used as they are.
        let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str());
        if bytes.ends_with(b"/") || bytes.ends_with(b"/.") {
            return None;
        }
        let rel = path.strip_prefix(DEFAULT_ROOT).ok()?;
        (!rel.as_os_str().is_empty()).then(|| (self.0.as_fd(), rel))
    }
}

/// This process's root descriptor, opened on first use.
fn shared() -> Option<&'static Root> {
    static ROOT: OnceLock<Option<Root>> = OnceLock::new();
    ROOT.get_or_init(Root::open).as_ref()
}

fn split(path: &Path) -> Option<(BorrowedFd<'static>, &Path)> {
    shared()?.split(path)
}

/// `open(path, flags | O_CLOEXEC)`.
pub fn open(path: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
    let flags = flags | OFlag::O_CLOEXEC;
    match split(path) {
        Some((dir, rel)) => nix::fcntl::openat(dir, rel, flags, Mode::empty()),
        None => nix::fcntl::open(path, flags, Mode::empty()),
    }
}

/// Reads the whole file.
pub fn read_to_string(path: &Path) -> io::Result<String> {
    read_all(std::fs::File::from(open(path, OFlag::O_RDONLY)?))
}

/// Reads a file of the kernel's whole (procfs, cgroupfs), which reports no size: into a
/// buffer that takes it in one `read`. An empty buffer would be grown from 32 bytes up, one
/// `read` per doubling, and each `read` of `/proc/self/mountinfo` takes the mount
/// namespace's lock, which every mount and umount of a starting container holds for writing.
pub fn read_all(mut f: std::fs::File) -> io::Result<String> {
    let mut s = String::with_capacity(16 * 1024);
    io::Read::read_to_string(&mut f, &mut s)?;
    Ok(s)
}

/// `mkdir(path, 0777)` (less the umask, as `std::fs::create_dir`).
pub fn create_dir(path: &Path) -> io::Result<()> {
    let mode = Mode::from_bits_truncate(0o777);
    match split(path) {
        Some((dir, rel)) => nix::sys::stat::mkdirat(dir, rel, mode),
        None => nix::unistd::mkdir(path, mode),
    }
    .map_err(io::Error::from)
}

/// `rmdir(path)`.
pub fn remove_dir(path: &Path) -> io::Result<()> {
    match split(path) {
        Some((dir, rel)) => nix::unistd::unlinkat(dir, rel, nix::unistd::UnlinkatFlags::RemoveDir),
        None => nix::unistd::unlinkat(
            nix::fcntl::AT_FDCWD,
            path,
            nix::unistd::UnlinkatFlags::RemoveDir,
        ),
    }
    .map_err(io::Error::from)
}

/// Whether `path` is a directory (following symlinks, as `Path::is_dir`).
pub fn is_dir(path: &Path) -> bool {
    let st = match split(path) {
        Some((dir, rel)) => nix::sys::stat::fstatat(dir, rel, AtFlags::empty()),
        None => nix::sys::stat::stat(path),
    };
    st.is_ok_and(|st| {
        SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR
    })
}

/// The name of `path` below the root, for tests.
#[cfg(test)]
fn relative(path: &Path) -> Option<&std::ffi::OsStr> {
    Root::open()?.split(path).map(|(_, rel)| rel.as_os_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_below_the_root_are_split() {
        let Some(_) = Root::open() else {
            return; // no /sys/fs/cgroup here
        };
        assert_eq!(
            relative(Path::new("/sys/fs/cgroup/cpu/c1/tasks")),
            Some(std::ffi::OsStr::new("cpu/c1/tasks"))
        );
        assert_eq!(relative(Path::new("/sys/fs/cgroup")), None);
        assert_eq!(relative(Path::new("/sys/fs/cgroup/cpu/tasks/")), None);
        assert_eq!(relative(Path::new("/sys/fs/cgroup/cpu/c1/.")), None);
        assert_eq!(relative(Path::new("/sys/fs/cgroupx/a")), None);
        assert_eq!(relative(Path::new("/tmp/fake/cpu")), None);
    }

    /// Lookups below the root answer as absolute ones (making and removing cgroups there is
    /// what the cgroups:: integration tests do, on real hierarchies).
    #[test]
    fn lookups_below_the_root_match_absolute_ones() {
        let root = Path::new(DEFAULT_ROOT);
        let entries: Vec<_> = match std::fs::read_dir(root) {
            Ok(d) => d.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(_) => return, // no /sys/fs/cgroup here
        };
        assert!(!entries.is_empty(), "{} is empty", root.display());
        for p in entries {
            assert!(split(&p).is_some(), "{}", p.display());
            assert_eq!(is_dir(&p), p.is_dir(), "{}", p.display());
            let missing = p.join("no-such-file");
            assert!(!is_dir(&missing));
            assert_eq!(
                open(&missing, OFlag::O_RDONLY).unwrap_err(),
                nix::Error::ENOENT
            );
        }
    }
}
