//! The process: args, env, cwd, user, rlimits, capabilities, no_new_privs, oom score, fds.

use serde_json::json;

use super::harness::{text, Ctx};

#[test]
fn env_cwd_and_args() {
    let mut c = Ctx::new();
    c.config["process"]["env"] = json!(["PATH=/bin", "FOO=bar baz"]);
    c.config["process"]["cwd"] = json!("/tmp");
    c.sh("echo \"$FOO\"; pwd; echo \"$0\"");
    assert_eq!(c.run_ok(), "bar baz\n/tmp\nsh\n");
}

#[test]
fn user_group_and_additional_gids() {
    let mut c = Ctx::new();
    c.config["process"]["user"] =
        json!({"uid": 1234, "gid": 2345, "additionalGids": [3456, 4567], "umask": 63});
    c.sh("id -u; id -g; id -G; umask");
    let out = c.run_ok();
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], "1234");
    assert_eq!(l[1], "2345");
    assert_eq!(l[2], "2345 3456 4567");
    assert_eq!(l[3], "0077");
}

fn status_field(out: &str, field: &str) -> String {
    out.lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_default()
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

#[test]
fn capabilities_all_five_sets() {
    let mut c = Ctx::new();
    c.config["process"]["capabilities"] = json!({
        "bounding": ["CAP_KILL", "CAP_CHOWN", "CAP_NET_RAW"],
        "effective": ["CAP_KILL", "CAP_CHOWN"],
        "permitted": ["CAP_KILL", "CAP_CHOWN"],
        "inheritable": ["CAP_KILL"],
        "ambient": ["CAP_KILL"]
    });
    c.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    c.sh("grep Cap /proc/self/status");
    let out = c.run_ok();
    // CAP_CHOWN = bit 0, CAP_KILL = bit 5, CAP_NET_RAW = bit 13.
    assert_eq!(status_field(&out, "CapBnd"), "0000000000002021");
    assert_eq!(status_field(&out, "CapInh"), "0000000000000020");
    assert_eq!(status_field(&out, "CapAmb"), "0000000000000020");
    // A non-root process keeps, across exec, only its ambient capabilities.
    assert_eq!(status_field(&out, "CapPrm"), "0000000000000020");
    assert_eq!(status_field(&out, "CapEff"), "0000000000000020");
}

#[test]
fn root_process_capabilities() {
    let mut c = Ctx::new();
    c.sh("grep Cap /proc/self/status");
    let out = c.run_ok();
    // AUDIT_WRITE (29), KILL (5), NET_BIND_SERVICE (10)
    assert_eq!(status_field(&out, "CapEff"), "0000000020000420");
    assert_eq!(status_field(&out, "CapBnd"), "0000000020000420");
}

/// A capability the runtime itself lacks. The bounding set is per thread: the runtime is
/// started from a thread that has dropped CAP_SYS_RESOURCE (this machine's bounding set
/// lacks it anyway), so the case is real on any host. runc 1.1 silently starts the process
/// without the capability; berth refuses.
#[test]
fn berth_only_capability_beyond_the_bounding_set_is_an_error() {
    let mut c = Ctx::new();
    c.config["process"]["capabilities"]["bounding"] = json!(["CAP_SYS_RESOURCE"]);
    c.write_config();
    let id = c.id();
    let cmd = c.cmd(&["run", "--bundle", c.bundle.to_str().unwrap(), &id]);
    const CAP_SYS_RESOURCE: libc::c_ulong = 24;
    let out = std::thread::spawn(move || {
        // SAFETY: prctl with integer arguments; it changes only this thread's bounding set.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, CAP_SYS_RESOURCE, 0, 0, 0) };
        assert_eq!(
            rc,
            0,
            "PR_CAPBSET_DROP: {}",
            std::io::Error::last_os_error()
        );
        let bnd = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        let have = u64::from_str_radix(&status_field(&bnd, "CapBnd"), 16).unwrap();
        assert_eq!(have & (1 << CAP_SYS_RESOURCE), 0);
        super::harness::capture(cmd)
    })
    .join()
    .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("CAP_SYS_RESOURCE"),
        "{}",
        text(&out.stderr)
    );
    assert!(!c.root.join(id).exists());
}

/// The container's program starts with every signal at its default and none blocked, whatever
/// its runtime's caller ignored. Rust's SIGPIPE and glibc's internal signals (32, 33: ignored
/// in a child of Rust's `Command`, i.e. of posix_spawn) were ignored in berth's helper and
/// stayed ignored across execve. runc 1.1.5 resets what Go handles (SIGPIPE) but passes on
/// what its caller ignored: under this harness its container has signal 32 ignored.
#[test]
fn berth_only_signals_start_at_their_defaults() {
    let mut c = Ctx::new();
    c.config["process"]["args"] = json!(["cat", "/proc/self/status"]);
    let out = c.run_ok();
    assert_eq!(status_field(&out, "SigIgn:"), "0000000000000000", "{out}");
    assert_eq!(status_field(&out, "SigBlk:"), "0000000000000000", "{out}");
}

/// The same for an exec'd process, whose helper resets its signals before the job arrives
/// (the process then has nothing left to reset), here with SIGINT ignored by exec's caller.
#[test]
fn berth_only_exec_signals_start_at_their_defaults() {
    let mut c = Ctx::new();
    let id = c.running();
    let mut cmd = c.cmd(&["exec", &id, "cat", "/proc/self/status"]);
    // SAFETY: signal(2) between fork and exec, async-signal-safe.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            Ok(())
        });
    }
    let out = super::harness::capture(cmd);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = text(&out.stdout);
    assert_eq!(status_field(&out, "SigIgn:"), "0000000000000000", "{out}");
    assert_eq!(status_field(&out, "SigBlk:"), "0000000000000000", "{out}");
}

#[test]
fn no_new_privileges() {
    let mut c = Ctx::new();
    c.sh("grep NoNewPrivs /proc/self/status");
    assert_eq!(status_field(&c.run_ok(), "NoNewPrivs"), "1");
    c.config["process"]["noNewPrivileges"] = json!(false);
    c.sh("grep NoNewPrivs /proc/self/status");
    assert_eq!(status_field(&c.run_ok(), "NoNewPrivs"), "0");
}

#[test]
fn rlimits_and_oom_score_adj() {
    let mut c = Ctx::new();
    c.config["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654}, {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]);
    c.config["process"]["oomScoreAdj"] = json!(123);
    c.sh("ulimit -n; ulimit -H -n; ulimit -c; cat /proc/self/oom_score_adj");
    assert_eq!(c.run_ok(), "321\n654\n0\n123\n");
}

#[test]
fn caller_fds_do_not_leak_but_preserved_ones_do() {
    let mut c = Ctx::new();
    c.sh("ls /proc/self/fd | sort -n | tr '\\n' ' '");
    c.write_config();
    let id = c.id();
    let mut cmd = c.cmd(&["run", "--bundle", c.bundle.to_str().unwrap(), &id]);
    Ctx::with_fd(&mut cmd, std::fs::File::open("/etc/hostname").unwrap(), 7);
    let out = super::harness::capture(cmd);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // ls itself has its directory open as fd 3.
    assert_eq!(text(&out.stdout).trim(), "0 1 2 3");

    let id = c.id();
    let mut cmd = c.cmd(&[
        "run",
        "--preserve-fds",
        "1",
        "--bundle",
        c.bundle.to_str().unwrap(),
        &id,
    ]);
    Ctx::with_fd(&mut cmd, std::fs::File::open("/etc/hostname").unwrap(), 3);
    c.sh("cat /proc/self/fdinfo/3 >/dev/null && echo fd3-open");
    c.write_config();
    let out = super::harness::capture(cmd);
    assert_eq!(text(&out.stdout), "fd3-open\n", "{}", text(&out.stderr));
}

#[test]
fn missing_executable_fails_create() {
    let mut c = Ctx::new();
    c.args(&["/no/such/binary"]);
    c.write_config();
    let id = c.id();
    let out = c.rt(&["create", "--bundle", c.bundle.to_str().unwrap(), &id]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("/no/such/binary"),
        "{}",
        text(&out.stderr)
    );
    assert!(!c.root.join(&id).exists());
}

/// runc 1.1 predates these runtime-spec 1.2 fields.
#[test]
fn berth_only_scheduler_io_priority_affinity_and_personality() {
    let mut c = Ctx::new();
    c.config["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 7});
    c.config["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 6});
    c.config["process"]["execCPUAffinity"] = json!({"initial": "0", "final": "0"});
    c.config["linux"]["personality"] = json!({"domain": "LINUX32"});
    // /proc/self/stat: field 19 is nice, field 41 the policy (3 = SCHED_BATCH).
    c.sh("cut -d' ' -f19,41 /proc/self/stat; grep Cpus_allowed_list /proc/self/status | cut -f2; uname -m");
    assert_eq!(c.run_ok(), "7 3\n0\ni686\n");
}

/// runc 1.1 predates linux.memoryPolicy (runtime-spec 1.3).
#[test]
fn berth_only_memory_policy() {
    let mut c = Ctx::new();
    // /proc/<pid>/numa_maps shows the policy of each mapping: "bind:0".
    c.config["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "0"});
    c.sh("head -1 /proc/self/numa_maps | cut -d' ' -f2");
    assert_eq!(c.run_ok(), "bind:0\n");
    let mut c = Ctx::new();
    c.config["linux"]["memoryPolicy"] = json!({"mode": "MPOL_INTERLEAVE", "nodes": "0"});
    c.sh("head -1 /proc/self/numa_maps | cut -d' ' -f2");
    assert_eq!(c.run_ok(), "interleave:0\n");
    let mut c = Ctx::new();
    c.config["linux"]["memoryPolicy"] = json!({"mode": "MPOL_DEFAULT", "nodes": "0"});
    c.args(&["true"]);
    let (out, _) = c.run();
    assert!(
        text(&out.stderr).contains("linux.memoryPolicy.nodes"),
        "{}",
        text(&out.stderr)
    );
}
