//! Fault injection (#13): `create`, `start`, `exec` and `delete` are SIGKILLed at spread
//! instants. After each kill, whatever the container left must show in `list`, `delete -f`
//! must remove it, and then nothing may be left: no state, no cgroup in any hierarchy, no
//! process, no mount. The seed is printed; `BERTH_FAULT_SEED=N` replays a run and
//! `BERTH_FAULT_KILLS=N` sets the kills per verb (default 200).

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::harness::{mounts_under, processes_with, text, Ctx};

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

fn kills() -> usize {
    std::env::var("BERTH_FAULT_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

fn seed() -> u64 {
    std::env::var("BERTH_FAULT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        })
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
        let p = mp.join("berth-test-faults").join(leaf);
        if p.is_dir() {
            out.push(p);
        }
    }
    out
}

struct Round<'a> {
    c: &'a Ctx,
    id: String,
    marker: String,
}

impl Round<'_> {
    fn spawn(&self, args: &[&str]) -> Child {
        let mut cmd = self.c.cmd(args);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        cmd.spawn().unwrap()
    }

    fn ok(&self, args: &[&str]) {
        let out = self.c.rt(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
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
    fn settle(&self, what: &str) -> bool {
        // The killed command's helper and init die with it, but not instantly.
        std::thread::sleep(Duration::from_millis(5));
        let left = self.leftovers();
        if !left.is_empty() {
            let list = self.c.rt(&["list", "-q"]);
            assert!(
                text(&list.stdout).lines().any(|l| l == self.id),
                "{what}: left {left:?} but `list` does not show {}",
                self.id
            );
        }
        let out = self.c.rt(&["delete", "--force", &self.id]);
        assert!(
            out.status.success(),
            "{what}: delete -f: {}",
            text(&out.stderr)
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
        !left.is_empty()
    }
}

fn kill_at(mut child: Child, at: Duration) {
    std::thread::sleep(at);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn berth_only_killed_verbs_leave_nothing_delete_cannot_remove() {
    let seed = seed();
    let n = kills();
    eprintln!("faults: seed {seed} (BERTH_FAULT_SEED={seed} replays), {n} kills per verb");
    let mut rng = Rng(seed);
    let mut c = Ctx::new();
    let mut counts = Vec::new();
    for verb in ["create", "start", "exec", "delete"] {
        let mut left = 0;
        for i in 0..n {
            let id = c.id();
            let marker = format!("berthfault{}x{i}x{verb}", std::process::id());
            c.config["linux"]["cgroupsPath"] = json!(format!("/berth-test-faults/{id}"));
            // The marker is the shell's $0: it shows in the process's command line.
            c.config["process"]["args"] = json!(["sh", "-c", "exec sleep 1000", &marker]);
            c.write_config();
            let r = Round {
                c: &c,
                id: id.clone(),
                marker,
            };
            let b = c.bundle.to_str().unwrap().to_string();
            let at = rng.delay();
            match verb {
                "create" => kill_at(r.spawn(&["create", "--bundle", &b, &id]), at),
                "start" => {
                    r.ok(&["create", "--bundle", &b, &id]);
                    kill_at(r.spawn(&["start", &id]), at);
                }
                "exec" => {
                    r.ok(&["create", "--bundle", &b, &id]);
                    r.ok(&["start", &id]);
                    kill_at(
                        r.spawn(&["exec", &id, "sh", "-c", "sleep 1000", &r.marker]),
                        at,
                    );
                }
                _ => {
                    r.ok(&["create", "--bundle", &b, &id]);
                    r.ok(&["start", &id]);
                    kill_at(r.spawn(&["delete", "--force", &id]), at);
                }
            }
            if r.settle(&format!(
                "{verb} killed after {at:?} (round {i}, seed {seed})"
            )) {
                left += 1;
            }
        }
        counts.push(format!(
            "{verb}: {n} kills, {left} left something, all removed"
        ));
    }
    // The parent cgroup the rounds shared, in every hierarchy.
    for parent in cgroups_named("") {
        let _ = std::fs::remove_dir(parent);
    }
    for l in &counts {
        eprintln!("faults: {l}");
    }
    report(seed, &counts);
}

/// The counts also go to `target/faults-KERNEL.txt` (one file per kernel: the host's and the
/// cgroup v2 guest's), which `make test`'s summary prints: libtest shows a passing test's
/// output to nobody.
fn report(seed: u64, counts: &[String]) {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let _ = std::fs::create_dir_all(&dir);
    let text = format!(
        "kernel {} ({}), seed {seed}: {}\n",
        kernel.trim(),
        if v2 { "cgroup v2" } else { "cgroup v1/hybrid" },
        counts.join("; ")
    );
    let _ = std::fs::write(dir.join(format!("faults-{}.txt", kernel.trim())), text);
}
