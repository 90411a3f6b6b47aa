//! Fault injection (#13): `create`, `start`, `exec` and `delete` are SIGKILLed at spread
//! instants. After each kill, whatever the container left must show in `list`, `delete -f`
//! must remove it, and then nothing may be left: no state, no cgroup in any hierarchy, no
//! process, no mount.
//!
//! Settings: `BERTH_FAULT_KILLS=N` kills per verb (default 200); `BERTH_FAULT_SEED=N` replays
//! a run's instants (the seed is printed); `BERTH_FAULT_JOBS=N` rounds at once (default 4,
//! each with its own state root, bundle and ids; 1 runs them one by one, in the seed's order);
//! `BERTH_FAULT_BIN=PATH` the berth binary the rounds run (default: this build's; a release
//! binary gets further into each verb within 300 ms, which matters in an emulated guest).
//!
//! The rounds run in a child process of the test that is a child subreaper, as containerd's
//! shim is, and reaps orphans at once. A killed `exec` orphans the process it started, which
//! lives in the container's pid namespace: the namespace's init, and so `delete -f`, cannot
//! finish dying until that process is reaped, and this host's PID 1 reaps orphans only every
//! second or so. A subreaper in the test's own process would take the other tests' orphans.

use std::collections::{HashMap, HashSet};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use serde_json::json;

use super::harness::{mounts_under, processes_with, remove_cgroup, text, timeout, unique, Ctx};

const TEST: &str = "berth_only_killed_verbs_leave_nothing_delete_cannot_remove";
/// Set in the child process that runs the rounds.
const INNER: &str = "BERTH_FAULT_INNER";
/// The cgroup parent of this process's rounds, in each hierarchy: its own, so that another
/// run's final rmdir of the parent cannot race a create here.
fn parent() -> String {
    format!("berth-test-faults-{}", std::process::id())
}
const VERBS: [&str; 4] = ["create", "start", "exec", "delete"];

/// xorshift64*: a small, replayable random source.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A delay in 0..300 ms, denser near 0 where the verbs do their work (cube of a uniform).
    fn delay(&mut self) -> Duration {
        let u = (self.next() % 1_000_000) as f64 / 1_000_000.0;
        Duration::from_micros((300_000.0 * u * u * u) as u64)
    }
}

fn env_num<T: std::str::FromStr>(var: &str) -> Option<T> {
    std::env::var(var).ok().and_then(|v| v.parse().ok())
}

fn seed() -> u64 {
    env_num("BERTH_FAULT_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1
    })
}

/// The berth binary the rounds run.
fn berth() -> PathBuf {
    std::env::var_os("BERTH_FAULT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_berth")))
}

/// Every cgroup directory named after `leaf` in any hierarchy of this host.
fn cgroups_named(leaf: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        if !post.starts_with("cgroup") {
            continue;
        }
        let mp = Path::new(pre.split_whitespace().nth(4).unwrap());
        let p = mp.join(parent()).join(leaf);
        if p.is_dir() {
            out.push(p);
        }
    }
    out
}

/// The child process's reaper: one thread waits for every child (this process is a
/// subreaper) and keeps the status of those that [`Reaper::spawn`] started; orphans are
/// reaped and forgotten. Every child of that process starts through it: std's `wait` would
/// find it reaped.
#[derive(Default)]
struct Reaper {
    state: Mutex<Reaped>,
    exited: Condvar,
}

#[derive(Default)]
struct Reaped {
    /// Started by `spawn`, not yet reaped.
    ours: HashSet<Pid>,
    done: HashMap<Pid, WaitStatus>,
}

impl Reaper {
    fn get() -> &'static Reaper {
        static REAPER: OnceLock<Reaper> = OnceLock::new();
        let mut started = false;
        let r = REAPER.get_or_init(|| {
            started = true;
            Reaper::default()
        });
        if started {
            std::thread::spawn(move || r.run());
        }
        r
    }

    fn run(&self) {
        loop {
            let status = match waitpid(None, None) {
                Ok(s) => s,
                Err(Errno::EINTR) => continue,
                Err(Errno::ECHILD) => {
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
                Err(e) => panic!("waitpid: {e}"),
            };
            let Some(pid) = status.pid() else { continue };
            let mut s = self.state.lock().unwrap();
            if s.ours.remove(&pid) {
                s.done.insert(pid, status);
                self.exited.notify_all();
            }
        }
    }

    /// Starts `cmd`. The lock is held across the fork: the reaper cannot take the child
    /// for an orphan before it is known.
    #[allow(clippy::zombie_processes)] // the reaper thread waits for it
    fn spawn(&self, mut cmd: Command) -> Pid {
        let mut s = self.state.lock().unwrap();
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let pid = Pid::from_raw(child.id() as i32);
        s.ours.insert(pid);
        pid
    }

    /// SIGKILLs `pid` (started by `spawn`) unless it has been reaped: its pid may be
    /// another process's by now.
    fn kill(&self, pid: Pid) {
        let s = self.state.lock().unwrap();
        if s.ours.contains(&pid) {
            let _ = kill(pid, Signal::SIGKILL);
        }
    }

    /// The exit of `pid` (started by `spawn`), or `None` after `limit`.
    fn wait(&self, pid: Pid, limit: Duration) -> Option<WaitStatus> {
        let deadline = Instant::now() + limit;
        let mut s = self.state.lock().unwrap();
        loop {
            if let Some(st) = s.done.remove(&pid) {
                return Some(st);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            s = self.exited.wait_timeout(s, left).unwrap().0;
        }
    }
}

/// What a runtime command that ran to its end did.
struct Ran {
    status: WaitStatus,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn ok(&self) -> bool {
        matches!(self.status, WaitStatus::Exited(_, 0))
    }
}

/// Runs `cmd` in a process group of its own with its output in files (a created container's
/// init keeps them open); `None` (the group killed) after `limit`.
fn run_within(mut cmd: Command, limit: Duration) -> Option<Ran> {
    let out = tempfile::tempfile().unwrap();
    let err = tempfile::tempfile().unwrap();
    cmd.stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap())
        .process_group(0);
    let r = Reaper::get();
    let pid = r.spawn(cmd);
    let Some(status) = r.wait(pid, limit) else {
        let _ = kill(Pid::from_raw(-pid.as_raw()), Signal::SIGKILL);
        r.wait(pid, Duration::from_secs(10));
        return None;
    };
    let read = |mut f: std::fs::File| {
        use std::io::{Read, Seek};
        let mut v = Vec::new();
        f.seek(std::io::SeekFrom::Start(0)).unwrap();
        f.read_to_end(&mut v).unwrap();
        text(&v)
    };
    Some(Ran {
        status,
        stdout: read(out),
        stderr: read(err),
    })
}

/// One kill: a container of its own (id, cgroup, marker in its processes' command lines)
/// in a worker's state root and bundle.
struct Round<'a> {
    c: &'a Ctx,
    id: String,
    marker: String,
    /// Cleared once the round found nothing left: otherwise dropping it cleans up.
    dirty: bool,
}

impl Round<'_> {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(berth());
        cmd.arg("--root").arg(&self.c.root).args(args);
        cmd.stdin(Stdio::null());
        cmd
    }

    fn rt(&self, args: &[&str]) -> Ran {
        let cmd = self.cmd(args);
        let what = format!("{cmd:?}");
        run_within(cmd, timeout())
            .unwrap_or_else(|| panic!("{what} did not finish within {:?}", timeout()))
    }

    fn ok(&self, args: &[&str]) {
        let out = self.rt(args);
        assert!(out.ok(), "{args:?}: {:?}: {}", out.status, out.stderr);
    }

    /// Starts `args` and SIGKILLs it after `at` (if it has not finished by then).
    fn kill_at(&self, args: &[&str], at: Duration) {
        let mut cmd = self.cmd(args);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let r = Reaper::get();
        let pid = r.spawn(cmd);
        std::thread::sleep(at);
        r.kill(pid);
        assert!(
            r.wait(pid, Duration::from_secs(10)).is_some(),
            "{args:?} did not die of SIGKILL"
        );
    }

    fn leftovers(&self) -> Vec<String> {
        let mut left = Vec::new();
        if self.c.root.join(&self.id).exists() {
            left.push(format!("state dir {}", self.id));
        }
        for cg in cgroups_named(&self.id) {
            left.push(format!("cgroup {}", cg.display()));
        }
        for p in processes_with(&self.marker) {
            left.push(format!("process {p}"));
        }
        for m in mounts_under(&self.c.bundle)
            .into_iter()
            .chain(mounts_under(&self.c.root))
        {
            left.push(format!("mount {m}"));
        }
        left
    }

    /// After a kill: what is left must be listed, and `delete -f` must remove all of it.
    /// Returns whether anything was left.
    fn settle(&mut self, what: &str) -> bool {
        // The killed command's helper and init die with it, but not instantly.
        std::thread::sleep(Duration::from_millis(5));
        let left = self.leftovers();
        if !left.is_empty() {
            let list = self.rt(&["list", "-q"]);
            assert!(
                list.stdout.lines().any(|l| l == self.id),
                "{what}: left {left:?} but `list` does not show {}",
                self.id
            );
        }
        let out = self.rt(&["delete", "--force", &self.id]);
        assert!(
            out.ok(),
            "{what}: delete -f: {:?}: {}",
            out.status,
            out.stderr
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let still = self.leftovers();
            if still.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: after delete -f: {still:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.dirty = false;
        !left.is_empty()
    }
}

impl Drop for Round<'_> {
    /// A failed round's container is removed all the same (without failing again).
    fn drop(&mut self) {
        if self.dirty {
            let _ = run_within(
                self.cmd(&["delete", "--force", &self.id]),
                Duration::from_secs(30),
            );
            remove_cgroup(&format!("{}/{}", parent(), self.id));
        }
    }
}

/// The kills of a run, in the seed's order: every verb's, one verb after the other.
struct Plan {
    seed: u64,
    kills: Vec<(&'static str, usize, Duration)>,
    next: AtomicUsize,
    left: [AtomicUsize; 4],
    failed: AtomicBool,
}

/// One worker: takes the plan's next kill until none is left, in a world of its own.
fn worker(plan: &Plan) {
    struct StopOnPanic<'a>(&'a AtomicBool);
    impl Drop for StopOnPanic<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                self.0.store(true, Ordering::Relaxed);
            }
        }
    }
    let _stop = StopOnPanic(&plan.failed);
    let mut c = Ctx::new();
    let b = c.bundle.to_str().unwrap().to_string();
    while !plan.failed.load(Ordering::Relaxed) {
        let Some(&(verb, i, at)) = plan.kills.get(plan.next.fetch_add(1, Ordering::Relaxed)) else {
            break;
        };
        let id = format!("bt{}-f{}", std::process::id(), unique());
        let marker = format!("berthfault{}x{i}x{verb}", std::process::id());
        c.config["linux"]["cgroupsPath"] = json!(format!("/{}/{id}", parent()));
        // The marker is the shell's $0: it shows in the process's command line.
        c.config["process"]["args"] = json!(["sh", "-c", "exec sleep 1000", &marker]);
        c.write_config();
        let mut r = Round {
            c: &c,
            id: id.clone(),
            marker,
            dirty: true,
        };
        match verb {
            "create" => r.kill_at(&["create", "--bundle", &b, &id], at),
            "start" => {
                r.ok(&["create", "--bundle", &b, &id]);
                r.kill_at(&["start", &id], at);
            }
            "exec" => {
                r.ok(&["create", "--bundle", &b, &id]);
                r.ok(&["start", &id]);
                let marker = r.marker.clone();
                r.kill_at(&["exec", &id, "sh", "-c", "sleep 1000", &marker], at);
            }
            _ => {
                r.ok(&["create", "--bundle", &b, &id]);
                r.ok(&["start", &id]);
                r.kill_at(&["delete", "--force", &id], at);
            }
        }
        let seed = plan.seed;
        if r.settle(&format!(
            "{verb} killed after {at:?} (round {i}, seed {seed})"
        )) {
            let v = VERBS.iter().position(|x| *x == verb).unwrap();
            plan.left[v].fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[test]
fn berth_only_killed_verbs_leave_nothing_delete_cannot_remove() {
    if std::env::var_os(INNER).is_some() {
        return rounds();
    }
    // This test alone, again, in a child process (see the module's comment). Its stderr
    // (the seed, the counts, a failure) is ours; libtest's lines on its stdout are shown
    // when it fails.
    let module = module_path!().split_once("::").unwrap().1;
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([&format!("{module}::{TEST}"), "--exact", "--nocapture"])
        .env(INNER, "1")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    let out = tempfile::tempfile().unwrap();
    cmd.stdout(out.try_clone().unwrap());
    let status = cmd.status().unwrap();
    if !status.success() {
        use std::io::{Read, Seek};
        let mut out = out;
        let mut v = String::new();
        out.seek(std::io::SeekFrom::Start(0)).unwrap();
        out.read_to_string(&mut v).unwrap();
        panic!("the rounds failed ({status}):\n{v}");
    }
}

/// The child process: every kill of the plan, `BERTH_FAULT_JOBS` at a time.
fn rounds() {
    nix::sys::prctl::set_child_subreaper(true).expect("PR_SET_CHILD_SUBREAPER");
    no_aslr();
    let seed = seed();
    let n = env_num("BERTH_FAULT_KILLS").unwrap_or(200);
    let jobs = env_num("BERTH_FAULT_JOBS").unwrap_or(4usize).max(1);
    eprintln!(
        "faults: seed {seed} (BERTH_FAULT_SEED={seed} replays), {n} kills per verb, \
         {jobs} at once, {}",
        berth().display()
    );
    // (std's spawn waits for a child whose exec failed: the reaper would have taken it.)
    assert!(
        berth().is_file(),
        "no berth binary at {}",
        berth().display()
    );
    let mut rng = Rng(seed);
    let kills = VERBS
        .iter()
        .flat_map(|v| (0..n).map(move |i| (*v, i)))
        .map(|(v, i)| (v, i, rng.delay()))
        .collect();
    let plan = Plan {
        seed,
        kills,
        next: AtomicUsize::new(0),
        left: Default::default(),
        failed: AtomicBool::new(false),
    };
    // The parent cgroup the rounds share, in every hierarchy, goes at the end, also when a
    // round failed (the failed round removes its own).
    struct RemoveParent;
    impl Drop for RemoveParent {
        fn drop(&mut self) {
            for p in cgroups_named("") {
                let _ = std::fs::remove_dir(p);
            }
        }
    }
    let _parent = RemoveParent;
    let start = Instant::now();
    std::thread::scope(|s| {
        for j in 0..jobs {
            std::thread::Builder::new()
                .name(format!("faults worker {j}"))
                .spawn_scoped(s, || worker(&plan))
                .unwrap();
        }
    });
    let secs = start.elapsed().as_secs();
    let counts: Vec<String> = VERBS
        .iter()
        .zip(&plan.left)
        .map(|(verb, left)| {
            let left = left.load(Ordering::Relaxed);
            format!("{verb}: {n} kills, {left} left something, all removed")
        })
        .collect();
    for l in &counts {
        eprintln!("faults: {l}");
    }
    eprintln!("faults: {} rounds in {secs} s, {jobs} at once", 4 * n);
    report(seed, &counts, secs, jobs);
}

/// Turns address space randomization off for the processes this thread and the workers it
/// starts will spawn (berth, its helpers, the containers). Under qemu's TCG (the cgroup v2
/// guest) a program at a new address is translated anew: a `berth list` takes 4 times as
/// long at random addresses. Where berth's code lies changes nothing the rounds check.
fn no_aslr() {
    // SAFETY: personality(2) reads and sets a flag word of the calling thread; no memory is
    // passed. 0xffffffff only queries it.
    let old = unsafe { libc::personality(0xffff_ffff) };
    assert!(old >= 0, "personality: {}", Errno::last());
    // SAFETY: as above.
    let rc = unsafe { libc::personality((old | libc::ADDR_NO_RANDOMIZE) as libc::c_ulong) };
    assert!(rc >= 0, "personality(ADDR_NO_RANDOMIZE): {}", Errno::last());
}

/// The counts also go to `target/faults-KERNEL.txt` (one file per kernel: the host's and the
/// cgroup v2 guest's), which `make test`'s summary prints: libtest shows a passing test's
/// output to nobody.
fn report(seed: u64, counts: &[String], secs: u64, jobs: usize) {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let _ = std::fs::create_dir_all(&dir);
    let text = format!(
        "kernel {} ({}), seed {seed}: {}; {secs} s, {jobs} at once\n",
        kernel.trim(),
        if v2 { "cgroup v2" } else { "cgroup v1/hybrid" },
        counts.join("; ")
    );
    let _ = std::fs::write(dir.join(format!("faults-{}.txt", kernel.trim())), text);
}
