//! `linux.seccomp`: the filter is loaded just before the process runs and behaves.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;

use serde_json::json;

use super::harness::{text, Ctx};

fn profile(c: &mut Ctx, default: &str, syscalls: serde_json::Value) {
    c.config["linux"]["seccomp"] = json!({
        "defaultAction": default,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": syscalls,
    });
}

#[test]
fn errno_action_with_errno_ret() {
    let mut c = Ctx::new();
    profile(
        &mut c,
        "SCMP_ACT_ALLOW",
        json!([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]),
    );
    c.sh("mkdir /tmp/x 2>&1; echo rc=$?; ls /tmp");
    let out = c.run_ok();
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(out.contains("rc=1"), "{out}");
}

#[test]
fn kill_process_action() {
    let mut c = Ctx::new();
    profile(
        &mut c,
        "SCMP_ACT_ALLOW",
        json!([{"names": ["uname"], "action": "SCMP_ACT_KILL_PROCESS"}]),
    );
    c.args(&["uname"]);
    let (out, _) = c.run();
    // SIGSYS is 31.
    assert_eq!(out.status.code(), Some(128 + 31), "{}", text(&out.stderr));
}

#[test]
fn argument_comparison() {
    let mut c = Ctx::new();
    // kill(pid, SIGCONT) is refused; kill(pid, 0) passes.
    profile(
        &mut c,
        "SCMP_ACT_ALLOW",
        json!([{"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
        "args": [{"index": 1, "value": 18, "op": "SCMP_CMP_EQ"}]}]),
    );
    c.sh("kill -CONT $$ 2>/dev/null || echo denied-cont; kill -0 $$ && echo ok-0");
    assert_eq!(c.run_ok(), "denied-cont\nok-0\n");
}

/// runc loads the filter before its last setup calls, so an allow-list this small also has
/// to cover runc's internals (it fails on one of them); berth filters only its execve.
#[test]
fn berth_only_default_errno_with_allow_list() {
    let mut c = Ctx::new();
    // A deny-by-default profile that lets sh run but refuses `mkdir`.
    let allowed: Vec<&str> = vec![
        "read",
        "write",
        "openat",
        "close",
        "fstat",
        "newfstatat",
        "mmap",
        "mprotect",
        "munmap",
        "brk",
        "rt_sigaction",
        "rt_sigprocmask",
        "rt_sigreturn",
        "ioctl",
        "access",
        "execve",
        "exit",
        "exit_group",
        "getpid",
        "getppid",
        "getuid",
        "geteuid",
        "getgid",
        "getegid",
        "uname",
        "fcntl",
        "arch_prctl",
        "set_tid_address",
        "set_robust_list",
        "prlimit64",
        "getrandom",
        "rseq",
        "wait4",
        "clone",
        "clone3",
        "fork",
        "vfork",
        "dup2",
        "dup3",
        "pipe",
        "pipe2",
        "lseek",
        "getcwd",
        "stat",
        "lstat",
        "statx",
        "chdir",
        "readlink",
        "getdents64",
        "sysinfo",
        "setpgid",
        "getpgrp",
        "getpgid",
        "sigaltstack",
        "futex",
        "poll",
        "ppoll",
        "pselect6",
        "select",
        "readlinkat",
        "faccessat",
        "faccessat2",
    ];
    c.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 38,
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": allowed, "action": "SCMP_ACT_ALLOW"}],
    });
    c.sh("echo running; mkdir /tmp/x 2>&1 | head -1");
    let out = c.run_ok();
    assert!(out.starts_with("running\n"), "{out}");
    assert!(
        out.contains("not implemented") || out.contains("Function not implemented"),
        "{out}"
    );
}

/// Unknown syscall names are skipped without a word on stderr, as runc does (it logs them at
/// debug level): Docker's and podman's profiles name syscalls of other architectures (`recv`,
/// `pciconfig_iobase` ...), and engines pass the runtime's stderr on (rootless podman showed
/// the warnings in every container's output). `--debug` names them.
#[test]
fn unknown_syscall_names_are_skipped() {
    let mut c = Ctx::new();
    profile(
        &mut c,
        "SCMP_ACT_ALLOW",
        json!([{"names": ["no_such_syscall", "pciconfig_iobase", "recv", "mkdir", "mkdirat"],
                "action": "SCMP_ACT_ERRNO"}]),
    );
    c.sh("mkdir /tmp/x 2>/dev/null || echo denied");
    let (out, _) = c.run();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "denied\n");
    assert_eq!(text(&out.stderr), "", "nothing on stderr");
    if super::harness::is_berth() {
        let id = c.id();
        let out = c.rt(&[
            "--debug",
            "run",
            "--bundle",
            c.bundle.to_str().unwrap(),
            &id,
        ]);
        let err = text(&out.stderr);
        assert!(out.status.success(), "{err}");
        for name in ["no_such_syscall", "pciconfig_iobase", "recv"] {
            assert!(err.contains(name), "--debug names {name}: {err}");
        }
    }
}

#[test]
fn exec_processes_get_the_filter_too() {
    let mut c = Ctx::new();
    profile(
        &mut c,
        "SCMP_ACT_ALLOW",
        json!([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]),
    );
    c.args(&["sleep", "1000"]);
    let id = c.create();
    assert!(c.rt(&["start", &id]).status.success());
    let out = c.rt(&[
        "exec",
        &id,
        "sh",
        "-c",
        "mkdir /tmp/y 2>/dev/null || echo denied",
    ]);
    assert_eq!(text(&out.stdout), "denied\n", "{}", text(&out.stderr));
}

/// A profile sending the syscalls `names` to an agent at a socket in the test's dir
/// (metadata `agent-meta`); returns the agent's listening socket.
pub(crate) fn notify_profile(c: &mut Ctx, names: &[&str]) -> UnixListener {
    let sock = c.dir.path().join("agent.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    c.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "listenerPath": sock,
        "listenerMetadata": "agent-meta",
        "syscalls": [{"names": names, "action": "SCMP_ACT_NOTIFY"}],
    });
    listener
}

fn notify_mkdir(c: &mut Ctx) -> UnixListener {
    notify_profile(c, &["mkdir", "mkdirat"])
}

/// The agent's side of the runtime's next hand-off: the process state (as JSON) and the fds.
/// Fails the test when no runtime connects within the harness's timeout.
pub(crate) fn agent_accept(listener: &UnixListener) -> (serde_json::Value, Vec<OwnedFd>) {
    let conn = super::harness::accept(listener);
    let (state, fds) = berth_seccomp::notify::recv_from_runtime(conn.as_fd()).unwrap();
    (serde_json::to_value(&state).unwrap(), fds)
}

/// `create` of the configured container while the agent takes the init's listener fd; returns
/// the id and that fd (keep it open while the container lives).
pub(crate) fn create_with_agent(c: &Ctx, listener: &UnixListener) -> (String, Vec<OwnedFd>) {
    c.write_config();
    let id = c.id();
    let create = c.cmd(&["create", "--bundle", c.bundle.to_str().unwrap(), &id]);
    let creator = std::thread::spawn(move || super::harness::capture(create));
    let (_, fds) = agent_accept(listener);
    let out = creator.join().unwrap();
    assert!(out.status.success(), "create: {}", text(&out.stderr));
    (id, fds)
}

/// SCMP_ACT_NOTIFY: the listener fd reaches the agent at listenerPath with the container's
/// state and metadata, and the agent's answers decide the syscall's result.
/// Against runc 1.1.5 the container's mkdir never reaches the agent: `run` hangs until the
/// harness's timeout (runc's agent hand-off differs; not investigated further).
#[test]
fn berth_only_notify_goes_to_the_agent() {
    let mut c = Ctx::new();
    let listener = notify_mkdir(&mut c);
    c.sh("mkdir /tmp/x 2>&1; echo rc=$?");
    c.write_config();
    let id = c.id();
    let run = c.cmd(&["run", "--bundle", c.bundle.to_str().unwrap(), &id]);
    let runner = std::thread::spawn(move || super::harness::capture(run));
    let (v, fds) = agent_accept(&listener);
    assert_eq!(v["metadata"], "agent-meta");
    assert_eq!(v["state"]["id"], id.as_str());
    let fd = fds.into_iter().next().unwrap();
    let agent = std::thread::spawn(move || answer_eacces(fd));
    let out = runner.join().unwrap();
    assert!(agent.join().unwrap() >= 1, "the agent got no notification");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Permission denied"),
        "{stdout} {}",
        text(&out.stderr)
    );
    assert!(stdout.contains("rc=1"), "{stdout}");
}

/// A seccomp agent: answers every notification on `fd` with EACCES until the processes are
/// gone or nothing comes for 10 s. Returns the count.
pub(crate) fn answer_eacces(fd: std::os::fd::OwnedFd) -> usize {
    answer(fd, berth_seccomp::notify::Response::Errno(libc::EACCES))
}

/// A seccomp agent: answers every notification on `fd` with `response` until the processes
/// are gone (the listener then reports POLLHUP: a blocking RECV would wait forever on older
/// kernels, 6.1 among them) or nothing comes for 10 s. Returns the count.
pub(crate) fn answer(fd: std::os::fd::OwnedFd, response: berth_seccomp::notify::Response) -> usize {
    use std::os::fd::{AsFd, AsRawFd};
    let mut answered = 0;
    loop {
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut p, 1, 10_000) } <= 0 || p.revents & libc::POLLIN == 0 {
            return answered;
        }
        let Ok(n) = berth_seccomp::notify::recv(fd.as_fd()) else {
            return answered;
        };
        let _ = berth_seccomp::notify::respond(fd.as_fd(), n.id, response);
        answered += 1;
    }
}

/// NOTIFY for an exec'd process: it gets its own listener fd, handed to the agent with the
/// container's state (running) and the new process's pid. runc 1.1.5: see above.
#[test]
fn berth_only_notify_reaches_the_agent_for_exec_processes_too() {
    let mut c = Ctx::new();
    let listener = notify_mkdir(&mut c);
    c.args(&["sleep", "1000"]);
    // The init's fd: kept open (its agent) but never asked anything here.
    let (id, init_fds) = create_with_agent(&c, &listener);
    let out = c.rt(&["start", &id]);
    assert!(out.status.success(), "start: {}", text(&out.stderr));

    let exec = c.cmd(&["exec", &id, "sh", "-c", "mkdir /tmp/x 2>&1; echo rc=$?"]);
    let execer = std::thread::spawn(move || super::harness::capture(exec));
    let (v, fds) = agent_accept(&listener);
    assert_eq!(v["state"]["id"], id.as_str());
    assert_eq!(v["state"]["status"], "running");
    let (pid, init) = (
        v["pid"].as_i64().unwrap(),
        v["state"]["pid"].as_i64().unwrap(),
    );
    assert!(
        pid > 0 && pid != init,
        "the pid is the exec'd process's: {v}"
    );
    let fd = fds.into_iter().next().unwrap();
    let agent = std::thread::spawn(move || answer_eacces(fd));
    let out = execer.join().unwrap();
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Permission denied"),
        "{stdout} {}",
        text(&out.stderr)
    );
    assert!(stdout.contains("rc=1"), "{stdout}");
    assert!(agent.join().unwrap() >= 1, "the agent got no notification");
    drop(init_fds);
}

/// NOTIFY for an exec'd process whose agent is gone: exec fails naming listenerPath, and
/// the process never runs anything of its own.
#[test]
fn berth_only_exec_without_its_seccomp_agent_never_runs() {
    let mut c = Ctx::new();
    let listener = notify_mkdir(&mut c);
    let out_dir = c.dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    c.config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/out", "type": "bind", "source": out_dir, "options": ["rbind", "rw"]
    }));
    c.args(&["sleep", "1000"]);
    let (id, init_fds) = create_with_agent(&c, &listener);
    // The agent goes away.
    drop(listener);
    std::fs::remove_file(c.dir.path().join("agent.sock")).unwrap();
    let out = c.rt(&["exec", &id, "sh", "-c", "echo ran > /out/ran"]);
    assert!(!out.status.success(), "exec ran without its agent");
    let err = text(&out.stderr);
    assert!(err.contains("listenerPath"), "{err}");
    assert!(!out_dir.join("ran").exists(), "the process ran");
    drop(init_fds);
}

/// Docker's and podman's default profiles, resolved as their engines do for a default
/// container, load and behave: ordinary programs run, unshare and mount are refused with
/// EPERM, and (Docker's) keyctl too.
#[test]
fn engine_default_profiles_load_and_behave() {
    const CAPS: &[&str] = &[
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ];
    let profiles = [
        (
            "docker",
            "/usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json",
        ),
        ("podman", "/usr/share/containers/seccomp.json"),
    ];
    for (engine, path) in profiles {
        let raw = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{path}: {e} (installed by `make setup`)"));
        let profile: serde_json::Value = serde_json::from_str(&raw).unwrap();
        let mut c = Ctx::new();
        // A static helper that calls keyctl(KEYCTL_GET_KEYRING_ID, session) and prints errno.
        let src = c.dir.path().join("keyctl.c");
        std::fs::write(
            &src,
            "#include <errno.h>\n#include <stdio.h>\n#include <unistd.h>\n#include <sys/syscall.h>\n\
             int main(void){long r=syscall(SYS_keyctl,0,-3,0);printf(\"keyctl=%d\\n\",r<0?errno:0);return 0;}\n",
        )
        .unwrap();
        let cc = std::process::Command::new("gcc")
            .args(["-static", "-O1", "-o"])
            .arg(c.rootfs().join("bin/keyctl-probe"))
            .arg(&src)
            .status()
            .expect("gcc is needed to build the keyctl probe");
        assert!(cc.success());
        c.config["process"]["capabilities"] =
            json!({"bounding": CAPS, "effective": CAPS, "permitted": CAPS});
        c.config["linux"]["seccomp"] = berth_seccomp::engine::resolve(&profile, CAPS).unwrap();
        c.sh(
            "echo ok; unshare -m true 2>/dev/null || echo unshare-denied; \
              mount -t tmpfs t /tmp 2>/dev/null || echo mount-denied; /bin/keyctl-probe",
        );
        let out = c.run_ok();
        assert!(
            out.starts_with("ok\nunshare-denied\nmount-denied\n"),
            "{engine}: {out}"
        );
        if engine == "docker" {
            assert!(
                out.contains(&format!("keyctl={}", libc::EPERM)),
                "{engine}: {out}"
            );
        }
    }
}
