#!/usr/bin/env python3
"""Timing driver for bench/lifecycle.sh; not meant to be run by hand.

lifecycle.sh enters a private mount namespace, builds the rootfs and the config template,
and cleans up afterwards. This driver only spawns runtimes and measures them:

  sequential  `run ID` + `delete ID` of a /bin/true container, round-robin across runtimes
              so that drift (page cache, thermal, other load) hits every runtime alike;
              plus the bare kernel cost (unshare + chroot + /bin/true) in the same rotation
  parallel    PARALLEL `run -d` at once, then PARALLEL `delete --force` at once
  exec        `exec ID /bin/true` into a running `sleep` container, round-robin
  rss         peak RSS of `run` under GNU time(1) (%M), a few runs apart from the timed ones;
              wait4's ru_maxrss of our own children is useless here: posix_spawn's vfork
              child counts this Python process's RSS before it execs

Every call gets a fresh, already-closed pipe as stdin (crun chowns the container's stdin,
so a host file such as /dev/null must not be used) and a per-runtime log file as stdout
and stderr; the same for every runtime.

Inputs come from the environment set by lifecycle.sh: BENCH_WORK, BENCH_TAG, BENCH_RUNTIMES
("name=path ..."), N, WARMUP, PARALLEL, PARALLEL_ROUNDS, EXEC_N, BASELINE, CALL_TIMEOUT.
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
N = env_int("N", 200)
WARMUP = env_int("WARMUP", 10)
PARALLEL = env_int("PARALLEL", 50)
PARALLEL_ROUNDS = env_int("PARALLEL_ROUNDS", 3)
EXEC_N = env_int("EXEC_N", 50)
BASELINE = env_int("BASELINE", 1)
RSS_N = env_int("RSS_N", 5)
TIME_BIN = "/usr/bin/time"
CALL_TIMEOUT = float(os.environ.get("CALL_TIMEOUT", "60"))
ROOTFS = os.path.join(WORK, "rootfs")


class Runtime:
    def __init__(self, name, path):
        self.name = name
        self.path = path
        self.root = os.path.join(WORK, "state", name)
        self.out_path = os.path.join(WORK, f"out-{name}.log")
        self.out = os.open(self.out_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self.live = set()  # ids that may have state: deleted with --force on the way out
        self.kept = 0  # sequential runs after which the container was still there
        self.failed = None  # the first failure's message; the runtime is dropped after it
        self.seq = []  # (total, run, delete) in ns
        self.rss_kb = []  # from the rss phase
        self.par = []  # (run_all, delete_all) in ns
        self.exec_ns = []
        self.cgroups = None  # hierarchies holding the running exec container's cgroup

    def argv(self, *args):
        return [self.path, "--root", self.root, *args]

    def cid(self, suffix):
        return f"bench-{self.name}-{TAG}-{suffix}"


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
    """Waits for pid, killing it after CALL_TIMEOUT; returns its exit code."""
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
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def check(rt, argv, code):
    if code != 0:
        os.lseek(rt.out, 0, os.SEEK_SET)
        output = os.read(rt.out, 1 << 16).decode(errors="replace").strip()
        raise CallFailed(f"exit status {code}: {' '.join(argv)}\n    output: {output or '(none)'}")


def call(rt, argv):
    check(rt, argv, reap(spawn(argv, rt.out), argv))


def reset_log(rt):
    os.ftruncate(rt.out, 0)


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


def fail(rt, err):
    rt.failed = str(err)
    print(f"\n!!! {rt.name} FAILED, dropped from the rest of the benchmark: {err}\n", file=sys.stderr, flush=True)
    force_delete(rt)


def force_delete(rt):
    for cid in sorted(rt.live):
        argv = rt.argv("delete", "--force", cid)
        try:
            reset_log(rt)
            reap(spawn(argv, rt.out), argv)
        except (CallFailed, OSError) as err:
            print(f"cleanup: {err}", file=sys.stderr)
        drop_bundle(cid)
    rt.live.clear()


# --- sequential -------------------------------------------------------------------------

def lifecycle(rt, suffix, record):
    """`run ID` of /bin/true; runc and crun's `run` delete the container once it exits (crun 1.8
    has no --keep), so that is the whole lifecycle. A runtime that leaves the container in its
    state dir gets an explicit `delete ID`, timed as part of the pair and reported."""
    cid = rt.cid(suffix)
    bundle = make_bundle(cid, ["/bin/true"])
    run = rt.argv("run", "--bundle", bundle, cid)
    delete = rt.argv("delete", cid)
    state = os.path.join(rt.root, cid)
    reset_log(rt)
    rt.live.add(cid)
    t0 = time.perf_counter_ns()
    call(rt, run)
    t1 = time.perf_counter_ns()
    if os.path.lexists(state):
        call(rt, delete)
        rt.kept += 1
    t2 = time.perf_counter_ns()
    rt.live.discard(cid)
    drop_bundle(cid)
    if record:
        rt.seq.append((t2 - t0, t1 - t0, t2 - t1))


def bare_argv():
    return [shutil.which("unshare"), "--fork", "--pid", "--mount", "--uts", "--ipc", "--net",
            shutil.which("chroot"), ROOTFS, "/bin/true"]


def bare(samples, record):
    argv = bare_argv()
    t0 = time.perf_counter_ns()
    code = reap(spawn(argv, BARE_OUT), argv)
    t1 = time.perf_counter_ns()
    if code != 0:
        raise CallFailed(f"exit status {code}: {' '.join(argv)}")
    if record:
        samples.append(t1 - t0)


def sequential(runtimes, bare_samples):
    for i in range(WARMUP + N):
        record = i >= WARMUP
        suffix = str(i - WARMUP) if record else f"w{i}"
        for rt in runtimes:
            if rt.failed:
                continue
            try:
                lifecycle(rt, suffix, record)
            except CallFailed as err:
                fail(rt, err)
        if BASELINE:
            bare(bare_samples, record)


# --- parallel ---------------------------------------------------------------------------

def wait_all(rt, pids):
    """Reaps every pid; returns the first failure instead of raising, so none is left unreaped."""
    first = None
    for pid, argv in pids:
        try:
            check(rt, argv, reap(pid, argv))
        except CallFailed as err:
            first = first or err
    return first


def parallel_round(rt, r):
    cids = [rt.cid(f"p{r}-{k}") for k in range(PARALLEL)]
    runs = [rt.argv("run", "--detach", "--bundle", make_bundle(cid, ["/bin/true"]), cid) for cid in cids]
    reset_log(rt)
    rt.live.update(cids)
    t0 = time.perf_counter_ns()
    err = wait_all(rt, [(spawn(a, rt.out), a) for a in runs])
    t1 = time.perf_counter_ns()
    if err:
        raise err
    # --force: a detached /bin/true may not have exited yet when `run -d` returns.
    deletes = [rt.argv("delete", "--force", cid) for cid in cids]
    err = wait_all(rt, [(spawn(a, rt.out), a) for a in deletes])
    t2 = time.perf_counter_ns()
    if err:
        raise err
    rt.live.difference_update(cids)
    for cid in cids:
        drop_bundle(cid)
    rt.par.append((t1 - t0, t2 - t1))


def parallel(runtimes):
    for r in range(PARALLEL_ROUNDS):
        for rt in runtimes:
            if rt.failed:
                continue
            try:
                parallel_round(rt, r)
            except CallFailed as err:
                fail(rt, err)


def cgroup_dirs(name):
    """Directories called name (a glob) at the top of each cgroup hierarchy: v1 and hybrid
    hosts have /sys/fs/cgroup/<hierarchy>/NAME, pure cgroup2 hosts /sys/fs/cgroup/NAME."""
    paths = glob.glob(f"/sys/fs/cgroup/*/{name}") + glob.glob(f"/sys/fs/cgroup/{name}")
    return [p for p in paths if os.path.isdir(p) and not os.path.islink(p)]


def hierarchy(path):
    parent = os.path.dirname(path)
    return "cgroup2" if parent == "/sys/fs/cgroup" else os.path.basename(parent)


# --- exec -------------------------------------------------------------------------------

def exec_latency(runtimes):
    started = []
    for rt in runtimes:
        if rt.failed:
            continue
        cid = rt.cid("exec")
        argv = rt.argv("run", "--detach", "--bundle", make_bundle(cid, ["/bin/sleep", "3600"]), cid)
        reset_log(rt)
        rt.live.add(cid)
        try:
            call(rt, argv)
            started.append(rt)
        except CallFailed as err:
            fail(rt, err)
            continue
        # Fairness check: a runtime that skipped cgroups would look faster than it is.
        rt.cgroups = sorted(hierarchy(p) for p in cgroup_dirs(cid) if os.path.ismount(os.path.dirname(p)))
    for i in range(min(WARMUP, 5) + EXEC_N):
        for rt in started:
            if rt.failed:
                continue
            argv = rt.argv("exec", rt.cid("exec"), "/bin/true")
            reset_log(rt)
            try:
                t0 = time.perf_counter_ns()
                call(rt, argv)
                t1 = time.perf_counter_ns()
            except CallFailed as err:
                fail(rt, err)
                continue
            if i >= min(WARMUP, 5):
                rt.exec_ns.append(t1 - t0)
    for rt in started:
        if rt.failed:
            continue
        cid = rt.cid("exec")
        argv = rt.argv("delete", "--force", cid)
        reset_log(rt)
        try:
            call(rt, argv)
            rt.live.discard(cid)
            drop_bundle(cid)
        except CallFailed as err:
            fail(rt, err)


# --- peak RSS ---------------------------------------------------------------------------

def time_rss(rt, argv):
    """Runs argv under GNU time; returns the peak RSS in KiB of its process tree."""
    report = os.path.join(WORK, "time.out")
    out = rt.out if rt else BARE_OUT
    code = reap(spawn([TIME_BIN, "-f", "%M", "-o", report, *argv], out), argv)
    if rt:
        check(rt, argv, code)
    elif code != 0:
        raise CallFailed(f"exit status {code}: {' '.join(argv)}")
    with open(report) as f:
        return int(f.read().split()[-1])


def rss(runtimes):
    for i in range(RSS_N):
        for rt in runtimes:
            if rt.failed:
                continue
            cid = rt.cid(f"rss{i}")
            bundle = make_bundle(cid, ["/bin/true"])
            reset_log(rt)
            rt.live.add(cid)
            try:
                rt.rss_kb.append(time_rss(rt, rt.argv("run", "--bundle", bundle, cid)))
                if os.path.lexists(os.path.join(rt.root, cid)):
                    call(rt, rt.argv("delete", cid))
            except CallFailed as err:
                fail(rt, err)
                continue
            rt.live.discard(cid)
            drop_bundle(cid)
        if BASELINE:
            BARE_RSS.append(time_rss(None, bare_argv()))


BARE_RSS = []


# --- report -----------------------------------------------------------------------------

def pct(xs, q):
    """Percentile with linear interpolation between closest ranks (numpy's default)."""
    s = sorted(xs)
    k = (len(s) - 1) * q
    lo = math.floor(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def ms(ns):
    return ns / 1e6


def fmt(x, width=8):
    return f"{x:{width}.2f}" if x is not None else f"{'-':>{width}}"


def leftovers(rt):
    """State entries, cgroups and plain directories this runtime left after deleting everything.

    A leftover under a directory that is not a mount point is not a cgroup: it is what a
    runtime made under the cgroup2 mount point that lifecycle.sh unmounted (on hybrid hosts
    crun still writes .../unified/ID/cgroup.procs there). The cleanup removes those."""
    state = sorted(os.listdir(rt.root)) if os.path.isdir(rt.root) else []
    found = sorted(cgroup_dirs(f"bench-{rt.name}-{TAG}-*"))
    cgroups = [p for p in found if os.path.ismount(os.path.dirname(p))]
    plain = [p for p in found if p not in cgroups]
    return state, cgroups, plain


def report(runtimes, bare_samples, load):
    print()
    cpus = os.cpu_count()
    print(f"load average (1 min) {load[0]:.2f} at start, {load[1]:.2f} at end, {cpus} CPUs")
    if max(load) > cpus:
        print(f"!!! the machine was busy (load above {cpus}): absolute figures are noisy; the ratios, from interleaved runs, less so")
    print(f"sequential run + delete of /bin/true: {N} per runtime after {WARMUP} warm-up, round-robin")
    print(f"{'runtime':<8} {'median':>8} {'p90':>8} {'min':>8} {'rss MiB':>8}   (ms per container: `run` until it has exited and removed the container;")
    print(f"{'':<8} {'':>8} {'':>8} {'':>8} {'':>8}    rss MiB = peak of {RSS_N} runs under `time -f %M`, whose own fork sets a ~2 MiB floor)")
    stats = {}
    if bare_samples:
        t = [ms(x) for x in bare_samples]
        stats["bare"] = dict(median_ms=pct(t, 0.5), p90_ms=pct(t, 0.9), min_ms=min(t))
        if BARE_RSS:
            stats["bare"]["maxrss_kb"] = max(BARE_RSS)
        print(f"{'bare':<8} {fmt(pct(t, 0.5))} {fmt(pct(t, 0.9))} {fmt(min(t))} {fmt(max(BARE_RSS) / 1024 if BARE_RSS else None)}   (unshare --fork --pid --mount --uts --ipc --net chroot)")
    for rt in runtimes:
        if not rt.seq:
            print(f"{rt.name:<8} {'FAILED':>8}   {rt.failed.splitlines()[0] if rt.failed else ''}")
            continue
        tot = [ms(x[0]) for x in rt.seq]
        run = [ms(x[1]) for x in rt.seq]
        dele = [ms(x[2]) for x in rt.seq]
        s = dict(median_ms=pct(tot, 0.5), p90_ms=pct(tot, 0.9), min_ms=min(tot), n=len(tot))
        if rt.rss_kb:
            s["maxrss_kb"] = max(rt.rss_kb)
        if rt.kept:
            s.update(run_median_ms=pct(run, 0.5), delete_median_ms=pct(dele, 0.5), kept=rt.kept)
        stats[rt.name] = s
        note = f"   (only {len(tot)} samples: failed later)" if rt.failed else ""
        if rt.kept:
            note += f"   (run {s['run_median_ms']:.2f} + delete {s['delete_median_ms']:.2f}: `run` left the container behind {rt.kept} times)"
        print(f"{rt.name:<8} {fmt(s['median_ms'])} {fmt(s['p90_ms'])} {fmt(s['min_ms'])} {fmt(s['maxrss_kb'] / 1024 if rt.rss_kb else None)}{note}")

    if PARALLEL > 0 and PARALLEL_ROUNDS > 0:
        print()
        print(f"parallel: {PARALLEL} x `run -d` at once, then {PARALLEL} x `delete --force` at once; median of {PARALLEL_ROUNDS} rounds")
        print(f"{'runtime':<8} {'run-all':>8} {'del-all':>8} {'per-ctr':>8}   (ms; per-ctr = (run-all + del-all) / {PARALLEL})")
        for rt in runtimes:
            if not rt.par:
                continue
            runs = [ms(a) for a, _ in rt.par]
            dels = [ms(b) for _, b in rt.par]
            per = pct([ms(a + b) / PARALLEL for a, b in rt.par], 0.5)
            stats.setdefault(rt.name, {})[f"parallel{PARALLEL}_ms_per_container"] = per
            print(f"{rt.name:<8} {fmt(pct(runs, 0.5))} {fmt(pct(dels, 0.5))} {fmt(per)}")

    if EXEC_N > 0:
        print()
        print(f"exec /bin/true into a running container: {EXEC_N} per runtime, round-robin")
        print(f"{'runtime':<8} {'median':>8} {'p90':>8}   (ms)   cgroup hierarchies the running container was in")
        for rt in runtimes:
            if not rt.exec_ns:
                continue
            t = [ms(x) for x in rt.exec_ns]
            stats.setdefault(rt.name, {})["exec_median_ms"] = pct(t, 0.5)
            stats[rt.name]["exec_p90_ms"] = pct(t, 0.9)
            if rt.cgroups is not None:
                stats[rt.name]["cgroup_hierarchies"] = len(rt.cgroups)
            print(f"{rt.name:<8} {fmt(pct(t, 0.5))} {fmt(pct(t, 0.9))}          {','.join(rt.cgroups) or 'NONE'}")

    ratios = []
    if "berth" in stats and "median_ms" in stats["berth"]:
        b = stats["berth"]
        for other in ("runc", "crun"):
            o = stats.get(other)
            if o and "median_ms" in o:
                ratios.append((other, b["median_ms"] / o["median_ms"], b["p90_ms"] / o["p90_ms"]))
        if ratios:
            print()
            print("ratios (lower is better for berth):")
            for other, med, p90 in ratios:
                print(f"  berth/{other}: median {med:.3f}  p90 {p90:.3f}")

    problems = []
    with_cgroups = [rt.name for rt in runtimes if rt.cgroups]
    for rt in runtimes:
        if rt.cgroups == [] and with_cgroups:
            print(f"!!! {rt.name}: its running container was in no cgroup named after linux.cgroupsPath, "
                  f"while {', '.join(with_cgroups)} made one: {rt.name} skips cgroup work, so its figures are not comparable")
        state, cgroups, plain = leftovers(rt)
        if plain:
            print(f"note: {rt.name} left {len(plain)} plain directories under an unmounted cgroup mount point, "
                  f"e.g. {plain[0]} (not cgroups; removed by the cleanup)")
        if state:
            problems.append(f"{rt.name} left {len(state)} state entries in {rt.root}: {', '.join(state[:3])}")
        if cgroups:
            problems.append(f"{rt.name} left {len(cgroups)} cgroup directories, e.g. {cgroups[0]} (removed by the cleanup if empty)")
        if rt.kept:
            problems.append(f"{rt.name}: `run` left the container behind {rt.kept} times (runc/crun remove it); a `delete` was timed too")
        if rt.failed:
            problems.append(f"{rt.name} failed: {rt.failed}")
    if problems:
        print()
        for p in problems:
            print(f"!!! {p}")

    print()
    for name, s in stats.items():
        fields = " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in s.items())
        print(f"bench: runtime={name} {fields}")
    for other, med, p90 in ratios:
        print(f"bench: ratio=berth/{other} median={med:.3f} p90={p90:.3f}")
    sys.stdout.flush()
    return 1 if problems else 0


def bench():
    global TEMPLATE, BARE_OUT
    with open(os.path.join(WORK, "config.json")) as f:
        TEMPLATE = json.load(f)
    BARE_OUT = os.open(os.path.join(WORK, "out-bare.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    runtimes = [Runtime(*spec.split("=", 1)) for spec in os.environ["BENCH_RUNTIMES"].split()]
    bare_samples = []
    load_start = os.getloadavg()[0]
    try:
        t = time.monotonic()
        sequential(runtimes, bare_samples)
        print(f"sequential: {time.monotonic() - t:.1f} s", file=sys.stderr, flush=True)
        if PARALLEL > 0:
            t = time.monotonic()
            parallel(runtimes)
            print(f"parallel: {time.monotonic() - t:.1f} s", file=sys.stderr, flush=True)
        if EXEC_N > 0:
            t = time.monotonic()
            exec_latency(runtimes)
            print(f"exec: {time.monotonic() - t:.1f} s", file=sys.stderr, flush=True)
        if RSS_N > 0:
            if os.access(TIME_BIN, os.X_OK):
                rss(runtimes)
            else:
                print(f"!!! no {TIME_BIN} (Debian package `time`): peak RSS not measured", file=sys.stderr)
    finally:
        for rt in runtimes:
            force_delete(rt)
    return report(runtimes, bare_samples, (load_start, os.getloadavg()[0]))


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
