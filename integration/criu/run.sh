#!/bin/bash
# Checkpoint and restore (issue 14) in the project's qemu guest (integration/vm/run), where
# CRIU works (on the build host its vdso check fails, so the host runs leave these out):
#
#   1. the runtime::checkpoint tests of tests/tests.rs against berth,
#   2. the same tests against runc 1.1.5 (RUNTIME=/usr/sbin/runc; berth_only_* skipped),
#   3. podman's `container checkpoint` / `container restore` with --runtime berth, then with
#      runc (integration/criu/podman.sh).
#
#   integration/criu/run.sh [berth|runc|podman|podman-berth]...   (default: berth runc podman,
#                                                                   one guest boot)
#
# podman-berth is podman's part with berth only (the runc run proves the script right).
# `make test` runs `run.sh runc podman-berth` from test-cgv2: the cgv2 guest already runs the
# runtime::checkpoint tests against berth with the rest of runtime::. Here BERTH_CRIU=required:
# a CRIU that cannot work in the guest fails every test (and `criu check` is asked first),
# never takes the refusal path the tests check on a host whose kernel CRIU cannot handle.
# CRIU_TIMEOUT (seconds, default 1500) bounds the guest run; CRIU_MEM sizes the guest.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO"

PARTS=${*:-berth runc podman}
for p in $PARTS; do
	case $p in berth | runc | podman | podman-berth) ;; *)
		echo "criu/run.sh: unknown part '$p' (berth, runc, podman or podman-berth)" >&2
		exit 2
		;;
	esac
done

cargo build --bin berth >&2
BIN=$(cargo test --test tests --no-run --message-format=json 2>/dev/null |
	grep '"name":"tests"' | grep -o '"executable":"[^"]*"' | tail -1 |
	sed 's/^"executable":"//; s/"$//')
[ -x "$BIN" ] || {
	echo "criu/run.sh: the test binary is not built; see: cargo test --test tests --no-run" >&2
	exit 2
}

VM=(integration/vm/run -t "${CRIU_TIMEOUT:-1500}" -m "${CRIU_MEM:-2048M}" -C /tmp
	-e PATH -e CI -e BERTH_STRICT -e BERTH_CRIU=required -e RUST_BACKTRACE=1 -e TMPDIR=/tmp -w "$REPO"
	-e "CRIU_PARTS=$PARTS" -e "TESTS=$BIN" -e "BERTH=$REPO/target/debug/berth")
TARGET=$(cd "${CARGO_TARGET_DIR:-target}" && pwd)
case $TARGET/ in "$REPO"/*) ;; *) VM+=(-w "$TARGET") ;; esac

exec "${VM[@]}" --setup 'mkdir -p /run/berth' -- bash -c '
	criu check >/tmp/criu-check.txt 2>&1 && grep -q "Looks good" /tmp/criu-check.txt || {
		echo "FAIL: criu cannot work in the guest:"
		cat /tmp/criu-check.txt
		exit 1
	}
	rc=0
	for part in $CRIU_PARTS; do
		case $part in
		berth)
			echo "== runtime::checkpoint against berth"
			"$TESTS" runtime::checkpoint --nocapture </dev/null || rc=1 ;;
		runc)
			echo "== runtime::checkpoint against runc ($(runc --version | head -1))"
			RUNTIME=/usr/sbin/runc "$TESTS" runtime::checkpoint --skip berth_only --nocapture </dev/null || rc=1 ;;
		podman)
			echo "== podman container checkpoint/restore"
			bash '"$REPO"'/integration/criu/podman.sh "$BERTH" /usr/sbin/runc || rc=1 ;;
		podman-berth)
			echo "== podman container checkpoint/restore (berth)"
			bash '"$REPO"'/integration/criu/podman.sh "$BERTH" || rc=1 ;;
		esac
	done
	exit $rc'
