#!/usr/bin/env bash
# Times `berth image pull` (fetch + verify + unpack) against `skopeo copy` +
# `umoci unpack` for a multi-layer image of a few hundred MB served by a
# local docker-registry, and prints both times and their ratio.
#
#   BERTH=/path/to/berth crates/berth-image/bench/bench-image.sh
#
# $BERTH is run as `$BERTH image --store DIR pull REF`. For the crate's
# example binary (which has no `image` word) set BERTH_IMAGE_VERB="".
# SIZE_MB (default 300) sets the approximate uncompressed image size.
set -euo pipefail

BERTH=${BERTH:?set BERTH to the berth binary}
VERB=${BERTH_IMAGE_VERB-image}
SIZE_MB=${SIZE_MB:-300}
LAYERS=${LAYERS:-5}

if [ "$(id -u)" != 0 ]; then echo "bench-image: needs root" >&2; exit 1; fi
missing=""
for t in docker-registry:docker-registry skopeo:skopeo umoci:umoci; do
    command -v "${t%%:*}" >/dev/null || missing="$missing ${t##*:}"
done
if [ -n "$missing" ]; then
    apt-get install -y -q $missing >/dev/null 2>&1 || { echo "bench-image: cannot install$missing" >&2; exit 1; }
fi

tmp=$(mktemp -d /var/tmp/berth-bench.XXXXXX)
reg_pid=""
cleanup() {
    if [ -n "$reg_pid" ]; then
        kill "$reg_pid" 2>/dev/null || true
        wait "$reg_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
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
    d="$tmp/gen/layer$l"
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

drop_caches
t0=$(now)
# shellcheck disable=SC2086
"$BERTH" $VERB --store "$tmp/berth-store" pull "$ref" >/dev/null 2>"$tmp/berth.log"
t1=$(now)
berth_s=$(echo "$t1 - $t0" | bc -l)
[ -n "${BENCH_VERBOSE:-}" ] && cat "$tmp/berth.log" >&2

drop_caches
t0=$(now)
skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$tmp/skopeo:img"
umoci unpack --image "$tmp/skopeo:img" "$tmp/umoci-bundle" >/dev/null
t1=$(now)
ref_s=$(echo "$t1 - $t0" | bc -l)

# Same tree on both sides (file names and sizes).
a=$(cd "$tmp/berth-store/layers" && find . -type f | wc -l)
b=$(cd "$tmp/umoci-bundle/rootfs" && find . -type f | wc -l)
[ "$a" = "$b" ] || echo "warning: berth unpacked $a files, umoci $b" >&2

printf 'berth image pull (fetch+verify+unpack): %6.2f s\n' "$berth_s"
printf 'skopeo copy + umoci unpack:             %6.2f s\n' "$ref_s"
printf 'ratio: %.2fx\n' "$(echo "$ref_s / $berth_s" | bc -l)"
