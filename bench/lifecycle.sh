#!/usr/bin/env bash
# Container lifecycle benchmark (not a test): berth against crun and runc on one bundle, and
# against the floor (what the kernel alone takes to start a process in new namespaces).
#
# Usage (as root):  make bench                     (builds the static release binary first)
#                   bash bench/lifecycle.sh         e.g. N=50 PARALLEL=50 bash bench/lifecycle.sh
#                   SMOKE=1 bash bench/lifecycle.sh (a few seconds: keeps the script from rotting)
#   BERTH=path            berth binary (default: target/<host>/release/berth, else target/release/berth)
#   RUNTIMES="berth crun runc"   crun/runc are skipped, loudly, when not installed; a
#                         `berth-NAME=PATH` entry adds another berth build to the rotation (A/B)
#   N=200                 `run` rounds (every contender once per round, in a new order each round)
#   WARMUP=10             untimed rounds first
#   FLOOR=1               time `unshare --fork --pid --mount --uts --ipc --net --cgroup chroot ROOTFS /bin/true`
#                         in the same rotation
#   PARALLEL="50 200"     containers started at once with `run -d`, then deleted at once ("": off)
#   PARALLEL_ROUNDS=4     rounds of each
#   EXEC_N=100            `exec ID /bin/true` rounds into a running container (0: off)
#   RSS_N=10              runs per contender under GNU time for peak RSS (0: off; package `time`)
#   CALL_TIMEOUT=60       seconds before one runtime call is killed and counted as a failure
#   SMOKE=1               N=3 WARMUP=1 PARALLEL="" EXEC_N=3 RSS_N=1, and differing cgroup
#                         hierarchies are reported but not an error
#   PYTHON=python3
#
# What is timed, how CPU time and peak RSS are taken, and how the order changes: see the
# docstring of bench/lifecycle.py, which does the timing and the report.
# Every runtime runs the same busybox rootfs (read-only) with the same config.json (`runc spec`,
# terminal off, default namespaces and mounts), its own cgroup (linux.cgroupsPath
# /bench-<runtime>-<tag>-<i>), its own --root state dir and container ids. Each call gets a fresh
# pipe as stdin: crun 1.8 chowns the container's stdin, so never a host file such as /dev/null.
#
# Hybrid cgroup hosts (v1 controllers plus cgroup2 at /sys/fs/cgroup/unified): crun refuses
# them, so the script re-executes itself in a private mount namespace where the cgroup2 mount
# is unmounted (in that namespace only) and runs every runtime there, which is fair to all.
#
# Output: one table per unit (wall and CPU time, p50/p90/min, ratios), the cgroup hierarchies
# each runtime's container joined, issue 17's targets as met/missed, then `bench: ...` lines
# for scripts. Exit status 1 if a runtime failed, left state or cgroups behind, or (unless
# SMOKE) the runtimes' containers were not in the same cgroup hierarchies.
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
    if [[ ${SMOKE:-0} == 1 ]]; then
        export N=${N:-3} WARMUP=${WARMUP:-1} PARALLEL=${PARALLEL-} EXEC_N=${EXEC_N:-3} RSS_N=${RSS_N:-1}
    fi
    export N=${N:-200} WARMUP=${WARMUP:-10} PARALLEL=${PARALLEL-50 200} PARALLEL_ROUNDS=${PARALLEL_ROUNDS:-4} \
        EXEC_N=${EXEC_N:-100} RSS_N=${RSS_N:-10} FLOOR=${FLOOR:-1} SMOKE=${SMOKE:-0}
    local n p
    for n in N WARMUP PARALLEL_ROUNDS EXEC_N RSS_N FLOOR SMOKE; do
        [[ ${!n} =~ ^[0-9]+$ ]] || die "$n must be a non-negative integer, not '${!n}'"
    done
    for p in $PARALLEL; do
        [[ $p =~ ^[0-9]+$ ]] || die "PARALLEL must be a list of container counts, not '$PARALLEL'"
    done
    (( N > 0 )) || die "N must be at least 1"
    local tool
    for tool in "${PYTHON:-python3}" jq unshare chroot busybox find; do
        command -v "$tool" >/dev/null || die "$tool not found"
    done

    local specs=() rt path
    for rt in ${RUNTIMES:-berth crun runc}; do
        case $rt in
            berth)
                path=${BERTH:-}
                if [[ -z $path ]]; then
                    # The static-pie binary `make release` builds, else a plain release build.
                    path=$repo/target/$(rustc -vV 2>/dev/null | sed -n 's/^host: //p')/release/berth
                    [[ -x $path ]] || path=$repo/target/release/berth
                fi
                [[ $path == /* ]] || path=$repo/$path
                [[ -x $path ]] || die "berth binary not found at $path (cargo build --release, or set BERTH=)"
                ;;
            runc|crun)
                path=$(command -v "$rt" || true)
                [[ -z $path && -x /usr/sbin/$rt ]] && path=/usr/sbin/$rt
                [[ -z $path && -x /usr/bin/$rt ]] && path=/usr/bin/$rt
                if [[ -z $path ]]; then
                    # Under CI a comparison that cannot run is a failure, not a skip.
                    [[ ${CI:-} == true ]] && die "$rt is not installed (integration/setup.sh installs it)"
                    loud "SKIPPING $rt: not installed (apt-get install $rt)"
                    continue
                fi
                ;;
            berth-*=*)
                # Another berth build, for an A/B comparison in the same rotation.
                path=${rt#*=} rt=${rt%%=*}
                [[ $rt =~ ^berth-[a-z0-9_]+$ ]] || die "a berth variant is named berth-[a-z0-9_]+, not '$rt'"
                [[ $path == /* ]] || path=$repo/$path
                [[ -x $path ]] || die "$rt: no executable at $path"
                ;;
            *) die "unknown runtime '$rt' (known: berth runc crun, and berth-NAME=PATH)" ;;
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

    say "N=$N WARMUP=$WARMUP PARALLEL='$PARALLEL'x$PARALLEL_ROUNDS EXEC_N=$EXEC_N RSS_N=$RSS_N FLOOR=$FLOOR SMOKE=$SMOKE"
    "${PYTHON:-python3}" "$here/lifecycle.py"
}

case ${BERTH_BENCH_INNER:-} in
    '') outer ;;
    1) inner ;;
    sweep) umount /sys/fs/cgroup/unified && sweep_cgroups "$BENCH_TAG" ;;
esac
