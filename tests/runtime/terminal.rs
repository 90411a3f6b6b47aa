//! Terminals: `--console-socket` receives the pty master over SCM_RIGHTS.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;

use serde_json::json;

use super::harness::{text, Ctx};

/// The pty master the runtime sends over the console socket; `None` if it closes the
/// connection without one (its create failed).
pub(crate) fn recv_master(l: &UnixListener) -> Option<std::fs::File> {
    let s = super::harness::accept(l);
    let mut buf = [0u8; 256];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = nix::sys::socket::recvmsg::<()>(
        std::os::fd::AsRawFd::as_raw_fd(&s),
        &mut iov,
        Some(&mut cmsg),
        nix::sys::socket::MsgFlags::empty(),
    )
    .unwrap();
    for c in msg.cmsgs().unwrap() {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the fd was just received and is ours.
            return Some(std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fds[0]) }));
        }
    }
    None
}

/// `create` of the configured container `id` with a console socket: the pty master the
/// runtime sends. A create that fails (or sends none) fails the test with create's error.
pub(crate) fn create_with_console(c: &Ctx, id: &str) -> std::fs::File {
    let sock = c.dir.path().join("console.sock");
    let l = UnixListener::bind(&sock).unwrap();
    let create = c.cmd(&[
        "create",
        "--bundle",
        c.bundle.to_str().unwrap(),
        "--console-socket",
        sock.to_str().unwrap(),
        id,
    ]);
    let creator = std::thread::spawn(move || super::harness::capture(create));
    let master = recv_master(&l);
    let out = creator.join().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    master.expect("create succeeded but sent no pty master")
}

#[test]
fn console_socket_gets_the_pty_master() {
    let mut c = Ctx::new();
    c.config["process"]["terminal"] = json!(true);
    c.config["process"]["consoleSize"] = json!({"height": 33, "width": 111});
    c.sh("tty; stty size; read line; echo got:$line");
    c.write_config();
    let id = c.id();
    let mut master = create_with_console(&c, &id);
    assert!(c.rt(&["start", &id]).status.success());
    master.write_all(b"hello\n").unwrap();
    let mut all = String::new();
    let mut buf = [0u8; 1024];
    let deadline = std::time::Instant::now() + super::harness::timeout();
    while !all.contains("got:hello") {
        // Never block past the deadline on a container that prints nothing.
        let mut p = libc::pollfd {
            fd: std::os::fd::AsRawFd::as_raw_fd(&master),
            events: libc::POLLIN,
            revents: 0,
        };
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut p, 1, left.as_millis() as libc::c_int) } <= 0 {
            break;
        }
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => all.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    assert!(all.contains("/dev/pts/0"), "{all}");
    assert!(all.contains("33 111"), "consoleSize not applied: {all}");
    assert!(all.contains("got:hello"), "{all}");
}

#[test]
fn terminal_without_console_socket_fails_create() {
    let mut c = Ctx::new();
    c.config["process"]["terminal"] = json!(true);
    c.write_config();
    let id = c.id();
    let out = c.rt(&["create", "--bundle", c.bundle.to_str().unwrap(), &id]);
    assert!(!out.status.success());
    assert!(!c.root.join(&id).exists());
}

/// `run` in the foreground with `terminal: true` proxies a pty to berth's own terminal.
#[test]
fn foreground_run_with_a_terminal() {
    if !std::path::Path::new("/usr/bin/script").exists() {
        panic!("/usr/bin/script (bsdutils) is needed");
    }
    let mut c = Ctx::new();
    c.config["process"]["terminal"] = json!(true);
    c.sh("tty; test -t 0 && echo stdin-is-a-tty; exit 5");
    c.write_config();
    let id = c.id();
    let cmdline = format!(
        "{} --root {} run --bundle {} {}; echo rc=$?",
        super::harness::runtime().display(),
        c.root.display(),
        c.bundle.display(),
        id
    );
    let mut cmd = std::process::Command::new("/usr/bin/script");
    cmd.args(["-qec", &cmdline, "/dev/null"]);
    let out = super::harness::capture(cmd);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("/dev/pts/0"), "{stdout}");
    assert!(stdout.contains("stdin-is-a-tty"), "{stdout}");
    assert!(stdout.contains("rc=5"), "{stdout}");
}

/// `exec -t` in a running container gets its own pty.
#[test]
fn foreground_exec_with_a_terminal() {
    let mut c = Ctx::new();
    c.args(&["sleep", "1000"]);
    let id = c.create();
    assert!(c.rt(&["start", &id]).status.success());
    let cmdline = format!(
        "{} --root {} exec -t {} sh -c 'test -t 1 && echo tty-out; exit 3'; echo rc=$?",
        super::harness::runtime().display(),
        c.root.display(),
        id
    );
    let mut cmd = std::process::Command::new("/usr/bin/script");
    cmd.args(["-qec", &cmdline, "/dev/null"]);
    let out = super::harness::capture(cmd);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("tty-out"), "{stdout}");
    assert!(stdout.contains("rc=3"), "{stdout}");
}
