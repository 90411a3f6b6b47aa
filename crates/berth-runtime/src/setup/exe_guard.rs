//! CVE-2019-5736, first wall: the container must never execute the runtime binary, since a
//! process running it could open the host's binary through `/proc/self/exe` and overwrite it
//! once the runtime exits.
//!
//! The way in is the final `execve` resolving to the runtime: `/proc/self/exe` (or a symlink to
//! it), a script whose interpreter is, or an ELF binary whose program interpreter is. The
//! process opens the executable, checks that chain by inode against the runtime binary, and
//! execs the checked fd itself (`execveat`) for ELF files, so what was checked is what runs.
//! The second wall is in `spawn::view`: the init and exec'd processes run from a read-only
//! view of the runtime binary, so even a raced script interpreter gets a file it cannot write.

use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sys::stat::{fstat, Mode};

use crate::{Error, Result};

/// The runtime binary's identity (device, inode), taken before the container sees anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identity(pub u64, pub u64);

/// The identity of the file at `path` (the runtime binary).
pub fn identity_of(path: &Path) -> Option<Identity> {
    let st = nix::sys::stat::stat(path).ok()?;
    Some(Identity(st.st_dev, st.st_ino))
}

/// The identity of `/proc/self/exe`.
pub fn runtime_identity() -> Option<Identity> {
    identity_of(Path::new("/proc/self/exe"))
}

fn refuse(what: &str) -> Error {
    Error::RuntimeBinary(what.to_string())
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
    let phentsize = u16_at(&eh, 54) as usize;
    let phnum = u16_at(&eh, 56).min(64) as usize;
    if phentsize < 56 {
        return None;
    }
    // All program headers in one read.
    let mut table = vec![0u8; phentsize * phnum];
    let n = head(fd, &mut table, phoff as i64);
    for ph in table[..n].chunks_exact(phentsize) {
        if u32::from_le_bytes([ph[0], ph[1], ph[2], ph[3]]) == 3 {
            let off = u64_at(ph, 8);
            let size = u64_at(ph, 32).min(4096) as usize;
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
    let fd = open(p).ok_or_else(|| Error::Exec(format!("open {}", p.display())))?;
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
