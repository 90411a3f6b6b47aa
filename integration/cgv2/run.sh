#!/bin/bash
# Runs berth's integration tests (tests/tests.rs: the cgroups:: and runtime:: modules by
# default) as root inside the project's throw-away qemu guest (integration/vm/run), whose only
# cgroup mount is cgroup v2. The host of this repo is hybrid, so this is where the v2 code
# paths of `create`, `pause`, `update`, `events`, `ps` and `delete` get exercised.
#
#   integration/cgv2/run.sh [libtest args...]     e.g. run.sh cgroups::pause --nocapture
#   CGV2_PACKAGE=berth-cgroups integration/cgv2/run.sh [libtest args...]
#                                 every test binary of that crate instead (unit and root tests)
#
# Builds on the host (the guest sees the host's / read-only and the repository read-write, so
# the test binary and the berth binary it names through CARGO_BIN_EXE_berth run from their
# host paths), then runs the test binary in the guest with TMPDIR=/tmp: bundles and the
# per-test state roots live on the guest's tmpfs, nothing of the host's /run or cgroups is
# touched. Honours CARGO_TARGET_DIR (shared with the guest when it is outside the repository).
# The guest kernel boots with a major LSM (this host's kernel has none), so the runtime::lsm
# tests apply real labels there: CGV2_LSM=apparmor (default) or selinux (Debian's default
# policy loaded in permissive mode; packages selinux-policy-default and policycoreutils).
# CGV2_MEM and CGV2_CPUS size the guest, CGV2_TIMEOUT (seconds, default 2400) bounds the run;
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
if [ -n "${CGV2_PACKAGE:-}" ]; then
	mapfile -t BINS < <(cargo test -p "$CGV2_PACKAGE" --no-run --message-format=json 2>/dev/null |
		grep -o '"executable":"[^"]*"' | sed 's/^"executable":"//; s/"$//')
else
	mapfile -t BINS < <(cargo test --test tests --no-run --message-format=json 2>/dev/null |
		grep '"name":"tests"' | grep -o '"executable":"[^"]*"' | tail -1 |
		sed 's/^"executable":"//; s/"$//')
	[ $# -gt 0 ] || set -- cgroups:: runtime::
fi
[ ${#BINS[@]} -gt 0 ] && [ -x "${BINS[0]}" ] || {
	echo "cgv2/run.sh: test binaries not built; see: cargo test ${CGV2_PACKAGE:+-p $CGV2_PACKAGE }--no-run" >&2
	exit 2
}

# The fault-injection test (runtime::faults) SIGKILLs each verb CGV2_FAULT_KILLS times (default
# 200, as on the host); its other settings (BERTH_FAULT_SEED, _JOBS, _BIN) pass through.
VM=(integration/vm/run --lsm "$LSM" -t "${CGV2_TIMEOUT:-2400}" -C /tmp
	-e PATH -e CI -e BERTH_STRICT -e RUST_BACKTRACE=1 -e TMPDIR=/tmp -w "$REPO"
	-e BERTH_FAULT_KILLS="${CGV2_FAULT_KILLS:-200}" -e BERTH_FAULT_SEED -e BERTH_FAULT_JOBS
	-e BERTH_FAULT_BIN)
[ -z "${CGV2_MEM:-}" ] || VM+=(-m "$CGV2_MEM")
[ -z "${CGV2_CPUS:-}" ] || VM+=(-c "$CGV2_CPUS")
TARGET=$(cd "${CARGO_TARGET_DIR:-target}" && pwd)
case $TARGET/ in "$REPO"/*) ;; *) VM+=(-w "$TARGET") ;; esac

# In the guest: each binary (one a line in CGV2_BINS) with the libtest arguments; fails if
# any failed.
exec "${VM[@]}" -e CGV2_BINS="$(printf '%s\n' "${BINS[@]}")" --setup 'mkdir -p /run/berth' -- sh -c '
	rc=0
	while IFS= read -r bin; do
		echo "== ${bin##*/} (cgroup v2 guest: $(cat /sys/fs/cgroup/cgroup.controllers); lsm '"$LSM"')"
		"$bin" "$@" </dev/null || rc=1
	done <<EOF
$CGV2_BINS
EOF
	exit $rc' sh "$@"
