//! `image run` in the foreground: from a registry and from an archive, on a terminal, with
//! stdin, and what the image's config gives the process.

use crate::harness::*;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn echo_hi_from_a_registry_and_from_an_archive_leaves_nothing() {
    let mut w = World::new();
    let from_registry = w.registry();
    let out = w.ok(&["run", "--rm", &from_registry, "echo", "hi"]);
    assert_eq!(out, "hi\n");
    w.assert_clean();
    // The pulled image stays in the store, the container does not.
    assert!(w.ok(&["ls"]).contains("127.0.0.1:5000/test/bb:1"));

    let from_archive = w.import();
    let out = w.ok(&["run", "--rm", from_archive, "echo", "hi"]);
    assert_eq!(out, "hi\n");
    w.assert_clean();
    // `berth list` saw it while it ran: the containers are the runtime's own.
    let out = w.ok(&[
        "run",
        "--rm",
        "--name",
        "listed",
        from_archive,
        "sh",
        "-c",
        "cat /proc/1/cgroup >/dev/null; echo ok",
    ]);
    assert_eq!(out, "ok\n");
}

#[test]
fn the_image_config_drives_the_process() {
    let w = World::new();
    let image = w.import();
    // Cmd /bin/sh from the image, Env, HOME of the user, the default working directory.
    let out = w.ok(&[
        "run",
        "--rm",
        "-e",
        "EXTRA=1",
        image,
        "sh",
        "-c",
        "echo $FROM_IMAGE $EXTRA $HOME $(pwd) $(hostname) $(id -u)",
    ]);
    let f: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(&f[..4], &["yes", "1", "/root", "/"], "{out}");
    assert_eq!(f[4].len(), 12, "the host name is the short id: {out}");
    assert_eq!(f[5], "0");
    // -u by name, resolved in the image's passwd and group; -w; --hostname; --entrypoint.
    let out = w.ok(&[
        "run",
        "--rm",
        "-u",
        "nobody",
        "-w",
        "/tmp",
        "--hostname",
        "box",
        image,
        "sh",
        "-c",
        "echo $(id -u):$(id -g):$(id -G) $HOME $(pwd) $(hostname)",
    ]);
    assert_eq!(out.trim(), "65534:65534:65534 50 /home/nobody /tmp box");
    let out = w.ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "/bin/echo",
        image,
        "from",
        "entrypoint",
    ]);
    assert_eq!(out, "from entrypoint\n");
    // --env-file, and Docker's default capabilities (CAP_NET_ADMIN is not among them).
    let env_file = w.dir.path().join("env");
    std::fs::write(&env_file, "# comment\nFROM_FILE=2\n").unwrap();
    let out = w.ok(&[
        "run",
        "--rm",
        "--env-file",
        env_file.to_str().unwrap(),
        image,
        "sh",
        "-c",
        "echo $FROM_FILE; grep CapBnd /proc/self/status",
    ]);
    assert!(out.starts_with("2\nCapBnd:\t00000000a80425fb"), "{out}");
    let out = w.ok(&[
        "run",
        "--rm",
        "--cap-add",
        "NET_ADMIN",
        "--cap-drop",
        "ALL",
        image,
        "grep",
        "CapBnd",
        "/proc/self/status",
    ]);
    assert_eq!(out.trim(), "CapBnd:\t0000000000001000");
    // Docker's seccomp profile is on by default (Seccomp: 2), and can be turned off.
    let out = w.ok(&[
        "run",
        "--rm",
        image,
        "grep",
        "^Seccomp:",
        "/proc/self/status",
    ]);
    assert_eq!(out.trim(), "Seccomp:\t2");
    let out = w.ok(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "--security-opt",
        "no-new-privileges",
        image,
        "grep",
        "-E",
        "^(Seccomp|NoNewPrivs):",
        "/proc/self/status",
    ]);
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["NoNewPrivs:", "1", "Seccomp:", "0"]
    );
    // An attached container's output is logged too; without --rm it stays, exited.
    let out = w.ok(&[
        "run",
        "--name",
        "kept",
        image,
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    assert_eq!(out, "out\n");
    let logs = w.out(&["logs", "kept"]);
    assert_eq!(String::from_utf8_lossy(&logs.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&logs.stderr), "err\n");
    assert!(w.ok(&["ps", "-a"]).contains("Exited (0)"));
    w.ok(&["rm", "kept"]);
    // Exit codes come back; a missing command is 127, as with docker.
    assert_eq!(
        w.out(&["run", "--rm", image, "sh", "-c", "exit 7"])
            .status
            .code(),
        Some(7)
    );
    let o = w.out(&["run", "--rm", image, "/no/such/command"]);
    assert_eq!(o.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/no/such/command"));
    w.assert_clean();
}

#[test]
fn stdin_is_attached_with_i() {
    let w = World::new();
    let image = w.import();
    let mut child = w
        .berth(&["run", "--rm", "-i", image, "sh", "-c", "cat; echo done"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"line one\nline two\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "line one\nline two\ndone\n"
    );
    // Without -i the container's stdin is empty.
    let mut child = w
        .berth(&["run", "--rm", image, "sh", "-c", "cat; echo eof"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"ignored\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "eof\n");
    w.assert_clean();
}

/// Reads from the pty master until `want` shows up (or panics after 20 s).
fn read_until(master: &std::fs::File, want: &str, seen: &mut String) {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    while !seen.contains(want) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no {want:?} in {seen:?}"
        );
        let mut fds = [nix::poll::PollFd::new(
            master.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        if nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(200u16)).unwrap_or(0) == 0 {
            continue;
        }
        match (&*master).read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
}

#[test]
fn it_gives_a_shell_on_a_pty() {
    let w = World::new();
    let image = w.import();
    let size = nix::pty::Winsize {
        ws_row: 33,
        ws_col: 101,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&size), None).unwrap();
    let slave = std::fs::File::from(pty.slave);
    let master = std::fs::File::from(pty.master);
    let mut cmd: Command = w.berth(&["run", "--rm", "-it", image, "sh"]);
    cmd.stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave);
    let mut child = cmd.spawn().unwrap();
    let mut seen = String::new();
    read_until(&master, "# ", &mut seen);
    (&master)
        .write_all(b"tty; echo $((6*7)) $TERM; stty size; exit 3\n")
        .unwrap();
    read_until(&master, "33 101", &mut seen);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3), "{seen}");
    assert!(seen.contains("/dev/pts/0"), "{seen}");
    assert!(seen.contains("42 xterm"), "{seen}");
    assert!(
        seen.contains("33 101"),
        "the terminal's size is passed on: {seen}"
    );
    w.assert_clean();
}
