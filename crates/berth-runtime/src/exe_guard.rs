//! CVE-2019-5736: the container must never execute the berth binary, since a process running
//! it could open the host's binary through `/proc/self/exe` and overwrite it once berth exits.
//!
//! berth does not re-exec itself, so the only way in is the final `execve` resolving to berth:
//! `/proc/self/exe` (or a symlink to it), a script whose interpreter is, or an ELF binary whose
//! program interpreter is. The init opens the executable, checks that chain by inode against
//! the runtime binary, and execs the checked fd itself (`execveat`) for ELF files, so what was
//! checked is what runs.
//!
//! The check cannot see a script's interpreter swapped between the check and the kernel's own
//! lookup. So, as a second wall, the verbs that put a process into a container first re-exec
//! berth from a read-only view of its binary ([`protect_self`]): whatever reaches
//! `/proc/<pid>/exe` of such a process gets a file that cannot be opened for writing.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sys::stat::{fstat, Mode};

use crate::{Error, Result};

/// The runtime binary's identity (device, inode), taken before the container sees anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity(u64, u64);

/// The identity of `/proc/self/exe`.
pub fn runtime_identity() -> Option<Identity> {
    let st = nix::sys::stat::stat("/proc/self/exe").ok()?;
    Some(Identity(st.st_dev, st.st_ino))
}

fn refuse(what: &str) -> Error {
    Error::Other(format!(
        "exec: {what} resolves to the runtime binary; refusing to run it inside the container"
    ))
}

/// What kind of file the executable is.
pub enum Kind {
    /// An ELF binary: exec the checked fd.
    Elf,
    /// A script or anything else: exec by path (a script exec'd from a close-on-exec fd cannot
    /// be opened by its interpreter).
    Other,
}

fn identity(fd: &OwnedFd) -> Option<Identity> {
    fstat(fd).ok().map(|st| Identity(st.st_dev, st.st_ino))
}

fn open(path: &Path) -> Option<OwnedFd> {
    nix::fcntl::open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
        .or_else(|_| nix::fcntl::open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty()))
        .ok()
}

fn head(fd: &OwnedFd, buf: &mut [u8], offset: i64) -> usize {
    nix::sys::uio::pread(fd, buf, offset).unwrap_or(0)
}

/// The `PT_INTERP` path of a 64-bit little-endian ELF file, if any.
fn elf_interp(fd: &OwnedFd) -> Option<Vec<u8>> {
    let mut eh = [0u8; 64];
    if head(fd, &mut eh, 0) < 64 || &eh[..4] != b"\x7fELF" || eh[4] != 2 || eh[5] != 1 {
        return None;
    }
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as u64;
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or([0; 8]));
    let phoff = u64_at(&eh, 32);
    let phentsize = u16_at(&eh, 54);
    let phnum = u16_at(&eh, 56).min(64);
    for i in 0..phnum {
        let mut ph = [0u8; 56];
        if head(fd, &mut ph, (phoff + i * phentsize) as i64) < 56 {
            return None;
        }
        if u32::from_le_bytes([ph[0], ph[1], ph[2], ph[3]]) == 3 {
            let off = u64_at(&ph, 8);
            let size = u64_at(&ph, 32).min(4096) as usize;
            let mut p = vec![0u8; size];
            let n = head(fd, &mut p, off as i64);
            p.truncate(n);
            while p.last() == Some(&0) {
                p.pop();
            }
            return Some(p);
        }
    }
    None
}

/// The interpreter of a `#!` script, if any.
fn shebang(fd: &OwnedFd) -> Option<Vec<u8>> {
    let mut buf = [0u8; 256];
    let n = head(fd, &mut buf, 0);
    let b = &buf[..n];
    if !b.starts_with(b"#!") {
        return None;
    }
    let line = b[2..].split(|c| *c == b'\n').next()?;
    let line: Vec<u8> = line
        .iter()
        .copied()
        .skip_while(|c| *c == b' ' || *c == b'\t')
        .collect();
    let interp: Vec<u8> = line
        .iter()
        .copied()
        .take_while(|c| *c != b' ' && *c != b'\t')
        .collect();
    (!interp.is_empty()).then_some(interp)
}

/// Opens `path` and checks it, its script interpreters and its ELF interpreter against the
/// runtime binary. Returns the opened file and its kind.
pub fn check(path: &CString, runtime: Option<Identity>) -> Result<(OwnedFd, Kind)> {
    let p = Path::new(std::ffi::OsStr::from_bytes(path.as_bytes()));
    let fd = open(p).ok_or_else(|| Error::Other(format!("exec: open {}", p.display())))?;
    let Some(rt) = runtime else {
        return Ok((fd, Kind::Other));
    };
    let what = p.display().to_string();
    if identity(&fd) == Some(rt) {
        return Err(refuse(&what));
    }
    // Follow the interpreter chain as the kernel would (it allows 4 levels of scripts).
    let mut current = Some(fd.try_clone().map_err(|e| Error::io("dup", p, e))?);
    let mut kind = Kind::Other;
    for depth in 0..5 {
        let Some(f) = current.take() else { break };
        if let Some(interp) = elf_interp(&f) {
            if depth == 0 {
                kind = Kind::Elf;
            }
            let ip = Path::new(std::ffi::OsStr::from_bytes(&interp));
            if open(ip).and_then(|i| identity(&i)) == Some(rt) {
                return Err(refuse(&format!("the ELF interpreter of {what}")));
            }
            break;
        }
        let Some(interp) = shebang(&f) else { break };
        let ip = Path::new(std::ffi::OsStr::from_bytes(&interp));
        let Some(i) = open(ip) else { break };
        if identity(&i) == Some(rt) {
            return Err(refuse(&format!("the interpreter of {what}")));
        }
        current = Some(i);
    }
    Ok((fd, kind))
}

/// `execveat(fd, "", AT_EMPTY_PATH)`: runs exactly the file that was checked.
pub fn exec_fd(fd: &OwnedFd, args: &[CString], env: &[CString]) -> Error {
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: argv and envp are NULL-terminated arrays of pointers to live C strings.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Error::Other(format!("exec: {}", nix::errno::Errno::last().desc()))
}

/// True when `/proc/self/exe` is one of the views [`protect_self`] makes: the binary alone on
/// a detached read-only mount (its path is then `/`), or a memfd sealed against writes. A
/// read-only mount the host can remount read-write does not count.
pub fn self_is_protected() -> bool {
    let Ok(fd) = nix::fcntl::open(
        "/proc/self/exe",
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) else {
        return false;
    };
    let detached = std::fs::read_link("/proc/self/exe").is_ok_and(|p| p == Path::new("/"));
    if detached
        && nix::sys::statvfs::fstatvfs(&fd)
            .is_ok_and(|v| v.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
    {
        return true;
    }
    nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GET_SEALS)
        .is_ok_and(|s| s & libc::F_SEAL_WRITE != 0)
}

/// Re-executes berth (same argv and environment) from a read-only view of its own binary,
/// unless it already runs from one. Returns only on failure.
///
/// The view is a detached, read-only bind mount of the binary (`open_tree` +
/// `mount_setattr`), exec'd by fd: no copy, and nothing attached to any mount table. Without
/// the new mount API it falls back to a sealed memfd copy.
pub fn protect_self() -> Result<()> {
    if self_is_protected() {
        return Ok(());
    }
    let exe = Path::new("/proc/self/exe");
    let view = match crate::fs::open_tree_clone(exe, false).and_then(|t| {
        crate::fs::mount_setattr(
            t.as_raw_fd(),
            false,
            crate::mounts::attr::RDONLY | crate::mounts::attr::NODEV,
            0,
            exe,
        )
        .map(|()| t)
    }) {
        Ok(t) => t,
        Err(_) => sealed_copy()?,
    };
    let args: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.as_bytes()).unwrap_or_default())
        .collect();
    let env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).unwrap_or_default()
        })
        .collect();
    Err(Error::Other(format!(
        "re-exec from a read-only view of the runtime binary: {}",
        exec_fd(&view, &args, &env)
    )))
}

/// A memfd holding a copy of the binary, sealed so that nobody can change it.
fn sealed_copy() -> Result<OwnedFd> {
    let exe = Path::new("/proc/self/exe");
    let mut src = std::fs::File::open(exe).map_err(|e| Error::io("open", exe, e))?;
    // MFD_EXEC: with vm.memfd_noexec set (6.3+), a memfd is otherwise not executable; older
    // kernels do not know the flag.
    const MFD_EXEC: libc::c_uint = 0x10;
    let create = |flags: libc::c_uint| {
        // SAFETY: a NUL-terminated name and plain flags; returns a new fd or -1.
        let fd = unsafe { libc::memfd_create(c"berth".as_ptr(), flags) };
        if fd < 0 {
            Err(nix::errno::Errno::last())
        } else {
            // SAFETY: a fresh fd from the kernel.
            Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
        }
    };
    let base = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    let fd: OwnedFd = match create(base | MFD_EXEC) {
        Err(nix::errno::Errno::EINVAL) => create(base),
        r => r,
    }
    .map_err(|e| Error::call("memfd_create", e))?;
    let mut dst = std::fs::File::from(fd);
    std::io::copy(&mut src, &mut dst).map_err(|e| Error::io("copy", exe, e))?;
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

    #[test]
    fn the_runtime_binary_and_scripts_pointing_to_it_are_refused() {
        let me = runtime_identity().unwrap();
        let exe = CString::new("/proc/self/exe").unwrap();
        assert!(check(&exe, Some(me)).is_err());
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("s");
        std::fs::write(&script, "#!/proc/self/exe\n").unwrap();
        let s = CString::new(script.as_os_str().as_bytes()).unwrap();
        assert!(check(&s, Some(me)).is_err());
        let nested = dir.path().join("n");
        std::fs::write(&nested, format!("#! {} -x\n", script.display())).unwrap();
        let n = CString::new(nested.as_os_str().as_bytes()).unwrap();
        assert!(check(&n, Some(me)).is_err());
    }

    #[test]
    fn the_memfd_fallback_is_a_sealed_copy() {
        let fd = sealed_copy().unwrap();
        let seals = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GET_SEALS).unwrap();
        assert_ne!(seals & libc::F_SEAL_WRITE, 0);
        assert_ne!(seals & libc::F_SEAL_SEAL, 0);
        // Same bytes as the binary, and no way to change them.
        let copy = std::fs::read(fd_path(&fd)).unwrap();
        assert_eq!(copy, std::fs::read("/proc/self/exe").unwrap());
        let w = std::fs::OpenOptions::new().write(true).open(fd_path(&fd));
        if let Ok(mut f) = w {
            use std::io::Write;
            assert!(f.write_all(b"x").is_err(), "a sealed copy took a write");
        }
        // And it runs (this test binary lists its tests).
        let out = std::process::Command::new(fd_path(&fd))
            .arg("--list")
            .output()
            .unwrap();
        assert!(out.status.success(), "the sealed copy does not run");
    }

    fn fd_path(fd: &OwnedFd) -> String {
        format!("/proc/self/fd/{}", fd.as_raw_fd())
    }

    #[test]
    fn ordinary_binaries_and_scripts_pass() {
        let me = runtime_identity().unwrap();
        let sh = CString::new("/bin/sh").unwrap();
        assert!(matches!(check(&sh, Some(me)).unwrap().1, Kind::Elf));
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("s");
        std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
        let s = CString::new(script.as_os_str().as_bytes()).unwrap();
        assert!(matches!(check(&s, Some(me)).unwrap().1, Kind::Other));
    }
}
