//! `events`: one stats object with `--stats`, a stream of them at `--interval`.

use serde_json::{json, Value};

use super::enforcement::{next_event, stream_events};
use super::util::{is_berth, text, wait_for, Ctx};

const MIB: u64 = 1 << 20;

#[test]
fn events_stats_prints_one_stats_object() {
    let mut c = Ctx::new();
    c.sh("sleep 1000 & exec sleep 1000");
    c.resource("memory", json!({"limit": 64 * MIB}));
    c.resource("pids", json!({"limit": 20}));
    let (id, _) = c.start();
    wait_for(10, "two processes", || {
        let ps: Vec<i32> = serde_json::from_str(&c.rt_ok(&["ps", "--format", "json", &id])).ok()?;
        (ps.len() == 2).then_some(())
    });
    let out = c.rt_ok(&["events", "--stats", &id]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    let v: Value = serde_json::from_str(lines[0]).expect("JSON");
    assert_eq!(v["type"], "stats");
    assert_eq!(v["id"], id.as_str());
    let d = &v["data"];
    for section in ["cpu", "memory", "pids"] {
        assert!(d[section].is_object(), "no {section} section: {v}");
    }
    assert_eq!(d["pids"]["current"], 2, "{v}");
    assert_eq!(d["pids"]["limit"], 20, "{v}");
    assert_eq!(d["memory"]["usage"]["limit"], 64 * MIB, "{v}");
    assert!(
        d["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0,
        "{v}"
    );
    assert!(d["cpu"]["usage"].is_object(), "{v}");
}

#[test]
fn events_streams_stats_until_the_container_is_gone() {
    let mut c = Ctx::new();
    c.sh("exec sleep 1000");
    let (id, _) = c.start();
    let (mut events, rx) = stream_events(&c, &id);
    for _ in 0..3 {
        let v = next_event(&rx, "stats", 10);
        assert_eq!(v["id"], id.as_str());
        assert!(v["data"]["pids"].is_object(), "{v}");
    }
    c.rt_ok(&["delete", "--force", &id]);
    if is_berth() {
        let status = wait_for(10, "events to exit after delete", || {
            events.0.try_wait().unwrap()
        });
        assert!(status.success(), "events: {status}");
    }
}

#[test]
fn events_of_a_stopped_container_fails() {
    let mut c = Ctx::new();
    c.sh("exit 0");
    let (id, _) = c.start();
    c.wait_stopped(&id);
    let out = c.rt(&["events", "--stats", &id]);
    assert!(
        !out.status.success(),
        "events of a stopped container: {}",
        text(&out.stdout)
    );
}
