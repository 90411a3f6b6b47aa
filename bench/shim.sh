#!/usr/bin/env bash
# Shim benchmark (not a test): containerd 1.6 running containers through
#   berth-shim   containerd-shim-berth-v2 (berth's runtime linked in)
#   runc-shim    containerd-shim-runc-v2 + runc
#   runc-berth   containerd-shim-runc-v2 + berth (BinaryName)
#
# Usage (as root):  SHIM=... BERTH=... bash bench/shim.sh
#   SHIM=path        containerd-shim-berth-v2 (default: target/release/containerd-shim-berth-v2)
#   BERTH=path       berth (default: target/release/berth)
#   N=30             timed `ctr run --rm IMAGE ID /bin/true` per configuration, interleaved
#   WARMUP=3         untimed runs per configuration first
#   IDLE=20          idle containers (`sleep`) per shim for the memory measurement (0: off)
#
# Latency: wall time of `ctr run --rm` of /bin/true (ctr's own start included, the same for
# all), round-robin over the configurations so drift affects all alike; p50 and p90. Also the
# shim's share of it, from containerd's debug log: from containerd asking for the rootfs
# mounts of the new task (the last "get snapshot mounts") to "shim disconnected" (the shim
# gone after delete): shim start, create, start, the container's run, wait, delete, shutdown.
# Memory: IDLE containers started with `ctr run -d`, one shim each (no grouping), then the PSS
# (/proc/PID/smaps_rollup) of every shim process summed and divided by IDLE: shared pages are
# split between the shims, so this is what one more container costs in shim memory.
# A private containerd (own root, state, sockets, CRI off) under a temp dir, removed after.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
SHIM=${SHIM:-$repo/target/release/containerd-shim-berth-v2}
BERTH=${BERTH:-$repo/target/release/berth}
N=${N:-30}
WARMUP=${WARMUP:-3}
IDLE=${IDLE:-20}

say() { printf 'shim-bench: %s\n' "$*" >&2; }
die() {
	say "error: $*"
	exit 2
}
[[ $(id -u) == 0 ]] || die "must run as root"
for b in "$SHIM" "$BERTH"; do [[ -x $b ]] || die "$b is not executable (make bench-shim builds it)"; done
for c in containerd ctr umoci python3 runc; do command -v "$c" >/dev/null || die "$c missing (integration/setup.sh)"; done

W=$(mktemp -d /tmp/berth-shim-bench.XXXXXX)
TAG=shim-bench-$$
SOCK=$W/containerd.sock
CD_PID=
HOST_DIRS_NEW=()
for d in /run/containerd/s /run/containerd; do [[ -e $d ]] || HOST_DIRS_NEW+=("$d"); done

cleanup() {
	set +e
	local p cmd d
	[[ -n $CD_PID ]] && kill "$CD_PID" 2>/dev/null
	for p in /proc/[0-9]*; do
		cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
		[[ $cmd == *"$W"* && ${p#/proc/} != "$$" ]] && kill -KILL "${p#/proc/}" 2>/dev/null
	done
	sleep 0.3
	for d in /sys/fs/cgroup/*/"$TAG"; do
		[[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	awk -v w="$W" 'index($5, w "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l
	rm -rf --one-file-system "$W"
	for d in "${HOST_DIRS_NEW[@]}"; do rmdir "$d" 2>/dev/null; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$W"/{root,state,tmp,bin,fifo,runc-root,berth-root}
ln -s "$(readlink -f "$SHIM")" "$W/bin/containerd-shim-berth-v2"
cat >"$W/config.toml" <<EOF
version = 2
root = "$W/root"
state = "$W/state"
temp = "$W/tmp"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
EOF
PATH="$W/bin:$PATH" containerd --config "$W/config.toml" --log-level debug >"$W/containerd.log" 2>&1 &
CD_PID=$!
for _ in $(seq 100); do
	ctr --address "$SOCK" version >/dev/null 2>&1 && break
	sleep 0.1
done
ctr --address "$SOCK" version >/dev/null 2>&1 || die "containerd did not start ($W/containerd.log)"

# A busybox image, built offline.
(
	set -e
	cd "$W"
	umoci init --layout L
	umoci new --image L:bench
	umoci unpack --image L:bench B
	mkdir -p B/rootfs/{bin,proc,sys,dev,tmp,etc}
	cp /bin/busybox B/rootfs/bin/
	chroot B/rootfs /bin/busybox --install -s /bin
	umoci repack --image L:bench B
	umoci config --image L:bench --config.cmd /bin/sh --config.env PATH=/bin
	tar -C L -cf image.tar .
) >"$W/image.log" 2>&1 || die "image build failed ($W/image.log)"
ctr --address "$SOCK" -n "$TAG" images import --base-name docker.io/library/shimbench "$W/image.tar" >/dev/null
IMAGE=docker.io/library/shimbench:bench

CONFIGS=(berth-shim runc-shim runc-berth)
flags() {
	case $1 in
	berth-shim) echo "--runtime io.containerd.berth.v2" ;;
	runc-shim) echo "--runtime io.containerd.runc.v2 --runc-binary $(command -v runc) --runc-root $W/runc-root" ;;
	runc-berth) echo "--runtime io.containerd.runc.v2 --runc-binary $BERTH --runc-root $W/berth-root" ;;
	esac
}
ctr_run() { # CONFIG ID RUN-FLAG ARGS...
	local cfg=$1 id=$2 mode=$3
	shift 3
	# shellcheck disable=SC2046
	ctr --address "$SOCK" -n "$TAG" run "$mode" $(flags "$cfg") --fifo-dir "$W/fifo" "$IMAGE" "$id" "$@"
}

say "$N interleaved runs per configuration (+$WARMUP warm-up)"
: >"$W/times"
for i in $(seq $((WARMUP + N))); do
	for cfg in "${CONFIGS[@]}"; do
		t0=$(date +%s%N)
		ctr_run "$cfg" "$cfg-$i" --rm /bin/true </dev/null >/dev/null || die "$cfg: run $i failed"
		t1=$(date +%s%N)
		((i > WARMUP)) && echo "$cfg $(((t1 - t0) / 1000))" >>"$W/times"
	done
done

shim_pss() { # SHIM-NAME: summed PSS (kB) of the shims of this run
	local p cmd sum=0 kb
	for p in /proc/[0-9]*; do
		cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
		[[ $cmd == *"$1 "*"-address $SOCK "* ]] || continue
		kb=$(awk '/^Pss:/ { print $2 }' "$p/smaps_rollup" 2>/dev/null) || continue
		sum=$((sum + ${kb:-0}))
	done
	echo "$sum"
}
shim_count() {
	local p cmd n=0
	for p in /proc/[0-9]*; do
		cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
		[[ $cmd == *"$1 "*"-address $SOCK "* ]] && n=$((n + 1))
	done
	echo "$n"
}

: >"$W/memory"
if ((IDLE > 0)); then
	for cfg in berth-shim runc-shim; do
		name=containerd-shim-berth-v2
		[[ $cfg == runc-shim ]] && name=containerd-shim-runc-v2
		for i in $(seq "$IDLE"); do
			ctr_run "$cfg" "idle-$cfg-$i" -d sleep 3600 </dev/null >/dev/null || die "$cfg: run -d failed"
		done
		sleep 2
		n=$(shim_count "$name")
		((n == IDLE)) || die "$cfg: $n shims for $IDLE containers"
		echo "$cfg $(shim_pss "$name") $IDLE" >>"$W/memory"
		for i in $(seq "$IDLE"); do
			ctr --address "$SOCK" -n "$TAG" task kill -s KILL "idle-$cfg-$i" >/dev/null 2>&1 || true
		done
		sleep 1
		for i in $(seq "$IDLE"); do
			ctr --address "$SOCK" -n "$TAG" task delete "idle-$cfg-$i" >/dev/null 2>&1 || true
			ctr --address "$SOCK" -n "$TAG" container rm "idle-$cfg-$i" >/dev/null 2>&1 || true
		done
	done
fi

python3 - "$W/times" "$W/memory" "$W/containerd.log" <<'PY'
import datetime, re, sys
times, memory, phase = {}, {}, {}
start, end = {}, {}
for line in open(sys.argv[3], errors="replace"):
    m = re.match(r'time="([^"]+)Z".*msg="(get snapshot mounts|shim disconnected)" (?:key|id)=(\S+)', line)
    if not m:
        continue
    t = datetime.datetime.fromisoformat(m.group(1)[:26]).timestamp()
    (start if m.group(2).startswith("get") else end)[m.group(3)] = t
for cid, t1 in end.items():
    cfg, _, i = cid.rpartition("-")
    if cid in start and cfg in ("berth-shim", "runc-shim", "runc-berth"):
        phase.setdefault(cfg, []).append((t1 - start[cid]) * 1000.0)
for line in open(sys.argv[1]):
    cfg, us = line.split()
    times.setdefault(cfg, []).append(int(us) / 1000.0)
for line in open(sys.argv[2]):
    cfg, kb, n = line.split()
    memory[cfg] = int(kb) / int(n)
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]
base = times["runc-shim"]
print("| `ctr run --rm` /bin/true | p50 ms | p90 ms | p50 vs runc shim | p90 vs runc shim |")
print("|---|---:|---:|---:|---:|")
for cfg in ("berth-shim", "runc-shim", "runc-berth"):
    v = times[cfg]
    print(f"| {cfg} | {pct(v, 50):.1f} | {pct(v, 90):.1f} | {pct(v, 50) / pct(base, 50):.2f}x | {pct(v, 90) / pct(base, 90):.2f}x |")
if phase:
    print()
    print("| shim phase (containerd log) | p50 ms | p90 ms | p50 vs runc shim |")
    print("|---|---:|---:|---:|")
    for cfg in ("berth-shim", "runc-shim", "runc-berth"):
        v = phase.get(cfg)
        if v:
            print(f"| {cfg} | {pct(v, 50):.1f} | {pct(v, 90):.1f} | {pct(v, 50) / pct(phase['runc-shim'], 50):.2f}x |")
if memory:
    print()
    print("| shim memory, idle containers | PSS per container (kB) | vs runc shim |")
    print("|---|---:|---:|")
    for cfg in ("berth-shim", "runc-shim"):
        if cfg in memory:
            print(f"| {cfg} | {memory[cfg]:.0f} | {memory[cfg] / memory['runc-shim']:.2f}x |")
for cfg in ("berth-shim", "runc-shim", "runc-berth"):
    v = times[cfg]
    print(f"bench: config={cfg} p50_ms={pct(v, 50):.1f} p90_ms={pct(v, 90):.1f} n={len(v)}")
for cfg, v in phase.items():
    print(f"bench: config={cfg} shim_phase_p50_ms={pct(v, 50):.1f}")
for cfg, kb in memory.items():
    print(f"bench: config={cfg} shim_pss_kb_per_container={kb:.0f}")
PY
