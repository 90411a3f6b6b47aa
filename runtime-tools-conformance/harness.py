"""The conformance suite's machinery: the runtime under test, one isolated world per case,
the probe's report, and TAP output. The cases themselves are in cases.py."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]

# Generous: a runtime command that takes longer than this is hung, and fails its case.
TIMEOUT = 30

DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


def base_config():
    """What `runc spec` writes, terminal off, the probe as the process."""
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": ["/bin/probe", "report"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: list(DEFAULT_CAPS) for k in
                             ("bounding", "effective", "permitted", "inheritable", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "conformance",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                            "/proc/timer_list", "/proc/sched_debug", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                              "/proc/sysrq-trigger"],
        },
    }


class Fail(Exception):
    """A case's check failed; the message is the TAP diagnostic."""


class Todo(Exception):
    """A known, deliberate deviation from a MUST: reported as TAP `# TODO`, not a failure."""


class Skip(Exception):
    """The runtime's `features` says it lacks what the case needs."""


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def eq(got, want, what):
    if got != want:
        raise Fail(f"{what}: got {got!r}, want {want!r}")


class Runtime:
    def __init__(self, path, probe):
        self.path = path
        self.probe = probe
        self.features = self._features()

    def _features(self):
        try:
            p = subprocess.run([self.path, "features"], stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=TIMEOUT)
            return json.loads(p.stdout) if p.returncode == 0 else None
        except (OSError, ValueError, subprocess.TimeoutExpired):
            return None

    # A runtime without `features` lacks nothing as far as the suite is concerned: skipping
    # needs the runtime's own word.
    def lacks_namespace(self, ns):
        f = self.features
        lst = f and f.get("linux", {}).get("namespaces")
        if lst is not None and ns not in lst:
            raise Skip(f"features: namespace {ns} not supported")

    def lacks_mount_option(self, opt):
        f = self.features
        lst = f and f.get("mountOptions")
        if lst is not None and opt not in lst:
            raise Skip(f"features: mount option {opt} not supported")

    def lacks_seccomp(self, action):
        f = self.features
        sc = f and f.get("linux", {}).get("seccomp")
        if sc is not None:
            if not sc.get("enabled", False):
                raise Skip("features: seccomp not enabled")
            acts = sc.get("actions")
            if acts is not None and action not in acts:
                raise Skip(f"features: seccomp action {action} not supported")

    def lacks_hook(self, *hooks):
        f = self.features
        lst = f and f.get("hooks")
        for h in hooks:
            if lst is not None and h not in lst:
                raise Skip(f"features: hook {h} not supported")

    def lacks_idmap(self):
        f = self.features
        ext = f and f.get("linux", {}).get("mountExtensions")
        if f is not None and not (ext or {}).get("idmap", {}).get("enabled", False):
            raise Skip("features: idmapped mounts not supported")

    def lacks_memory_policy(self, mode):
        f = self.features
        mp = f and f.get("linux", {}).get("memoryPolicy")
        if f is not None and (mp is None or mode not in mp.get("modes", [])):
            raise Skip(f"features: memoryPolicy {mode} not supported")

    def lacks_cgroup_v1(self):
        f = self.features
        cg = f and f.get("linux", {}).get("cgroup")
        if cg is not None and cg.get("v1") is False:
            raise Skip("features: cgroup v1 not supported")


_COUNTER = [0]


class Ctx:
    """One case's world: temp dir, state root, bundle, container ids. `cleanup` removes all
    of it, whatever state the case left it in."""

    def __init__(self, rt):
        self.rt_ = rt
        self.dir = tempfile.mkdtemp(prefix="rtc-")
        # A container root mapped to another uid must be able to reach its rootfs.
        os.chmod(self.dir, 0o755)
        self.root = os.path.join(self.dir, "state")
        self.bundle = os.path.join(self.dir, "bundle")
        self.rootfs = os.path.join(self.bundle, "rootfs")
        for d in ("bin", "proc", "sys", "dev", "tmp", "etc"):
            os.makedirs(os.path.join(self.rootfs, d))
        shutil.copy2(rt.probe, os.path.join(self.rootfs, "bin/probe"))
        if os.path.exists("/bin/busybox"):
            shutil.copy2("/bin/busybox", os.path.join(self.rootfs, "bin/busybox"))
            os.symlink("busybox", os.path.join(self.rootfs, "bin/sh"))
        self.config = base_config()
        self.ids = []
        self.pids = []
        self.host_mounts = []
        self.cgroups = []

    # ---- bundle ----

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def in_rootfs(self, rel):
        return os.path.join(self.rootfs, rel.lstrip("/"))

    def write_config(self):
        with open(os.path.join(self.bundle, "config.json"), "w") as f:
            json.dump(self.config, f, indent=2)

    def process(self, *args):
        self.config["process"]["args"] = list(args)

    def add_mount(self, m):
        self.config["mounts"].append(m)

    def host_mount(self, *args):
        """Runs `mount ARGS` on the host; the last arg is the mount point, undone in cleanup."""
        subprocess.run(["mount", *args], check=True, stdin=subprocess.DEVNULL)
        self.host_mounts.append(args[-1])

    def new_id(self):
        _COUNTER[0] += 1
        cid = f"rtc{os.getpid()}-{_COUNTER[0]}"
        self.ids.append(cid)
        return cid

    # ---- runtime commands ----

    def rt(self, *args, out=None, timeout=TIMEOUT):
        """Runs the runtime with this case's `--root`; returns (rc, stdout, stderr). Output
        goes through files: a created container keeps the caller's stdio open."""
        tag = f"{len(os.listdir(self.dir))}"
        out_path = out or self.path(f"rt{tag}.out")
        err_path = (out + ".err") if out else self.path(f"rt{tag}.err")
        with open(out_path, "w") as o, open(err_path, "w") as e:
            try:
                p = subprocess.run([self.rt_.path, "--root", self.root, *args],
                                   stdin=subprocess.DEVNULL, stdout=o, stderr=e,
                                   timeout=timeout)
                rc = p.returncode
            except subprocess.TimeoutExpired:
                rc = "timeout"
        with open(out_path, errors="replace") as o, open(err_path, errors="replace") as e:
            return rc, o.read(), e.read()

    def create(self, cid=None, extra=()):
        """`create`; the container's stdout and stderr go to files of the id's name."""
        self.write_config()
        cid = cid or self.new_id()
        rc, _, err = self.rt("create", "--bundle", self.bundle, *extra, cid,
                             out=self.path(f"{cid}.stdout"))
        if rc != 0:
            raise Fail(f"create {cid} failed ({rc}): {err.strip()}")
        st = self.state(cid)
        if isinstance(st.get("pid"), int) and st["pid"] > 0:
            self.pids.append((st["pid"], start_time(st["pid"])))
        return cid

    def waiting(self, *paths):
        """The probe as the process: it sleeps until signalled; SIGUSR1 makes it print its
        report (of PATHS too), see `report`."""
        self.process("/bin/probe", "wait", *paths)

    def running(self, extra=()):
        """A started container whose probe waits (`waiting`); returns its id."""
        self.waiting()
        cid = self.create(extra=extra)
        self.start(cid)
        return cid

    def stopped(self):
        """A container whose probe has exited 0 after start; returns its id."""
        self.process("/bin/probe", "exit", "0")
        cid = self.create()
        self.start(cid)
        self.wait_status(cid, "stopped")
        return cid

    def report(self, cid):
        """The report of a waiting probe (`waiting`), asked for with SIGUSR1."""
        self.kill(cid, "USR1")
        return self.report_of(cid)

    def try_create(self, cid=None):
        """`create` expected to fail: returns (rc, stderr)."""
        self.write_config()
        cid = cid or self.new_id()
        rc, _, err = self.rt("create", "--bundle", self.bundle, cid,
                             out=self.path(f"{cid}.stdout"))
        return rc, err

    def start(self, cid):
        rc, _, err = self.rt("start", cid)
        if rc != 0:
            raise Fail(f"start {cid} failed ({rc}): {err.strip()}")

    def kill(self, cid, sig="KILL"):
        return self.rt("kill", cid, sig)

    def state(self, cid):
        rc, out, err = self.rt("state", cid)
        if rc != 0:
            raise Fail(f"state {cid} failed ({rc}): {err.strip()}")
        try:
            return json.loads(out)
        except ValueError:
            raise Fail(f"state {cid}: not JSON: {out!r}")

    def state_rc(self, cid):
        return self.rt("state", cid)[0]

    def wait_status(self, cid, want, timeout=10):
        deadline = time.time() + timeout
        st = None
        while time.time() < deadline:
            st = self.state(cid)
            if st.get("status") == want:
                return st
            time.sleep(0.05)
        raise Fail(f"{cid}: status {st and st.get('status')!r}, waited {timeout}s for {want!r}")

    def stdout_of(self, cid):
        with open(self.path(f"{cid}.stdout"), errors="replace") as f:
            return f.read()

    def report_of(self, cid, timeout=10):
        """The probe's JSON line from a container's stdout (waits for it)."""
        deadline = time.time() + timeout
        while True:
            text = self.stdout_of(cid)
            for line in text.splitlines():
                if line.startswith("{"):
                    try:
                        return json.loads(line)
                    except ValueError:
                        pass
            if time.time() > deadline:
                err = open(self.path(f"{cid}.stdout.err"), errors="replace").read()
                raise Fail(f"{cid}: no report on stdout {text!r}; stderr {err.strip()!r}")
            time.sleep(0.05)

    def run(self, *extra):
        """`run` in the foreground: returns (rc, stdout, stderr)."""
        self.write_config()
        cid = self.new_id()
        return self.rt("run", "--bundle", self.bundle, *extra, cid)

    def probe(self, *paths):
        """Runs the probe as the process (`run`) and returns its report."""
        self.process("/bin/probe", "report", *paths)
        rc, out, err = self.run()
        if rc != 0:
            raise Fail(f"run failed ({rc}): {err.strip()}")
        for line in out.splitlines():
            if line.startswith("{"):
                return json.loads(line)
        raise Fail(f"no report on stdout: {out!r}; stderr {err.strip()!r}")

    # ---- cleanup ----

    def cleanup(self):
        for cid in self.ids:
            try:
                subprocess.run([self.rt_.path, "--root", self.root, "delete", "--force", cid],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        # A container init that outlived `delete --force` (a runtime bug) is ours to end.
        for pid, started in self.pids:
            if started is not None and start_time(pid) == started:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        for m in reversed(self.host_mounts):
            subprocess.run(["umount", "-l", m], stderr=subprocess.DEVNULL)
        leaked = mounts_under(self.dir)
        for m in reversed(leaked):
            subprocess.run(["umount", "-l", m], stderr=subprocess.DEVNULL)
        # The cgroup a case named and the parents made for it, in every hierarchy (rmdir only
        # removes empty ones; the runtime should have removed the leaf already).
        for cg in self.cgroups:
            for h in CGROUP_HIERARCHIES:
                p = f"/sys/fs/cgroup/{h}/{cg.strip('/')}"
                while p.startswith(f"/sys/fs/cgroup/{h}/"):
                    try:
                        os.rmdir(p)
                    except FileNotFoundError:
                        pass
                    except OSError:
                        break
                    p = os.path.dirname(p)
        # Never rmtree through a mount: it could reach a host directory.
        if not mounts_under(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)
        return leaked


CGROUP_HIERARCHIES = ("memory", "pids", "cpu", "devices", "freezer", "blkio", "cpuset", "cpuacct",
                      "systemd", "unified")


def start_time(pid):
    """A process's start time (clock ticks since boot): with the pid, it names the process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def mounts_under(d):
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == d or mp.startswith(d + "/"):
                out.append(mp)
    return out


def parse_mountinfo(lines):
    """mountinfo lines as dicts: id, parent, point, opts (set), optional (list), fstype,
    source, super (set)."""
    out = []
    for line in lines:
        f = line.split()
        sep = f.index("-")
        out.append({
            "id": int(f[0]), "parent": int(f[1]), "root": f[3],
            "point": f[4].replace("\\040", " "), "opts": set(f[5].split(",")),
            "optional": f[6:sep], "fstype": f[sep + 1], "source": f[sep + 2],
            "super": set(f[sep + 3].split(",")) if len(f) > sep + 3 else set(),
        })
    return out


def mount_at(report, point):
    """The visible (last) mount at `point` in the probe's mountinfo."""
    ms = [m for m in parse_mountinfo(report["mountinfo"]) if m["point"] == point]
    if not ms:
        raise Fail(f"no mount at {point}")
    return ms[-1]


def cap_set(report, field):
    bits = int(report["status"][field], 16)
    return {CAPS[i] if i < len(CAPS) else f"cap{i}" for i in range(64) if bits >> i & 1}


def host_ns(ns):
    return os.readlink(f"/proc/self/ns/{ns}")


def strict():
    """CI=true or BERTH_STRICT=1: a case that cannot run fails instead of being skipped."""
    return os.environ.get("CI") == "true" or os.environ.get("BERTH_STRICT") == "1"


def log_skip(kind, name, reason):
    """One line in $BERTH_SKIP_LOG (counted at the end of `make test`)."""
    log = os.environ.get("BERTH_SKIP_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"conformance\t{name}\t{kind} {reason}\n")


def run_cases(rt, cases, only=None):
    """Runs the cases, printing TAP; returns (passed, failed, skipped, todo). In strict mode
    a skip is a failure. A TODO (a known deviation from a MUST) is neither."""
    selected = [c for c in cases if not only or any(o in c[0] for o in only)]
    print(f"1..{len(selected)}", flush=True)
    passed = failed = skipped = todos = 0
    for n, (name, fn) in enumerate(selected, 1):
        ctx = Ctx(rt)
        diag = None
        skip = None
        todo = None
        try:
            fn(ctx)
        except Skip as e:
            skip = str(e)
        except Todo as e:
            todo = str(e)
        except Fail as e:
            diag = str(e)
        except Exception as e:  # a case's own bug reads as a failure, not a crash
            diag = f"{type(e).__name__}: {e}"
        finally:
            leaked = ctx.cleanup()
        if leaked and diag is None:
            diag = f"mounts left on the host after delete: {leaked}"
            skip = todo = None
        if skip is not None and strict():
            diag = f"cannot run (strict mode: CI=true or BERTH_STRICT=1): {skip}"
            skip = None
        if todo is not None and diag is None:
            todos += 1
            log_skip("TODO", name, todo)
            print(f"not ok {n} - {name} # TODO {todo}", flush=True)
        elif skip is not None:
            skipped += 1
            log_skip("SKIP", name, skip)
            print(f"ok {n} - {name} # SKIP {skip}", flush=True)
        elif diag is None:
            passed += 1
            print(f"ok {n} - {name}", flush=True)
        else:
            failed += 1
            print(f"not ok {n} - {name}", flush=True)
            for line in diag.splitlines() or [""]:
                print(f"#   {line}", flush=True)
    return passed, failed, skipped, todos
