//! The kernel enforces the limits berth writes: a memory hog is OOM-killed (and `events`
//! says so), forks past `pids.max` fail.

use std::io::BufRead;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

use super::util::{in_container, is_v2, wait_for, Ctx, KillOnDrop};

const MIB: u64 = 1 << 20;

/// Streams `events --interval 100ms ID`; each parsed line arrives on the channel.
pub fn stream_events(c: &Ctx, id: &str) -> (KillOnDrop, mpsc::Receiver<Value>) {
    let mut cmd = c.cmd(&["events", "--interval", "100ms", id]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn events");
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("events line is not JSON ({e}): {line}"));
            if tx.send(v).is_err() {
                break;
            }
        }
    });
    (KillOnDrop(child), rx)
}

/// Receives events until one of `kind` arrives, or panics after `secs` seconds.
pub fn next_event(rx: &mpsc::Receiver<Value>, kind: &str, secs: u64) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(v) if v["type"] == kind => return v,
            Ok(_) => {}
            Err(e) => panic!("no {kind} event within {secs}s: {e}"),
        }
    }
}

#[test]
fn memory_hog_is_oom_killed_and_events_reports_it() {
    let mut c = Ctx::new();
    // With swap active, no escape to it: memory+swap equal to the limit (v2: swap.max 0).
    let swap_active = std::fs::read_to_string("/proc/swaps")
        .map(|s| s.lines().count() > 1)
        .unwrap_or(false);
    let mut mem = json!({"limit": 32 * MIB});
    if swap_active {
        mem["swap"] = json!(32 * MIB);
    }
    c.resource("memory", mem);
    // The hog: dd with a 100 MB buffer it fills at once. (A shell growing a string made the
    // cgroup thrash on its own text pages for minutes on a loaded host before the OOM kill.)
    c.script(
        "hog.sh",
        "exec dd if=/dev/zero of=/dev/null bs=100M count=1",
    );
    c.sh("while [ ! -e /tmp/go ]; do sleep 0.05; done; \
          sh /hog.sh > /tmp/out 2>&1; echo $? > /tmp/rc; exec sleep 1000");
    let (id, pid) = c.start();

    let (_events, rx) = stream_events(&c, &id);
    // A stats event means the OOM watcher is registered.
    let stats = next_event(&rx, "stats", 20);
    assert_eq!(stats["id"], id.as_str());
    std::fs::write(in_container(pid, "/tmp/go"), "").unwrap();

    // The shell creates /tmp/rc before it writes the status: wait for the content.
    let rc = wait_for(60, "the hog to end", || {
        std::fs::read_to_string(in_container(pid, "/tmp/rc"))
            .ok()
            .filter(|s| s.ends_with('\n'))
    });
    let hog_out = std::fs::read_to_string(in_container(pid, "/tmp/out")).unwrap_or_default();
    assert_eq!(
        rc.trim(),
        "137",
        "the hog was SIGKILLed; its output: {hog_out}"
    );
    let oom = next_event(&rx, "oom", 20);
    assert_eq!(oom["id"], id.as_str());

    let cg = c.cgroup();
    let kills = if is_v2() {
        cg.key("memory", "memory.events", "oom_kill")
    } else {
        cg.key("memory", "memory.oom_control", "oom_kill")
    };
    assert!(kills.unwrap_or(0) >= 1, "oom_kill counter: {kills:?}");
    // The container itself survives: its init was not the victim.
    assert_eq!(c.status(&id), "running");
}

#[test]
fn forks_past_pids_max_fail() {
    let mut c = Ctx::new();
    c.resource("pids", json!({"limit": 8}));
    c.script(
        "forker.sh",
        "for i in $(seq 1 20); do sleep 1000 & done; echo all forked",
    );
    c.sh("sh /forker.sh > /tmp/out 2> /tmp/err; echo $? > /tmp/rc; exec sleep 1000");
    let (id, pid) = c.start();
    let rc = wait_for(20, "the forker to end", || {
        std::fs::read_to_string(in_container(pid, "/tmp/rc"))
            .ok()
            .filter(|s| s.ends_with('\n'))
    });
    let out = std::fs::read_to_string(in_container(pid, "/tmp/out")).unwrap();
    let err = std::fs::read_to_string(in_container(pid, "/tmp/err")).unwrap();
    assert_ne!(rc.trim(), "0", "the forker failed; out: {out} err: {err}");
    assert!(!out.contains("all forked"), "{out}");
    assert!(err.contains("fork"), "fork failure reported: {err}");

    let cg = c.cgroup();
    let current: u64 = cg.read("pids", "pids.current").parse().unwrap();
    assert!(current <= 8, "pids.current {current}");
    if cg.has("pids", "pids.events") {
        let max = cg.key("pids", "pids.events", "max").unwrap_or(0);
        assert!(max >= 1, "pids.events max {max}");
    }
    assert_eq!(c.status(&id), "running");
}
