//! berth's ELF entry point (x86_64 Linux): before the C library's start-up, a plain
//! `berth [GLOBAL FLAGS] exec ...` starts the runtime's helper (`berth init`, from a read-only
//! view of this binary), so that the helper's own start-up runs beside this process's instead
//! of after it. A static-pie's start-up (its relocations, the C library's CPU probing) is the
//! larger part of either process's first half-millisecond.
//!
//! Nothing the C library sets up exists yet: no thread-local storage (so no `errno`, no libc
//! call), no relocations applied (so no data holding an address may be read: only code, byte
//! literals and plain integers, all reached relative to the instruction pointer), no signal
//! handlers (a signal in the vfork child takes its default action). Everything here is raw
//! system calls; any failure leaves the start to [`crate::commands::exec::prestart`], which
//! takes over what was started here through [`take`].

use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

/// The helper started here: its pid, the parent's end of its channel, and the view of the
/// binary it was executed from (0 / -1: none).
static PID: AtomicI32 = AtomicI32::new(0);
static CHAN: AtomicI32 = AtomicI32::new(-1);
static VIEW: AtomicI32 = AtomicI32::new(-1);

/// The helper started before the C library's start-up, if one was: (pid, channel, view).
pub fn take() -> Option<(i32, OwnedFd, OwnedFd)> {
    let pid = PID.swap(0, Ordering::Relaxed);
    let chan = CHAN.swap(-1, Ordering::Relaxed);
    let view = VIEW.swap(-1, Ordering::Relaxed);
    if pid <= 0 || chan < 0 || view < 0 {
        return None;
    }
    // SAFETY: both fds were opened by `start_helper` for this process and are owned by
    // nobody else; the swaps above hand them out once.
    Some(unsafe { (pid, OwnedFd::from_raw_fd(chan), OwnedFd::from_raw_fd(view)) })
}

// The entry: the kernel's stack (argc, argv, envp, auxv) and rdx (the dynamic linker's
// finalizer, 0 for a static program) go unchanged to the C library's `_start`.
std::arch::global_asm!(
    ".globl berth_entry",
    ".type berth_entry,@function",
    "berth_entry:",
    "mov r12, rsp",
    "mov r13, rdx",
    "mov rdi, rsp",
    "and rsp, -16",
    "call {early}",
    "mov rsp, r12",
    "mov rdx, r13",
    "jmp _start",
    early = sym start_helper,
);

/// The helper's environment: its channel is fd 3 (`spawn::INIT_ENV`, checked by a test).
const HELPER_ENV: &std::ffi::CStr = c"_BERTH_INIT=3";

const SYS_CLOSE: usize = 3;
const SYS_SOCKETPAIR: usize = 53;
const SYS_VFORK: usize = 58;
const SYS_WAIT4: usize = 61;
const SYS_FCNTL: usize = 72;
const SYS_OPEN_TREE: usize = 428;
const SYS_MOUNT_SETATTR: usize = 442;

const AT_FDCWD: isize = -100;
const AT_EMPTY_PATH: usize = 0x1000;
const OPEN_TREE_CLONE: usize = 1;
const O_CLOEXEC: usize = 0o2000000;
const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const AF_UNIX: usize = 1;
const SOCK_STREAM: usize = 1;
const F_DUPFD_CLOEXEC: usize = 1030;

/// A raw system call.
///
/// # Safety
/// As the call `n` with these arguments.
unsafe fn sys(n: usize, a: usize, b: usize, c: usize, d: usize, e: usize) -> isize {
    let r: isize;
    std::arch::asm!(
        "syscall",
        inlateout("rax") n as isize => r,
        in("rdi") a,
        in("rsi") b,
        in("rdx") c,
        in("r10") d,
        in("r8") e,
        lateout("rcx") _,
        lateout("r11") _,
        options(nostack),
    );
    r
}

/// The NUL-terminated string at `s` equals `lit`.
///
/// # Safety
/// `s` points to a NUL-terminated string.
unsafe fn eq(s: *const u8, lit: &[u8]) -> bool {
    starts(s, lit, false) && std::ptr::read_volatile(s.add(lit.len())) == 0
}

/// The NUL-terminated string at `s` starts with `lit`, followed by `=` if `eq_follows`.
///
/// # Safety
/// `s` points to a NUL-terminated string.
unsafe fn starts(s: *const u8, lit: &[u8], eq_follows: bool) -> bool {
    // Volatile reads, one at a time: a comparison loop may otherwise become a call of the C
    // library's `bcmp`. A NUL in `s` differs from every byte of `lit`: no read past it.
    let mut i = 0;
    while i < lit.len() {
        if std::ptr::read_volatile(s.add(i)) != lit[i] {
            return false;
        }
        i += 1;
    }
    !eq_follows || std::ptr::read_volatile(s.add(lit.len())) == b'='
}

/// Whether the arguments after the program name are global flags, `exec`, and no
/// `--preserve-fds` anywhere (what `commands::exec::is_plain_exec` decides, on C strings).
///
/// # Safety
/// `argv` holds `argc` pointers to NUL-terminated strings.
unsafe fn plain_exec(argc: usize, argv: *const *const u8) -> bool {
    let mut i = 1;
    while i < argc {
        let a = *argv.add(i);
        let with_value = eq(a, b"--root") || eq(a, b"--log") || eq(a, b"--log-format");
        if with_value || eq(a, b"--criu") {
            i += 2;
        } else if eq(a, b"--debug")
            || eq(a, b"--systemd-cgroup")
            || starts(a, b"--root", true)
            || starts(a, b"--log", true)
            || starts(a, b"--log-format", true)
            || starts(a, b"--criu", true)
        {
            i += 1;
        } else {
            if !eq(a, b"exec") {
                return false;
            }
            let mut j = i + 1;
            while j < argc {
                if starts(*argv.add(j), b"--preserve-fds", false) {
                    return false;
                }
                j += 1;
            }
            return true;
        }
    }
    false
}

/// Writes `/proc/self/fd/<fd>` and a NUL into `buf`. Byte by byte with volatile writes: a
/// copy loop may otherwise become a call of the C library's `memcpy`, which cannot be called
/// yet (it is chosen at start-up among CPU-specific versions).
fn fd_path(fd: usize, buf: &mut [u8; 40]) {
    let prefix = b"/proc/self/fd/";
    let mut n = 0;
    while n < prefix.len() {
        // SAFETY: n < prefix.len() < buf.len().
        unsafe { std::ptr::write_volatile(&mut buf[n], prefix[n]) };
        n += 1;
    }
    let mut digits = [0u8; 20];
    let (mut v, mut d) = (fd, 0);
    loop {
        digits[d] = b'0' + (v % 10) as u8;
        d += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    while d > 0 {
        d -= 1;
        // SAFETY: n <= 14 + 20 < buf.len().
        unsafe { std::ptr::write_volatile(&mut buf[n], digits[d]) };
        n += 1;
    }
    // SAFETY: as above.
    unsafe { std::ptr::write_volatile(&mut buf[n], 0) };
}

/// Called by `berth_entry` with the kernel's initial stack.
///
/// # Safety
/// Only as the process's first code: `sp` points to argc, then argv.
unsafe extern "C" fn start_helper(sp: *const usize) {
    let argc = *sp;
    let argv = sp.add(1) as *const *const u8;
    if !plain_exec(argc, argv) {
        return;
    }
    // The view: a detached, read-only bind mount of this binary (spawn::view does the same).
    let tree = sys(
        SYS_OPEN_TREE,
        AT_FDCWD as usize,
        c"/proc/self/exe".as_ptr() as usize,
        OPEN_TREE_CLONE | O_CLOEXEC,
        0,
        0,
    );
    if tree < 0 {
        return;
    }
    // struct mount_attr { attr_set, attr_clr, propagation, userns_fd }
    let attr: [u64; 4] = [MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV, 0, 0, 0];
    let empty = b"\0";
    if sys(
        SYS_MOUNT_SETATTR,
        tree as usize,
        empty.as_ptr() as usize,
        AT_EMPTY_PATH,
        attr.as_ptr() as usize,
        32,
    ) < 0
    {
        sys(SYS_CLOSE, tree as usize, 0, 0, 0, 0);
        return;
    }
    // Both above slot 3, where the helper finds its channel (spawn::start's layout).
    let view = sys(SYS_FCNTL, tree as usize, F_DUPFD_CLOEXEC, 4, 0, 0);
    sys(SYS_CLOSE, tree as usize, 0, 0, 0, 0);
    if view < 0 {
        return;
    }
    let mut pair = [-1i32; 2];
    if sys(
        SYS_SOCKETPAIR,
        AF_UNIX,
        SOCK_STREAM | O_CLOEXEC,
        0,
        pair.as_mut_ptr() as usize,
        0,
    ) < 0
    {
        sys(SYS_CLOSE, view as usize, 0, 0, 0, 0);
        return;
    }
    let parent = sys(SYS_FCNTL, pair[0] as usize, F_DUPFD_CLOEXEC, 4, 0, 0);
    let child = sys(SYS_FCNTL, pair[1] as usize, F_DUPFD_CLOEXEC, 4, 0, 0);
    sys(SYS_CLOSE, pair[0] as usize, 0, 0, 0, 0);
    sys(SYS_CLOSE, pair[1] as usize, 0, 0, 0, 0);
    if parent < 0 || child < 0 {
        for fd in [parent, child, view] {
            if fd >= 0 {
                sys(SYS_CLOSE, fd as usize, 0, 0, 0, 0);
            }
        }
        return;
    }
    let mut path = [0u8; 40];
    fd_path(view as usize, &mut path);
    // argv and envp, written one by one: a constant array of addresses would be data that
    // needs the relocations not applied yet.
    let mut args = [std::ptr::null::<u8>(); 3];
    std::ptr::write_volatile(&mut args[0], c"berth".as_ptr().cast());
    std::ptr::write_volatile(&mut args[1], c"init".as_ptr().cast());
    let mut env = [std::ptr::null::<u8>(); 2];
    std::ptr::write_volatile(&mut env[0], HELPER_ENV.as_ptr().cast());
    let mut failed: i32 = 0;
    let pid: isize;
    // vfork: the child shares this memory and stack until it execs, so it runs nothing but
    // these instructions: dup2(child, 3), execve, and on failure records the errno and
    // exits. We resume once it has exec'd (or exited).
    std::arch::asm!(
        "mov eax, {vfork}",
        "syscall",
        "test rax, rax",
        "jnz 2f",
        "mov eax, 33",
        "mov rdi, r12",
        "mov esi, 3",
        "syscall",
        "mov eax, 59",
        "mov rdi, r13",
        "mov rsi, r14",
        "mov rdx, r15",
        "syscall",
        "neg eax",
        "mov dword ptr [r8], eax",
        "mov eax, 231",
        "mov edi, 127",
        "syscall",
        "2:",
        vfork = const SYS_VFORK,
        in("r12") child as usize,
        in("r13") path.as_ptr(),
        in("r14") args.as_ptr(),
        in("r15") env.as_ptr(),
        in("r8") &mut failed as *mut i32,
        lateout("rax") pid,
        lateout("rdi") _,
        lateout("rsi") _,
        lateout("rdx") _,
        lateout("rcx") _,
        lateout("r11") _,
    );
    sys(SYS_CLOSE, child as usize, 0, 0, 0, 0);
    if pid <= 0 || std::ptr::read_volatile(&failed) != 0 {
        if pid > 0 {
            sys(SYS_WAIT4, pid as usize, 0, 0, 0, 0);
        }
        sys(SYS_CLOSE, parent as usize, 0, 0, 0, 0);
        sys(SYS_CLOSE, view as usize, 0, 0, 0, 0);
        return;
    }
    PID.store(pid as i32, Ordering::Relaxed);
    CHAN.store(parent as i32, Ordering::Relaxed);
    VIEW.store(view as i32, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use std::ffi::CString;

    /// The early check decides as `commands::exec::is_plain_exec` does.
    #[test]
    fn plain_exec_agrees_with_the_cli_check() {
        for line in [
            "exec c1 /bin/true",
            "--root /run/x --debug exec -e A=1 c1 sh -c true",
            "--log=/tmp/l --log-format json exec c1 true",
            "--criu /x --systemd-cgroup exec c1 true",
            "exec --preserve-fds 2 c1 true",
            "exec --preserve-fds=2 c1 true",
            "exec c1 sh --preserve-fds",
            "--root exec run c1",
            "run exec",
            "--help exec",
            "execute c1",
            "",
        ] {
            let args: Vec<CString> = std::iter::once("berth")
                .chain(line.split_whitespace())
                .map(|a| CString::new(a).unwrap())
                .collect();
            let ptrs: Vec<*const u8> = args.iter().map(|a| a.as_ptr().cast()).collect();
            // SAFETY: `ptrs` holds pointers to the live NUL-terminated strings of `args`.
            let early = unsafe { super::plain_exec(ptrs.len(), ptrs.as_ptr()) };
            let cli = crate::commands::exec::is_plain_exec(
                line.split_whitespace().map(std::ffi::OsString::from),
            );
            assert_eq!(early, cli, "{line:?}");
        }
    }

    #[test]
    fn the_view_path_and_the_helper_environment() {
        let mut buf = [0u8; 40];
        super::fd_path(1234567, &mut buf);
        let end = buf.iter().position(|b| *b == 0).unwrap();
        assert_eq!(&buf[..end], b"/proc/self/fd/1234567");
        // The variable the helper is started with is the library's.
        assert_eq!(
            super::HELPER_ENV.to_str().unwrap(),
            format!("{}=3", berth_runtime::spawn::INIT_ENV)
        );
    }
}
