//! The OCI lifecycle: create → start → kill → delete, as runtime.md describes it.

use super::harness::{text, timeout, Ctx};

#[test]
fn run_returns_the_container_exit_status() {
    let mut c = Ctx::new();
    c.sh("echo out; echo err >&2; exit 3");
    let (out, _) = c.run();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(text(&out.stdout), "out\n");
    assert!(text(&out.stderr).contains("err"));
}

/// A foreground `run` whose stdin is a pipe already closed (a script's `: | runtime run`)
/// sleeps until the container exits: a closed pipe polls as hung up whatever events are
/// asked, so a wait loop that keeps it in its poll set spins for the container's lifetime.
#[test]
fn a_foreground_run_does_not_spin_on_a_closed_stdin() {
    let quick = foreground_cpu_on_a_closed_stdin(&["true"]);
    let slept = foreground_cpu_on_a_closed_stdin(&["sleep", "3"]);
    // Setting a container up costs the same either way (a lot more in an emulated guest than
    // here); a spinning wait adds most of a CPU for the 3 s the container sleeps (still over
    // 0.6 s at a load of 8 on 2 CPUs).
    assert!(
        slept < quick + 0.3,
        "run used {slept:.3} s of CPU for a container that slept 3 s, {quick:.3} s for one that \
         did not"
    );
}

/// The CPU time (user+sys, from wait4) of a foreground `run` of `args` with a closed pipe
/// as stdin.
fn foreground_cpu_on_a_closed_stdin(args: &[&str]) -> f64 {
    let mut c = Ctx::new();
    c.args(args);
    c.write_config();
    let id = c.id();
    let (r, w) = nix::unistd::pipe().unwrap();
    drop(w);
    let mut cmd = c.cmd(&["run", "--bundle", c.bundle.to_str().unwrap(), &id]);
    cmd.stdin(std::fs::File::from(r))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // Reaped below by wait4, which also gives its CPU time.
    #[allow(clippy::zombie_processes)]
    let pid = cmd.spawn().unwrap().id() as i32;
    let deadline = std::time::Instant::now() + timeout();
    // SAFETY: rusage is plain data, filled in by wait4.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let mut status = 0;
    loop {
        // SAFETY: wait4 on our own child with valid pointers to a status and a rusage.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        assert!(r >= 0, "wait4: {}", std::io::Error::last_os_error());
        if r == pid {
            break;
        }
        if std::time::Instant::now() > deadline {
            // SAFETY: kill and reap our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("run did not finish within {:?}", timeout());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(ru.ru_utime) + secs(ru.ru_stime)
}

#[test]
fn run_removes_the_container_afterwards() {
    let mut c = Ctx::new();
    c.args(&["true"]);
    let (out, id) = c.run();
    assert!(out.status.success());
    let st = c.rt(&["state", &id]);
    assert!(!st.status.success());
    assert!(
        text(&st.stderr).contains("does not exist"),
        "{}",
        text(&st.stderr)
    );
}

#[test]
fn create_start_kill_delete() {
    let mut c = Ctx::new();
    c.args(&["sleep", "1000"]);
    c.write_config();
    let id = c.id();
    let pidfile = c.dir.path().join("init.pid");
    let out = c.rt(&[
        "create",
        "--bundle",
        c.bundle.to_str().unwrap(),
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The pid file exists when create returns and names the init.
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let st = c.state(&id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["pid"], pid);
    assert_eq!(st["id"], id.as_str());
    assert_eq!(st["bundle"], c.bundle.to_str().unwrap());
    // The process has not been exec'd yet: it is still the runtime.
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(!text(&cmdline).contains("sleep"));

    assert!(c.rt(&["start", &id]).status.success());
    assert_eq!(c.state(&id)["status"], "running");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(text(&cmdline).starts_with("sleep"));

    let again = c.rt(&["start", &id]);
    assert!(
        !again.status.success(),
        "a running container must not start twice"
    );

    let del = c.rt(&["delete", &id]);
    assert!(
        !del.status.success(),
        "delete of a running container needs --force"
    );
    assert_eq!(c.state(&id)["status"], "running");

    assert!(c.rt(&["kill", &id, "KILL"]).status.success());
    c.wait_stopped(&id);
    let st = c.state(&id);
    assert_eq!(st["pid"], 0, "pid is 0 once stopped");

    let k = c.rt(&["kill", &id, "TERM"]);
    assert!(!k.status.success());
    assert!(
        text(&k.stderr).contains("container not running"),
        "{}",
        text(&k.stderr)
    );

    assert!(c.rt(&["delete", &id]).status.success());
    let st = c.rt(&["state", &id]);
    assert!(text(&st.stderr).contains("does not exist"));
    assert!(!c.root.join(&id).exists(), "state dir removed");
}

#[test]
fn signals_by_name_and_number() {
    let mut c = Ctx::new();
    c.args(&["sleep", "1000"]);
    let id = c.create();
    assert!(c.rt(&["start", &id]).status.success());
    let bad = c.rt(&["kill", &id, "NOSUCHSIG"]);
    assert!(!bad.status.success());
    assert!(c.rt(&["kill", &id, "9"]).status.success());
    c.wait_stopped(&id);
}

#[test]
fn delete_force_kills_a_running_container() {
    let mut c = Ctx::new();
    c.args(&["sleep", "1000"]);
    let id = c.create();
    assert!(c.rt(&["start", &id]).status.success());
    let pid = c.state(&id)["pid"].as_i64().unwrap();
    assert!(c.rt(&["delete", "--force", &id]).status.success());
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}/cmdline")).exists()
            || std::fs::read(format!("/proc/{pid}/cmdline"))
                .unwrap()
                .is_empty()
    );
}

#[test]
fn delete_of_a_created_container() {
    let mut c = Ctx::new();
    c.args(&["true"]);
    let id = c.create();
    let pid = c.state(&id)["pid"].as_i64().unwrap() as i32;
    let start = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let d = c.rt(&["delete", "--force", &id]);
    assert!(d.status.success(), "{}", text(&d.stderr));
    assert!(!c.root.join(&id).exists());
    // The waiting init is gone (or a zombie awaiting its reaper), never left running.
    if let Ok(now) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        let same = now.split(") ").nth(1).map(|r| r.split(' ').nth(19))
            == start.split(") ").nth(1).map(|r| r.split(' ').nth(19));
        let zombie = now.split(") ").nth(1).is_some_and(|r| r.starts_with('Z'));
        assert!(
            !same || zombie,
            "the init of a deleted container still runs"
        );
    }
}

#[test]
fn list_shows_containers() {
    let mut c = Ctx::new();
    c.args(&["sleep", "1000"]);
    let id = c.create();
    let out = c.rt(&["list", "--format", "json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let entry = v
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id.as_str())
        .expect("listed");
    assert_eq!(entry["status"], "created");
    let q = text(&c.rt(&["list", "-q"]).stdout);
    assert!(q.lines().any(|l| l == id));
}

#[test]
fn detached_run() {
    let mut c = Ctx::new();
    c.args(&["sleep", "1000"]);
    c.write_config();
    let id = c.id();
    let pidfile = c.dir.path().join("p");
    let out = c.rt(&[
        "run",
        "-d",
        "--bundle",
        c.bundle.to_str().unwrap(),
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(c.state(&id)["status"], "running");
    assert!(pidfile.exists());
}

#[test]
fn missing_container_errors() {
    let c = Ctx::new();
    for args in [
        vec!["state", "nosuch"],
        vec!["start", "nosuch"],
        vec!["kill", "nosuch"],
        vec!["delete", "nosuch"],
    ] {
        let out = c.rt(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            text(&out.stderr).contains("does not exist"),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}
