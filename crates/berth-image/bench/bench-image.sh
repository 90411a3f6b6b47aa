#!/usr/bin/env bash
# Image pull benchmark (not a test): `berth image pull` (fetch + verify + unpack) against
# `skopeo copy` + `umoci unpack` of the same multi-layer image, served by a local
# docker-registry. Prints wall and CPU time (user+sys) at p50, p90 and min for both, their
# ratio, and issue 17's target (pull+unpack at least 3x faster at p50 and p90) as met/missed.
#
#   BERTH=/path/to/berth crates/berth-image/bench/bench-image.sh      (or: make bench-image)
#
# $BERTH is run as `$BERTH image --store DIR pull REF`. For the crate's example binary (which
# has no `image` word) set BERTH_IMAGE_VERB="".
#   SIZE_MB=300   approximate uncompressed image size (LAYERS=5 layers; the default is a
#                 169 MB gzip image of about 7,700 files)
#   RUNS=10       timed runs of each side; who goes first alternates
#   WARMUP=2      untimed runs first (both orders): the first runs on a new filesystem cost
#                 both sides up to twice the CPU of later ones
#   WORK_FS=loop  where both sides write: `loop` (default) is an ext4 made for this run on a
#                 loop device whose backing file lives in /var/tmp; `loop-nojournal` the same
#                 without a journal (as this project's VM disk); `host` a directory in /var/tmp
#   CHURN=0       before each side, create and delete this many 8 KiB files on the work
#                 filesystem (untimed): what a previous run's cleanup leaves behind. With
#                 WORK_FS=loop-nojournal CHURN=46000 both sides show the outlier's system time.
#   BERTH_UNPACK_JOBS, BERTH_PULL_JOBS   passed to berth (writer threads per layer, layers at once)
#
# Why a filesystem of its own: on an ext4 without a journal (this project's VM has one), the
# inode allocator skips every inode freed in the last 60 s (300 s while its inode table block
# is dirty), one buffer lookup each, on every new inode. A pull that follows the deletion of
# a few tens of thousands of files (e.g. the previous run's cleanup) spends most of its CPU in
# find_inode_bit -> recently_deleted: 3-15x the usual system time (measured here: a pull 7 s
# after 46,000 files were deleted took 12.6 s with 4.96 s of system time, instead of about 3 s
# and 0.35 s, at load 10; the 30 s of issue 17 on a busier machine). Whichever tool unpacks
# first after such a deletion pays, so on `host` the ratio depends on what ran before. A fresh ext4 with a journal (mkfs's default, what hosts
# normally have) has neither that history nor that check. Each run's output is removed
# (untimed) after it, so the filesystem stays small; nothing the tools read is on it.
#
# The registry's storage and the generated layers are in /dev/shm: the registry's disk is not
# the client's cost. Every timed command starts after a `sync`, so neither side meets the
# other's dirty pages.
set -euo pipefail

BERTH=${BERTH:?set BERTH to the berth binary}
VERB=${BERTH_IMAGE_VERB-image}
SIZE_MB=${SIZE_MB:-300}
LAYERS=${LAYERS:-5}
RUNS=${RUNS:-10}
WARMUP=${WARMUP:-2}
WORK_FS=${WORK_FS:-loop}

say() { printf 'bench-image: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 2; }

[ "$(id -u)" = 0 ] || die "needs root"
for n in SIZE_MB LAYERS RUNS; do
    [[ ${!n} =~ ^[1-9][0-9]*$ ]] || die "$n must be a positive integer, not '${!n}'"
done
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be a number of runs, not '$WARMUP'"
CHURN=${CHURN:-0}
[[ $CHURN =~ ^[0-9]+$ ]] || die "CHURN must be a number of files, not '$CHURN'"
case $WORK_FS in loop|loop-nojournal|host) ;; *) die "WORK_FS must be loop, loop-nojournal or host, not '$WORK_FS'" ;; esac
missing=""
for t in docker-registry:docker-registry skopeo:skopeo umoci:umoci mkfs.ext4:e2fsprogs \
         /usr/bin/time:time python3:python3; do
    command -v "${t%%:*}" >/dev/null || missing="$missing ${t##*:}"
done
if [ -n "$missing" ]; then
    apt-get install -y -q $missing >/dev/null 2>&1 || die "cannot install$missing"
fi

shm=$(mktemp -d /dev/shm/berth-bench-image.XXXXXX)
disk=$(mktemp -d /var/tmp/berth-bench-image.XXXXXX)
reg_pid=""
work=""
cleanup() {
    if [ -n "$reg_pid" ]; then
        kill "$reg_pid" 2>/dev/null || true
        wait "$reg_pid" 2>/dev/null || true
    fi
    if [ "$WORK_FS" != host ] && mountpoint -q "$disk/mnt" 2>/dev/null; then
        umount "$disk/mnt" || say "could not unmount $disk/mnt"
    fi
    rm -rf --one-file-system "$shm" "$disk"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$WORK_FS" != host ]; then
    # Room for one run of both sides (blobs twice, the tree twice), the churn, and some slack.
    fs_mb=$((SIZE_MB * 4 + CHURN / 64 + 1024))
    features=has_journal
    [ "$WORK_FS" = loop-nojournal ] && features=^has_journal
    truncate -s "${fs_mb}M" "$disk/fs.img"
    mkfs.ext4 -q -F -O "$features" "$disk/fs.img"
    mkdir "$disk/mnt"
    mount -o loop "$disk/fs.img" "$disk/mnt"
    work=$disk/mnt
    say "work filesystem: a fresh ext4 (-O $features) of ${fs_mb} MB on a loop device, backed by $disk/fs.img"
else
    mkdir "$disk/work"
    work=$disk/work
    say "work filesystem: the host's, in $work ($(findmnt -n -o FSTYPE,OPTIONS -T "$work" || true))"
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$shm/registry.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $shm/registry
http:
  addr: 127.0.0.1:$port
YML
env -u REGISTRY_AUTH_FILE docker-registry serve "$shm/registry.yml" >"$shm/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done

say "generating a ${LAYERS}-layer image of about ${SIZE_MB} MB"
per_layer=$((SIZE_MB / LAYERS))
umoci init --layout "$shm/src" >/dev/null
umoci new --image "$shm/src:img" >/dev/null
for l in $(seq "$LAYERS"); do
    d="$shm/gen/layer$l"
    mkdir -p "$d/data$l/random" "$d/data$l/text" "$d/data$l/small"
    # About 40% incompressible, 40% compressible text, 15% many small files.
    head -c $((per_layer * 2 / 5))M /dev/urandom > "$d/data$l/random/blob.bin"
    { yes "layer $l: a log line that compresses well, with some words in it $RANDOM" || true; } | head -c $((per_layer * 2 / 5))M > "$d/data$l/text/log.txt"
    head -c $((per_layer * 3 / 20))M /dev/urandom | base64 -w 0 | (cd "$d/data$l/small" && split -b 8192 -a 4 - f)
    umoci insert --image "$shm/src:img" "$d" / >/dev/null
    rm -rf "$d"
done
ref="127.0.0.1:$port/bench/img:1"
skopeo copy -q --dest-tls-verify=false "oci:$shm/src:img" "docker://$ref"
rm -rf "$shm/src"
say "pushed $ref ($(du -sm "$shm/registry" | cut -f1) MB compressed in the registry)"

# One timed command: appends "WALL USER SYS" to $1.
timed() {
    local out=$1
    shift
    /usr/bin/time -f '%e %U %S' -a -o "$out" "$@"
}

# CHURN files made and removed, as a cleanup of earlier work would leave the filesystem.
churn() {
    [ "$CHURN" -gt 0 ] || return 0
    python3 - "$work/churn" "$CHURN" <<'PY'
import os, sys
top, n = sys.argv[1], int(sys.argv[2])
block = b"x" * 8192
for i in range(n):
    if i % 1000 == 0:
        d = os.path.join(top, str(i // 1000))
        os.makedirs(d)
    with open(os.path.join(d, str(i)), "wb") as f:
        f.write(block)
PY
    sync
    rm -rf "$work/churn"
}

results=$shm/results
: > "$results"
run_berth() {
    churn
    sync
    local t=$shm/t-berth
    : > "$t"
    # shellcheck disable=SC2086
    timed "$t" "$BERTH" $VERB --store "$work/berth-store" pull "$ref" >/dev/null 2>"$shm/berth.log" \
        || { cat "$shm/berth.log" >&2; die "berth image pull failed"; }
    echo "berth $1 $(cat "$t")" >> "$results"
}
run_ref() {
    churn
    sync
    local t=$shm/t-ref
    : > "$t"
    timed "$t" skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$work/skopeo:img"
    timed "$t" umoci unpack --image "$work/skopeo:img" "$work/umoci-bundle" >/dev/null
    # skopeo and umoci: the two commands' times added up.
    echo "ref $1 $(awk '{w += $1; u += $2; s += $3} END {print w, u, s}' "$t")" >> "$results"
}

# Runs 1-WARMUP..0 are the warm-up: printed, not counted.
for run in $(seq $((1 - WARMUP)) "$RUNS"); do
    if [ $(((run % 2 + 2) % 2)) = 1 ]; then run_berth "$run"; run_ref "$run"; else run_ref "$run"; run_berth "$run"; fi
    # Same tree on both sides (file count).
    a=$(find "$work/berth-store/layers" -type f | wc -l)
    b=$(find "$work/umoci-bundle/rootfs" -type f | wc -l)
    [ "$a" = "$b" ] || say "warning: run $run: berth unpacked $a files, umoci $b"
    awk -v r="$run" '$2 == r {printf "%s%s %6.2f s wall %6.2f s CPU", (n++ ? ", " : "run " r ": "), ($1 == "ref" ? "skopeo+umoci" : "berth"), $3, $4 + $5} END {print (r < 1 ? "  (warm-up)" : "")}' "$results" >&2
    rm -rf "$work/berth-store" "$work/skopeo" "$work/umoci-bundle"
    sync
done

RUNS=$RUNS WORK_FS=$WORK_FS CHURN=$CHURN python3 - "$results" <<'PY'
import math, os, sys

def pct(xs, q):
    s = sorted(xs)
    k = (len(s) - 1) * q
    lo = math.floor(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)

rows = [l.split() for l in open(sys.argv[1])]
data = {}
for name, run, wall, user, sys_ in rows:
    if int(run) >= 1:  # the rest were the warm-up
        data.setdefault(name, {})[int(run)] = (float(wall), float(user) + float(sys_), float(sys_))
runs = sorted(set(data["berth"]) & set(data["ref"]))
print()
print(f"pull + unpack of the same image, {len(runs)} runs each, who goes first alternating; "
      f"work filesystem: {os.environ['WORK_FS']}, churn {os.environ['CHURN']} files; load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
print(f"  {'':<16} {'wall p50':>8} {'p90':>8} {'min':>8}   {'cpu p50':>8} {'p90':>8} {'min':>8}   {'sys p50':>8}  (s)")
stats = {}
for name, label in (("berth", "berth"), ("ref", "skopeo+umoci")):
    w = [data[name][r][0] for r in runs]
    c = [data[name][r][1] for r in runs]
    s = [data[name][r][2] for r in runs]
    stats[name] = dict(wall_p50=pct(w, .5), wall_p90=pct(w, .9), wall_min=min(w),
                       cpu_p50=pct(c, .5), cpu_p90=pct(c, .9), cpu_min=min(c), sys_p50=pct(s, .5))
    st = stats[name]
    print(f"  {label:<16} {st['wall_p50']:8.2f} {st['wall_p90']:8.2f} {st['wall_min']:8.2f}   "
          f"{st['cpu_p50']:8.2f} {st['cpu_p90']:8.2f} {st['cpu_min']:8.2f}   {st['sys_p50']:8.2f}")
b, r = stats["berth"], stats["ref"]
speed = {k: r[k] / b[k] for k in ("wall_p50", "wall_p90", "wall_min", "cpu_p50", "cpu_p90", "cpu_min")}
paired = pct([data["ref"][x][0] / data["berth"][x][0] for x in runs], .5)
print(f"  {'speed-up':<16} {speed['wall_p50']:8.2f} {speed['wall_p90']:8.2f} {speed['wall_min']:8.2f}   "
      f"{speed['cpu_p50']:8.2f} {speed['cpu_p90']:8.2f} {speed['cpu_min']:8.2f}   (skopeo+umoci over berth; "
      f"paired p50 {paired:.2f})")
for name, label in (("berth", "berth"), ("ref", "skopeo+umoci")):
    med = stats[name]["wall_p50"]
    slow = [f"run {x}: {data[name][x][0]:.2f} s (sys {data[name][x][2]:.2f} s)" for x in runs if data[name][x][0] > 2 * med]
    if slow:
        print(f"!!! {label} outliers (over twice its p50): " + "; ".join(slow))
print()
print("issue 17's target: image pull+unpack at least 3x faster than skopeo+umoci at p50 and p90")
for k in ("wall_p50", "wall_p90"):
    print(f"  {k.replace('wall_', ''):<4} {speed[k]:5.2f}x  {'met' if speed[k] >= 3 else 'MISSED'}")
print()
for name in ("berth", "ref"):
    print(f"bench-image: {name} " + " ".join(f"{k}={v:.3f}" for k, v in stats[name].items()))
print(f"bench-image: speedup wall_p50={speed['wall_p50']:.3f} wall_p90={speed['wall_p90']:.3f} paired_p50={paired:.3f}")
PY
