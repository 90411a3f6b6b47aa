#!/bin/bash
# Runs berth's integration tests (tests/tests.rs: the cgroups:: and runtime:: modules by
# default) as root inside the project's throw-away qemu guest (integration/vm/run), whose only
# cgroup mount is cgroup v2. The host of this repo is hybrid, so this is where the v2 code
# paths of `create`, `pause`, `update`, `events`, `ps` and `delete` get exercised.
#
#   integration/cgv2/run.sh [libtest args...]     e.g. run.sh cgroups::pause --nocapture
#
# Builds on the host (the guest sees the host's / read-only and the repository read-write, so
# the test binary and the berth binary it names through CARGO_BIN_EXE_berth run from their
# host paths), then runs the test binary in the guest with TMPDIR=/tmp: bundles and the
# per-test state roots live on the guest's tmpfs, nothing of the host's /run or cgroups is
# touched. Honours CARGO_TARGET_DIR (shared with the guest when it is outside the repository).
# The guest kernel boots with a major LSM (this host's kernel has none), so the runtime::lsm
# tests apply real labels there: CGV2_LSM=apparmor (default) or selinux (Debian's default
# policy loaded in permissive mode; packages selinux-policy-default and policycoreutils).
# CGV2_MEM and CGV2_CPUS size the guest, CGV2_TIMEOUT (seconds, default 1200) bounds the run;
# the runner prints the guest's kernel log when a task is stuck in the kernel for 30 s.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO"

LSM=${CGV2_LSM:-apparmor}
case $LSM in
apparmor | selinux) ;;
*)
	echo "cgv2/run.sh: CGV2_LSM must be apparmor or selinux, not '$LSM'" >&2
	exit 2
	;;
esac

# Build the berth binary too: the tests run it by its absolute path.
cargo build --bin berth >&2
BIN=$(cargo test --test tests --no-run --message-format=json 2>/dev/null |
	grep '"name":"tests"' | grep -o '"executable":"[^"]*"' | tail -1 |
	sed 's/^"executable":"//; s/"$//')
[ -n "$BIN" ] && [ -x "$BIN" ] || {
	echo "cgv2/run.sh: test binary not built; see: cargo test --test tests --no-run" >&2
	exit 2
}
[ $# -gt 0 ] || set -- cgroups:: runtime::

VM=(integration/vm/run --lsm "$LSM" -t "${CGV2_TIMEOUT:-1200}" -C /tmp
	-e PATH -e CI -e RUST_BACKTRACE=1 -e TMPDIR=/tmp -w "$REPO")
[ -z "${CGV2_MEM:-}" ] || VM+=(-m "$CGV2_MEM")
[ -z "${CGV2_CPUS:-}" ] || VM+=(-c "$CGV2_CPUS")
TARGET=$(cd "${CARGO_TARGET_DIR:-target}" && pwd)
case $TARGET/ in "$REPO"/*) ;; *) VM+=(-w "$TARGET") ;; esac

exec "${VM[@]}" --setup 'mkdir -p /run/berth' -- sh -c '
	echo "== ${1##*/} (cgroup v2 guest: $(cat /sys/fs/cgroup/cgroup.controllers); lsm '"$LSM"')"
	exec "$@"' sh "$BIN" "$@"
