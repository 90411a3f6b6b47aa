//! `pause` freezes every process of the container, `resume` lets them go on; a paused
//! container can still be killed and deleted.

use std::time::Duration;

use super::util::{in_container, is_v2, text, wait_for, Ctx};

/// A container whose init bumps a counter in /tmp/c every 50 ms.
fn counting(c: &mut Ctx) -> (String, i32) {
    c.sh("i=0; while :; do i=$((i+1)); echo $i > /tmp/c; sleep 0.05; done");
    let (id, pid) = c.start();
    wait_for(10, "the counter to run", || counter(pid).filter(|n| *n > 2));
    (id, pid)
}

fn counter(pid: i32) -> Option<u64> {
    std::fs::read_to_string(in_container(pid, "/tmp/c"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn raw_counter(pid: i32) -> String {
    std::fs::read_to_string(in_container(pid, "/tmp/c")).unwrap_or_default()
}

fn assert_frozen(c: &Ctx, frozen: bool) {
    let cg = c.cgroup();
    if is_v2() {
        assert_eq!(cg.key("", "cgroup.events", "frozen"), Some(frozen as u64));
    } else {
        let want = if frozen { "FROZEN" } else { "THAWED" };
        assert_eq!(cg.read("freezer", "freezer.state"), want);
    }
}

#[test]
fn pause_freezes_and_resume_continues() {
    let mut c = Ctx::new();
    let (id, pid) = counting(&mut c);
    c.rt_ok(&["pause", &id]);
    assert_eq!(c.status(&id), "paused");
    assert_frozen(&c, true);
    let before = raw_counter(pid);
    // Proving that nothing happens takes a fixed wait: six counter periods.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(raw_counter(pid), before, "the counter moved while paused");

    c.rt_ok(&["resume", &id]);
    assert_eq!(c.status(&id), "running");
    assert_frozen(&c, false);
    let n: u64 = before.trim().parse().unwrap_or(0);
    wait_for(10, "the counter to move after resume", || {
        counter(pid).filter(|m| *m > n)
    });
}

#[test]
fn pause_and_resume_refuse_the_wrong_state() {
    let mut c = Ctx::new();
    let (id, _) = counting(&mut c);
    let out = c.rt(&["resume", &id]);
    assert!(
        !out.status.success(),
        "resume of a running container succeeded"
    );
    c.rt_ok(&["pause", &id]);
    let out = c.rt(&["pause", &id]);
    assert!(
        !out.status.success(),
        "pause of a paused container succeeded"
    );
    c.rt_ok(&["resume", &id]);
    c.rt_ok(&["kill", &id, "KILL"]);
    c.wait_stopped(&id);
    let out = c.rt(&["pause", &id]);
    assert!(
        !out.status.success(),
        "pause of a stopped container succeeded"
    );
    assert!(
        text(&out.stderr).contains("not running"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn kill_and_delete_of_a_paused_container_do_not_hang() {
    let mut c = Ctx::new();
    let (id, pid) = counting(&mut c);
    c.rt_ok(&["pause", &id]);
    // rt() gives up (and fails the test) after 60 s.
    c.rt_ok(&["kill", &id, "KILL"]);
    c.rt_ok(&["delete", "--force", &id]);
    c.cgroup().assert_gone();
    wait_for(10, "the init to be gone", || {
        (!std::path::Path::new(&format!("/proc/{pid}")).exists()).then_some(())
    });
}

#[test]
fn delete_force_of_a_paused_container_does_not_hang() {
    let mut c = Ctx::new();
    let (id, pid) = counting(&mut c);
    c.rt_ok(&["exec", "--detach", &id, "sleep", "999"]);
    c.rt_ok(&["pause", &id]);
    c.rt_ok(&["delete", "--force", &id]);
    c.cgroup().assert_gone();
    wait_for(10, "the init to be gone", || {
        (!std::path::Path::new(&format!("/proc/{pid}")).exists()).then_some(())
    });
}
