#!/usr/bin/env python3
"""Timing driver for bench/lifecycle.sh; not meant to be run by hand.

lifecycle.sh enters a private mount namespace, builds the rootfs and the config template,
and cleans up afterwards. This driver spawns the runtimes, measures them and reports.

Units (each with p50, p90 and min of wall time and of CPU time):
  run       `run ID` of /bin/true: runc's and crun's `run` delete the container once it has
            exited, so this is create + start + wait + delete; beside it the floor,
            `unshare --fork --pid --mount --uts --ipc --net --cgroup chroot ROOTFS /bin/true`
  parallel  P x `run -d` started at once, then P x `delete --force` at once (P = 50, 200)
  exec      `exec ID /bin/true` into a running `sleep` container
  rss       peak RSS of one `run` (GNU time's %M)

Fairness:
  - every round runs every contender once, in an order that changes every round (the rows of
    a balanced Latin square: each contender takes every position and follows every other
    equally often), so drift and whatever the previous call left behind (a network namespace
    torn down by a kernel worker, cgroups being offlined, RCU grace periods) hit all alike,
    and ratios can also be taken pairwise within a round;
  - the same rootfs and config.json for all (only the container's cgroupsPath differs);
  - the cgroup hierarchies the running container was put in are read from /proc/PID/cgroup
    and compared: a runtime that joins fewer does less work.

CPU time is user + sys from wait4()'s rusage of the runtime command: that covers the command's
process and every descendant it (or a process it waited for) reaped. A foreground `run` waits
for the container, so its figure includes the container's /bin/true and every helper process
(runc's `runc init` stages, berth's re-exec); a detached container's init is reaped by this
benchmark (its subreaper), not by `run -d`, and is not counted, the same for every runtime.
The container's cgroup (cpuacct) would miss the runtime's own process, which is most of the work.
It is the machine's load that disturbs wall time; CPU time much less so.

Every call gets a fresh, already-closed pipe as stdin (crun chowns the container's stdin,
so a host file such as /dev/null must not be used) and a per-runtime log file as stdout
and stderr; the same for every runtime.

Inputs come from the environment set by lifecycle.sh: BENCH_WORK, BENCH_TAG, BENCH_RUNTIMES
("name=path ..."), N, WARMUP, PARALLEL, PARALLEL_ROUNDS, EXEC_N, RSS_N, FLOOR, CALL_TIMEOUT, SMOKE.
"""

import copy
import ctypes
import glob
import json
import math
import os
import select
import shutil
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


class CallFailed(Exception):
    pass


def env_int(name, default):
    return int(os.environ.get(name, default))


WORK = os.environ["BENCH_WORK"]
TAG = os.environ["BENCH_TAG"]
SMOKE = env_int("SMOKE", 0)
N = env_int("N", 200)
WARMUP = env_int("WARMUP", 10)
PARALLEL = [int(p) for p in os.environ.get("PARALLEL", "50 200").split() if int(p) > 0]
PARALLEL_ROUNDS = env_int("PARALLEL_ROUNDS", 4)
EXEC_N = env_int("EXEC_N", 100)
FLOOR = env_int("FLOOR", 1)
RSS_N = env_int("RSS_N", 10)
TIME_BIN = "/usr/bin/time"
CALL_TIMEOUT = float(os.environ.get("CALL_TIMEOUT", "60"))
ROOTFS = os.path.join(WORK, "rootfs")

# The targets (issue 17): berth's figure over crun's (or the floor's) must not exceed these.
TARGETS = [
    # (label, unit, statistic, other, limit)
    ("run wall p50 <= 0.7x crun", "run", "wall_p50", "crun", 0.7),
    ("run wall p90 <= 0.7x crun", "run", "wall_p90", "crun", 0.7),
    ("run CPU p50 <= 0.7x crun", "run", "cpu_p50", "crun", 0.7),
    ("run wall p50 <= 2.0x floor", "run", "wall_p50", "floor", 2.0),
    ("50 parallel starts <= 0.7x crun", "start50", "wall_p50", "crun", 0.7),
    ("200 parallel starts <= 0.7x crun", "start200", "wall_p50", "crun", 0.7),
    ("exec wall p50 <= 0.6x crun", "exec", "wall_p50", "crun", 0.6),
    ("peak RSS <= crun's", "rss", "max", "crun", 1.0),
]


class Contender:
    """A runtime, or the floor (no state, no container)."""

    def __init__(self, name, path):
        self.name = name
        self.path = path
        self.is_floor = path is None
        self.root = os.path.join(WORK, "state", name)
        self.out_path = os.path.join(WORK, f"out-{name}.log")
        self.out = os.open(self.out_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self.live = set()  # ids that may have state: deleted with --force on the way out
        self.kept = 0  # `run`s after which the container was still there
        self.failed = None  # the first failure's message; the contender is dropped after it
        self.samples = {}  # unit -> [(wall_ns, cpu_ns)]
        self.rss_kb = []
        self.cgroups = None  # {hierarchy: path} of the running exec container

    def argv(self, *args):
        return [self.path, "--root", self.root, *args]

    def cid(self, suffix):
        return f"bench-{self.name}-{TAG}-{suffix}"

    def add(self, unit, wall_ns, cpu_ns):
        self.samples.setdefault(unit, []).append((wall_ns, cpu_ns))


def spawn(argv, out_fd):
    r, w = os.pipe()
    os.close(w)  # the writer is gone at once: the child reads EOF, like `: | cmd`
    try:
        return os.posix_spawn(argv[0], argv, os.environ, file_actions=[
            (os.POSIX_SPAWN_DUP2, r, 0),
            (os.POSIX_SPAWN_DUP2, out_fd, 1),
            (os.POSIX_SPAWN_DUP2, out_fd, 2),
        ])
    finally:
        os.close(r)


def reap(pid, argv):
    """Waits for pid, killing it after CALL_TIMEOUT; returns (exit code, user+sys ns)."""
    pidfd = os.pidfd_open(pid)
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if not poller.poll(CALL_TIMEOUT * 1000):
            os.kill(pid, signal.SIGKILL)
            os.wait4(pid, 0)
            raise CallFailed(f"timed out after {CALL_TIMEOUT:g} s: {' '.join(argv)}")
    finally:
        os.close(pidfd)
    _, status, ru = os.wait4(pid, 0)
    return os.waitstatus_to_exitcode(status), round((ru.ru_utime + ru.ru_stime) * 1e9)


def check(c, argv, code):
    if code != 0:
        os.lseek(c.out, 0, os.SEEK_SET)
        output = os.read(c.out, 1 << 16).decode(errors="replace").strip()
        raise CallFailed(f"exit status {code}: {' '.join(argv)}\n    output: {output or '(none)'}")


def call(c, argv):
    """Runs argv to its end; returns (wall ns, cpu ns)."""
    t0 = time.perf_counter_ns()
    code, cpu = reap(spawn(argv, c.out), argv)
    wall = time.perf_counter_ns() - t0
    check(c, argv, code)
    return wall, cpu


def reset_log(c):
    os.ftruncate(c.out, 0)


def williams(n):
    """Rows of a balanced Latin square (Williams design) of n treatments: across the rows every
    treatment takes every position once and immediately follows every other treatment equally
    often (once for even n; twice over the 2n rows for odd n)."""
    first, lo, hi = [0], 1, n - 1
    while len(first) < n:
        first.append(lo)
        lo += 1
        if len(first) < n:
            first.append(hi)
            hi -= 1
    rows = [[(x + i) % n for x in first] for i in range(n)]
    if n % 2:
        rows += [row[::-1] for row in rows]
    return rows


def round_order(items, r):
    """The order of round r. A plain rotation (a b c / b c a / c a b) keeps each contender's
    predecessor fixed, and what a call leaves behind (a network namespace torn down by a kernel
    worker, cgroups being offlined, an RCU grace period in flight) lands on its successor: the
    contender after the floor was always the slowest. A Williams design changes the predecessor
    from round to round, so that cost falls on all alike."""
    if not items:
        return []
    rows = williams(len(items))
    return [items[i] for i in rows[r % len(rows)]]


TEMPLATE = None


def make_bundle(cid, args):
    """Writes WORK/bundles/CID/config.json: the shared template with this container's cgroup."""
    cfg = copy.deepcopy(TEMPLATE)
    cfg["process"]["args"] = args
    cfg.setdefault("linux", {})["cgroupsPath"] = "/" + cid
    bundle = os.path.join(WORK, "bundles", cid)
    os.makedirs(bundle)
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(cfg, f)
    return bundle


def drop_bundle(cid):
    shutil.rmtree(os.path.join(WORK, "bundles", cid), ignore_errors=True)


def fail(c, err):
    c.failed = str(err)
    print(f"\n!!! {c.name} FAILED, dropped from the rest of the benchmark: {err}\n", file=sys.stderr, flush=True)
    force_delete(c)


def force_delete(c):
    for cid in sorted(c.live):
        argv = c.argv("delete", "--force", cid)
        try:
            reset_log(c)
            reap(spawn(argv, c.out), argv)
        except (CallFailed, OSError) as err:
            print(f"cleanup: {err}", file=sys.stderr)
        drop_bundle(cid)
    c.live.clear()


def each(contenders, r, fn):
    """fn(c) for every contender still standing, in round r's order; a failure drops it."""
    for c in round_order(contenders, r):
        if c.failed:
            continue
        try:
            fn(c)
        except CallFailed as err:
            fail(c, err)


# --- run (sequential) -------------------------------------------------------------------

def floor_argv():
    return [shutil.which("unshare"), "--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "--cgroup",
            shutil.which("chroot"), ROOTFS, "/bin/true"]


def one_run(c, suffix, record):
    if c.is_floor:
        reset_log(c)
        wall, cpu = call(c, floor_argv())
        if record:
            c.add("run", wall, cpu)
        return
    cid = c.cid(suffix)
    bundle = make_bundle(cid, ["/bin/true"])
    reset_log(c)
    c.live.add(cid)
    wall, cpu = call(c, c.argv("run", "--bundle", bundle, cid))
    if os.path.lexists(os.path.join(c.root, cid)):
        # runc and crun remove the container after `run`; a runtime that does not pays a `delete`.
        dwall, dcpu = call(c, c.argv("delete", cid))
        wall, cpu = wall + dwall, cpu + dcpu
        c.kept += 1
    c.live.discard(cid)
    drop_bundle(cid)
    if record:
        c.add("run", wall, cpu)


def sequential(contenders):
    for i in range(WARMUP + N):
        record = i >= WARMUP
        suffix = str(i - WARMUP) if record else f"w{i}"
        each(contenders, i, lambda c: one_run(c, suffix, record))


# --- parallel ---------------------------------------------------------------------------

def call_all(c, argvs):
    """Starts every argv at once and reaps them all; returns (wall ns, summed cpu ns).
    Every pid is reaped even when one fails; the first failure is raised afterwards."""
    t0 = time.perf_counter_ns()
    pids = [(spawn(a, c.out), a) for a in argvs]
    first, cpu = None, 0
    for pid, argv in pids:
        try:
            code, used = reap(pid, argv)
            cpu += used
            check(c, argv, code)
        except CallFailed as err:
            first = first or err
    wall = time.perf_counter_ns() - t0
    if first:
        raise first
    return wall, cpu


def parallel_round(c, p, r):
    cids = [c.cid(f"p{p}-{r}-{k}") for k in range(p)]
    runs = [c.argv("run", "--detach", "--bundle", make_bundle(cid, ["/bin/true"]), cid) for cid in cids]
    reset_log(c)
    c.live.update(cids)
    wall, cpu = call_all(c, runs)
    c.add(f"start{p}", wall, cpu)
    # --force: a detached /bin/true may not have exited yet when `run -d` returns.
    wall, cpu = call_all(c, [c.argv("delete", "--force", cid) for cid in cids])
    c.add(f"delete{p}", wall, cpu)
    c.live.difference_update(cids)
    for cid in cids:
        drop_bundle(cid)


def parallel(runtimes):
    for p in PARALLEL:
        for r in range(PARALLEL_ROUNDS):
            each(runtimes, r, lambda c: parallel_round(c, p, r))


# --- exec and the cgroups a container is in ---------------------------------------------

def container_pid(c, cid):
    path = os.path.join(WORK, f"state-{c.name}.json")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        argv = c.argv("state", cid)
        code, _ = reap(spawn(argv, fd), argv)
        check(c, argv, code)
        with open(path) as f:
            return int(json.load(f)["pid"])
    finally:
        os.close(fd)


def joined_cgroups(pid, cid):
    """{hierarchy: path} for every hierarchy in which pid sits in the container's own cgroup
    (the path ends with the container id), from /proc/PID/cgroup as this namespace sees it."""
    joined = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if cid in path.split("/"):
                joined[controllers or "cgroup2"] = path
    return joined


def exec_latency(runtimes):
    started = []

    def start(c):
        cid = c.cid("exec")
        argv = c.argv("run", "--detach", "--bundle", make_bundle(cid, ["/bin/sleep", "3600"]), cid)
        reset_log(c)
        c.live.add(cid)
        call(c, argv)
        c.cgroups = joined_cgroups(container_pid(c, cid), cid)
        started.append(c)

    each(runtimes, 0, start)
    warm = min(WARMUP, 5)
    for i in range(warm + EXEC_N):
        def one(c):
            reset_log(c)
            wall, cpu = call(c, c.argv("exec", c.cid("exec"), "/bin/true"))
            if i >= warm:
                c.add("exec", wall, cpu)
        each(started, i, one)

    def stop(c):
        cid = c.cid("exec")
        reset_log(c)
        call(c, c.argv("delete", "--force", cid))
        c.live.discard(cid)
        drop_bundle(cid)

    each(started, 0, stop)


# --- peak RSS ---------------------------------------------------------------------------

def time_rss(c, argv):
    """Runs argv under GNU time; returns its %M: wait4's ru_maxrss of time's child, i.e. the
    largest peak RSS of any single process in the command's tree (not a sum)."""
    report = os.path.join(WORK, "time.out")
    wrapped = [TIME_BIN, "-f", "%M", "-o", report, *argv]
    code, _ = reap(spawn(wrapped, c.out), wrapped)
    check(c, argv, code)
    with open(report) as f:
        return int(f.read().split()[-1])


def rss(contenders):
    for i in range(RSS_N):
        def one(c):
            reset_log(c)
            if c.is_floor:
                c.rss_kb.append(time_rss(c, floor_argv()))
                return
            cid = c.cid(f"rss{i}")
            bundle = make_bundle(cid, ["/bin/true"])
            c.live.add(cid)
            c.rss_kb.append(time_rss(c, c.argv("run", "--bundle", bundle, cid)))
            if os.path.lexists(os.path.join(c.root, cid)):
                call(c, c.argv("delete", cid))
            c.live.discard(cid)
            drop_bundle(cid)
        each(contenders, i, one)


# --- report -----------------------------------------------------------------------------

def pct(xs, q):
    """Percentile with linear interpolation between closest ranks (numpy's default)."""
    s = sorted(xs)
    k = (len(s) - 1) * q
    lo = math.floor(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(samples):
    wall = [w / 1e6 for w, _ in samples]
    cpu = [c / 1e6 for _, c in samples]
    return dict(wall_p50=pct(wall, 0.5), wall_p90=pct(wall, 0.9), wall_min=min(wall),
                cpu_p50=pct(cpu, 0.5), cpu_p90=pct(cpu, 0.9), cpu_min=min(cpu), n=len(wall))


def fmt(x, width=8, prec=2):
    return f"{x:{width}.{prec}f}" if x is not None else f"{'-':>{width}}"


STAT_COLS = ["wall_p50", "wall_p90", "wall_min", "cpu_p50", "cpu_p90", "cpu_min"]


def paired_ratio(a, b, unit):
    """Median over rounds of a's wall time over b's in the same round (samples are per round)."""
    xs, ys = a.samples.get(unit, []), b.samples.get(unit, [])
    ratios = [x[0] / y[0] for x, y in zip(xs, ys) if y[0] > 0]
    return pct(ratios, 0.5) if ratios and len(xs) == len(ys) else None


def table(title, unit, contenders, stats, pairs):
    rows = [c for c in contenders if unit in stats.get(c.name, {})]
    if not rows:
        return
    w = max([12] + [len(a) + len(b) + 1 for a, b in pairs])
    print()
    print(title)
    print(f"  {'':<{w}} {'wall p50':>8} {'p90':>8} {'min':>8}   {'cpu p50':>8} {'p90':>8} {'min':>8}   {'n':>4}  (ms)")
    for c in rows:
        s = stats[c.name][unit]
        note = f"  (ran {c.kept}x `delete` too: `run` left the container)" if unit == "run" and c.kept else ""
        print(f"  {c.name:<{w}} " + " ".join(fmt(s[k]) for k in STAT_COLS[:3]) + "   "
              + " ".join(fmt(s[k]) for k in STAT_COLS[3:]) + f"   {s['n']:>4}{note}")
    names = {c.name: c for c in rows}
    for a, b in pairs:
        if a in names and b in names:
            sa, sb = stats[a][unit], stats[b][unit]
            ratios = [sa[k] / sb[k] if sb[k] > 0 else None for k in STAT_COLS]
            paired = paired_ratio(names[a], names[b], unit)
            print(f"  {a + '/' + b:<{w}} " + " ".join(fmt(x, 8, 3) for x in ratios[:3]) + "   "
                  + " ".join(fmt(x, 8, 3) for x in ratios[3:])
                  + (f"   paired p50 {paired:.3f}" if paired is not None else ""))


def report(contenders, load, elapsed):
    runtimes = [c for c in contenders if not c.is_floor]
    stats = {}
    for c in contenders:
        for unit, samples in c.samples.items():
            stats.setdefault(c.name, {})[unit] = summary(samples)
        if c.rss_kb:
            stats.setdefault(c.name, {})["rss"] = dict(max=max(c.rss_kb) / 1024, p50=pct(c.rss_kb, 0.5) / 1024,
                                                      min=min(c.rss_kb) / 1024, n=len(c.rss_kb))
    pairs = [("berth", "crun"), ("berth", "runc"), ("berth", "floor"), ("crun", "floor"), ("runc", "floor")]
    variants = [(c.name, "berth") for c in runtimes if c.name.startswith("berth-")]
    pairs[2:2] = variants
    runtime_pairs = pairs[:2] + variants

    print()
    cpus = os.cpu_count()
    print(f"load average (1 min) {load[0]:.2f} during the run phase (the highest of its start and end), "
          f"{load[1]:.2f} at the end (the parallel phase raises it itself); {cpus} CPUs; {elapsed:.0f} s")
    if load[0] > cpus:
        print(f"!!! the machine was busy (load above {cpus}): wall times are noisy; CPU times and the paired "
              f"ratios (same round, balanced order) less so")
    print("ratio rows: the first contender's statistic over the second's; "
          "paired p50 = median over rounds of the two wall times of the same round")
    table(f"run of /bin/true (create+start+wait+delete), {N} rounds after {WARMUP} warm-up, a new order each round; "
          f"floor = unshare --fork --pid --mount --uts --ipc --net --cgroup chroot ROOTFS /bin/true",
          "run", contenders, stats, pairs)
    for p in PARALLEL:
        table(f"{p} x `run -d` started at once: time until all have returned (cpu: summed over the {p}), "
              f"{PARALLEL_ROUNDS} rounds; per container: divide by {p}", f"start{p}", runtimes, stats, runtime_pairs)
        table(f"then {p} x `delete --force` at once", f"delete{p}", runtimes, stats, runtime_pairs)
        for c in runtimes:
            s = stats.get(c.name, {}).get(f"start{p}")
            if s:
                print(f"  {c.name}: {s['wall_p50'] / p:.2f} ms wall and {s['cpu_p50'] / p:.2f} ms CPU per container started (p50)")
    table(f"exec /bin/true into a running container, {EXEC_N} rounds, a new order each round", "exec", runtimes, stats, runtime_pairs)

    if any("rss" in s for s in stats.values()):
        print()
        print(f"peak RSS of one `run` of /bin/true, {RSS_N} runs each (MiB): GNU time's %M, i.e. wait4's ru_maxrss, the")
        print("largest peak of any single process of the command's tree (the runtime's process(es) before and after")
        print("a re-exec, its helper processes, the container's init), not their sum; what GNU time's own fork")
        print("held before its exec counts too, so no figure is below about 1.6 MiB (the floor row)")
        print(f"  {'':<12} {'max':>8} {'p50':>8} {'min':>8}")
        for c in contenders:
            s = stats.get(c.name, {}).get("rss")
            if s:
                print(f"  {c.name:<12} {fmt(s['max'])} {fmt(s['p50'])} {fmt(s['min'])}")

    problems, unfair = [], []
    joined = {c.name: c.cgroups for c in runtimes if c.cgroups is not None}
    if joined:
        print()
        print("cgroup hierarchies the running container was put in (from its /proc/PID/cgroup):")
        every = sorted(set().union(*[set(j) for j in joined.values()]))
        for name, j in joined.items():
            missing = [h for h in every if h not in j]
            print(f"  {name:<12} {','.join(sorted(j)) or 'NONE'}" + (f"   MISSING {','.join(missing)}" if missing else ""))
            if missing:
                unfair.append(f"{name} did not join {','.join(missing)}")
        if unfair:
            print("!!! NOT THE SAME HIERARCHIES: " + "; ".join(unfair)
                  + ": a runtime that joins fewer does less work, so its figures are not comparable")
        else:
            print(f"  the same {len(every)} hierarchies for all")

    results = []
    b = stats.get("berth", {})
    print()
    print("issue 17's targets (berth's figure over the other's)"
          + (": SMOKE run, too few samples to mean anything" if SMOKE else ":"))
    for label, unit, stat, other, limit in TARGETS:
        o = stats.get(other, {}).get(unit)
        if unit not in b or not o:
            print(f"  {label:<36} not measured")
            continue
        ratio = b[unit][stat] / o[stat]
        verdict = "met" if ratio <= limit else "MISSED"
        results.append((label, ratio, verdict))
        print(f"  {label:<36} {ratio:6.3f}  {verdict}" + ("  (hierarchies differ)" if unfair else ""))

    for c in contenders:
        if c.is_floor:
            if c.failed:
                problems.append(f"the floor failed: {c.failed}")
            continue
        state, cgroups, plain = leftovers(c)
        if plain:
            print(f"note: {c.name} left {len(plain)} plain directories under an unmounted cgroup mount point, "
                  f"e.g. {plain[0]} (not cgroups; removed by the cleanup)")
        if state:
            problems.append(f"{c.name} left {len(state)} state entries in {c.root}: {', '.join(state[:3])}")
        if cgroups:
            problems.append(f"{c.name} left {len(cgroups)} cgroup directories, e.g. {cgroups[0]} (removed by the cleanup if empty)")
        if c.failed:
            problems.append(f"{c.name} failed: {c.failed}")
    if unfair and not SMOKE:
        problems.append("the runtimes were not in the same cgroup hierarchies (see above)")
    if problems:
        print()
        for p in problems:
            print(f"!!! {p}")

    print()
    for name, units in stats.items():
        for unit, s in units.items():
            fields = " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in s.items())
            print(f"bench: {name} {unit} {fields}")
    for label, ratio, verdict in results:
        print(f"bench: target '{label}' ratio={ratio:.3f} {verdict}")
    sys.stdout.flush()
    return 1 if problems else 0


def cgroup_dirs(pattern):
    """Directories matching pattern at the top of each cgroup hierarchy: v1 and hybrid
    hosts have /sys/fs/cgroup/<hierarchy>/NAME, pure cgroup2 hosts /sys/fs/cgroup/NAME."""
    paths = glob.glob(f"/sys/fs/cgroup/*/{pattern}") + glob.glob(f"/sys/fs/cgroup/{pattern}")
    return [p for p in paths if os.path.isdir(p) and not os.path.islink(p)]


def leftovers(c):
    """State entries, cgroups and plain directories this runtime left after deleting everything.

    A leftover under a directory that is not a mount point is not a cgroup: it is what a
    runtime made under the cgroup2 mount point that lifecycle.sh unmounted (on hybrid hosts
    crun still writes .../unified/ID/cgroup.procs there). The cleanup removes those."""
    state = sorted(os.listdir(c.root)) if os.path.isdir(c.root) else []
    found = sorted(cgroup_dirs(f"bench-{c.name}-{TAG}-*"))
    cgroups = [p for p in found if os.path.ismount(os.path.dirname(p))]
    plain = [p for p in found if p not in cgroups]
    return state, cgroups, plain


def bench():
    global TEMPLATE
    with open(os.path.join(WORK, "config.json")) as f:
        TEMPLATE = json.load(f)
    contenders = [Contender(*spec.split("=", 1)) for spec in os.environ["BENCH_RUNTIMES"].split()]
    runtimes = list(contenders)
    if FLOOR:
        contenders.append(Contender("floor", None))
    load_start = os.getloadavg()[0]
    began = time.monotonic()
    phases = [("run", lambda: sequential(contenders))]
    if PARALLEL and PARALLEL_ROUNDS > 0:
        phases.append(("parallel", lambda: parallel(runtimes)))
    if EXEC_N > 0:
        phases.append(("exec", lambda: exec_latency(runtimes)))
    if RSS_N > 0:
        if os.access(TIME_BIN, os.X_OK):
            phases.append(("rss", lambda: rss(contenders)))
        else:
            print(f"!!! no {TIME_BIN} (Debian package `time`): peak RSS not measured", file=sys.stderr)
    try:
        for name, phase in phases:
            t = time.monotonic()
            phase()
            print(f"lifecycle: {name}: {time.monotonic() - t:.1f} s", file=sys.stderr, flush=True)
            if name == "run":
                # Later phases start hundreds of processes at once, which raises the load average
                # by themselves: what the machine was doing is best seen here.
                load_start = max(load_start, os.getloadavg()[0])
    finally:
        for c in runtimes:
            force_delete(c)
    return report(contenders, (load_start, os.getloadavg()[0]), time.monotonic() - began)


def children():
    """Pids whose parent is this process (orphans adopted as subreaper included)."""
    me, found = str(os.getpid()), []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[1] == me:
                    found.append(pid)
        except OSError:
            pass
    return found


def main():
    # Detached containers outlive the `run -d` that started them. This host's pid 1 does not
    # reap orphans, so this process becomes their subreaper and does nothing but reap, while
    # a child runs the benchmark (a benchmark that reaped with waitpid(-1) would steal its
    # own runtimes' exit statuses).
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    sys.stdout.flush()
    child = os.fork()
    if child == 0:
        code = 2

        def interrupted(*_):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, interrupted)
        try:
            code = bench()
        except KeyboardInterrupt:
            code = 130
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    # Ctrl-C reaches the whole process group: the child cleans up, this one keeps reaping.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: os.kill(child, signal.SIGTERM))
    code = None
    while code is None:
        pid, status = os.wait()
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.05)
    else:
        left = children()
        print(f"!!! processes still running after every container was deleted: pids {' '.join(left)}", file=sys.stderr)
        code = code or 1
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()
