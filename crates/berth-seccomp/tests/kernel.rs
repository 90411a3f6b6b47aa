//! Filters installed for real. Each scenario runs in a fresh copy of this
//! test binary (`child` below, selected by an environment variable), which
//! sets no_new_privs, installs a filter on its own thread and exits with a
//! code the parent checks. No root needed: no_new_privs is enough.

use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};

use berth_seccomp::notify::{self, Response};

const SCENARIO: &str = "BERTH_SECCOMP_SCENARIO";
/// Both halves non-zero, so the kernel test also checks 64-bit matching.
const MAGIC: u64 = 0x1234_5678_9abc_def0;
/// Exit code of a scenario that passed: not 0, so that a child which ran
/// no scenario at all cannot pass.
const PASSED: i32 = 7;

fn verdict(ok: bool) -> i32 {
    if ok {
        PASSED
    } else {
        1
    }
}

/// Runs `scenario` in a child process of this test binary.
fn run(scenario: &str) -> ExitStatus {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "kernel::child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SCENARIO, scenario)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap()
}

/// getpriority(which, ...) with an impossible `which`: EINVAL when allowed.
fn probe(which: u64) -> (libc::c_long, i32) {
    // SAFETY: getpriority takes two integers; a bad `which` only fails.
    let rc = unsafe { libc::syscall(libc::SYS_getpriority, which, 0) };
    (
        rc,
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
    )
}

/// A filter with one rule, `getpriority(MAGIC, ..)` → `action` (a JSON
/// fragment: the action string, optionally followed by more fields).
fn filter(action: &str, extra: &str) -> berth_seccomp::Filter {
    let spec = berth_seccomp::parse_str(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW",{extra}"syscalls":[{{"names":["getpriority"],"action":{action},
        "args":[{{"index":0,"value":{MAGIC},"op":"SCMP_CMP_EQ"}}]}}]}}"#
    ))
    .unwrap();
    berth_seccomp::compile(&spec).unwrap()
}

fn install(f: &berth_seccomp::Filter) -> Option<std::os::fd::OwnedFd> {
    // SAFETY: PR_SET_NO_NEW_PRIVS with constant arguments.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    assert_eq!(rc, 0);
    berth_seccomp::install(f).unwrap()
}

/// getpid through the i386 ABI (`int 0x80`, number 20).
fn i386_getpid() -> i32 {
    i386_syscall0(20)
}

/// An argument-less call through the i386 ABI; returns eax (`-errno` on
/// failure). Only for `nr`s that take no arguments and touch no memory.
fn i386_syscall0(nr: i32) -> i32 {
    let ret: i32;
    // SAFETY: the callers pass getpid, getppid or a number no kernel
    // assigns, which touch no memory; int 0x80 preserves all registers but
    // eax.
    unsafe { std::arch::asm!("int 0x80", inlateout("eax") nr => ret, options(nostack)) };
    ret
}

/// A number no kernel assigns on x86_64 or i386, above every table.
const UNASSIGNED_NR: libc::c_long = 1000;

/// Default `ERRNO(EPERM)`, allowing only what the child may still need
/// after installing (exiting, a stray allocation or lock); neither
/// getppid nor [`UNASSIGNED_NR`] is listed.
fn restrictive(arches: &str) -> berth_seccomp::Filter {
    let spec = berth_seccomp::parse_str(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ERRNO","architectures":[{arches}],
        "syscalls":[{{"names":["exit_group","exit","getpid","write","brk","mmap","munmap","madvise",
        "futex","rt_sigprocmask","rt_sigreturn","sigaltstack","sched_yield"],"action":"SCMP_ACT_ALLOW"}}]}}"#
    ))
    .unwrap();
    berth_seccomp::compile(&spec).unwrap()
}

/// Leaves the child with `code` through exit_group alone, without the
/// exit handlers a restrictive filter might refuse.
fn leave(code: i32) -> ! {
    // SAFETY: _exit ends the process at once.
    unsafe { libc::_exit(code) }
}

/// Whether this kernel runs i386 calls at all (CONFIG_IA32_EMULATION).
fn has_ia32() -> bool {
    let ok = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "kernel::child", "--test-threads=1"])
        .env(SCENARIO, "i386-plain")
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap()
        .code()
        == Some(PASSED);
    if !ok {
        eprintln!("skipped: no i386 syscall emulation in this kernel");
    }
    ok
}

extern "C" fn on_sigsys(_: libc::c_int) {
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(42) }
}

/// Scenario body; a no-op in the normal test run.
#[test]
fn child() {
    let Ok(scenario) = std::env::var(SCENARIO) else {
        return;
    };
    let code = match scenario.as_str() {
        "errno" => {
            install(&filter(r#""SCMP_ACT_ERRNO","errnoRet":77"#, ""));
            let hit = probe(MAGIC);
            // Same low half, other high half: not matched.
            let miss = probe(MAGIC ^ (1 << 40));
            verdict(hit == (-1, 77) && miss == (-1, libc::EINVAL))
        }
        "kill" => {
            install(&filter(r#""SCMP_ACT_KILL_PROCESS""#, ""));
            probe(MAGIC);
            3
        }
        "trap" => {
            // SAFETY: installs a handler that only calls _exit.
            unsafe { libc::signal(libc::SIGSYS, on_sigsys as *const () as libc::sighandler_t) };
            install(&filter(r#""SCMP_ACT_TRAP""#, ""));
            probe(MAGIC);
            3
        }
        "log" => {
            install(&filter(r#""SCMP_ACT_LOG""#, ""));
            verdict(probe(MAGIC) == (-1, libc::EINVAL))
        }
        "notify" => {
            let f = filter(r#""SCMP_ACT_NOTIFY""#, r#""listenerPath":"/unused","#);
            // The agent thread exists before the filter, so it is not filtered.
            let (tx, rx) = std::sync::mpsc::channel::<std::os::fd::OwnedFd>();
            let agent = std::thread::spawn(move || {
                let fd = rx.recv().unwrap();
                let n = notify::recv(fd.as_fd()).unwrap();
                assert_eq!(n.data.nr as libc::c_long, libc::SYS_getpriority);
                assert_eq!(n.data.arch, berth_seccomp::AUDIT_ARCH_X86_64);
                assert_eq!(n.data.args[0], MAGIC);
                notify::respond(fd.as_fd(), n.id, Response::Value(4242)).unwrap();
            });
            tx.send(install(&f).expect("listener fd")).unwrap();
            let got = probe(MAGIC).0;
            agent.join().unwrap();
            verdict(got == 4242)
        }
        "enosys" => {
            install(&restrictive(r#""SCMP_ARCH_X86_64""#));
            let raw = |nr| {
                // SAFETY: only argument-less calls below (getppid, getpid,
                // a number no kernel assigns), which touch no memory.
                let rc = unsafe { libc::syscall(nr) };
                (
                    rc,
                    std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
                )
            };
            let newer = raw(UNASSIGNED_NR);
            let unlisted = raw(libc::SYS_getppid);
            let allowed = raw(libc::SYS_getpid).0;
            leave(verdict(
                newer == (-1, libc::ENOSYS)
                    && unlisted == (-1, libc::EPERM)
                    && allowed == libc::c_long::from(std::process::id()),
            ))
        }
        "enosys-i386" => {
            install(&restrictive(r#""SCMP_ARCH_X86_64","SCMP_ARCH_X86""#));
            let newer = i386_syscall0(UNASSIGNED_NR as i32);
            // i386 64 is getppid.
            let unlisted = i386_syscall0(64);
            let allowed = i386_getpid();
            leave(verdict(
                newer == -libc::ENOSYS
                    && unlisted == -libc::EPERM
                    && allowed == std::process::id() as i32,
            ))
        }
        "listener" => listener_scenario(),
        "i386-plain" => verdict(i386_getpid() == std::process::id() as i32),
        "i386-unlisted" => {
            install(&filter(r#""SCMP_ACT_ERRNO""#, ""));
            i386_getpid();
            3
        }
        "i386-listed" => {
            let spec = berth_seccomp::parse_str(
                r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],
                "syscalls":[{"names":["getpid"],"action":"SCMP_ACT_ERRNO","errnoRet":77}]}"#,
            )
            .unwrap();
            install(&berth_seccomp::compile(&spec).unwrap());
            verdict(i386_getpid() == -77)
        }
        other => panic!("unknown scenario {other}"),
    };
    std::process::exit(code);
}

/// The fd goes to an agent over `listenerPath`, which checks the container
/// process state and answers the call with an errno.
fn listener_scenario() -> i32 {
    let path = std::env::temp_dir().join(format!("berth-seccomp-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let sock = UnixListener::bind(&path).unwrap();
    let agent = std::thread::spawn(move || {
        let (conn, _) = sock.accept().unwrap();
        let (state, fds) = notify::recv_from_runtime(conn.as_fd()).unwrap();
        let raw: serde_json::Value = serde_json::to_value(&state).unwrap();
        assert_eq!(raw["fds"], serde_json::json!(["seccompFd"]));
        assert_eq!(raw["metadata"], "agent-data");
        assert_eq!(raw["pid"], 4321);
        assert_eq!(raw["state"]["id"], "c1");
        assert!(raw["ociVersion"].as_str().unwrap().starts_with("1."));
        assert_eq!(fds.len(), 1);
        let n = notify::recv(fds[0].as_fd()).unwrap();
        notify::respond(fds[0].as_fd(), n.id, Response::Errno(libc::ENOTTY)).unwrap();
    });

    let extra = format!(
        r#""listenerPath":"{}","listenerMetadata":"agent-data","#,
        path.display()
    );
    let f = filter(r#""SCMP_ACT_NOTIFY""#, &extra);
    let fd = install(&f).expect("listener fd");
    let mut st = oci_spec::runtime::State::default();
    st.set_id("c1".into());
    st.set_pid(Some(4321));
    let msg = notify::process_state(&st, 4321, Some("agent-data"));
    notify::send_to_listener(&path, fd.as_fd(), &msg).unwrap();
    drop(fd);
    let got = probe(MAGIC);
    agent.join().unwrap();
    let _ = std::fs::remove_file(&path);
    verdict(got == (-1, libc::ENOTTY))
}

#[test]
fn errno_action_returns_the_errno_and_checks_both_argument_halves() {
    assert_eq!(run("errno").code(), Some(PASSED));
}

#[test]
fn kill_process_dies_of_sigsys() {
    assert_eq!(run("kill").signal(), Some(libc::SIGSYS));
}

#[test]
fn trap_delivers_a_catchable_sigsys() {
    assert_eq!(run("trap").code(), Some(42));
}

#[test]
fn log_allows_the_call() {
    assert_eq!(run("log").code(), Some(PASSED));
}

#[test]
fn notify_is_answered_through_the_listener_fd() {
    assert_eq!(run("notify").code(), Some(PASSED));
}

#[test]
fn listener_path_receives_the_state_and_a_working_fd() {
    assert_eq!(run("listener").code(), Some(PASSED));
}

#[test]
fn syscalls_newer_than_the_table_get_enosys_not_the_default_errno() {
    assert_eq!(run("enosys").code(), Some(PASSED));
}

#[test]
fn i386_syscalls_newer_than_the_table_get_enosys() {
    if has_ia32() {
        assert_eq!(run("enosys-i386").code(), Some(PASSED));
    }
}

#[test]
fn i386_calls_are_killed_when_x86_is_not_listed() {
    if has_ia32() {
        assert_eq!(run("i386-unlisted").signal(), Some(libc::SIGSYS));
    }
}

#[test]
fn i386_calls_use_i386_numbers_when_x86_is_listed() {
    if has_ia32() {
        assert_eq!(run("i386-listed").code(), Some(PASSED));
    }
}
