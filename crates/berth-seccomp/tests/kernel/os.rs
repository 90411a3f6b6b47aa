//! Process plumbing for the kernel scenarios: fork and wait, a minimal
//! ptrace tracer, signals to one thread.

use std::os::unix::thread::JoinHandleExt;

/// Runs `body` in a forked copy of the calling thread, which exits with
/// the code `body` returns, and returns the copy's pid.
///
/// The scenario process has other threads (the test harness's), so the
/// copy is single-threaded but may inherit locks held elsewhere: `body`
/// must not allocate or take locks; installing a compiled filter,
/// probing, ptrace and `_exit` are fine.
pub fn fork(body: impl FnOnce() -> i32) -> libc::pid_t {
    // SAFETY: the child only runs `body`, which the callers keep to
    // async-signal-safe work, and then _exit.
    match unsafe { libc::fork() } {
        -1 => panic!("fork: {}", std::io::Error::last_os_error()),
        // SAFETY: _exit ends the forked copy at once.
        0 => unsafe { libc::_exit(body()) },
        pid => pid,
    }
}

/// Waits for `pid` to stop or end; returns the raw wait status.
pub fn wait(pid: libc::pid_t) -> libc::c_int {
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes one int into `status`.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc == pid {
            return status;
        }
        let err = std::io::Error::last_os_error();
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::Interrupted,
            "waitpid: {err}"
        );
    }
}

/// Whether wait status `status` is a process killed by `sig`.
pub fn killed_by(status: libc::c_int, sig: libc::c_int) -> bool {
    libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == sig
}

/// The calling thread's id.
pub fn gettid() -> libc::pid_t {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::gettid() }
}

/// Sends `sig` to thread `tid` of this process.
pub fn tgkill(tid: libc::pid_t, sig: libc::c_int) {
    // SAFETY: tgkill takes plain integers.
    let rc = unsafe { libc::tgkill(libc::getpid(), tid, sig) };
    assert_eq!(rc, 0, "tgkill: {}", std::io::Error::last_os_error());
}

/// Installs `handler` for `sig` without `SA_RESTART`, so that a call the
/// signal interrupts fails with EINTR instead of being restarted.
pub fn catch_without_restart(sig: libc::c_int, handler: extern "C" fn(libc::c_int)) {
    // SAFETY: sigaction is plain data; all zero is a valid value.
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    sa.sa_sigaction = handler as *const () as libc::sighandler_t;
    // SAFETY: sigaction reads `sa` and writes nothing back (null old
    // action); the handler the callers pass only stores to an atomic.
    let rc = unsafe { libc::sigaction(sig, &sa, std::ptr::null_mut()) };
    assert_eq!(rc, 0);
}

/// Waits until thread `t` has ended, however it ended. Unlike
/// `JoinHandle::join`, this also works for a thread the kernel killed,
/// which never handed back a result.
pub fn join_dead(t: std::thread::JoinHandle<()>) {
    let pt = t.into_pthread_t();
    // SAFETY: `pt` is joinable and owned by us alone (into_pthread_t); the
    // kernel clears the thread id pthread_join waits on however the
    // thread exits.
    let rc = unsafe { libc::pthread_join(pt, std::ptr::null_mut()) };
    assert_eq!(rc, 0);
}

/// `ptrace(req, pid, addr, data)` with `addr` and `data` passed
/// pointer-sized, as glibc's variadic `ptrace` reads them.
///
/// # Safety
///
/// For requests that read or write memory, `addr`/`data` must be valid
/// for what the kernel reads or writes there.
unsafe fn ptrace(req: libc::c_uint, pid: libc::pid_t, addr: usize, data: usize) -> libc::c_long {
    // SAFETY: passed on from the caller.
    unsafe {
        libc::ptrace(
            req,
            pid,
            addr as *mut libc::c_void,
            data as *mut libc::c_void,
        )
    }
}

/// For the tracee, right after [`fork`]: become traced by the parent.
pub fn trace_me() {
    // SAFETY: PTRACE_TRACEME touches no memory.
    let rc = unsafe { ptrace(libc::PTRACE_TRACEME, 0, 0, 0) };
    assert_eq!(rc, 0);
}

/// Stops the calling process, for its tracer to look at it.
pub fn stop_self() {
    // SAFETY: raise only sends a signal to the calling thread.
    unsafe { libc::raise(libc::SIGSTOP) };
}

/// Waits for the tracee `pid` to stop; returns `status >> 8` (the stop
/// signal, plus the ptrace event in bits 8..), or `None` if it ended.
pub fn wait_stop(pid: libc::pid_t) -> Option<libc::c_int> {
    let status = wait(pid);
    libc::WIFSTOPPED(status).then_some(status >> 8)
}

/// Tracer side: also stop `pid` at `SECCOMP_RET_TRACE`, and kill it if
/// the tracer goes away.
pub fn trace_seccomp(pid: libc::pid_t) {
    let opts = libc::PTRACE_O_TRACESECCOMP | libc::PTRACE_O_EXITKILL;
    // SAFETY: SETOPTIONS takes the options as an integer, no memory.
    let rc = unsafe { ptrace(libc::PTRACE_SETOPTIONS, pid, 0, opts as usize) };
    assert_eq!(rc, 0);
}

/// Resumes the stopped tracee `pid` without a signal.
pub fn resume(pid: libc::pid_t) {
    // SAFETY: PTRACE_CONT takes the signal to deliver (none) as an integer.
    let rc = unsafe { ptrace(libc::PTRACE_CONT, pid, 0, 0) };
    assert_eq!(rc, 0);
}

/// The message of the tracee's current ptrace event: for a seccomp stop,
/// the data bits of `SECCOMP_RET_TRACE` (the rule's `errnoRet`).
pub fn event_msg(pid: libc::pid_t) -> libc::c_ulong {
    let mut msg: libc::c_ulong = 0;
    // SAFETY: GETEVENTMSG writes one unsigned long to `msg`.
    let rc = unsafe {
        ptrace(
            libc::PTRACE_GETEVENTMSG,
            pid,
            0,
            &mut msg as *mut libc::c_ulong as usize,
        )
    };
    assert_eq!(rc, 0);
    msg
}

/// The stopped tracee's registers.
pub fn regs(pid: libc::pid_t) -> libc::user_regs_struct {
    // SAFETY: user_regs_struct is plain integers; all zero is valid.
    let mut r: libc::user_regs_struct = unsafe { std::mem::zeroed() };
    // SAFETY: GETREGS writes one user_regs_struct to `r`.
    let rc = unsafe {
        ptrace(
            libc::PTRACE_GETREGS,
            pid,
            0,
            &mut r as *mut libc::user_regs_struct as usize,
        )
    };
    assert_eq!(rc, 0);
    r
}

/// Sets the stopped tracee's registers.
pub fn set_regs(pid: libc::pid_t, r: &libc::user_regs_struct) {
    // SAFETY: SETREGS reads one user_regs_struct from `r`.
    let rc = unsafe {
        ptrace(
            libc::PTRACE_SETREGS,
            pid,
            0,
            r as *const libc::user_regs_struct as usize,
        )
    };
    assert_eq!(rc, 0);
}

/// `PTRACE_SECCOMP_GET_METADATA`, from <linux/ptrace.h> (missing from
/// libc for glibc targets).
const PTRACE_SECCOMP_GET_METADATA: libc::c_uint = 0x420d;

/// `struct seccomp_metadata` from <linux/ptrace.h>.
#[repr(C)]
struct SeccompMetadata {
    filter_off: u64,
    flags: u64,
}

/// The flags the kernel keeps for the stopped tracee's filter number
/// `off`, counted in install order from 0; it reports
/// `SECCOMP_FILTER_FLAG_LOG` only. Needs CAP_SYS_ADMIN and
/// CONFIG_CHECKPOINT_RESTORE.
pub fn filter_flags(pid: libc::pid_t, off: u64) -> std::io::Result<u64> {
    let mut md = SeccompMetadata {
        filter_off: off,
        flags: 0,
    };
    // SAFETY: the kernel reads `filter_off` from `md` and writes at most
    // `addr` (the struct's size) bytes back.
    let rc = unsafe {
        ptrace(
            PTRACE_SECCOMP_GET_METADATA,
            pid,
            std::mem::size_of::<SeccompMetadata>(),
            &mut md as *mut SeccompMetadata as usize,
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(md.flags)
}

/// The calling thread's speculation state as the kernel reports it: the
/// `Speculation*` lines of /proc/thread-self/status and the store-bypass
/// `PR_GET_SPECULATION_CTRL` value.
pub fn speculation() -> (Vec<String>, libc::c_int) {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    let lines = status
        .lines()
        .filter(|l| l.starts_with("Speculation"))
        .map(str::to_string)
        .collect();
    // SAFETY: PR_GET_SPECULATION_CTRL takes plain integers.
    let ssb = unsafe {
        libc::prctl(
            libc::PR_GET_SPECULATION_CTRL,
            libc::PR_SPEC_STORE_BYPASS,
            0,
            0,
            0,
        )
    };
    (lines, ssb)
}
