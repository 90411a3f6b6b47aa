"""The conformance cases, grouped as the runtime-spec is: runtime.md (lifecycle, state,
operations), hooks, config.md (root, mounts, process, hostname), config-linux.md.

Each case is a function taking a fresh `Ctx`; it raises `Fail` with the reason, or `Skip`
when the runtime's `features` says it lacks what the case needs."""

import json
import os
import subprocess
import time

from harness import (CAPS, Fail, Skip, Todo, cap_set, check, eq, host_ns, mount_at, mounts_under,
                     parse_mountinfo, start_time)

CASES = []


def case(name):
    def deco(fn):
        CASES.append((name, fn))
        return fn
    return deco


EROFS, EPERM, ENOENT = 30, 1, 2


def running(pid, started):
    """Whether the process `pid` that started at `started` still runs (a zombie has ended:
    reaping it is its parent's business)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return int(fields[19]) == started and fields[0] != "Z"


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


# ============================== runtime.md: state and lifecycle ==============================

@case("state of a created container: status created, id, pid, bundle, ociVersion")
def _(ctx):
    ctx.waiting()
    cid = ctx.create()
    st = ctx.state(cid)
    eq(st.get("status"), "created", "status")
    eq(st.get("id"), cid, "id")
    eq(st.get("bundle"), ctx.bundle, "bundle (absolute path)")
    check(isinstance(st.get("ociVersion"), str) and st["ociVersion"],
          f"ociVersion missing: {st}")
    check(isinstance(st.get("pid"), int) and st["pid"] > 0 and alive(st["pid"]),
          f"pid of a created container must be a live process: {st.get('pid')}")


@case("create does not run the user program before start")
def _(ctx):
    ctx.process("/bin/probe", "report")
    cid = ctx.create()
    time.sleep(0.5)
    eq(ctx.stdout_of(cid), "", "stdout before start")
    ctx.start(cid)
    ctx.report_of(cid)


@case("state of a started container: status running, same pid")
def _(ctx):
    ctx.waiting()
    cid = ctx.create()
    pid = ctx.state(cid)["pid"]
    ctx.start(cid)
    st = ctx.state(cid)
    eq(st.get("status"), "running", "status")
    eq(st.get("pid"), pid, "pid after start")
    r = ctx.report(cid)
    eq(r["pid"], 1, "the program runs as pid 1 of its pid namespace")


@case("state after the program exits: status stopped")
def _(ctx):
    cid = ctx.stopped()
    st = ctx.state(cid)
    eq(st.get("id"), cid, "id")


@case("state annotations: the config's annotations")
def _(ctx):
    ctx.config["annotations"] = {"org.example.conformance": "yes", "k2": "v2"}
    ctx.waiting()
    cid = ctx.create()
    st = ctx.state(cid)
    got = st.get("annotations") or {}
    for k, v in ctx.config["annotations"].items():
        eq(got.get(k), v, f"annotations[{k}]")


@case("create with an id that already exists fails and leaves the first container")
def _(ctx):
    ctx.waiting()
    cid = ctx.create()
    pid = ctx.state(cid)["pid"]
    rc, err = ctx.try_create(cid)
    check(rc != 0, "second create with the same id succeeded")
    st = ctx.state(cid)
    eq((st.get("status"), st.get("pid")), ("created", pid), "first container (status, pid)")


@case("start of a running container fails")
def _(ctx):
    cid = ctx.running()
    rc, _, _ = ctx.rt("start", cid)
    check(rc != 0, "second start succeeded")
    eq(ctx.state(cid).get("status"), "running", "status after the failed start")


@case("start of a stopped container fails")
def _(ctx):
    cid = ctx.stopped()
    rc, _, _ = ctx.rt("start", cid)
    check(rc != 0, "start of a stopped container succeeded")


@case("kill sends the signal to the container process")
def _(ctx):
    cid = ctx.running()
    rc, _, err = ctx.kill(cid, "TERM")
    eq(rc, 0, f"kill TERM ({err.strip()})")
    ctx.wait_status(cid, "stopped")
    out = ctx.stdout_of(cid)
    check('{"signal":15}' in out, f"the program did not see SIGTERM: {out!r}")


@case("kill of a created container stops it")
def _(ctx):
    ctx.waiting()
    cid = ctx.create()
    rc, _, err = ctx.kill(cid, "KILL")
    eq(rc, 0, f"kill KILL of a created container ({err.strip()})")
    ctx.wait_status(cid, "stopped")


@case("kill of a stopped container fails")
def _(ctx):
    cid = ctx.stopped()
    rc, _, _ = ctx.kill(cid, "KILL")
    check(rc != 0, "kill of a stopped container succeeded")
    eq(ctx.state(cid).get("status"), "stopped", "status")


@case("delete of a running container fails and leaves it running")
def _(ctx):
    cid = ctx.running()
    rc, _, _ = ctx.rt("delete", cid)
    check(rc != 0, "delete of a running container succeeded")
    st = ctx.state(cid)
    eq(st.get("status"), "running", "status after the failed delete")
    check(alive(st["pid"]), "the container process died")


@case("delete of a created (not stopped) container fails")
def _(ctx):
    ctx.waiting()
    cid = ctx.create()
    rc, _, _ = ctx.rt("delete", cid)
    if rc == 0:
        # runc (and so containerd, which deletes never-started tasks this way) removes a
        # created container on `delete`; berth, runc and crun all keep that behaviour.
        raise Todo("delete of a created container succeeds, as with runc (runtime.md says it MUST fail)")
    eq(ctx.state(cid).get("status"), "created", "status after the failed delete")


@case("delete of a stopped container removes it; the id can be reused")
def _(ctx):
    cid = ctx.stopped()
    rc, _, err = ctx.rt("delete", cid)
    eq(rc, 0, f"delete ({err.strip()})")
    check(ctx.state_rc(cid) != 0, "state of a deleted container succeeded")
    eq(mounts_under(ctx.bundle), [], "mounts left under the bundle")
    ctx.create(cid)


@case("operations on an unknown id fail")
def _(ctx):
    for op in (["state"], ["start"], ["kill"], ["delete"]):
        rc, _, _ = ctx.rt(*op, "no-such-container")
        check(rc != 0, f"{op[0]} of an unknown id succeeded")


@case("run returns the program's exit status (runc CLI)")
def _(ctx):
    ctx.process("/bin/probe", "exit", "7")
    rc, _, err = ctx.run()
    eq(rc, 7, f"run exit status ({err.strip()})")


@case("create --pid-file holds the container's pid (runc CLI)")
def _(ctx):
    ctx.waiting()
    pf = ctx.path("pidfile")
    cid = ctx.create(extra=("--pid-file", pf))
    with open(pf) as f:
        eq(int(f.read().strip()), ctx.state(cid)["pid"], "pid file")


# ============================== hooks ==============================

def hook_setup(ctx, fail=None):
    """Every hook appends a line to one log: host hooks through the host path, the
    startContainer hook through a bind mount of the log's directory."""
    logdir = ctx.path("hooklog")
    os.makedirs(logdir)
    log = os.path.join(logdir, "hooks.log")
    probe = ctx.rt_.probe
    ctx.config["root"]["readonly"] = False
    ctx.add_mount({"destination": "/hooklog", "type": "bind", "source": logdir,
                   "options": ["rbind", "rw"]})
    hooks = {}
    for kind in ("prestart", "createRuntime", "createContainer", "poststart", "poststop"):
        name = f"fail-{kind}" if kind == fail else kind
        hooks[kind] = [{"path": probe, "args": ["probe", "hook", name, log, "extra-arg"],
                        "env": ["HOOK_VAR=hook-" + kind]}]
    hooks["startContainer"] = [{"path": "/bin/probe",
                                "args": ["probe", "hook", "startContainer", "/hooklog/hooks.log"],
                                "env": ["HOOK_VAR=hook-startContainer"]}]
    ctx.config["hooks"] = hooks
    return log


def hook_log(log):
    if not os.path.exists(log):
        return []
    with open(log) as f:
        return [json.loads(line) for line in f if line.strip()]


def hook_names(log):
    return [h["hook"] for h in hook_log(log)]


@case("hooks run in order: prestart, createRuntime, createContainer on create; "
      "startContainer, poststart on start; poststop on delete")
def _(ctx):
    ctx.rt_.lacks_hook("createRuntime", "createContainer", "startContainer")
    log = hook_setup(ctx)
    ctx.waiting()
    cid = ctx.create()
    eq(hook_names(log), ["prestart", "createRuntime", "createContainer"], "hooks after create")
    ctx.start(cid)
    eq(hook_names(log)[3:], ["startContainer", "poststart"], "hooks after start")
    ctx.kill(cid, "KILL")
    ctx.wait_status(cid, "stopped")
    rc, _, err = ctx.rt("delete", cid)
    eq(rc, 0, f"delete ({err.strip()})")
    eq(hook_names(log)[5:], ["poststop"], "hooks after delete")


# runtime.md, State: the pid is "as seen by the runtime" for hooks run in the runtime namespace
# and "as seen by the container" for those run in the container namespace (config.md, Hooks).
CONTAINER_NS_HOOKS = {"createContainer", "startContainer"}


@case("hooks get the container state on stdin: ociVersion, id, bundle, and the pid as seen "
      "from the hook's namespace")
def _(ctx):
    ctx.rt_.lacks_hook("createRuntime", "createContainer", "startContainer")
    log = hook_setup(ctx)
    ctx.waiting()
    cid = ctx.create()
    host_pid = ctx.state(cid)["pid"]
    ctx.start(cid)
    inner_pid = ctx.report(cid)["pid"]
    ctx.wait_status(cid, "stopped")
    ctx.rt("delete", cid)
    entries = hook_log(log)
    eq(len(entries), 6, f"hook runs ({[e['hook'] for e in entries]})")
    for e in entries:
        try:
            st = json.loads(e["stdin"])
        except ValueError:
            raise Fail(f"{e['hook']}: stdin is not JSON: {e['stdin']!r}")
        eq(st.get("id"), cid, f"{e['hook']}: id")
        eq(st.get("bundle"), ctx.bundle, f"{e['hook']}: bundle")
        check(st.get("ociVersion"), f"{e['hook']}: no ociVersion")
        check(isinstance(st.get("status"), str) and st["status"],
              f"{e['hook']}: status {st.get('status')!r}")
        if e["hook"] in CONTAINER_NS_HOOKS:
            eq(st.get("pid"), inner_pid, f"{e['hook']} (container namespace): pid")
        elif e["hook"] != "poststop":
            eq(st.get("pid"), host_pid, f"{e['hook']} (runtime namespace): pid")


@case("hook state status is true to the lifecycle: created, not running, before the "
      "program starts; running in poststart; stopped in poststop")
def _(ctx):
    ctx.rt_.lacks_hook("createRuntime", "createContainer", "startContainer")
    log = hook_setup(ctx)
    cid = ctx.running()
    ctx.kill(cid, "KILL")
    ctx.wait_status(cid, "stopped")
    ctx.rt("delete", cid)
    # A runtime MAY add states of its own ("starting"), but a standard state it reports
    # must be true: "running" means the user program has been executed (runtime.md, State).
    wrong = {"prestart": {"running", "stopped"}, "createRuntime": {"running", "stopped"},
             "createContainer": {"running", "stopped"},
             "startContainer": {"creating", "running", "stopped"},
             "poststart": {"creating", "created", "stopped"},
             "poststop": {"creating", "created", "running"}}
    got = {e["hook"]: json.loads(e["stdin"]).get("status") for e in hook_log(log)}
    bad = {h: st for h, st in got.items() if st in wrong.get(h, ())}
    eq(bad, {}, f"hooks that saw a false status (all: {got})")


@case("hooks get their args and env")
def _(ctx):
    log = hook_setup(ctx)
    ctx.waiting()
    cid = ctx.create()
    entries = hook_log(log)
    check(entries, "no hook ran")
    for e in entries:
        want_args = ctx.config["hooks"][e["hook"]][0]["args"]
        eq(e["argv"], want_args, f"{e['hook']}: argv")
        check(f"HOOK_VAR=hook-{e['hook']}" in e["env"], f"{e['hook']}: env {e['env']}")


@case("createRuntime hooks run in the runtime namespace, createContainer and "
      "startContainer hooks in the container's mount namespace")
def _(ctx):
    ctx.rt_.lacks_hook("createRuntime", "createContainer", "startContainer")
    log = hook_setup(ctx)
    cid = ctx.running()
    r = ctx.report(cid)
    ns = {e["hook"]: e["ns"]["mnt"] for e in hook_log(log)}
    eq(ns.get("createRuntime"), host_ns("mnt"), "createRuntime mount namespace")
    eq(ns.get("createContainer"), r["ns"]["mnt"], "createContainer mount namespace")
    eq(ns.get("startContainer"), r["ns"]["mnt"], "startContainer mount namespace")
    eq(ns.get("poststart"), host_ns("mnt"), "poststart mount namespace")


@case("a failing createRuntime hook fails create and the program never runs")
def _(ctx):
    ctx.rt_.lacks_hook("createRuntime")
    log = hook_setup(ctx, fail="createRuntime")
    ctx.process("/bin/probe", "report")
    cid = ctx.new_id()
    rc, _ = ctx.try_create(cid)
    check(rc != 0, "create succeeded although a createRuntime hook failed")
    names = hook_names(log)
    check("createContainer" not in names, f"hooks after the failed one ran: {names}")
    if ctx.state_rc(cid) == 0:
        st = ctx.state(cid)
        eq(st.get("status"), "stopped", "status of a container whose create failed")
    time.sleep(0.3)
    eq(ctx.stdout_of(cid), "", "program output")


@case("a failing poststart hook: start goes on and later poststart hooks run")
def _(ctx):
    log = hook_setup(ctx, fail="poststart")
    h = ctx.config["hooks"]["poststart"]
    h.append({"path": ctx.rt_.probe, "args": ["probe", "hook", "poststart-2", log]})
    ctx.waiting()
    cid = ctx.create()
    rc, _, err = ctx.rt("start", cid)
    names = hook_names(log)
    check("poststart-2" in names, f"the second poststart hook did not run: {names}")
    eq(rc, 0, f"start ({err.strip()})")
    eq(ctx.state(cid).get("status"), "running", "status")


@case("a failing poststop hook: delete goes on and later poststop hooks run")
def _(ctx):
    log = hook_setup(ctx, fail="poststop")
    h = ctx.config["hooks"]["poststop"]
    h.append({"path": ctx.rt_.probe, "args": ["probe", "hook", "poststop-2", log]})
    cid = ctx.stopped()
    rc, _, err = ctx.rt("delete", cid)
    names = hook_names(log)
    check("poststop-2" in names, f"the second poststop hook did not run: {names}")
    check(ctx.state_rc(cid) != 0, "the container is still there after delete")


# ============================== config.md: root, process, hostname ==============================

@case("root.readonly true: / is read-only")
def _(ctx):
    r = ctx.probe("/", "/tmp")
    eq(r["paths"]["/"].get("write_errno"), EROFS, "mkdir in /")


@case("root.readonly false: / is writable")
def _(ctx):
    ctx.config["root"]["readonly"] = False
    r = ctx.probe("/")
    eq(r["paths"]["/"].get("write_errno"), 0, "mkdir in /")


@case("root.path may be absolute")
def _(ctx):
    ctx.config["root"]["path"] = ctx.rootfs
    r = ctx.probe("/bin/probe")
    check(r["paths"]["/bin/probe"]["exists"], "/bin/probe missing")


@case("process.args are passed verbatim")
def _(ctx):
    args = ["/bin/probe", "report", "/", "two words", "quote\"d", "$HOME", "", "ü"]
    ctx.process(*args)
    rc, out, err = ctx.run()
    eq(rc, 0, f"run ({err.strip()})")
    eq(json.loads(out.splitlines()[0])["argv"], args, "argv")


@case("process.args[0] without a slash is found through the config's PATH")
def _(ctx):
    os.makedirs(ctx.in_rootfs("/opt/xbin"))
    os.rename(ctx.in_rootfs("/bin/probe"), ctx.in_rootfs("/opt/xbin/probe2"))
    ctx.config["process"]["env"] = ["PATH=/nonexistent:/opt/xbin"]
    ctx.process("probe2", "report")
    rc, out, err = ctx.run()
    eq(rc, 0, f"run ({err.strip()})")
    check(out.startswith("{"), f"no report: {out!r}")


@case("process.env is the environment")
def _(ctx):
    env = ["PATH=/bin", "A=1", "EMPTY=", "SPACED=a b c", "EQ=x=y"]
    ctx.config["process"]["env"] = env
    os.environ["RTC_HOST_ONLY"] = "leak"
    try:
        r = ctx.probe()
    finally:
        del os.environ["RTC_HOST_ONLY"]
    for e in env:
        check(e in r["env"], f"{e!r} missing from {r['env']}")
    check(not any(e.startswith("RTC_HOST_ONLY=") for e in r["env"]),
          f"the runtime's environment leaked in: {r['env']}")


@case("process.cwd is the working directory")
def _(ctx):
    os.makedirs(ctx.in_rootfs("/etc/deep/dir"))
    ctx.config["process"]["cwd"] = "/etc/deep/dir"
    eq(ctx.probe()["cwd"], "/etc/deep/dir", "cwd")


@case("process.user: uid, gid, additionalGids")
def _(ctx):
    ctx.config["process"]["user"] = {"uid": 1000, "gid": 1001, "additionalGids": [5, 1002]}
    r = ctx.probe()
    eq(r["status"]["Uid"].split(), ["1000"] * 4, "Uid (real, effective, saved, fs)")
    eq(r["status"]["Gid"].split(), ["1001"] * 4, "Gid (real, effective, saved, fs)")
    eq(sorted(int(g) for g in r["status"]["Groups"].split()), [5, 1002], "Groups")


@case("process.user.umask")
def _(ctx):
    ctx.config["process"]["user"]["umask"] = 0o027
    eq(ctx.probe()["status"].get("Umask"), "0027", "Umask")


@case("process.rlimits set soft and hard limits")
def _(ctx):
    lims = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024},
            {"type": "RLIMIT_CORE", "soft": 4096, "hard": 8192},
            {"type": "RLIMIT_CPU", "soft": 100, "hard": 200}]
    ctx.config["process"]["rlimits"] = lims
    r = ctx.probe()
    for l in lims:
        eq(r["rlimits"][l["type"]], [l["soft"], l["hard"]], l["type"])


@case("process.rlimits: duplicate types are an error")
def _(ctx):
    ctx.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024},
                                        {"type": "RLIMIT_NOFILE", "soft": 256, "hard": 256}]
    rc, _, _ = ctx.run()
    check(rc != 0, "run succeeded with a duplicated rlimit type")


@case("process.rlimits: an unknown type is an error")
def _(ctx):
    ctx.config["process"]["rlimits"] = [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]
    rc, _, _ = ctx.run()
    check(rc != 0, "run succeeded with rlimit type RLIMIT_BOGUS")


@case("process.rlimits: a limit the runtime cannot set fails create")
def _(ctx):
    # Raising a hard limit needs CAP_SYS_RESOURCE; find a hard NOFILE above the runtime's.
    import resource
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with open("/proc/self/status") as f:
        eff = int([l for l in f if l.startswith("CapEff:")][0].split()[1], 16)
    if eff >> CAPS.index("CAP_SYS_RESOURCE") & 1 or hard == resource.RLIM_INFINITY:
        raise Skip("host: the runtime could raise any limit (CAP_SYS_RESOURCE)")
    ctx.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 1024,
                                         "hard": hard + 10000}]
    ctx.process("/bin/probe", "report")
    cid = ctx.new_id()
    rc, _ = ctx.try_create(cid)
    check(rc != 0, f"create succeeded with hard RLIMIT_NOFILE {hard + 10000} > {hard}")


@case("process.capabilities for root: all five sets as configured")
def _(ctx):
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"]
    ctx.config["process"]["capabilities"] = {k: list(caps) for k in
                                             ("bounding", "effective", "permitted",
                                              "inheritable", "ambient")}
    r = ctx.probe()
    for field in ("CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb"):
        eq(sorted(cap_set(r, field)), sorted(caps), field)


@case("process.capabilities for a non-root user: bounding, inheritable, ambient as "
      "configured; permitted and effective are the ambient set after exec")
def _(ctx):
    ctx.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    ctx.config["process"]["capabilities"] = {
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID"],
        "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "effective": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"],
    }
    r = ctx.probe()
    c = ctx.config["process"]["capabilities"]
    eq(sorted(cap_set(r, "CapBnd")), sorted(c["bounding"]), "CapBnd")
    eq(sorted(cap_set(r, "CapInh")), sorted(c["inheritable"]), "CapInh")
    eq(sorted(cap_set(r, "CapAmb")), sorted(c["ambient"]), "CapAmb")
    eq(sorted(cap_set(r, "CapPrm")), sorted(c["ambient"]), "CapPrm")
    eq(sorted(cap_set(r, "CapEff")), sorted(c["ambient"]), "CapEff")


@case("process.noNewPrivileges true sets no_new_privs")
def _(ctx):
    ctx.config["process"]["noNewPrivileges"] = True
    eq(ctx.probe()["status"].get("NoNewPrivs"), "1", "NoNewPrivs")


@case("process.noNewPrivileges false leaves no_new_privs unset")
def _(ctx):
    ctx.config["process"]["noNewPrivileges"] = False
    eq(ctx.probe()["status"].get("NoNewPrivs"), "0", "NoNewPrivs")


@case("process.oomScoreAdj")
def _(ctx):
    ctx.config["process"]["oomScoreAdj"] = 500
    eq(ctx.probe()["oom_score_adj"].strip(), "500", "oom_score_adj")


@case("hostname")
def _(ctx):
    ctx.config["hostname"] = "conformance-host"
    eq(ctx.probe()["uname"]["nodename"], "conformance-host", "nodename")


@case("domainname")
def _(ctx):
    ctx.config["domainname"] = "conformance.example"
    eq(ctx.probe()["uname"]["domainname"], "conformance.example", "domainname")


# ============================== config.md: mounts ==============================

@case("mounts: tmpfs with type, options and data")
def _(ctx):
    ctx.add_mount({"destination": "/m1", "type": "tmpfs", "source": "tmpfs",
                   "options": ["nosuid", "nodev", "noexec", "mode=750", "size=1m"]})
    r = ctx.probe("/m1")
    m = mount_at(r, "/m1")
    eq(m["fstype"], "tmpfs", "fstype")
    for o in ("nosuid", "nodev", "noexec"):
        check(o in m["opts"], f"{o} missing from {sorted(m['opts'])}")
    check("size=1024k" in m["super"], f"size=1m not in {sorted(m['super'])}")
    eq(r["paths"]["/m1"].get("mode"), 0o750, "mode of /m1")


@case("mounts are made in order: a later mount lands on an earlier one")
def _(ctx):
    host = ctx.path("hostdir")
    os.makedirs(host)
    open(os.path.join(host, "hostfile"), "w").write("from host\n")
    ctx.add_mount({"destination": "/m2", "type": "tmpfs", "source": "tmpfs"})
    ctx.add_mount({"destination": "/m2/sub", "type": "tmpfs", "source": "tmpfs",
                   "options": ["mode=711"]})
    ctx.add_mount({"destination": "/m3", "type": "tmpfs", "source": "tmpfs"})
    ctx.add_mount({"destination": "/m3", "type": "bind", "source": host,
                   "options": ["bind"]})
    r = ctx.probe("/m2/sub", "/m3/hostfile")
    ms = parse_mountinfo(r["mountinfo"])
    m2 = [m for m in ms if m["point"] == "/m2"]
    sub = [m for m in ms if m["point"] == "/m2/sub"]
    check(m2 and sub, "mounts /m2 or /m2/sub missing")
    eq(sub[-1]["parent"], m2[-1]["id"], "parent of /m2/sub is /m2")
    eq(r["paths"]["/m2/sub"].get("mode"), 0o711, "mode of /m2/sub")
    eq(r["paths"]["/m3/hostfile"].get("content"), "from host\n", "the later mount at /m3")


@case("mounts: a read-only bind mount of a host directory")
def _(ctx):
    host = ctx.path("hostdir")
    os.makedirs(host)
    open(os.path.join(host, "f"), "w").write("data\n")
    ctx.add_mount({"destination": "/data", "type": "bind", "source": host,
                   "options": ["rbind", "ro"]})
    r = ctx.probe("/data", "/data/f")
    eq(r["paths"]["/data/f"].get("content"), "data\n", "content")
    eq(r["paths"]["/data"].get("write_errno"), EROFS, "mkdir in /data")
    check("ro" in mount_at(r, "/data")["opts"], "not mounted ro")


@case("mounts: a bind mount of a file, created in the rootfs if missing")
def _(ctx):
    host = ctx.path("hostfile")
    open(host, "w").write("file bind\n")
    ctx.add_mount({"destination": "/etc/bound", "type": "bind", "source": host,
                   "options": ["bind", "ro"]})
    r = ctx.probe("/etc/bound")
    eq(r["paths"]["/etc/bound"].get("type"), "file", "type")
    eq(r["paths"]["/etc/bound"].get("content"), "file bind\n", "content")


def submount_dir(ctx):
    host = ctx.path("hostdir")
    os.makedirs(os.path.join(host, "sub"))
    ctx.host_mount("-t", "tmpfs", "tmpfs", os.path.join(host, "sub"))
    open(os.path.join(host, "sub", "marker"), "w").write("sub\n")
    return host


@case("mounts: bind leaves out submounts, rbind carries them")
def _(ctx):
    host = submount_dir(ctx)
    ctx.add_mount({"destination": "/b", "type": "bind", "source": host, "options": ["bind"]})
    ctx.add_mount({"destination": "/rb", "type": "bind", "source": host, "options": ["rbind"]})
    r = ctx.probe("/b/sub/marker", "/rb/sub/marker")
    check(not r["paths"]["/b/sub/marker"]["exists"], "bind carried the submount")
    check(r["paths"]["/rb/sub/marker"]["exists"], "rbind left out the submount")


@case("mounts: rro makes submounts read-only too")
def _(ctx):
    ctx.rt_.lacks_mount_option("rro")
    host = submount_dir(ctx)
    ctx.add_mount({"destination": "/rro", "type": "bind", "source": host,
                   "options": ["rbind", "rro"]})
    r = ctx.probe("/rro", "/rro/sub")
    eq(r["paths"]["/rro"].get("write_errno"), EROFS, "mkdir in /rro")
    eq(r["paths"]["/rro/sub"].get("write_errno"), EROFS, "mkdir in the submount /rro/sub")


def propagation_case(ctx, options):
    """A shared host directory bind-mounted at /s with `options`; the host then mounts a
    tmpfs under it while the container runs. Returns the report and whether the container
    saw that mount."""
    host = ctx.path("shared")
    os.makedirs(host)
    ctx.host_mount("--bind", host, host)
    subprocess.run(["mount", "--make-shared", host], check=True)
    ctx.add_mount({"destination": "/s", "type": "bind", "source": host, "options": options})
    cid = ctx.running()
    os.makedirs(os.path.join(host, "late"))
    ctx.host_mount("-t", "tmpfs", "tmpfs", os.path.join(host, "late"))
    r = ctx.report(cid)
    return r, any(m["point"] == "/s/late" for m in parse_mountinfo(r["mountinfo"]))


@case("mounts: rslave propagation receives host mounts made after start")
def _(ctx):
    r, seen = propagation_case(ctx, ["rbind", "rslave"])
    check(seen, "the host's later mount did not reach the container")
    check(any(o.startswith("master:") for o in mount_at(r, "/s")["optional"]),
          f"/s is not a slave: {mount_at(r, '/s')['optional']}")


@case("mounts: rprivate propagation receives nothing from the host")
def _(ctx):
    r, seen = propagation_case(ctx, ["rbind", "rprivate"])
    check(not seen, "the host's later mount reached a private mount")
    eq(mount_at(r, "/s")["optional"], [], "optional fields of /s")


# ============================== config-linux.md ==============================

ALL_NS = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts", "mount": "mnt",
          "cgroup": "cgroup"}


@case("namespaces: each listed type is a new namespace")
def _(ctx):
    ctx.config["linux"]["namespaces"] = [{"type": t} for t in ALL_NS]
    r = ctx.probe()
    for t, f in ALL_NS.items():
        check(r["ns"][f] != host_ns(f), f"{t}: same namespace as the runtime's ({r['ns'][f]})")
    eq(r["pid"], 1, "pid in a new pid namespace")


@case("namespaces: an unlisted type is the runtime's")
def _(ctx):
    ctx.config["linux"]["namespaces"] = [{"type": "pid"}, {"type": "mount"}]
    del ctx.config["hostname"]
    r = ctx.probe()
    for f in ("net", "ipc", "uts", "cgroup"):
        eq(r["ns"][f], host_ns(f), f"{f} namespace")


# runtime-tools' linux_ns_itype and linux_ns_nopath, one type at a time: config-linux.md says a
# type that is not listed is inherited from the runtime.
NS_FILES = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts", "mount": "mnt"}


def without_namespace(ctx, missing, unmasked=False):
    """The default config without a `missing` namespace. The container runs; its process is
    in the runtime's namespace of that type and in new ones of the others, seen from inside
    and from the host; its mounts were made (/proc is a procfs); and once deleted it leaves
    nothing on the host: no state, no process, no mount under the bundle (without a mount
    namespace the runtime mounts under the rootfs in the host's namespace, and delete must
    undo that)."""
    ctx.config["linux"]["namespaces"] = [{"type": t} for t in NS_FILES if t != missing]
    if unmasked:
        del ctx.config["linux"]["maskedPaths"], ctx.config["linux"]["readonlyPaths"]
    if missing == "uts":
        del ctx.config["hostname"]  # a hostname needs a UTS namespace of its own
    cid = ctx.running()
    pid = ctx.state(cid)["pid"]
    started = start_time(pid)
    outside = {f: os.readlink(f"/proc/{pid}/ns/{f}") for f in NS_FILES.values()}
    r = ctx.report(cid)
    for t, f in NS_FILES.items():
        shared = "the runtime's" if t == missing else "a new"
        want = t == missing
        eq(outside[f] == host_ns(f), want, f"{f} namespace is {shared} (from the host)")
        eq(r["ns"][f] == host_ns(f), want, f"{f} namespace is {shared} (from inside)")
    if missing == "pid":
        eq(r["pid"], pid, "pid in the runtime's pid namespace")
    else:
        eq(r["pid"], 1, "pid in a new pid namespace")
    eq(mount_at(r, "/proc")["fstype"], "proc", "fstype of /proc")
    ctx.wait_status(cid, "stopped")
    rc, _, err = ctx.rt("delete", cid)
    eq(rc, 0, f"delete ({err.strip()})")
    check(ctx.state_rc(cid) != 0, "state of a deleted container succeeded")
    check(not running(pid, started), f"the container process {pid} still runs")
    eq(mounts_under(ctx.bundle), [], "mounts left under the bundle after delete")


for _t in NS_FILES:
    case(f"namespaces: without a {_t} namespace the container runs in the runtime's, "
         "and delete leaves nothing")(lambda ctx, t=_t: without_namespace(ctx, t))
# runc refuses maskedPaths and readonlyPaths without a mount namespace ("unable to restrict sys
# entries"); the spec does not. This variant is the one every runtime can run.
case("namespaces: without a mount namespace, maskedPaths or readonlyPaths the container runs "
     "in the runtime's, and delete leaves nothing")(
    lambda ctx: without_namespace(ctx, "mount", unmasked=True))


@case("namespaces: a path joins an existing namespace")
def _(ctx):
    first = ctx.running()
    pid = ctx.state(first)["pid"]
    want = {f: os.readlink(f"/proc/{pid}/ns/{f}") for f in ("net", "ipc", "uts")}
    ctx.config["linux"]["namespaces"] = [
        {"type": "pid"}, {"type": "mount"},
        {"type": "network", "path": f"/proc/{pid}/ns/net"},
        {"type": "ipc", "path": f"/proc/{pid}/ns/ipc"},
        {"type": "uts", "path": f"/proc/{pid}/ns/uts"}]
    del ctx.config["hostname"]
    r = ctx.probe()
    for f, v in want.items():
        eq(r["ns"][f], v, f"{f} namespace")


@case("namespaces: a path to a namespace of another type is an error")
def _(ctx):
    ctx.config["linux"]["namespaces"] = [
        {"type": "pid"}, {"type": "mount"}, {"type": "uts"},
        {"type": "ipc", "path": "/proc/self/ns/net"}]
    # /proc/self is the runtime; spell out a stable pid instead.
    ctx.config["linux"]["namespaces"][3]["path"] = f"/proc/{os.getpid()}/ns/net"
    rc, _, _ = ctx.run()
    check(rc != 0, "run succeeded with a network namespace path for type ipc")


@case("namespaces: user namespace with uidMappings and gidMappings")
def _(ctx):
    ctx.rt_.lacks_namespace("user")
    ctx.config["linux"]["namespaces"] = [{"type": t} for t in
                                         ("pid", "network", "ipc", "uts", "mount", "user")]
    ctx.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    ctx.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    r = ctx.probe()
    check(r["ns"]["user"] != host_ns("user"), "same user namespace as the runtime's")
    eq(r["uid_map"].split(), ["0", "100000", "65536"], "uid_map")
    eq(r["gid_map"].split(), ["0", "200000", "65536"], "gid_map")
    eq(r["status"]["Uid"].split()[0], "0", "uid inside")


@case("namespaces: time namespace with timeOffsets")
def _(ctx):
    ctx.rt_.lacks_namespace("time")
    off = {"monotonic": 86400 * 365, "boottime": 86400 * 730}
    ctx.config["linux"]["namespaces"].append({"type": "time"})
    ctx.config["linux"]["timeOffsets"] = {k: {"secs": v, "nanosecs": 0} for k, v in off.items()}
    before = {"monotonic": time.clock_gettime(time.CLOCK_MONOTONIC),
              "boottime": time.clock_gettime(time.CLOCK_BOOTTIME)}
    r = ctx.probe()
    after = {"monotonic": time.clock_gettime(time.CLOCK_MONOTONIC),
             "boottime": time.clock_gettime(time.CLOCK_BOOTTIME)}
    check(r["ns"].get("time") != host_ns("time"), "same time namespace as the runtime's")
    for k, o in off.items():
        sec, nsec = r["clocks"][k]
        t = sec + nsec / 1e9
        check(before[k] + o - 1 <= t <= after[k] + o + 1,
              f"{k}: {t:.1f}, want {before[k] + o:.1f}..{after[k] + o:.1f}")


def find_device(r, name):
    d = r["dev"].get(name)
    if d is None:
        raise Fail(f"/dev/{name} missing (have {sorted(r['dev'])})")
    return d


@case("devices: linux.devices nodes with type, major, minor, fileMode, uid, gid")
def _(ctx):
    ctx.config["linux"]["devices"] = [
        {"path": "/dev/rtc-null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640,
         "uid": 1000, "gid": 1001},
        {"path": "/dev/rtc-blk", "type": "b", "major": 7, "minor": 250, "fileMode": 0o600,
         "uid": 0, "gid": 0}]
    ctx.config["linux"]["resources"]["devices"] += [
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": True, "type": "b", "major": 7, "minor": 250, "access": "rwm"}]
    r = ctx.probe("/dev/rtc-null", "/dev/rtc-blk")
    a, b = r["paths"]["/dev/rtc-null"], r["paths"]["/dev/rtc-blk"]
    eq((a.get("type"), a.get("rdev"), a.get("mode"), a.get("uid"), a.get("gid")),
       ("chr", [1, 3], 0o640, 1000, 1001), "/dev/rtc-null (type, rdev, mode, uid, gid)")
    eq((b.get("type"), b.get("rdev"), b.get("mode")), ("blk", [7, 250], 0o600),
       "/dev/rtc-blk (type, rdev, mode)")


@case("devices: the default devices exist with the right numbers")
def _(ctx):
    r = ctx.probe()
    want = {"null": [1, 3], "zero": [1, 5], "full": [1, 7], "random": [1, 8],
            "urandom": [1, 9], "tty": [5, 0]}
    for name, rdev in want.items():
        d = find_device(r, name)
        eq((d["type"], d["rdev"]), ("chr", rdev), f"/dev/{name}")
    ptmx = find_device(r, "ptmx")
    check((ptmx["type"] == "lnk" and ptmx.get("link") in ("pts/ptmx", "/dev/pts/ptmx"))
          or (ptmx["type"] == "chr" and ptmx["rdev"] == [5, 2]),
          f"/dev/ptmx is neither a symlink to pts/ptmx nor a bind of it: {ptmx}")


@case("devices: the default devices can be read and written")
def _(ctx):
    names = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"]
    r = ctx.probe(*names)
    for n in names:
        p = r["paths"][n]
        check("read_errno" not in p, f"{n}: read open failed, errno {p.get('read_errno')}")
        eq(p.get("write_errno"), 0, f"{n}: write open errno")


@case("devices: /dev/fd, /dev/stdin, /dev/stdout, /dev/stderr symlinks")
def _(ctx):
    r = ctx.probe()
    want = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
            "stderr": "/proc/self/fd/2"}
    for name, target in want.items():
        d = find_device(r, name)
        eq((d["type"], d.get("link")), ("lnk", target), f"/dev/{name}")


@case("resources.devices: the device cgroup applies the rules in order")
def _(ctx):
    ctx.rt_.lacks_cgroup_v1()
    ctx.config["linux"]["devices"] = [
        {"path": "/dev/rtc-fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666}]
    ctx.config["linux"]["resources"]["devices"] += [
        {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
        {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "r"}]
    r = ctx.probe("/dev/rtc-fuse")
    p = r["paths"]["/dev/rtc-fuse"]
    eq(p.get("read_errno"), EPERM, "read open of a device whose read access was denied")
    check(p.get("write_errno") != EPERM, "write open denied although allowed")


@case("sysctl: values set in the container's namespaces")
def _(ctx):
    ctx.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.msgmax": "4321"}
    r = ctx.probe("/proc/sys/net/ipv4/ip_forward", "/proc/sys/kernel/msgmax")
    eq(r["paths"]["/proc/sys/net/ipv4/ip_forward"].get("content", "").strip(), "1",
       "net.ipv4.ip_forward")
    eq(r["paths"]["/proc/sys/kernel/msgmax"].get("content", "").strip(), "4321",
       "kernel.msgmax")


@case("maskedPaths: files read empty, directories are empty, missing paths are ignored")
def _(ctx):
    os.makedirs(ctx.in_rootfs("/etc/secretdir"))
    open(ctx.in_rootfs("/etc/secret"), "w").write("secret\n")
    open(ctx.in_rootfs("/etc/secretdir/f"), "w").write("secret\n")
    ctx.config["linux"]["maskedPaths"] += ["/etc/secret", "/etc/secretdir", "/etc/nonexistent"]
    r = ctx.probe("/etc/secret", "/etc/secretdir", "/proc/kcore", "/sys/firmware")
    p = r["paths"]
    eq(p["/etc/secret"].get("content"), "", "content of masked /etc/secret")
    eq(p["/etc/secretdir"].get("entries"), [], "entries of masked /etc/secretdir")
    eq(p["/proc/kcore"].get("content", ""), "", "content of masked /proc/kcore")
    eq(p["/sys/firmware"].get("entries", []), [], "entries of masked /sys/firmware")


@case("readonlyPaths: read-only, the rest stays writable")
def _(ctx):
    ctx.config["root"]["readonly"] = False
    os.makedirs(ctx.in_rootfs("/etc/rodir"))
    ctx.config["linux"]["readonlyPaths"].append("/etc/rodir")
    proc = ["/proc/sys/kernel/domainname", "/proc/sysrq-trigger"]
    r = ctx.probe("/etc/rodir", "/etc", *proc)
    p = r["paths"]
    eq(p["/etc/rodir"].get("write_errno"), EROFS, "mkdir in /etc/rodir")
    eq(p["/etc"].get("write_errno"), 0, "mkdir in /etc")
    for path in proc:  # what this kernel has of them
        if p[path]["exists"]:
            eq(p[path].get("write_errno"), EROFS, f"write test of {path}")


def root_optional(ctx, prop):
    """The propagation fields of the container's / (the rootfs mount) under `prop`."""
    ctx.config["linux"]["rootfsPropagation"] = prop
    return mount_at(ctx.probe(), "/")["optional"]


@case("rootfsPropagation private: / has no propagation fields")
def _(ctx):
    eq(root_optional(ctx, "private"), [], "optional fields of /")


@case("rootfsPropagation shared: / is shared")
def _(ctx):
    opt = root_optional(ctx, "shared")
    check(any(o.startswith("shared:") for o in opt), f"/ is not shared: {opt}")


@case("rootfsPropagation unbindable: / is unbindable")
def _(ctx):
    opt = root_optional(ctx, "unbindable")
    check("unbindable" in opt, f"/ is not unbindable: {opt}")


def cgroup_setup(ctx, path):
    ctx.rt_.lacks_cgroup_v1()
    ctx.cgroups.append(path)
    ctx.config["linux"]["cgroupsPath"] = path


def v1_cgroups(pid):
    """{controller: path} from /proc/PID/cgroup, v1 hierarchies only."""
    out = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            for c in ctrls.split(","):
                if c:
                    out[c] = path
    return out


@case("cgroupsPath: the process is in that cgroup of each v1 hierarchy; delete removes it")
def _(ctx):
    path = f"/rtc-conformance/c{os.getpid()}"
    cgroup_setup(ctx, path)
    ctx.waiting()
    cid = ctx.create()
    pid = ctx.state(cid)["pid"]
    got = v1_cgroups(pid)
    for c in ("memory", "pids", "cpu", "devices", "freezer", "blkio"):
        eq(got.get(c), path, f"{c} cgroup of the container process")
    ctx.kill(cid, "KILL")
    ctx.wait_status(cid, "stopped")
    rc, _, err = ctx.rt("delete", cid)
    eq(rc, 0, f"delete ({err.strip()})")
    left = [c for c in ("memory", "pids", "cpu", "devices", "freezer", "blkio")
            if os.path.isdir(f"/sys/fs/cgroup/{c}{path}")]
    eq(left, [], "cgroups left after delete")


@case("resources: memory.limit and pids.limit are applied to the cgroup")
def _(ctx):
    path = f"/rtc-conformance/r{os.getpid()}"
    cgroup_setup(ctx, path)
    ctx.config["linux"]["resources"]["memory"] = {"limit": 64 * 1024 * 1024}
    ctx.config["linux"]["resources"]["pids"] = {"limit": 42}
    ctx.waiting()
    ctx.create()
    with open(f"/sys/fs/cgroup/memory{path}/memory.limit_in_bytes") as f:
        eq(int(f.read()), 64 * 1024 * 1024, "memory.limit_in_bytes")
    with open(f"/sys/fs/cgroup/pids{path}/pids.max") as f:
        eq(f.read().strip(), "42", "pids.max")


@case("seccomp: SCMP_ACT_ERRNO returns errnoRet, or EPERM without it")
def _(ctx):
    ctx.rt_.lacks_seccomp("SCMP_ACT_ERRNO")
    ctx.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18},
            {"names": ["getsid"], "action": "SCMP_ACT_ERRNO"}]}
    r = ctx.probe()
    eq(r["status"].get("Seccomp"), "2", "Seccomp mode")
    eq(r["syscalls"]["getpriority"]["errno"], 18, "getpriority errno (errnoRet 18)")
    eq(r["syscalls"]["getsid"]["errno"], EPERM, "getsid errno (default EPERM)")


@case("idmapped mounts: idmap with the container's user namespace and with the mount's own maps")
def _(ctx):
    ctx.rt_.lacks_namespace("user")
    ctx.rt_.lacks_idmap()
    host = ctx.path("idmapped")
    os.makedirs(host)
    with open(os.path.join(host, "f"), "w") as f:
        f.write("x")
    for d in ("plain", "idm", "own"):
        os.makedirs(ctx.in_rootfs(d), exist_ok=True)
    ctx.config["linux"]["namespaces"].append({"type": "user"})
    ctx.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    ctx.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    ctx.add_mount({"destination": "/plain", "type": "bind", "source": host, "options": ["bind"]})
    ctx.add_mount({"destination": "/idm", "type": "bind", "source": host, "options": ["bind", "idmap"]})
    ctx.add_mount({"destination": "/own", "type": "bind", "source": host, "options": ["bind", "idmap"],
                   "uidMappings": [{"containerID": 0, "hostID": 100005, "size": 1}],
                   "gidMappings": [{"containerID": 0, "hostID": 100007, "size": 1}]})
    r = ctx.probe("/plain/f", "/idm/f", "/own/f")
    eq(r["paths"]["/plain/f"].get("uid"), 65534, "owner through a plain bind (unmapped)")
    eq(r["paths"]["/idm/f"].get("uid"), 0, "owner through idmap (container's mapping)")
    eq(r["paths"]["/own/f"].get("uid"), 5, "owner through idmap (the mount's own mapping)")
    eq(os.stat(os.path.join(host, "f")).st_uid, 0, "host ownership unchanged")


@case("linux.memoryPolicy: MPOL_INTERLEAVE on node 0")
def _(ctx):
    ctx.rt_.lacks_memory_policy("MPOL_INTERLEAVE")
    ctx.config["linux"]["memoryPolicy"] = {"mode": "MPOL_INTERLEAVE", "nodes": "0"}
    r = ctx.probe()
    eq(r.get("numa_policy"), "interleave:0", "policy of the process's first mapping")


@case("seccomp: SCMP_ACT_NOTIFY hands the listener to the agent with state and metadata")
def _(ctx):
    import array
    import fcntl
    import socket
    import struct
    import threading
    ctx.rt_.lacks_seccomp("SCMP_ACT_NOTIFY")
    sock_path = ctx.path("agent.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(1)
    srv.settimeout(20)
    got = {}

    def agent():
        try:
            conn, _ = srv.accept()
            fds = array.array("i")
            data = b""
            while True:
                msg, anc, _, _ = conn.recvmsg(65536, socket.CMSG_SPACE(16 * fds.itemsize))
                for level, typ, payload in anc:
                    if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                        fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
                if not msg:
                    break
                data += msg
            conn.close()
            got["state"] = json.loads(data)
            fd = fds[0]
            # struct seccomp_notif (80 bytes) / seccomp_notif_resp (24 bytes).
            recv_req, send_req = 0xC0502100, 0xC0182101
            while True:
                buf = bytearray(80)
                try:
                    fcntl.ioctl(fd, recv_req, buf)
                except OSError:
                    break
                nid = struct.unpack_from("Q", buf, 0)[0]
                fcntl.ioctl(fd, send_req, struct.pack("QqiI", nid, 0, -13, 0))
                got["answered"] = got.get("answered", 0) + 1
        except OSError as e:
            got["error"] = str(e)

    t = threading.Thread(target=agent, daemon=True)
    t.start()
    ctx.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "listenerPath": sock_path,
        "listenerMetadata": "conformance",
        "syscalls": [{"names": ["getsid"], "action": "SCMP_ACT_NOTIFY"}]}
    r = ctx.probe()
    srv.close()
    check("state" in got, f"the agent got nothing ({got.get('error')})")
    eq(got["state"].get("metadata"), "conformance", "listenerMetadata")
    eq(got["state"].get("fds"), ["seccompFd"], "fds")
    eq(got["state"].get("state", {}).get("id") is not None, True, "state.id present")
    eq(r["syscalls"]["getsid"]["errno"], 13, "getsid answered by the agent with EACCES")
