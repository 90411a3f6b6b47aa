//! `checkpoint` and `restore` with CRIU (issue 14), against berth and runc alike.
//!
//! CRIU does not work on every kernel: on the project's build host its vdso check fails,
//! in the qemu guests of `make test` (Debian's 6.1 kernel) it works. Each `criu_*` test
//! checks what the host calls for, as the `lsm` tests do: where `criu check` passes, the
//! real checkpoint and restore; where CRIU is installed but cannot work on this kernel,
//! that `checkpoint` fails with CRIU's reason and leaves the container running and counting.
//! Where `criu` is missing the test cannot run (a failure under `CI=true`), and with
//! `BERTH_CRIU=required` (set by `integration/criu/run.sh` in its guest) a CRIU that cannot
//! work fails every test instead of taking the refusal path.
//!
//! The containers count on stdout, a pipe the test holds (as engines give containers
//! pipes): a restored counter must go on from where it was, on the pipe given to
//! `restore`. `--nocapture` shows how long each checkpoint and restore took.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::json;

use super::harness::{self, cannot_run, is_berth, text, Ctx};

/// What `criu check` says about this host (asked once per test run).
#[derive(Clone)]
enum Criu {
    Works,
    /// Installed, but it cannot work on this kernel: why.
    KernelCannot(String),
    /// Not installed (or not runnable): why.
    Missing(String),
}

fn criu_here() -> Criu {
    static HERE: OnceLock<Criu> = OnceLock::new();
    HERE.get_or_init(|| {
        let out = match Command::new("criu").arg("check").output() {
            Ok(o) => o,
            Err(e) => {
                return Criu::Missing(format!(
                    "criu check: {e} (integration/setup.sh installs criu)"
                ))
            }
        };
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        if out.status.success() && all.contains("Looks good") {
            return Criu::Works;
        }
        let last = all
            .lines()
            .rev()
            .find(|l| l.contains("Error"))
            .unwrap_or("");
        Criu::KernelCannot(format!("criu check fails on this kernel: {}", last.trim()))
    })
    .clone()
}

fn criu_required() -> bool {
    std::env::var("BERTH_CRIU").is_ok_and(|v| v == "required")
}

/// A test's world where CRIU works. Elsewhere `None`, after checking what this host calls
/// for: the refusal (CRIU installed, the kernel not for it), or a test that cannot run.
fn ctx() -> Option<Ctx> {
    match criu_here() {
        Criu::Works => Some(Ctx::new()),
        Criu::Missing(why) => {
            cannot_run(&why);
            None
        }
        Criu::KernelCannot(why) if criu_required() => {
            panic!("BERTH_CRIU=required, but {why}")
        }
        Criu::KernelCannot(why) => {
            eprintln!("{why}: checking the refusal");
            refused_where_criu_cannot_work();
            None
        }
    }
}

/// On a kernel CRIU cannot work with, `checkpoint` fails saying what CRIU said, and the
/// container goes on running (not frozen, not killed).
fn refused_where_criu_cannot_work() {
    let mut c = Ctx::new();
    counter(&mut c, None, 0);
    let id = c.id();
    let mut p = pipes();
    run_detached(&c, &mut p, &id);
    let seen = assert_counts_on(&mut p.stdout, 0, 2);
    let images = c.dir.path().join("images");
    let out = c.rt(&["checkpoint", "--image-path", images.to_str().unwrap(), &id]);
    assert!(
        !out.status.success(),
        "checkpoint succeeded where criu check fails"
    );
    let err = text(&out.stderr);
    if is_berth() {
        assert!(err.contains("criu failed to dump"), "{err}");
        assert!(err.contains("dump.log"), "{err}");
    } else {
        assert!(err.contains("criu failed"), "{err}");
    }
    assert_eq!(c.status(&id), "running");
    let now = p.stdout.latest().unwrap_or(seen);
    assert_counts_on(&mut p.stdout, now, 2);
    c.rt_ok(&["delete", "--force", &id]);
    assert_gone(&c, &id);
}

/// A container that prints 1, 2, 3, ... on stdout, ten a second (and exits with `exit`
/// after `until`, if given).
fn counter(c: &mut Ctx, until: Option<u32>, exit: i32) {
    let cond = until.map_or(":".to_string(), |n| format!("[ $i -lt {n} ]"));
    c.sh(&format!(
        "i=0; while {cond}; do i=$((i+1)); echo $i; sleep 0.1; done; exit {exit}"
    ));
    c.write_config();
}

/// The container's stdio: pipes whose other ends the test keeps.
struct Pipes {
    /// Given to the runtime (stdin's read end, stdout's and stderr's write ends).
    theirs: Option<[OwnedFd; 3]>,
    stdin: File,
    stdout: Lines,
}

fn pipes() -> Pipes {
    let (in_r, in_w) = nix::unistd::pipe().unwrap();
    let (out_r, out_w) = nix::unistd::pipe().unwrap();
    let (_, err_w) = nix::unistd::pipe().unwrap();
    Pipes {
        theirs: Some([in_r, out_w, err_w]),
        stdin: File::from(in_w),
        stdout: Lines::new(out_r),
    }
}

/// Numbers read off a pipe, a line each.
struct Lines {
    f: File,
    pending: String,
}

impl Lines {
    fn new(fd: OwnedFd) -> Lines {
        nix::fcntl::fcntl(
            &fd,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        )
        .unwrap();
        Lines {
            f: File::from(fd),
            pending: String::new(),
        }
    }

    /// The next line within `secs`; `None` at end of file or timeout.
    fn next(&mut self, secs: u64) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(i) = self.pending.find('\n') {
                let line: String = self.pending.drain(..=i).collect();
                return Some(line.trim().to_string());
            }
            let mut buf = [0u8; 4096];
            match self.f.read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => self.pending.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return None;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("read the container's output: {e}"),
            }
        }
    }

    /// The next number printed (within `secs`).
    fn number(&mut self, secs: u64) -> Option<u64> {
        self.next(secs).map(|l| {
            l.parse()
                .unwrap_or_else(|_| panic!("the counter printed {l:?}"))
        })
    }

    /// The last number of what is there now (after a short wait for the writer): the
    /// latest the counter printed.
    fn latest(&mut self) -> Option<u64> {
        std::thread::sleep(Duration::from_millis(300));
        let mut last = None;
        while let Some(n) = self.number(0) {
            last = Some(n);
        }
        last
    }

    /// Everything up to end of file (the writers are gone): the last number.
    fn last(&mut self) -> Option<u64> {
        let mut last = None;
        while let Some(n) = self.number(harness::timeout().as_secs()) {
            last = Some(n);
        }
        last
    }
}

/// Runs the runtime with `args` and `stdio` as its stdin, stdout and stderr (its own
/// messages go to the `--log` file too); fails the test after the harness's timeout.
fn rt_with(c: &Ctx, args: &[&str], stdio: [OwnedFd; 3]) -> (ExitStatus, String) {
    let log = c.dir.path().join("runtime.log");
    let mut cmd = Command::new(harness::runtime());
    cmd.arg("--root")
        .arg(&c.root)
        .arg("--log")
        .arg(&log)
        .args(args);
    let [i, o, e] = stdio;
    cmd.stdin(i).stdout(o).stderr(e).process_group(0);
    let mut child = cmd.spawn().unwrap();
    // Our copies of the container's ends close with `cmd`: its death is then EOF.
    drop(cmd);
    let deadline = Instant::now() + harness::timeout();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = child.wait();
            panic!("{args:?} did not finish within {:?}", harness::timeout());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (status, std::fs::read_to_string(&log).unwrap_or_default())
}

/// `run -d` of the current config with `p`'s pipes.
fn run_detached(c: &Ctx, p: &mut Pipes, id: &str) {
    let (st, log) = rt_with(
        c,
        &["run", "-d", "--bundle", c.bundle.to_str().unwrap(), id],
        p.theirs.take().unwrap(),
    );
    assert!(st.success(), "run -d {id}: {st}: {log}");
}

/// The size of the files under `dir`, in KiB.
fn kib(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let m = e.metadata().unwrap();
        total += if m.is_dir() {
            kib(&e.path()) * 1024
        } else {
            m.len()
        };
    }
    total / 1024
}

/// `checkpoint` with extra flags; returns how long it took.
fn checkpoint(c: &Ctx, id: &str, images: &Path, extra: &[&str]) -> Duration {
    let started = Instant::now();
    let mut args = vec!["checkpoint", "--image-path", images.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(id);
    let out = c.rt(&args);
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "checkpoint {id}: {}\n{}{}",
        out.status,
        text(&out.stderr),
        criu_log(images, extra, "dump.log")
    );
    took
}

/// `restore -d` of `images` as `id` with `p`'s pipes; returns how long it took.
fn restore(c: &Ctx, id: &str, images: &Path, p: &mut Pipes, extra: &[&str]) -> Duration {
    let started = Instant::now();
    let mut args = vec![
        "restore",
        "-d",
        "--image-path",
        images.to_str().unwrap(),
        "--bundle",
        c.bundle.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.push(id);
    let (st, log) = rt_with(c, &args, p.theirs.take().unwrap());
    let took = started.elapsed();
    assert!(
        st.success(),
        "restore {id}: {st}: {log}{}",
        criu_log(images, extra, "restore.log")
    );
    took
}

/// The error lines of CRIU's log `name`, for a failure message: in the `--work-path` of
/// `args` if there is one, else in the images directory `dir`.
fn criu_log(dir: &Path, args: &[&str], name: &str) -> String {
    let dir = args
        .iter()
        .position(|a| *a == "--work-path")
        .and_then(|i| args.get(i + 1))
        .map_or(dir, |w| Path::new(w));
    let t = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    let errors: Vec<&str> = t.lines().filter(|l| l.contains("Error")).collect();
    format!("\n{name}: {}", errors.join("\n"))
}

/// Checks that a deleted container left nothing: no state, no cgroup (berth's default
/// `/berth/ID`, runc's `/ID`).
fn assert_gone(c: &Ctx, id: &str) {
    let out = c.rt(&["state", id]);
    assert!(!out.status.success(), "{id} is still there");
    assert!(
        text(&out.stderr).contains("does not exist"),
        "{}",
        text(&out.stderr)
    );
    for cg in [format!("berth/{id}"), id.to_string()] {
        for d in harness::cgroup_dirs(&cg) {
            assert!(!d.exists(), "cgroup {} left", d.display());
        }
    }
}

/// Reads `n` consecutive numbers starting after `prev`.
fn assert_counts_on(lines: &mut Lines, prev: u64, n: u64) -> u64 {
    let mut last = prev;
    for _ in 0..n {
        let got = lines
            .number(harness::timeout().as_secs())
            .expect("the counter printed nothing");
        assert_eq!(got, last + 1, "the counter did not go on where it was");
        last = got;
    }
    last
}

#[test]
fn criu_a_restored_counter_goes_on_from_where_it_was() {
    let Some(mut c) = ctx() else { return };
    counter(&mut c, None, 0);
    let id = c.id();
    let mut p = pipes();
    run_detached(&c, &mut p, &id);
    assert_counts_on(&mut p.stdout, 0, 3);
    let images = c.dir.path().join("images");
    let dump = checkpoint(&c, &id, &images, &[]);
    // Checkpointed without --leave-running: the container is gone, its output ends.
    assert_gone(&c, &id);
    let last = p.stdout.last().expect("output before the checkpoint");
    let size = kib(&images);
    let mut q = pipes();
    let rest = restore(&c, &id, &images, &mut q, &[]);
    eprintln!(
        "{}: checkpoint {dump:?} ({size} KiB of images), restore {rest:?}",
        harness::runtime().display()
    );
    assert_eq!(c.status(&id), "running");
    assert_counts_on(&mut q.stdout, last, 5);
    c.rt_ok(&["delete", "--force", &id]);
    assert_gone(&c, &id);
}

#[test]
fn criu_leave_running_then_restore_under_a_new_id() {
    let Some(mut c) = ctx() else { return };
    counter(&mut c, None, 0);
    let id = c.id();
    let mut p = pipes();
    run_detached(&c, &mut p, &id);
    let seen = assert_counts_on(&mut p.stdout, 0, 2);
    let pid = c.state(&id)["pid"].clone();
    let images = c.dir.path().join("images");
    checkpoint(&c, &id, &images, &["--leave-running"]);
    // The original goes on, the same process.
    assert_eq!(c.status(&id), "running");
    assert_eq!(c.state(&id)["pid"], pid);
    let now = p.stdout.latest().expect("output after the checkpoint");
    let now = assert_counts_on(&mut p.stdout, now, 3);
    // A second container from the images: its own pid, cgroup and output, counting on from
    // where the original was at the checkpoint.
    let copy = c.id();
    let mut q = pipes();
    restore(&c, &copy, &images, &mut q, &[]);
    assert_eq!(c.status(&copy), "running");
    let copy_pid = c.state(&copy)["pid"].clone();
    assert_ne!(copy_pid, pid);
    // In a cgroup of its own, not in the original's. runc 1.1.5 on cgroup v2 restores the
    // copy into the original's cgroup (seen in the guest: `0::/ORIGINAL`), so this is
    // berth's.
    let cg = std::fs::read_to_string(format!("/proc/{copy_pid}/cgroup")).unwrap();
    eprintln!("the copy's cgroups: {}", cg.trim());
    if is_berth() {
        assert!(cg.contains(&copy) && !cg.contains(&id), "{cg}");
    }
    let first = q
        .stdout
        .number(harness::timeout().as_secs())
        .expect("output");
    assert!(
        first > seen && first <= now,
        "the copy printed {first}: not from the checkpoint (after {seen}, by {now})"
    );
    let first = assert_counts_on(&mut q.stdout, first, 3);
    assert_counts_on(&mut p.stdout, now, 3);
    if is_berth() {
        // Deleting the original leaves the copy running and counting.
        c.rt_ok(&["delete", "--force", &id]);
        assert_gone(&c, &id);
        assert_eq!(c.status(&copy), "running");
        let at = q.stdout.latest().unwrap_or(first);
        assert_counts_on(&mut q.stdout, at, 2);
        c.rt_ok(&["delete", "--force", &copy]);
        assert_gone(&c, &copy);
    } else {
        // The copy first: it is in the original's cgroup (see above).
        for i in [&copy, &id] {
            c.rt_ok(&["delete", "--force", i]);
            assert_gone(&c, i);
        }
    }
}

#[test]
fn criu_a_terminal_comes_back_over_the_console_socket() {
    let Some(mut c) = ctx() else { return };
    c.config["process"]["terminal"] = json!(true);
    c.sh("i=0; while :; do i=$((i+1)); echo n$i; if read -t 1 l; then echo got:$l; fi; done");
    c.write_config();
    let id = c.id();
    let sock = c.dir.path().join("console.sock");
    let l = UnixListener::bind(&sock).unwrap();
    let run = c.cmd(&[
        "run",
        "-d",
        "--bundle",
        c.bundle.to_str().unwrap(),
        "--console-socket",
        sock.to_str().unwrap(),
        &id,
    ]);
    let child = std::thread::spawn(move || harness::capture(run));
    let master = super::terminal::recv_master(&l);
    let out = child.join().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut master = master.expect("run succeeded but sent no pty master");
    let seen = read_until(&mut master, |t| t.contains("n2"));
    assert!(seen.contains("n2"), "{seen}");
    let images = c.dir.path().join("images");
    checkpoint(&c, &id, &images, &[]);
    assert_gone(&c, &id);
    let last = last_number(&seen);
    drop(master);
    // The restored process has a new pty (CRIU recreates it): its master arrives on the
    // console socket given to restore.
    let sock2 = c.dir.path().join("console2.sock");
    let l2 = UnixListener::bind(&sock2).unwrap();
    let images2 = images.clone();
    let (root, bundle, rt) = (c.root.clone(), c.bundle.clone(), harness::runtime());
    let id2 = id.clone();
    let child = std::thread::spawn(move || {
        let mut cmd = Command::new(rt);
        cmd.arg("--root").arg(root).args([
            "restore",
            "-d",
            "--image-path",
            images2.to_str().unwrap(),
            "--bundle",
            bundle.to_str().unwrap(),
            "--console-socket",
            sock2.to_str().unwrap(),
            &id2,
        ]);
        cmd.stdin(std::process::Stdio::null());
        harness::capture(cmd)
    });
    let master = super::terminal::recv_master(&l2);
    let out = child.join().unwrap();
    assert!(
        out.status.success(),
        "restore: {}{}",
        text(&out.stderr),
        criu_log(&images, &[], "restore.log")
    );
    let mut master = master.expect("restore succeeded but sent no pty master");
    assert_eq!(c.status(&id), "running");
    let after = read_until(&mut master, |t| t.contains(&format!("n{}", last + 2)));
    assert!(
        after.contains(&format!("n{}", last + 2)),
        "not counting on from n{last}: {after}"
    );
    master.write_all(b"hello\n").unwrap();
    let echo = read_until(&mut master, |t| t.contains("got:hello"));
    assert!(
        echo.contains("got:hello"),
        "no input through the new terminal: {echo}"
    );
    c.rt_ok(&["delete", "--force", &id]);
    assert_gone(&c, &id);
}

/// Reads the terminal until `done` holds for what was read (or the harness's timeout).
fn read_until(master: &mut File, done: impl Fn(&str) -> bool) -> String {
    let mut all = String::new();
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + harness::timeout();
    while !done(&all) {
        let mut p = libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let left = deadline.saturating_duration_since(Instant::now());
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut p, 1, left.as_millis() as libc::c_int) } <= 0 {
            break;
        }
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => all.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    all
}

/// The last `nN` a terminal showed.
fn last_number(text: &str) -> u64 {
    text.split(|ch: char| !ch.is_ascii_alphanumeric())
        .filter_map(|w| w.strip_prefix('n')?.parse().ok())
        .next_back()
        .expect("a number")
}

#[test]
fn criu_a_foreground_restore_returns_the_exit_status_and_removes_the_container() {
    let Some(mut c) = ctx() else { return };
    // It counts until a line arrives on stdin, then exits with 7: a counter that stopped by
    // itself could end during a slow checkpoint (8 s in an emulated guest on a busy host).
    c.sh("i=0; while :; do i=$((i+1)); echo $i; if read -t 0.1 l; then exit 7; fi; done");
    c.write_config();
    let id = c.id();
    let mut p = pipes();
    run_detached(&c, &mut p, &id);
    assert_counts_on(&mut p.stdout, 0, 3);
    let images = c.dir.path().join("images");
    checkpoint(&c, &id, &images, &[]);
    let last = p.stdout.last().unwrap();
    let mut q = pipes();
    let args = [
        "restore",
        "--image-path",
        images.to_str().unwrap(),
        "--bundle",
        c.bundle.to_str().unwrap(),
        &id,
    ];
    // Three numbers from the restored counter, then the line that ends it; the rest up to
    // the end of its output.
    let (mut out, mut stdin) = (q.stdout, q.stdin);
    let reader = std::thread::spawn(move || {
        let secs = harness::timeout().as_secs();
        let mut got: Vec<u64> = (0..3).map_while(|_| out.number(secs)).collect();
        let _ = stdin.write_all(b"stop\n");
        got.extend(std::iter::from_fn(|| out.number(secs)));
        got
    });
    let (st, log) = rt_with(&c, &args, q.theirs.take().unwrap());
    assert_eq!(st.code(), Some(7), "restore in the foreground: {st}: {log}");
    let got = reader.join().unwrap();
    let want: Vec<u64> = (last + 1..last + 1 + got.len() as u64).collect();
    assert!(
        got.len() >= 3 && got == want,
        "the restored counter's output after {last}: {got:?}"
    );
    assert_gone(&c, &id);
}

#[test]
fn criu_pre_dump_then_dump_on_top_of_it() {
    let Some(mut c) = ctx() else { return };
    counter(&mut c, None, 0);
    let id = c.id();
    let mut p = pipes();
    run_detached(&c, &mut p, &id);
    let seen = assert_counts_on(&mut p.stdout, 0, 2);
    let base = c.dir.path().join("checkpoints");
    checkpoint(&c, &id, &base.join("pre"), &["--pre-dump"]);
    // A pre-dump leaves the container running.
    assert_eq!(c.status(&id), "running");
    let seen = assert_counts_on(&mut p.stdout, seen, 2);
    let fin = base.join("final");
    std::fs::create_dir_all(&fin).unwrap();
    checkpoint(&c, &id, &fin, &["--parent-path", "../pre"]);
    assert_gone(&c, &id);
    let last = p.stdout.last().unwrap();
    assert!(last >= seen);
    let mut q = pipes();
    restore(&c, &id, &fin, &mut q, &[]);
    assert_counts_on(&mut q.stdout, last, 3);
    c.rt_ok(&["delete", "--force", &id]);
}

#[test]
fn criu_runc_flags_of_engines_and_scripts() {
    let Some(mut c) = ctx() else { return };
    counter(&mut c, None, 0);
    let id = c.id();
    let mut p = pipes();
    run_detached(&c, &mut p, &id);
    assert_counts_on(&mut p.stdout, 0, 2);
    let images = c.dir.path().join("images");
    let work = c.dir.path().join("work");
    // Not --shell-job: a restoring CRIU then takes its own stdin for the job's terminal, and
    // the container's stdio are pipes (runc's restore fails the same way).
    let flags = [
        "--work-path",
        work.to_str().unwrap(),
        "--tcp-established",
        "--ext-unix-sk",
        "--file-locks",
        "--manage-cgroups-mode",
        "soft",
        "--empty-ns",
        "network",
    ];
    let mut ck = flags.to_vec();
    ck.push("--auto-dedup");
    checkpoint(&c, &id, &images, &ck);
    // The log went to the work path.
    assert!(work.join("dump.log").exists());
    let last = p.stdout.last().unwrap();
    let mut q = pipes();
    let pid_file = c.dir.path().join("pid");
    let mut rs = flags.to_vec();
    rs.extend(["--pid-file", pid_file.to_str().unwrap()]);
    restore(&c, &id, &images, &mut q, &rs);
    assert!(work.join("restore.log").exists());
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert_eq!(pid.trim(), c.state(&id)["pid"].to_string());
    assert_counts_on(&mut q.stdout, last, 2);
    c.rt_ok(&["delete", "--force", &id]);
}

#[test]
fn criu_refusals_leave_things_as_they_were() {
    let Some(mut c) = ctx() else { return };
    counter(&mut c, None, 0);
    let images = c.dir.path().join("images");
    // A created container, and one that does not exist, cannot be checkpointed.
    let created = c.create();
    let out = c.rt(&[
        "checkpoint",
        "--image-path",
        images.to_str().unwrap(),
        &created,
    ]);
    assert!(!out.status.success());
    assert_eq!(c.status(&created), "created");
    let out = c.rt(&[
        "checkpoint",
        "--image-path",
        images.to_str().unwrap(),
        "nosuch",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("does not exist"),
        "{}",
        text(&out.stderr)
    );
    // A bad --manage-cgroups-mode is refused before anything is done.
    let id = c.id();
    let mut p = pipes();
    run_detached(&c, &mut p, &id);
    let out = c.rt(&[
        "checkpoint",
        "--image-path",
        images.to_str().unwrap(),
        "--manage-cgroups-mode",
        "loose",
        &id,
    ]);
    assert!(!out.status.success());
    assert_eq!(c.status(&id), "running");
    // Restoring onto an id in use, or from images that are not there, fails and leaves
    // nothing of its own.
    checkpoint(&c, &id, &images, &["--leave-running"]);
    let mut q = pipes();
    let (st, _) = rt_with(
        &c,
        &[
            "restore",
            "-d",
            "--image-path",
            images.to_str().unwrap(),
            "--bundle",
            c.bundle.to_str().unwrap(),
            &id,
        ],
        q.theirs.take().unwrap(),
    );
    assert!(!st.success());
    assert_eq!(c.status(&id), "running");
    let empty = c.dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let other = c.id();
    let mut q = pipes();
    let (st, _) = rt_with(
        &c,
        &[
            "restore",
            "-d",
            "--image-path",
            empty.to_str().unwrap(),
            "--bundle",
            c.bundle.to_str().unwrap(),
            &other,
        ],
        q.theirs.take().unwrap(),
    );
    assert!(!st.success());
    assert_gone(&c, &other);
    if is_berth() {
        // berth says what CRIU said, and where its log is.
        let log = std::fs::read_to_string(c.dir.path().join("runtime.log")).unwrap();
        assert!(log.contains("criu failed to restore"), "{log}");
        assert!(log.contains("restore.log"), "{log}");
    }
}

/// `features` says checkpoint works exactly where `criu check` says CRIU does (this one runs
/// everywhere: on a kernel CRIU cannot work with, it checks the "false").
#[test]
fn berth_only_features_advertise_checkpoint_where_criu_works() {
    let c = Ctx::new();
    let doc: serde_json::Value = serde_json::from_str(&c.rt_ok(&["features"])).unwrap();
    let a = &doc["annotations"];
    let works = matches!(criu_here(), Criu::Works);
    assert_eq!(
        a["io.github.berth.checkpoint.enabled"],
        json!(works.to_string()),
        "{a}"
    );
    assert_eq!(a["io.github.berth.criu.version"].is_string(), works, "{a}");
}

/// `features` judges checkpoint by the criu binary `--criu` names, not by the one in `PATH`.
#[test]
fn berth_only_features_ask_the_criu_binary_given() {
    let c = Ctx::new();
    let missing = c.dir.path().join("no-criu-here");
    let out = c.rt_ok(&["--criu", missing.to_str().unwrap(), "features"]);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let a = &doc["annotations"];
    assert_eq!(
        a["io.github.berth.checkpoint.enabled"],
        json!("false"),
        "{a}"
    );
    assert!(a["io.github.berth.criu.version"].is_null(), "{a}");
}
