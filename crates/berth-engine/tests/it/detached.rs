//! `-d`, then `logs -f`, `exec`, `stop` (the stop signal, then SIGKILL after the timeout)
//! and `rm`.

use crate::harness::*;
use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

const TICKER: &str = "trap 'echo got USR1 stop signal' USR1; i=0; \
                      while true; do echo tick $i; echo err $i >&2; i=$((i+1)); sleep 0.1; done";

#[test]
fn detached_logs_exec_stop_and_rm() {
    let w = World::new();
    let image = w.import();
    let id = w.ok(&["run", "-d", "--name", "ticker", image, "sh", "-c", TICKER]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "run -d prints the id: {id}");
    // ps shows it running; berth's own list too (the default state root of the test).
    let ps = w.ok(&["ps"]);
    assert!(ps.contains("ticker") && ps.contains("Up "), "{ps}");
    assert!(w.ok(&["ps", "-q"]).contains(&id[..12]));
    let state = run_ok(
        std::process::Command::new(berth_bin())
            .arg("--root")
            .arg(&w.root)
            .args(["state", id]),
    );
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert_eq!(state["status"], "running", "{state}");
    assert!(state["bundle"]
        .as_str()
        .unwrap()
        .ends_with(&format!("containers/{id}/bundle")));

    // logs -f follows until the container exits.
    let mut follow = w
        .berth(&["logs", "-f", "ticker"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("output in the log", Duration::from_secs(10), || {
        w.ok(&["logs", "ticker"]).contains("tick 3")
    });
    // The last two lines, whatever their streams.
    let tail = w.out(&["logs", "--tail", "2", "ticker"]);
    let lines = tail
        .stdout
        .iter()
        .chain(&tail.stderr)
        .filter(|b| **b == b'\n')
        .count();
    assert_eq!(lines, 2, "{tail:?}");

    // exec: the container's environment and user, then -u, -e, -w; exit codes come back.
    let out = w.ok(&[
        "exec",
        "ticker",
        "sh",
        "-c",
        "echo $FROM_IMAGE $(id -u) $(cat /etc/hostname)",
    ]);
    assert_eq!(out.trim(), format!("yes 0 {}", &id[..12]));
    let out = w.ok(&[
        "exec",
        "-u",
        "nobody",
        "-e",
        "X=1",
        "-w",
        "/tmp",
        "ticker",
        "sh",
        "-c",
        "echo $(id -un) $X $(pwd)",
    ]);
    assert_eq!(out.trim(), "nobody 1 /tmp");
    assert_eq!(
        w.out(&["exec", "ticker", "sh", "-c", "exit 4"])
            .status
            .code(),
        Some(4)
    );
    let o = w.out(&["exec", "-u", "nosuchuser", "ticker", "true"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("-u `nosuchuser`"));

    // stop: SIGUSR1 (the image's StopSignal) is trapped and ignored, so SIGKILL follows
    // after the 2 s timeout.
    let start = Instant::now();
    w.ok(&["stop", "-t", "2", "ticker"]);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(9),
        "stop took {took:?}"
    );
    let ps = w.ok(&["ps", "-a"]);
    assert!(ps.contains("Exited (137)"), "{ps}");
    assert!(!w.ok(&["ps"]).contains("ticker"));
    // logs -f has ended by itself, with everything the container wrote on both streams.
    let mut out = String::new();
    follow
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    follow
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(follow.wait().unwrap().success());
    assert!(
        out.contains("tick 0\n") && out.contains("got USR1 stop signal"),
        "{out}"
    );
    assert!(err.contains("err 0\n") && !err.contains("tick"), "{err}");
    assert!(w.ok(&["logs", "ticker"]).contains("got USR1"));
    // exec in a stopped container is refused, naming it.
    let o = w.out(&["exec", "ticker", "true"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("ticker: is not running"));

    w.ok(&["rm", "ticker"]);
    assert!(w.out(&["logs", "ticker"]).status.code() != Some(0));
    w.assert_clean();
}

#[test]
fn a_stop_signal_that_ends_the_container_needs_no_kill() {
    let w = World::new();
    let image = w.import();
    w.ok(&[
        "run",
        "-d",
        "--rm",
        "--name",
        "polite",
        "--stop-signal",
        "TERM",
        image,
        "sh",
        "-c",
        "trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done",
    ]);
    // Following a --rm container's log gets its last words, though the log goes with it.
    let follow = w
        .berth(&["logs", "-f", "polite"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    w.ok(&["stop", "polite"]);
    assert!(start.elapsed() < Duration::from_secs(5));
    // --rm: stop returns once the container is gone.
    w.assert_clean();
    let out = follow.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "bye\n");
    // rm -f of a running one; rm of a running one without -f is refused.
    w.ok(&["run", "-d", "--name", "busy", image, "sleep", "1000"]);
    let o = w.out(&["rm", "busy"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("busy: is running"));
    w.ok(&["rm", "-f", "busy"]);
    w.assert_clean();
}
