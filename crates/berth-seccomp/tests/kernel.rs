//! Filters installed for real. Each scenario runs in a fresh copy of this
//! test binary (`child` below, selected by an environment variable), which
//! sets no_new_privs, installs a filter on its own thread and exits with a
//! code the parent checks. No root needed: no_new_privs is enough (only
//! reading a filter's flags back needs CAP_SYS_ADMIN: without it that check
//! cannot run, a failure in strict mode).

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use berth_seccomp::notify::{self, Response};

mod os;

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
            "--ignored",
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

/// [`probe`] with all six argument registers set: getpriority reads two,
/// but the filter sees all six. `args[0]` must be a bad `which`.
fn probe_args(args: [u64; 6]) -> (libc::c_long, i32) {
    let [a, b, c, d, e, f] = args;
    // SAFETY: getpriority takes integers and ignores the last four; a bad
    // `which` only fails.
    let rc = unsafe { libc::syscall(libc::SYS_getpriority, a, b, c, d, e, f) };
    (
        rc,
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
    )
}

/// An argument-less call by number, with its errno.
fn call0(nr: libc::c_long) -> (libc::c_long, i32) {
    // SAFETY: the callers pass only argument-less calls (getppid, getpid,
    // a number no kernel assigns), which touch no memory.
    let rc = unsafe { libc::syscall(nr) };
    (
        rc,
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
    )
}

/// What the rules of the scenarios below answer on a match, unless they
/// say otherwise: `SCMP_ACT_ERRNO` with `errnoRet` 77.
const FILTERED: (libc::c_long, i32) = (-1, 77);
/// What [`probe`] gives when no rule matched: getpriority's own EINVAL.
const UNFILTERED: (libc::c_long, i32) = (-1, libc::EINVAL);

/// Parses and compiles a `linux.seccomp` object.
fn compile(json: &str) -> berth_seccomp::Filter {
    berth_seccomp::compile(&berth_seccomp::parse_str(json).unwrap()).unwrap()
}

/// One entry of a rule's `args`.
fn cond(index: usize, op: &str, value: u64) -> String {
    format!(r#"{{"index":{index},"value":{value},"op":"{op}"}}"#)
}

/// A getpriority rule: `SCMP_ACT_ERRNO` with `errno` when all `args` hold.
fn errno_rule(errno: i32, args: &[String]) -> String {
    format!(
        r#"{{"names":["getpriority"],"action":"SCMP_ACT_ERRNO","errnoRet":{errno},"args":[{}]}}"#,
        args.join(",")
    )
}

/// Default `SCMP_ACT_ALLOW` plus `rules`; `extra` as for [`filter`].
fn allow_by_default(extra: &str, rules: &[String]) -> berth_seccomp::Filter {
    compile(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW",{extra}"syscalls":[{}]}}"#,
        rules.join(",")
    ))
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

/// What a child may still need under a restrictive filter (exiting, a
/// stray allocation or lock), as a JSON list body; neither getppid nor
/// [`UNASSIGNED_NR`] is in it.
const STILL_NEEDED: &str = r#""exit_group","exit","getpid","write","brk","mmap","munmap",
    "madvise","futex","rt_sigprocmask","rt_sigreturn","sigaltstack","sched_yield""#;

/// Default `ERRNO(EPERM)`, allowing only [`STILL_NEEDED`].
fn restrictive(arches: &str) -> berth_seccomp::Filter {
    compile(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ERRNO","architectures":[{arches}],
        "syscalls":[{{"names":[{STILL_NEEDED}],"action":"SCMP_ACT_ALLOW"}}]}}"#
    ))
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
        .args(["--exact", "kernel::child", "--ignored", "--test-threads=1"])
        .env(SCENARIO, "i386-plain")
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap()
        .code()
        == Some(PASSED);
    if !ok {
        crate::strict::cannot_run("no i386 syscall emulation in this kernel (IA32_EMULATION)");
    }
    ok
}

extern "C" fn on_sigsys(_: libc::c_int) {
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(42) }
}

/// Scenario body: not a test of its own but the entry point of the copies that [`run`]
/// starts (`--ignored --exact kernel::child`), so it never passes by doing nothing.
#[test]
#[ignore = "the scenario entry point, run by the other kernel tests"]
fn child() {
    let scenario = std::env::var(SCENARIO).expect("run by the kernel tests, with a scenario");
    // `name:param` for the parameterised scenarios.
    let (name, param) = scenario.split_once(':').unwrap_or((scenario.as_str(), ""));
    let code = match name {
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
            let newer = call0(UNASSIGNED_NR);
            let unlisted = call0(libc::SYS_getppid);
            let allowed = call0(libc::SYS_getpid).0;
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
        "cmp" => comparison_scenario(param),
        "and" => and_scenario(),
        "or" => or_scenario(),
        "kill-alone" => {
            let f = filter(&format!(r#""{param}""#), "");
            let pid = os::fork(|| {
                install(&f);
                probe(MAGIC);
                3
            });
            verdict(os::killed_by(os::wait(pid), libc::SIGSYS))
        }
        "kill-one-thread" => {
            let f = filter(&format!(r#""{param}""#), "");
            let survived = Arc::new(AtomicBool::new(false));
            let s = survived.clone();
            let t = std::thread::spawn(move || {
                install(&f);
                probe(MAGIC);
                s.store(true, Ordering::SeqCst);
            });
            os::join_dead(t);
            // This thread was not filtered, and the process lives on.
            verdict(!survived.load(Ordering::SeqCst) && probe(MAGIC) == UNFILTERED)
        }
        "trace" => {
            install(&filter(r#""SCMP_ACT_TRACE","errnoRet":1234"#, ""));
            verdict(probe(MAGIC) == (-1, libc::ENOSYS) && probe(MAGIC ^ 1) == UNFILTERED)
        }
        "trace-tracer" => tracer_scenario(),
        "allow" => {
            let spec = format!(
                r#"{{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":99,"syscalls":[
                {{"names":[{STILL_NEEDED}],"action":"SCMP_ACT_ALLOW"}},
                {{"names":["getpriority"],"action":"SCMP_ACT_ALLOW","args":[{}]}}]}}"#,
                cond(0, "SCMP_CMP_GE", BOUND)
            );
            install(&compile(&spec));
            let listed = probe(BOUND);
            let args_differ = probe(BOUND - 1);
            let unlisted = call0(libc::SYS_getppid);
            let plain = call0(libc::SYS_getpid).0;
            leave(verdict(
                listed == UNFILTERED
                    && args_differ == (-1, 99)
                    && unlisted == (-1, 99)
                    && plain == libc::c_long::from(std::process::id() as i32),
            ))
        }
        "tsync" => tsync_scenario(),
        "tsync-notify" => tsync_notify_scenario(),
        "log-flag" => log_flag_scenario(),
        "spec-allow" => {
            let before = os::speculation();
            install(&allow_by_default(
                r#""flags":["SECCOMP_FILTER_FLAG_SPEC_ALLOW"],"#,
                &[errno_rule(77, &[cond(0, "SCMP_CMP_EQ", MAGIC)])],
            ));
            let after = os::speculation();
            verdict(
                !before.0.is_empty()
                    && before == after
                    && probe(MAGIC) == FILTERED
                    && probe(BOUND) == UNFILTERED,
            )
        }
        "notify-wait" => notify_wait_scenario(param == "killable"),
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

/// The boundary of the ordering comparisons: both halves non-zero, and it
/// and its neighbours have low halves getpriority rejects as `which`
/// (anything outside 0..=2).
const BOUND: u64 = 0x0000_0005_0000_0010;

/// Arguments just below, at and above [`BOUND`], as a whole and in each
/// half.
const AROUND_BOUND: [u64; 10] = [
    3,                     // high half 0
    0x0000_0004_0000_0010, // lower high half only
    0x0000_0004_ffff_fff0, // lower high half, higher low half
    BOUND - 1,
    BOUND,
    BOUND + 1,
    0x0000_0005_ffff_fff0, // same high half, low half with its top bit set
    0x0000_0006_0000_0003, // higher high half, lower low half
    0x0000_0006_0000_0010, // higher high half only
    0xffff_ffff_0000_0010, // top bit set: largest unsigned, negative signed
];

/// `SCMP_CMP_MASKED_EQ` holds when `arg & MASK == MASKED` (`value` and
/// `valueTwo`); both have bits in both halves.
const MASK: u64 = 0x0000_00ff_0000_00f0;
const MASKED: u64 = 0x0000_0012_0000_0030;

/// Arguments around [`MASKED`]: the masked bits just below, at and above
/// it in each half, and bits outside the mask.
const AROUND_MASKED: [u64; 8] = [
    MASKED - 0x10,
    MASKED,
    MASKED + 0x10,
    MASKED - (1 << 32),
    MASKED + (1 << 32),
    MASKED | !MASK,                 // every bit outside the mask set: still equal
    MASKED & 0xffff_ffff,           // high half missing
    MASKED | 0x0000_0100_0000_000f, // outside the mask in both halves
];

/// One rule `getpriority(arg0 <op> ..)` → [`FILTERED`], probed with
/// arguments around the boundary; each must be filtered exactly when the
/// unsigned 64-bit comparison (libseccomp's meaning) holds.
fn comparison_scenario(op: &str) -> i32 {
    type Holds = fn(u64) -> bool;
    let (value, probes, holds): (u64, &[u64], Holds) = match op {
        "SCMP_CMP_NE" => (BOUND, &AROUND_BOUND, |x| x != BOUND),
        "SCMP_CMP_LT" => (BOUND, &AROUND_BOUND, |x| x < BOUND),
        "SCMP_CMP_LE" => (BOUND, &AROUND_BOUND, |x| x <= BOUND),
        "SCMP_CMP_EQ" => (BOUND, &AROUND_BOUND, |x| x == BOUND),
        "SCMP_CMP_GE" => (BOUND, &AROUND_BOUND, |x| x >= BOUND),
        "SCMP_CMP_GT" => (BOUND, &AROUND_BOUND, |x| x > BOUND),
        "SCMP_CMP_MASKED_EQ" => (MASK, &AROUND_MASKED, |x| x & MASK == MASKED),
        other => panic!("unknown operator {other}"),
    };
    // Every operator sees arguments on both sides.
    assert!(probes.iter().any(|&x| holds(x)) && !probes.iter().all(|&x| holds(x)));
    let two = if op == "SCMP_CMP_MASKED_EQ" {
        format!(r#","valueTwo":{MASKED}"#)
    } else {
        String::new()
    };
    let arg = format!(r#"{{"index":0,"value":{value}{two},"op":"{op}"}}"#);
    install(&allow_by_default("", &[errno_rule(77, &[arg])]));
    let mut ok = true;
    for &x in probes {
        let want = if holds(x) { FILTERED } else { UNFILTERED };
        let got = probe(x);
        if got != want {
            eprintln!("{op} {value:#x}: getpriority({x:#x}) gave {got:?}, want {want:?}");
            ok = false;
        }
    }
    verdict(ok)
}

/// One rule with a condition on each of the six arguments: filtered when
/// all hold, not when any one fails.
fn and_scenario() -> i32 {
    // (operator, value, an argument that satisfies it, one that does not)
    let conds: [(&str, u64, u64, u64); 6] = [
        ("SCMP_CMP_EQ", BOUND, BOUND, BOUND ^ (1 << 40)),
        ("SCMP_CMP_NE", BOUND, BOUND + (1 << 32), BOUND),
        ("SCMP_CMP_LT", BOUND, BOUND - (1 << 32), BOUND),
        ("SCMP_CMP_LE", BOUND, BOUND, BOUND + (1 << 32)),
        ("SCMP_CMP_GT", BOUND, BOUND + 1, BOUND),
        (
            "SCMP_CMP_MASKED_EQ",
            MASK,
            MASKED | !MASK,
            MASKED ^ (1 << 33),
        ),
    ];
    let args: Vec<String> = conds
        .iter()
        .enumerate()
        .map(|(i, &(op, value, _, _))| {
            if op == "SCMP_CMP_MASKED_EQ" {
                format!(r#"{{"index":{i},"value":{value},"valueTwo":{MASKED},"op":"{op}"}}"#)
            } else {
                cond(i, op, value)
            }
        })
        .collect();
    install(&allow_by_default("", &[errno_rule(77, &args)]));
    let all = conds.map(|c| c.2);
    let mut ok = probe_args(all) == FILTERED;
    for (i, c) in conds.iter().enumerate() {
        let mut one_fails = all;
        one_fails[i] = c.3;
        let got = probe_args(one_fails);
        if got != UNFILTERED {
            eprintln!("args[{i}] {} fails, yet getpriority gave {got:?}", c.0);
            ok = false;
        }
    }
    verdict(ok)
}

/// Two rules for getpriority, on different arguments: either one
/// matching is enough; with both, the one listed first answers (same
/// action kind, so spec order decides).
fn or_scenario() -> i32 {
    let eq = "SCMP_CMP_EQ";
    install(&allow_by_default(
        "",
        &[
            errno_rule(77, &[cond(0, eq, BOUND)]),
            errno_rule(78, &[cond(1, eq, MAGIC)]),
        ],
    ));
    let args = |which, who| [which, who, 0, 0, 0, 0];
    verdict(
        probe_args(args(BOUND, 0)) == FILTERED
            && probe_args(args(BOUND + 1, MAGIC)) == (-1, 78)
            && probe_args(args(BOUND, MAGIC)) == FILTERED
            && probe_args(args(BOUND + 1, MAGIC ^ (1 << 63))) == UNFILTERED,
    )
}

/// `SCMP_ACT_TRACE` under a tracer: the tracee stops with the rule's
/// `errnoRet` as event message, and the tracer decides what the call
/// returns. The tracee is a forked copy whose parent, this scenario,
/// traces it.
fn tracer_scenario() -> i32 {
    const DATA: u16 = 1234;
    const ANSWER: libc::c_long = 4343;
    let f = filter(&format!(r#""SCMP_ACT_TRACE","errnoRet":{DATA}"#), "");
    let pid = os::fork(|| {
        os::trace_me();
        // Until the tracer has set its options.
        os::stop_self();
        install(&f);
        let hit = probe(MAGIC).0;
        let miss = probe(MAGIC ^ 1);
        verdict(hit == ANSWER && miss == UNFILTERED)
    });
    let mut ok = os::wait_stop(pid) == Some(libc::SIGSTOP);
    os::trace_seccomp(pid);
    os::resume(pid);
    // Stopped at the first getpriority only.
    ok &= os::wait_stop(pid) == Some(libc::SIGTRAP | (libc::PTRACE_EVENT_SECCOMP << 8));
    ok &= os::event_msg(pid) == libc::c_ulong::from(DATA);
    let mut regs = os::regs(pid);
    ok &= regs.orig_rax == libc::SYS_getpriority as u64 && regs.rdi == MAGIC;
    // Skip the call (number -1); it returns what rax holds.
    regs.orig_rax = u64::MAX;
    regs.rax = ANSWER as u64;
    os::set_regs(pid, &regs);
    os::resume(pid);
    let status = os::wait(pid);
    verdict(ok && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == PASSED)
}

/// A thread started before any filter: not filtered by a plain install,
/// but given the caller's whole filter chain by a TSYNC one.
fn tsync_scenario() -> i32 {
    let (ask, asked) = mpsc::channel::<u64>();
    let (answer, answers) = mpsc::channel();
    std::thread::spawn(move || {
        for which in asked {
            answer.send(probe(which)).unwrap();
        }
    });
    let other = |which| {
        ask.send(which).unwrap();
        answers.recv().unwrap()
    };
    let eq = "SCMP_CMP_EQ";
    install(&allow_by_default(
        "",
        &[errno_rule(77, &[cond(0, eq, MAGIC)])],
    ));
    let before = other(MAGIC);
    install(&allow_by_default(
        r#""flags":["SECCOMP_FILTER_FLAG_TSYNC"],"#,
        &[errno_rule(78, &[cond(0, eq, BOUND)])],
    ));
    verdict(
        before == UNFILTERED
            && other(MAGIC) == FILTERED
            && other(BOUND) == (-1, 78)
            && probe(BOUND) == (-1, 78)
            && other(BOUND + 1) == UNFILTERED,
    )
}

/// TSYNC with a notify rule (the kernel wants TSYNC_ESRCH then): the
/// install returns a listener, and a thread started before it notifies
/// too. The agent answers each call with the caller's thread id.
fn tsync_notify_scenario() -> i32 {
    let (fd_tx, fd_rx) = mpsc::channel::<OwnedFd>();
    let agent = std::thread::spawn(move || {
        let fd = fd_rx.recv().unwrap();
        for _ in 0..2 {
            let n = notify::recv(fd.as_fd()).unwrap();
            notify::respond(fd.as_fd(), n.id, Response::Value(n.pid.into())).unwrap();
        }
    });
    let (go, wait_go) = mpsc::channel::<()>();
    let (answer, answers) = mpsc::channel();
    std::thread::spawn(move || {
        wait_go.recv().unwrap();
        answer.send((os::gettid(), probe(MAGIC).0)).unwrap();
    });
    let f = filter(
        r#""SCMP_ACT_NOTIFY""#,
        r#""listenerPath":"/unused","flags":["SECCOMP_FILTER_FLAG_TSYNC"],"#,
    );
    fd_tx.send(install(&f).expect("listener fd")).unwrap();
    let own = probe(MAGIC).0;
    go.send(()).unwrap();
    let (tid, other) = answers.recv().unwrap();
    let ok = own == libc::c_long::from(os::gettid()) && other == libc::c_long::from(tid);
    // Had the other thread not notified, the agent would wait forever.
    if ok {
        agent.join().unwrap();
    }
    verdict(ok)
}

/// `SECCOMP_FILTER_FLAG_LOG` reaches the kernel for its own filter only
/// (read back with `PTRACE_SECCOMP_GET_METADATA` from a stopped, traced
/// copy), and the filter still answers as without it. (Seeing the effect,
/// audit records for ERRNO, would mean reading the rate-limited kernel
/// log.)
fn log_flag_scenario() -> i32 {
    let eq = "SCMP_CMP_EQ";
    let plain = allow_by_default("", &[errno_rule(77, &[cond(0, eq, MAGIC)])]);
    let logged = allow_by_default(
        r#""flags":["SECCOMP_FILTER_FLAG_LOG"],"#,
        &[errno_rule(78, &[cond(0, eq, BOUND)])],
    );
    let pid = os::fork(|| {
        os::trace_me();
        install(&plain);
        install(&logged);
        let ok =
            probe(MAGIC) == FILTERED && probe(BOUND) == (-1, 78) && probe(BOUND + 1) == UNFILTERED;
        os::stop_self();
        verdict(ok)
    });
    let stopped = os::wait_stop(pid) == Some(libc::SIGSTOP);
    let first = os::filter_flags(pid, 0);
    let second = os::filter_flags(pid, 1);
    os::resume(pid);
    let status = os::wait(pid);
    let flags_ok = match (first, second) {
        (Ok(first), Ok(second)) => first == 0 && second == libc::SECCOMP_FILTER_FLAG_LOG,
        // Without CAP_SYS_ADMIN, or CONFIG_CHECKPOINT_RESTORE.
        (Err(e), _) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EIO)) => {
            // In this scenario's child: a failure of the parent's test in strict mode.
            crate::strict::cannot_run(&format!(
                "log flag scenario: reading the flags back: PTRACE_SECCOMP_GET_METADATA: {e}"
            ));
            true
        }
        (first, second) => {
            eprintln!("PTRACE_SECCOMP_GET_METADATA: {first:?}, {second:?}");
            false
        }
    };
    verdict(stopped && flags_ok && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == PASSED)
}

/// Set by [`on_sigusr1`].
static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigusr1(_: libc::c_int) {
    SIGNALLED.store(true, Ordering::SeqCst);
}

/// A notified call that the agent has received, then interrupted with a
/// handled signal (no SA_RESTART) before answering. With
/// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` (`killable`) only a fatal
/// signal could end the wait, so the answer arrives; without it the call
/// fails with EINTR at once and the answer finds nothing to answer.
fn notify_wait_scenario(killable: bool) -> i32 {
    os::catch_without_restart(libc::SIGUSR1, on_sigusr1);
    let flags = if killable {
        r#""flags":["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],"#
    } else {
        ""
    };
    let f = filter(
        r#""SCMP_ACT_NOTIFY""#,
        &format!(r#""listenerPath":"/unused",{flags}"#),
    );
    let returned = Arc::new(AtomicBool::new(false));
    let (fd_tx, fd_rx) = mpsc::channel::<OwnedFd>();
    let agent = {
        let returned = returned.clone();
        std::thread::spawn(move || {
            let fd = fd_rx.recv().unwrap();
            let n = notify::recv(fd.as_fd()).unwrap();
            os::tgkill(n.pid as libc::pid_t, libc::SIGUSR1);
            // Give an interrupted call time to return; one still waiting
            // is only waited for as long as a killable wait needs proving.
            let patience = Duration::from_millis(if killable { 300 } else { 10_000 });
            let deadline = Instant::now() + patience;
            while !returned.load(Ordering::SeqCst) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            notify::respond(fd.as_fd(), n.id, Response::Value(4242)).is_ok()
        })
    };
    fd_tx.send(install(&f).expect("listener fd")).unwrap();
    let got = probe(MAGIC);
    returned.store(true, Ordering::SeqCst);
    let answered = agent.join().unwrap();
    let signalled = SIGNALLED.load(Ordering::SeqCst);
    if killable {
        verdict(got.0 == 4242 && answered && signalled)
    } else {
        verdict(got == (-1, libc::EINTR) && !answered && signalled)
    }
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

/// SCMP_CMP_NE: every value but the datum, whichever half differs.
#[test]
fn cmp_ne_matches_any_other_64_bit_value() {
    assert_eq!(run("cmp:SCMP_CMP_NE").code(), Some(PASSED));
}

/// SCMP_CMP_LT: unsigned 64-bit "below", the high half first.
#[test]
fn cmp_lt_is_unsigned_64_bit_less_than() {
    assert_eq!(run("cmp:SCMP_CMP_LT").code(), Some(PASSED));
}

/// SCMP_CMP_LE: unsigned 64-bit "below or at".
#[test]
fn cmp_le_is_unsigned_64_bit_less_or_equal() {
    assert_eq!(run("cmp:SCMP_CMP_LE").code(), Some(PASSED));
}

/// SCMP_CMP_EQ: only the datum, not its neighbours in either half.
#[test]
fn cmp_eq_matches_only_the_64_bit_value() {
    assert_eq!(run("cmp:SCMP_CMP_EQ").code(), Some(PASSED));
}

/// SCMP_CMP_GE: unsigned 64-bit "at or above".
#[test]
fn cmp_ge_is_unsigned_64_bit_greater_or_equal() {
    assert_eq!(run("cmp:SCMP_CMP_GE").code(), Some(PASSED));
}

/// SCMP_CMP_GT: unsigned 64-bit "above" (a set top bit is large, not
/// negative).
#[test]
fn cmp_gt_is_unsigned_64_bit_greater_than() {
    assert_eq!(run("cmp:SCMP_CMP_GT").code(), Some(PASSED));
}

/// SCMP_CMP_MASKED_EQ: `arg & value == valueTwo` over both halves; bits
/// outside the mask do not matter.
#[test]
fn cmp_masked_eq_compares_the_masked_argument_with_value_two() {
    assert_eq!(run("cmp:SCMP_CMP_MASKED_EQ").code(), Some(PASSED));
}

/// Conditions in one rule are ANDed, on each of the six argument slots.
#[test]
fn conditions_of_one_rule_must_all_hold() {
    assert_eq!(run("and").code(), Some(PASSED));
}

/// Rules for one syscall are ORed; with both matching, the first listed.
#[test]
fn rules_for_one_syscall_apply_when_any_matches() {
    assert_eq!(run("or").code(), Some(PASSED));
}

/// SCMP_ACT_KILL in a single-threaded process: it dies of SIGSYS.
#[test]
fn kill_ends_a_single_threaded_process_by_sigsys() {
    assert_eq!(run("kill-alone:SCMP_ACT_KILL").code(), Some(PASSED));
}

/// SCMP_ACT_KILL_THREAD in a single-threaded process: it dies of SIGSYS.
#[test]
fn kill_thread_ends_a_single_threaded_process_by_sigsys() {
    assert_eq!(run("kill-alone:SCMP_ACT_KILL_THREAD").code(), Some(PASSED));
}

/// SCMP_ACT_KILL (libseccomp's name for KILL_THREAD) takes only the
/// calling thread; the process goes on.
#[test]
fn kill_takes_only_the_calling_thread() {
    assert_eq!(run("kill-one-thread:SCMP_ACT_KILL").code(), Some(PASSED));
}

/// SCMP_ACT_KILL_THREAD takes only the calling thread.
#[test]
fn kill_thread_takes_only_the_calling_thread() {
    assert_eq!(
        run("kill-one-thread:SCMP_ACT_KILL_THREAD").code(),
        Some(PASSED)
    );
}

/// SCMP_ACT_TRACE with no tracer: the kernel fails the call with ENOSYS.
#[test]
fn trace_without_a_tracer_fails_with_enosys() {
    assert_eq!(run("trace").code(), Some(PASSED));
}

/// SCMP_ACT_TRACE with a tracer: it stops, sees `errnoRet` as the event
/// message and sets the result.
#[test]
fn trace_hands_errno_ret_to_the_tracer() {
    assert_eq!(run("trace-tracer").code(), Some(PASSED));
}

/// SCMP_ACT_ALLOW rules, plain and with args, under an ERRNO default
/// with `defaultErrnoRet`.
#[test]
fn allow_rules_let_calls_through_a_restrictive_default() {
    assert_eq!(run("allow").code(), Some(PASSED));
}

/// SECCOMP_FILTER_FLAG_TSYNC: threads that already run get the filter.
#[test]
fn tsync_filters_threads_started_before_the_install() {
    assert_eq!(run("tsync").code(), Some(PASSED));
}

/// TSYNC with SCMP_ACT_NOTIFY installs, and every thread notifies.
#[test]
fn tsync_with_notify_installs_and_every_thread_notifies() {
    assert_eq!(run("tsync-notify").code(), Some(PASSED));
}

/// SECCOMP_FILTER_FLAG_LOG is set on its filter, which still filters.
#[test]
fn log_flag_is_recorded_on_its_filter_only() {
    assert_eq!(run("log-flag").code(), Some(PASSED));
}

/// SECCOMP_FILTER_FLAG_SPEC_ALLOW installs, filters, and leaves the
/// thread's speculation state as it was (observable only on kernels that
/// mitigate for seccomp, e.g. `spec_store_bypass_disable=seccomp`).
#[test]
fn spec_allow_installs_without_changing_speculation_state() {
    assert_eq!(run("spec-allow").code(), Some(PASSED));
}

/// SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV with SCMP_ACT_NOTIFY: once
/// received, a notified call is not interrupted by a handled signal and
/// still gets its answer.
#[test]
fn wait_killable_recv_keeps_a_received_call_from_signals() {
    assert_eq!(run("notify-wait:killable").code(), Some(PASSED));
}

/// The control for the previous test: without the flag the same signal
/// interrupts the call (EINTR) and the answer comes too late.
#[test]
fn without_wait_killable_recv_a_signal_interrupts_a_received_call() {
    assert_eq!(run("notify-wait:interruptible").code(), Some(PASSED));
}
