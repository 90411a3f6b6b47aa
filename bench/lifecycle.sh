#!/usr/bin/env bash
# Container lifecycle benchmark (not a test): berth against runc and crun on identical bundles.
#
# Usage (as root):  bash bench/lifecycle.sh          e.g. RUNTIMES="runc crun" N=30 bash bench/lifecycle.sh
#   BERTH=path            berth binary (default: target/release/berth under the repo root)
#   RUNTIMES="berth runc crun"   runc/crun are skipped, loudly, when not installed
#   N=200                 timed containers per runtime, run one after another
#   WARMUP=10             untimed containers per runtime first
#   BASELINE=1            also time `unshare --fork --pid --mount --uts --ipc --net chroot ROOTFS /bin/true`
#   PARALLEL=50           containers started at once with `run -d`, then deleted at once (0: off)
#   PARALLEL_ROUNDS=3     rounds of that
#   EXEC_N=50             `exec ID /bin/true` samples per runtime into a running container (0: off)
#   RSS_N=5               runs per runtime under /usr/bin/time -f %M for peak RSS (0: off; package `time`)
#   CALL_TIMEOUT=60       seconds before one runtime call is killed and counted as a failure
#   PYTHON=python3
#
# The timed unit is `run ID` of /bin/true: runc's and crun's `run` remove the container once it
# exits (crun 1.8 has no --keep), so `run` is create + start + wait + delete. A runtime whose
# `run` leaves the container behind also gets a timed `delete ID`, and is reported.
# Every runtime runs the same busybox rootfs (read-only) with the same config.json (`runc spec`,
# terminal off, default namespaces and mounts), its own cgroup (linux.cgroupsPath
# /bench-<runtime>-<tag>-<i>), its own --root state dir and container ids. Every phase goes
# round-robin (berth, runc, crun, berth, ...) so drift affects all alike. Each call gets a fresh
# pipe as stdin: crun 1.8 chowns the container's stdin, so never a host file such as /dev/null.
#
# Hybrid cgroup hosts (v1 controllers plus cgroup2 at /sys/fs/cgroup/unified): crun refuses
# them, so the script re-executes itself in a private mount namespace where the cgroup2 mount
# is unmounted (in that namespace only) and runs every runtime there, which is fair to all.
#
# Output: tables, then one line per runtime (`bench: runtime=NAME median_ms=... p90_ms=...`)
# and per ratio (`bench: ratio=berth/runc median=... p90=...`). Exit status 1 if a runtime
# failed or left state or cgroups behind. The timing itself is in bench/lifecycle.py.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")

say() { printf 'lifecycle: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 2; }
loud() {
    printf '\n!!! %s\n\n' "$*" >&2
}

# Removes what this run's containers left under /sys/fs/cgroup (names carry the run's tag).
# A cgroup is only rmdir'ed, depth first: that fails while it still has tasks, so a busy one is
# reported, never forced. Under a cgroup mount point that this namespace unmounted (hybrid
# hosts), runtimes make plain tmpfs directories instead (crun writes a cgroup.procs file there);
# those are removed with rm, which is safe because nothing in them is a cgroup.
sweep_cgroups() {
    local tag=$1 d
    # v1 and hybrid: /sys/fs/cgroup/<hierarchy>/NAME; pure cgroup2: /sys/fs/cgroup/NAME.
    for d in /sys/fs/cgroup/*/bench-*-"$tag"-* /sys/fs/cgroup/bench-*-"$tag"-*; do
        [[ -d $d && ! -L $d ]] || continue
        if mountpoint -q "$(dirname "$d")"; then
            find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
        elif [[ $(stat -f -c %T "$d") == tmpfs ]]; then
            rm -rf --one-file-system "$d"
        fi
        [[ -d $d ]] && say "cleanup: could not remove $d (still in use?)"
    done
    return 0
}

# In a fresh private mount namespace, sweeps what is hidden under the host's cgroup2 mount
# point (in case the benchmark's own namespace died before its cleanup).
sweep_hidden() {
    mountpoint -q /sys/fs/cgroup/unified || return 0
    BERTH_BENCH_INNER=sweep BENCH_TAG=$1 unshare --mount --propagation private -- bash "${BASH_SOURCE[0]}" || true
}

outer() {
    [[ $(id -u) == 0 ]] || die "must run as root (runtimes create namespaces and cgroups)"
    local n
    for n in N WARMUP PARALLEL PARALLEL_ROUNDS EXEC_N RSS_N BASELINE; do
        [[ ${!n:-0} =~ ^[0-9]+$ ]] || die "$n must be a non-negative integer, not '${!n}'"
    done
    (( ${N:-200} > 0 )) || die "N must be at least 1"
    local tool
    for tool in "${PYTHON:-python3}" jq unshare chroot busybox find; do
        command -v "$tool" >/dev/null || die "$tool not found"
    done

    local specs=() rt path
    for rt in ${RUNTIMES:-berth runc crun}; do
        case $rt in
            berth)
                path=${BERTH:-$repo/target/release/berth}
                [[ $path == /* ]] || path=$repo/$path
                [[ -x $path ]] || die "berth binary not found at $path (cargo build --release, or set BERTH=)"
                ;;
            runc|crun)
                path=$(command -v "$rt" || true)
                [[ -z $path && -x /usr/sbin/$rt ]] && path=/usr/sbin/$rt
                [[ -z $path && -x /usr/bin/$rt ]] && path=/usr/bin/$rt
                if [[ -z $path ]]; then
                    loud "SKIPPING $rt: not installed (apt-get install $rt)"
                    continue
                fi
                ;;
            *) die "unknown runtime '$rt' (known: berth runc crun)" ;;
        esac
        specs+=("$rt=$path")
    done
    (( ${#specs[@]} > 0 )) || die "no runtime left to benchmark"

    work=$(mktemp -d /tmp/berth-bench.XXXXXX)
    tag=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
    trap 'sweep_cgroups "$tag"; sweep_hidden "$tag"; rm -rf --one-file-system "$work"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    say "host: $(uname -r), $(nproc) CPUs; work dir $work; container ids bench-<runtime>-$tag-<i>"
    for rt in "${specs[@]}"; do
        say "${rt%%=*}: ${rt#*=} ($("${rt#*=}" --version </dev/null 2>&1 | head -n1))"
    done

    local status=0
    BERTH_BENCH_INNER=1 BENCH_WORK=$work BENCH_TAG=$tag BENCH_RUNTIMES="${specs[*]}" \
        unshare --mount --propagation private -- bash "${BASH_SOURCE[0]}" || status=$?
    return "$status"
}

inner_cleanup() {
    local spec name path root d
    for spec in $BENCH_RUNTIMES; do
        name=${spec%%=*} path=${spec#*=} root=$BENCH_WORK/state/$name
        for d in "$root"/bench-*; do
            [[ -e $d ]] || continue
            say "cleanup: $name --root $root delete --force ${d##*/}"
            : | "$path" --root "$root" delete --force "${d##*/}" 2>&1 | cat >&2 || true
        done
    done
    sweep_cgroups "$BENCH_TAG"
}

inner() {
    local work=$BENCH_WORK
    trap inner_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    # Only in this private mount namespace: the host keeps its cgroup2 mount.
    if mountpoint -q /sys/fs/cgroup/unified; then
        umount /sys/fs/cgroup/unified
        say "hybrid cgroups: /sys/fs/cgroup/unified unmounted in the benchmark's mount namespace"
    fi
    # State, bundles and rootfs on tmpfs (as /run is on a usual host); it goes with the namespace.
    mount -t tmpfs -o mode=0700 berth-bench "$work"

    local rootfs=$work/rootfs
    mkdir -p "$rootfs"/{bin,dev,proc,sys,tmp,etc} "$work"/bundles "$work"/template
    cp "$(command -v busybox)" "$rootfs/bin/busybox"
    ln -s busybox "$rootfs/bin/true"
    ln -s busybox "$rootfs/bin/sleep"
    chroot "$rootfs" /bin/true || die "busybox in $rootfs does not run; install the static one (busybox-static)"

    local spec name path spec_from=
    for spec in $BENCH_RUNTIMES; do
        name=${spec%%=*} path=${spec#*=}
        mkdir -p "$work/state/$name"
        [[ $name == runc || -z $spec_from ]] && spec_from=$path
    done
    # runc's default spec when runc is there; the others' `spec` otherwise.
    (cd "$work/template" && "$spec_from" spec </dev/null)
    jq --arg root "$rootfs" '
        .process.terminal = false
        | .process.args = ["/bin/true"]
        | .root = {path: $root, readonly: true}' \
        "$work/template/config.json" >"$work/config.json"

    say "N=${N:-200} WARMUP=${WARMUP:-10} PARALLEL=${PARALLEL:-50}x${PARALLEL_ROUNDS:-3} EXEC_N=${EXEC_N:-50} RSS_N=${RSS_N:-5} BASELINE=${BASELINE:-1}"
    "${PYTHON:-python3}" "$here/lifecycle.py"
}

case ${BERTH_BENCH_INNER:-} in
    '') outer ;;
    1) inner ;;
    sweep) umount /sys/fs/cgroup/unified && sweep_cgroups "$BENCH_TAG" ;;
esac
