#!/bin/bash
# Runs the berth-cgroups tests (unit + root) as root inside a throw-away
# QEMU guest whose only cgroup mount is cgroup v2, via cgv2-run.
#
#   crates/berth-cgroups/tests/run-in-cgv2.sh [test-filter...]
#
# Builds on the host (cargo test --no-run), then runs the test binaries in
# the guest; temp files go to the guest's /tmp. Honours CARGO_TARGET_DIR.
# CGV2_RUN overrides the path of the cgv2-run tool.
set -euo pipefail
CRATE_DIR=$(cd "$(dirname "$0")/.." && pwd)
REPO=$(cd "$CRATE_DIR/../.." && pwd)
CGV2_RUN=${CGV2_RUN:-$REPO/../shared/tools/cgv2-run}
[ -x "$CGV2_RUN" ] || CGV2_RUN=/work/shared/tools/cgv2-run
[ -x "$CGV2_RUN" ] || { echo "run-in-cgv2: cgv2-run not found (set CGV2_RUN)" >&2; exit 2; }

cd "$REPO"
mapfile -t BINS < <(cargo test -p berth-cgroups --no-run --message-format=json 2>/dev/null |
  grep -o '"executable":"[^"]*"' | sed 's/^"executable":"//; s/"$//')
[ ${#BINS[@]} -gt 0 ] || { echo "run-in-cgv2: no test binaries built" >&2; exit 2; }

ARGS=""
for a in "$@"; do ARGS="$ARGS '$a'"; done
CMD="export TMPDIR=/tmp RUST_BACKTRACE=1; rc=0;"
for b in "${BINS[@]}"; do
  CMD="$CMD echo '== ${b##*/} (cgroup v2 guest)'; '$b' $ARGS || rc=1;"
done
CMD="$CMD exit \$rc"
exec "$CGV2_RUN" -w "$REPO" -t 600 -e PATH "$CMD"
