//! Finding the process's executable as `execvp` would, and the final `execve`.

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use super::exe_guard::{self, Identity, Kind};
use crate::plan::ProcessPlan;
use crate::{sys, Error, Result};

/// The executable, found, opened and checked against the runtime binary.
pub struct Executable {
    path: CString,
    fd: OwnedFd,
    kind: Kind,
}

fn usable(p: &Path) -> std::result::Result<(), Errno> {
    nix::unistd::access(p, nix::unistd::AccessFlags::X_OK)?;
    let st = nix::sys::stat::stat(p)?;
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        return Err(Errno::EACCES);
    }
    Ok(())
}

/// Resolves `args[0]` with the process's `PATH` in the current root, and checks it.
pub fn find(p: &ProcessPlan, runtime: Option<Identity>) -> Result<Executable> {
    let arg0 = p.args[0].as_str();
    let path: PathBuf = if arg0.contains('/') {
        let rel = Path::new(arg0);
        let full = if rel.is_absolute() {
            rel.to_path_buf()
        } else {
            p.cwd.join(rel)
        };
        // runc's wording, which dockerd matches to choose exit code 127 over 126.
        usable(&full).map_err(|e| {
            Error::Exec(format!(
                "{arg0:?}: stat {arg0}: {}",
                e.desc().to_lowercase()
            ))
        })?;
        PathBuf::from(arg0)
    } else {
        let search = p
            .env_var("PATH")
            .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        search
            .split(':')
            .map(|d| Path::new(if d.is_empty() { "." } else { d }).join(arg0))
            .find(|full| usable(full).is_ok())
            .ok_or_else(|| Error::Exec(format!("{arg0:?}: executable file not found in $PATH")))?
    };
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::Exec(format!("{arg0:?}: path contains a NUL byte")))?;
    let (fd, kind) = exe_guard::check(&c, runtime)?;
    Ok(Executable { path: c, fd, kind })
}

fn cstrings(list: &[String]) -> Vec<CString> {
    // The plan refused NUL bytes.
    list.iter()
        .map(|s| CString::new(s.as_bytes()).unwrap_or_default())
        .collect()
}

/// Replaces the process image with the checked executable; returns only on failure.
pub fn exec(p: &ProcessPlan, exe: &Executable) -> Error {
    let args = cstrings(&p.args);
    let env = cstrings(&p.env);
    let errno = match exe.kind {
        // Exactly the file that was checked.
        Kind::Elf => sys::exec::execveat_fd(exe.fd.as_fd(), &args, &env),
        // A script exec'd from a close-on-exec fd cannot be opened by its interpreter.
        Kind::Other => match nix::unistd::execve(&exe.path, &args, &env) {
            Err(e) => e,
            Ok(never) => match never {},
        },
    };
    Error::Exec(format!("{:?}: {}", p.args[0], errno.desc()))
}
