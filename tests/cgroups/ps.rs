//! `ps`: the container's processes, as host pids (JSON) or filtered `ps` output (table).

use super::util::{text, wait_for, Ctx};

/// A running container with its init and one exec'd process; returns (id, init, exec'd).
fn two_processes(c: &mut Ctx) -> (String, i32, i32) {
    c.sh("exec sleep 1000");
    let (id, init) = c.start();
    c.rt_ok(&["exec", "--detach", &id, "sleep", "999"]);
    let pids = wait_for(10, "the exec'd process in ps", || {
        let ps: Vec<i32> = serde_json::from_str(&c.rt_ok(&["ps", "--format", "json", &id])).ok()?;
        (ps.len() == 2).then_some(ps)
    });
    assert!(pids.contains(&init), "{pids:?} lacks the init {init}");
    let other = *pids.iter().find(|p| **p != init).unwrap();
    // runc 1.1.5's `exec --detach` may return while its process is still `runc init`,
    // before the execve (4 in 40 here); berth returns after it (runtime::exec pins that).
    wait_for(10, "the exec'd process to run sleep", || {
        cmdline(other).contains("sleep 999").then_some(())
    });
    (id, init, other)
}

fn cmdline(pid: i32) -> String {
    text(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default()).replace('\0', " ")
}

#[test]
fn ps_json_lists_the_init_and_an_exec_process_by_host_pid() {
    let mut c = Ctx::new();
    let (_, init, other) = two_processes(&mut c);
    assert!(cmdline(init).contains("sleep 1000"), "{}", cmdline(init));
    assert!(cmdline(other).contains("sleep 999"), "{}", cmdline(other));
}

#[test]
fn ps_table_shows_only_the_container_processes() {
    let mut c = Ctx::new();
    let (id, init, other) = two_processes(&mut c);
    let out = c.rt_ok(&["ps", &id]);
    let mut lines = out.lines();
    let header = lines.next().expect("a header");
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .unwrap_or_else(|| panic!("no PID column: {header}"));
    let mut shown: Vec<i32> = lines
        .map(|l| l.split_whitespace().nth(col).unwrap().parse().unwrap())
        .collect();
    shown.sort();
    let mut want = vec![init, other];
    want.sort();
    assert_eq!(shown, want, "{out}");

    // Extra arguments go to ps(1).
    let out = c.rt_ok(&["ps", &id, "-o", "pid,args"]);
    assert!(out.lines().next().unwrap().contains("PID"), "{out}");
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(out.contains("sleep 999"), "{out}");
}

#[test]
fn ps_of_a_stopped_container_is_empty() {
    let mut c = Ctx::new();
    c.sh("exit 0");
    let (id, _) = c.start();
    c.wait_stopped(&id);
    let out = c.rt_ok(&["ps", "--format", "json", &id]);
    // `[]` (or `null`, as runc prints for none); anything else is wrong.
    let pids: Option<Vec<i32>> = serde_json::from_str(out.trim()).expect("ps prints JSON");
    assert!(pids.unwrap_or_default().is_empty(), "{out}");
}

#[test]
fn ps_with_arguments_ps_rejects_fails() {
    let mut c = Ctx::new();
    c.sh("exec sleep 1000");
    let (id, _) = c.start();
    let out = c.rt(&["ps", &id, "--no-such-ps-option"]);
    assert!(
        !out.status.success(),
        "ps with a bad option: {}",
        text(&out.stdout)
    );
}
