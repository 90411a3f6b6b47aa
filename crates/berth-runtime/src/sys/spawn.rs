//! `posix_spawn(3)`: how the runtime starts its helper process from any caller.
//!
//! glibc implements it with `clone(CLONE_VM | CLONE_VFORK)` and a child that only runs the
//! file actions and `execve`, so it is safe from a multi-threaded caller (a shim), unlike a
//! fork that then runs Rust code.

use std::ffi::{CStr, CString};
use std::os::fd::RawFd;

use nix::errno::Errno;
use nix::unistd::Pid;

use super::SysResult;

/// Runs `path` with `argv`/`envp` in a new process whose fds are set up by `dup2s`
/// (`(from, to)`, in order; a `to` keeps its fd open across the exec), with every signal at
/// its default action and none blocked.
pub fn spawn(
    path: &CStr,
    argv: &[CString],
    envp: &[CString],
    dup2s: &[(RawFd, RawFd)],
) -> SysResult<Pid> {
    let mut argv_p: Vec<*mut libc::c_char> = argv.iter().map(|a| a.as_ptr().cast_mut()).collect();
    argv_p.push(std::ptr::null_mut());
    let mut envp_p: Vec<*mut libc::c_char> = envp.iter().map(|a| a.as_ptr().cast_mut()).collect();
    envp_p.push(std::ptr::null_mut());
    // SAFETY: the file actions and attributes are initialised before use and destroyed on
    // every path; argv/envp are NULL-terminated arrays of pointers to live C strings; the
    // child only performs the listed dup2s and the exec.
    unsafe {
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        let r = libc::posix_spawn_file_actions_init(&mut actions);
        if r != 0 {
            return Err(Errno::from_raw(r));
        }
        let r = libc::posix_spawnattr_init(&mut attr);
        if r != 0 {
            libc::posix_spawn_file_actions_destroy(&mut actions);
            return Err(Errno::from_raw(r));
        }
        let result = (|| {
            for (from, to) in dup2s {
                let r = libc::posix_spawn_file_actions_adddup2(&mut actions, *from, *to);
                if r != 0 {
                    return Err(Errno::from_raw(r));
                }
            }
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::posix_spawnattr_setsigmask(&mut attr, &empty);
            libc::posix_spawnattr_setsigdefault(&mut attr, &all);
            let flags = libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF;
            libc::posix_spawnattr_setflags(&mut attr, flags as libc::c_short);
            let mut pid: libc::pid_t = 0;
            let r = libc::posix_spawn(
                &mut pid,
                path.as_ptr(),
                &actions,
                &attr,
                argv_p.as_ptr(),
                envp_p.as_ptr(),
            );
            if r != 0 {
                return Err(Errno::from_raw(r));
            }
            Ok(Pid::from_raw(pid))
        })();
        libc::posix_spawnattr_destroy(&mut attr);
        libc::posix_spawn_file_actions_destroy(&mut actions);
        result
    }
}

/// Has `cmd`'s process load `filter` right before it execs.
pub fn seccomp_before_exec(cmd: &mut std::process::Command, filter: berth_seccomp::Filter) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec; berth_seccomp::install makes
    // one seccomp(2) call and does not allocate, so it is safe there.
    unsafe {
        cmd.pre_exec(move || {
            berth_seccomp::install(&filter)
                .map(drop)
                .map_err(|_| std::io::Error::last_os_error())
        })
    };
}
