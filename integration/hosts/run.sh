#!/usr/bin/env bash
# The hosts runc really runs on (issue 15): the systemd cgroup driver, rootless containers and
# Kubernetes' CRI, each workflow run with berth and with runc (which proves the workflow right).
#
#   integration/hosts/run.sh [LAYOUT:PART... | host:PART...]      (default: every part)
#
# host:rootless-berth, host:rootless-runc
#       on this host, as `nobody` (integration/hosts/rootless.sh host).
# v2:PART, v1:PART
#       in a throw-away qemu guest with systemd as PID 1 (integration/vm/run --systemd), pure
#       cgroup v2 or legacy v1 (name=systemd and the controllers' hierarchies). One boot per
#       layout runs all of that layout's parts (integration/hosts/guest.sh):
#   cgroups-berth, cgroups-runc   the cgroup integration tests (tests/cgroups) with
#                                 --systemd-cgroup (BERTH_TEST_CGROUP_DRIVER=systemd)
#   driver                        berth-cgroups' systemd driver tests (root and user instance)
#   clients-berth, clients-runc   podman and dockerd with their systemd cgroup managers
#   cri                           containerd's CRI with SystemdCgroup = true (berth shim, runc)
#   rootless-berth, rootless-runc a lingering user: runtime with its systemd user instance,
#                                 rootless podman
#
# Every part runs even when an earlier one failed; the exit status is 1 if any failed. The
# table of results (workflow x runtime x cgroup driver x user) is printed at the end and kept
# in target/hosts/results.md; each part's output in target/hosts/LAYOUT-PART.log.
# HOSTS_TIMEOUT bounds each guest (seconds, default 2400); CI and BERTH_STRICT pass through.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO"

ALL_V2=(cgroups-berth cgroups-runc driver clients-berth clients-runc cri rootless-berth rootless-runc)
ALL_V1=(cgroups-berth cgroups-runc driver)
ALL_HOST=(rootless-berth rootless-runc)

if [[ $(id -u) != 0 ]]; then
	echo "hosts/run.sh: must run as root" >&2
	exit 2
fi

declare -a V2=() V1=() HOST=()
if (($# == 0)); then
	V2=("${ALL_V2[@]}") V1=("${ALL_V1[@]}") HOST=("${ALL_HOST[@]}")
fi
for a in "$@"; do
	layout=${a%%:*} part=${a#*:}
	case $layout in
	v2) list=" ${ALL_V2[*]} " ;;
	v1) list=" ${ALL_V1[*]} " ;;
	host) list=" ${ALL_HOST[*]} " ;;
	*) list="" ;;
	esac
	if [[ $a != *:* || $list != *" $part "* ]]; then
		echo "hosts/run.sh: unknown part '$a' (v2: ${ALL_V2[*]}; v1: ${ALL_V1[*]}; host: ${ALL_HOST[*]})" >&2
		exit 2
	fi
	case $layout in
	v2) V2+=("$part") ;;
	v1) V1+=("$part") ;;
	host) HOST+=("$part") ;;
	esac
done

# Build on the host: the guest sees the host's / read-only and the repository read-write, so
# the binaries run from their host paths.
cargo build --workspace >&2
test_bin() { # test_bin PACKAGE TARGET: the path of an integration test binary
	cargo test -p "$1" --test "$2" --no-run --message-format=json 2>/dev/null |
		grep "\"name\":\"$2\"" | grep -o '"executable":"[^"]*"' | tail -1 |
		sed 's/^"executable":"//; s/"$//'
}
TESTS_BIN=$(test_bin berth tests)
DRIVER_BIN=$(test_bin berth-cgroups systemd)
for b in "$TESTS_BIN" "$DRIVER_BIN"; do
	[[ -n $b && -x $b ]] || {
		echo "hosts/run.sh: test binaries not built (cargo test --no-run)" >&2
		exit 2
	}
done

OUT=$REPO/target/hosts
mkdir -p "$OUT"
RESULTS=$OUT/results.tsv
: >"$RESULTS"
rc=0

# This host: rootless as nobody.
for part in "${HOST[@]}"; do
	rt=${part#rootless-}
	bin=$REPO/target/debug/berth
	[[ $rt == runc ]] && bin=/usr/sbin/runc
	log=$OUT/host-$part.log
	echo "== host: $part"
	start=$SECONDS
	if RUNTIME=$bin bash integration/hosts/rootless.sh host >"$log" 2>&1; then st=passed; else st=FAILED rc=1; fi
	cat "$log"
	counts="$(grep -c '^ok' "$log" || true) ok, $(grep -c '^FAIL' "$log" || true) failed"
	printf 'host\t%s\t%s\t%s\t%s\n' "$part" "$st" "$((SECONDS - start))" "$counts" >>"$RESULTS"
done

# The guests. TARGET is shared too when it lies outside the repository.
TARGET=$(cd "${CARGO_TARGET_DIR:-target}" && pwd)
run_guest() { # run_guest LAYOUT PART...
	local layout=$1
	shift
	local vm=(integration/vm/run --systemd --cgroup "$layout" -t "${HOSTS_TIMEOUT:-2400}" -C /tmp
		-w "$REPO" -e PATH -e CI -e BERTH_STRICT -e RUST_BACKTRACE=1 -e TMPDIR=/tmp
		-e HOSTS_LAYOUT="$layout" -e HOSTS_OUT="$OUT" -e HOSTS_TESTS_BIN="$TESTS_BIN"
		-e HOSTS_DRIVER_BIN="$DRIVER_BIN"
		--setup "$(bash integration/hosts/guest.sh --setup)")
	case $TARGET/ in "$REPO"/*) ;; *) vm+=(-w "$TARGET") ;; esac
	echo "== systemd guest, cgroup $layout: $*"
	local start=$SECONDS
	if ! "${vm[@]}" -- bash "$REPO/integration/hosts/guest.sh" "$@"; then
		rc=1
		# A guest that died or timed out: the parts it did not finish count as failed.
		for p in "$@"; do
			grep -q "^$layout	$p	" "$RESULTS" ||
				printf '%s\t%s\tFAILED\t%s\tguest ended early\n' "$layout" "$p" "$((SECONDS - start))" >>"$RESULTS"
		done
	fi
}
((${#V2[@]} == 0)) || run_guest v2 "${V2[@]}"
((${#V1[@]} == 0)) || run_guest v1 "${V1[@]}"

bash integration/hosts/guest.sh --table "$RESULTS" | tee "$OUT/results.md"
grep -q $'\tFAILED\t' "$RESULTS" && rc=1
exit $rc
