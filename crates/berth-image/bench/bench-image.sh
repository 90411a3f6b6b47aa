#!/usr/bin/env bash
# Times `berth image pull` (fetch + verify + unpack) against `skopeo copy` +
# `umoci unpack` for a multi-layer image of a few hundred MB served by a
# local docker-registry, and prints both times and their ratio.
#
#   BERTH=/path/to/berth crates/berth-image/bench/bench-image.sh
#
# $BERTH is run as `$BERTH image --store DIR pull REF`. For the crate's
# example binary (which has no `image` word) set BERTH_IMAGE_VERB="".
# SIZE_MB (default 300) sets the approximate uncompressed image size;
# RUNS (default 3) how many times both sides are timed, alternating who goes
# first; BERTH_UNPACK_JOBS the writer threads per layer (default: cores, <= 4).
#
# The layers are generated in a tmpfs: on an ext4 without a journal, inodes
# freed in the last minutes are skipped one by one by the inode allocator, so
# deleting the generated trees on the disk under test would slow down
# whichever tool creates files next. Each run writes to fresh directories and
# nothing is deleted until the end, for the same reason.
set -euo pipefail

BERTH=${BERTH:?set BERTH to the berth binary}
VERB=${BERTH_IMAGE_VERB-image}
SIZE_MB=${SIZE_MB:-300}
LAYERS=${LAYERS:-5}
RUNS=${RUNS:-3}

if [ "$(id -u)" != 0 ]; then echo "bench-image: needs root" >&2; exit 1; fi
missing=""
for t in docker-registry:docker-registry skopeo:skopeo umoci:umoci; do
    command -v "${t%%:*}" >/dev/null || missing="$missing ${t##*:}"
done
if [ -n "$missing" ]; then
    apt-get install -y -q $missing >/dev/null 2>&1 || { echo "bench-image: cannot install$missing" >&2; exit 1; }
fi

tmp=$(mktemp -d /var/tmp/berth-bench.XXXXXX)
gen=$(mktemp -d /dev/shm/berth-bench-gen.XXXXXX 2>/dev/null || mktemp -d "$tmp/gen.XXXXXX")
reg_pid=""
cleanup() {
    if [ -n "$reg_pid" ]; then
        kill "$reg_pid" 2>/dev/null || true
        wait "$reg_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp" "$gen"
}
trap cleanup EXIT INT TERM

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$tmp/registry.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $tmp/registry
http:
  addr: 127.0.0.1:$port
YML
env -u REGISTRY_AUTH_FILE docker-registry serve "$tmp/registry.yml" >"$tmp/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done

echo "== generating a ${LAYERS}-layer image of about ${SIZE_MB} MB"
per_layer=$((SIZE_MB / LAYERS))
umoci init --layout "$tmp/src" >/dev/null
umoci new --image "$tmp/src:img" >/dev/null
for l in $(seq "$LAYERS"); do
    d="$gen/layer$l"
    mkdir -p "$d/data$l/random" "$d/data$l/text" "$d/data$l/small"
    # About 40% incompressible, 40% compressible text, 20% many small files.
    head -c $((per_layer * 2 / 5))M /dev/urandom > "$d/data$l/random/blob.bin"
    { yes "layer $l: a log line that compresses well, with some words in it $RANDOM" || true; } | head -c $((per_layer * 2 / 5))M > "$d/data$l/text/log.txt"
    head -c $((per_layer * 3 / 20))M /dev/urandom | base64 -w 0 | (cd "$d/data$l/small" && split -b 8192 -a 4 - f)
    umoci insert --image "$tmp/src:img" "$d" / >/dev/null
    rm -rf "$d"
done
ref="127.0.0.1:$port/bench/img:1"
skopeo copy -q --dest-tls-verify=false "oci:$tmp/src:img" "docker://$ref"
compressed=$(du -sm "$tmp/registry" | cut -f1)
echo "   pushed $ref (${compressed} MB compressed in the registry)"

# The registry's disk is not the client's cost: serve both runs from a warm
# page cache, and start each with no dirty pages of the previous one.
drop_caches() { sync; find "$tmp/registry" -type f -exec cat {} + >/dev/null; }

now() { date +%s.%N; }

run_berth() {
    drop_caches
    t0=$(now)
    # shellcheck disable=SC2086
    "$BERTH" $VERB --store "$tmp/berth-store$1" pull "$ref" >/dev/null 2>"$tmp/berth.log"
    t1=$(now)
    berth_s=$(echo "$t1 - $t0" | bc -l)
    [ -n "${BENCH_VERBOSE:-}" ] && cat "$tmp/berth.log" >&2
    return 0
}

run_ref() {
    drop_caches
    t0=$(now)
    skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$tmp/skopeo$1:img"
    umoci unpack --image "$tmp/skopeo$1:img" "$tmp/umoci-bundle$1" >/dev/null
    t1=$(now)
    ref_s=$(echo "$t1 - $t0" | bc -l)
}

ratios=""
for run in $(seq "$RUNS"); do
    # Alternate who goes first, so neither always meets the other's leftovers.
    if [ $((run % 2)) = 1 ]; then run_berth "$run"; run_ref "$run"; else run_ref "$run"; run_berth "$run"; fi
    # Same tree on both sides (file names and sizes).
    a=$(cd "$tmp/berth-store$run/layers" && find . -type f | wc -l)
    b=$(cd "$tmp/umoci-bundle$run/rootfs" && find . -type f | wc -l)
    [ "$a" = "$b" ] || echo "warning: berth unpacked $a files, umoci $b" >&2
    ratio=$(echo "$ref_s / $berth_s" | bc -l)
    ratios="$ratios $ratio"
    printf 'run %d: berth image pull (fetch+verify+unpack) %6.2f s, skopeo copy + umoci unpack %6.2f s, ratio %.2fx\n' \
        "$run" "$berth_s" "$ref_s" "$ratio"
done
median=$(printf '%s\n' $ratios | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
printf 'median ratio over %d runs: %.2fx\n' "$RUNS" "$median"
