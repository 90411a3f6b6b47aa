//! Nothing is left after a failed run, after SIGKILL of `image run`, or after SIGKILL of a
//! monitor; every bad flag is named.

use crate::harness::*;
use std::time::Duration;

#[test]
fn bad_flags_are_named_and_make_nothing() {
    let w = World::new();
    let image = w.import();
    for (args, says) in [
        (vec!["--memory", "1k"], "--memory `1k`: the minimum is 6m"),
        (vec!["--memory", "lots"], "--memory `lots`"),
        (vec!["--cpus", "1000"], "--cpus `1000`: this machine has"),
        (vec!["--pids-limit", "-7"], "--pids-limit `-7`"),
        (vec!["--network", "overlay"], "--network `overlay`"),
        (vec!["-p", "70000:80"], "-p `70000:80`"),
        (
            vec!["-v", "data:relative"],
            "-v `data:relative`: the container path `relative` must be absolute",
        ),
        (
            vec!["--mount", "type=bind,src=/no/such/dir,dst=/x"],
            "--mount `type=bind,src=/no/such/dir,dst=/x`",
        ),
        (vec!["--tmpfs", "/t:mode=99x"], "--tmpfs `/t:mode=99x`"),
        (
            vec!["-u", "ghost"],
            "-u `ghost`: no user `ghost` in the image's /etc/passwd",
        ),
        (
            vec!["--cap-add", "CAP_BOGUS"],
            "--cap-add `CAP_BOGUS`: not a capability name",
        ),
        (
            vec!["--security-opt", "seccomp=/no/such.json"],
            "--security-opt `seccomp=/no/such.json`",
        ),
        (
            vec!["--security-opt", "apparmor=x"],
            "--security-opt `apparmor=x`",
        ),
        (vec!["--name", "bad/name"], "--name `bad/name`"),
        (vec!["--hostname", "-x"], "--hostname `-x`"),
        (vec!["--stop-signal", "SIGNOPE"], "--stop-signal `SIGNOPE`"),
        (vec!["-e", "=x"], "-e `=x`"),
        (
            vec!["--env-file", "/no/such/file"],
            "--env-file `/no/such/file`",
        ),
        (vec!["-w", "relative"], "-w `relative`"),
    ] {
        let mut a = vec!["run", "--rm"];
        a.extend(args.iter().copied());
        a.extend([image, "true"]);
        let o = w.out(&a);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(125), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: expected {says:?} in {err:?}");
    }
    // An image that is nowhere: the pull's error.
    let o = w.out(&["run", "--rm", "127.0.0.1:1/none/such:1", "true"]);
    assert_eq!(o.status.code(), Some(125));
    // A name in use.
    w.ok(&["run", "-d", "--name", "taken", image, "sleep", "100"]);
    let o = w.out(&["run", "--rm", "--name", "taken", image, "true"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("the name `taken` is in use"));
    w.ok(&["rm", "-f", "taken"]);
    w.assert_clean();
}

#[test]
fn a_failed_start_leaves_nothing_even_without_rm() {
    let w = World::new();
    let image = w.import();
    let o = w.out(&[
        "run",
        "-p",
        "8080:80",
        "-v",
        "/anon",
        image,
        "/no/such/command",
    ]);
    assert_eq!(o.status.code(), Some(127));
    w.assert_clean();
    assert_eq!(
        w.ok(&["volume", "ls", "-q"]),
        "",
        "the anonymous volume went too"
    );
    let o = w.out(&["run", "-d", image, "/no/such/command"]);
    assert_eq!(o.status.code(), Some(127));
    w.assert_clean();
}

#[test]
fn sigkill_of_the_run_or_of_the_monitor_leaves_nothing() {
    let w = World::new();
    let image = w.import();
    // A foreground `image run` killed with SIGKILL: its monitor kills the container and,
    // with --rm, removes everything.
    let mut child = w
        .berth(&["run", "--rm", "--name", "fg", image, "sleep", "1000"])
        .spawn()
        .unwrap();
    wait_for("the container to run", Duration::from_secs(10), || {
        w.ok(&["ps"]).contains(" fg")
    });
    child.kill().unwrap();
    child.wait().unwrap();
    wait_for("the monitor to clean up", Duration::from_secs(10), || {
        w.records().is_empty()
    });
    w.assert_clean();

    // Without --rm the container stays, exited, with its address released.
    let mut child = w
        .berth(&["run", "--name", "kept", image, "sleep", "1000"])
        .spawn()
        .unwrap();
    wait_for("the container to run", Duration::from_secs(10), || {
        w.ok(&["ps"]).contains(" kept")
    });
    child.kill().unwrap();
    child.wait().unwrap();
    wait_for("the exit to be recorded", Duration::from_secs(10), || {
        w.ok(&["ps", "-a"]).contains("Exited (137)")
    });
    w.ok(&["rm", "kept"]);
    w.assert_clean();

    // A monitor killed with SIGKILL: the container runs on without it; stop and rm still
    // work, and the next command finishes what the monitor would have done.
    w.ok(&[
        "run", "-d", "--rm", "--name", "orphan", image, "sleep", "1000",
    ]);
    let rows: serde_json::Value = serde_json::from_str(&w.ok(&["ps", "--format", "json"])).unwrap();
    let id = rows[0]["Id"].as_str().unwrap().to_string();
    let record: serde_json::Value = serde_json::from_slice(
        &std::fs::read(w.store.join("containers").join(&id).join("record.json")).unwrap(),
    )
    .unwrap();
    let monitor = record["monitor"]["pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor),
        nix::sys::signal::SIGKILL,
    )
    .unwrap();
    wait_for("the monitor to die", Duration::from_secs(5), || {
        std::fs::read_to_string(format!("/proc/{monitor}/stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true)
    });
    assert!(w.ok(&["ps"]).contains("(no monitor)"));
    w.ok(&["stop", "-t", "1", "orphan"]);
    w.assert_clean();
}
