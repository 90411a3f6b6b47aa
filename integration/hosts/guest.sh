#!/usr/bin/env bash
# The guest half of integration/hosts/run.sh: runs in the systemd guest, as root, one part
# after another, each with its output in $HOSTS_OUT/LAYOUT-PART.log and a line in
# $HOSTS_OUT/results.tsv (layout, part, passed|FAILED, seconds, counts).
#
#   guest.sh PART...          run the parts (names: integration/hosts/run.sh)
#   guest.sh --setup          print the guest's --setup script
#   guest.sh --table FILE     print results.tsv as a Markdown table
set -uo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
# The user whose systemd instance (lingering) the driver tests use.
USER1=berthu1

if [[ ${1:-} == --setup ]]; then
	cat <<EOF
mkdir -p /run/berth
useradd -m $USER1
loginctl enable-linger $USER1
EOF
	exit 0
fi

# What each part is, for the table: workflow, runtime, cgroup driver, user.
describe() {
	case $1 in
	cgroups-berth) echo "cgroup integration tests (tests/cgroups)|berth|systemd|root" ;;
	cgroups-runc) echo "cgroup integration tests (tests/cgroups)|runc|systemd|root" ;;
	driver) echo "systemd driver tests (system + user instance)|berth|systemd|root, rootless" ;;
	clients-berth) echo "podman + dockerd workflows|berth|systemd|root" ;;
	clients-runc) echo "podman + dockerd workflows|runc|systemd|root" ;;
	cri) echo "containerd CRI, SystemdCgroup = true|berth shim; runc shim + berth; runc shim + runc|systemd|root" ;;
	rootless-berth) echo "rootless: runtime in the user's scope, rootless podman|berth|systemd (user)|rootless" ;;
	rootless-runc) echo "rootless: runtime in the user's scope, rootless podman|runc|systemd (user)|rootless" ;;
	*) echo "$1|?|?|?" ;;
	esac
}

if [[ ${1:-} == --table ]]; then
	echo "| workflow | runtime | cgroup driver | user | host | result | counts | seconds |"
	echo "|---|---|---|---|---|---|---|---|"
	while IFS=$'\t' read -r layout part st secs counts; do
		if [[ $layout == host ]]; then
			d="rootless as nobody on this host (run, lifecycle, exec, limits)|${part#rootless-}|cgroupfs: none writable (skipped with a warning; a limit is refused, as by runc)|rootless"
			where="this host (6.18, hybrid)"
		else
			d=$(describe "$part")
			where="systemd guest (6.1, cgroup $layout)"
		fi
		IFS='|' read -r wf rt drv usr <<<"$d"
		echo "| $wf | $rt | $drv | $usr | $where | $st | $counts | $secs |"
	done <"$2"
	exit 0
fi

: "${HOSTS_LAYOUT:?} ${HOSTS_OUT:?} ${HOSTS_TESTS_BIN:?} ${HOSTS_DRIVER_BIN:?}"
BERTH=$REPO/target/debug/berth
RUNC=/usr/sbin/runc

# counts LOG: "N passed, M failed" from libtest's result lines, the suites' own summary line,
# or ok/FAIL lines.
counts() {
	local p f
	if grep -q '^test result:' "$1"; then
		p=$(sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed.*/\1/p' "$1" | awk '{s+=$1} END {print s+0}')
		f=$(sed -n 's/^test result: .* \([0-9]*\) failed.*/\1/p' "$1" | awk '{s+=$1} END {print s+0}')
	elif grep -Eq '^[0-9]+ passed, [0-9]+ failed' "$1"; then
		p=$(sed -En 's/^([0-9]+) passed, [0-9]+ failed.*/\1/p' "$1" | awk '{s+=$1} END {print s+0}')
		f=$(sed -En 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/p' "$1" | awk '{s+=$1} END {print s+0}')
	else
		p=$(grep -c '^ok' "$1")
		f=$(grep -c '^FAIL' "$1")
	fi
	echo "${p:-0} passed, ${f:-0} failed"
}

part_cmd() { # the command of a part, as an array in CMD
	case $1 in
	cgroups-berth)
		CMD=(env BERTH_TEST_CGROUP_DRIVER=systemd "$HOSTS_TESTS_BIN" cgroups:: --test-threads=2) ;;
	cgroups-runc)
		# runc 1.1.5 accepts network classID/priorities and writes them nowhere, and refuses
		# --memory-swap without --memory (tests/cgroups say more).
		CMD=(env BERTH_TEST_CGROUP_DRIVER=systemd RUNTIME=$RUNC "$HOSTS_TESTS_BIN" cgroups::
			--skip berth_only --skip cgroups::optional::network_
			--skip cgroups::update::update_memory_swap_alone_uses_the_current_limit
			--test-threads=2) ;;
	driver)
		CMD=(env BERTH_TEST_SYSTEMD_USER=$USER1 "$HOSTS_DRIVER_BIN" --ignored --test-threads=2) ;;
	clients-berth)
		CMD=(env CGROUP_MANAGER=systemd RUNTIME=$BERTH bash "$REPO/integration/clients/run.sh" podman docker) ;;
	clients-runc)
		CMD=(env CGROUP_MANAGER=systemd RUNTIME=$RUNC bash "$REPO/integration/clients/run.sh" podman docker) ;;
	cri)
		CMD=(env CGROUP_MANAGER=systemd bash "$REPO/integration/shim/run.sh" cri) ;;
	rootless-berth)
		CMD=(env ROOTLESS_USER=$USER1 RUNTIME=$BERTH bash "$REPO/integration/hosts/rootless.sh" guest) ;;
	rootless-runc)
		CMD=(env ROOTLESS_USER=$USER1 RUNTIME=$RUNC bash "$REPO/integration/hosts/rootless.sh" guest) ;;
	*)
		echo "guest.sh: unknown part $1" >&2
		return 1 ;;
	esac
}

# The lingering user's instance comes up in the background after enable-linger.
uid=$(id -u $USER1)
for _ in $(seq 300); do
	[[ $(systemctl is-active "user@$uid.service") == active ]] && break
	sleep 0.2
done

rc=0
for part in "$@"; do
	log=$HOSTS_OUT/$HOSTS_LAYOUT-$part.log
	part_cmd "$part" || { rc=1; continue; }
	echo "== $part (cgroup $HOSTS_LAYOUT, systemd $(systemctl --version | sed -n '1s/systemd \([0-9]*\).*/\1/p')): ${CMD[*]}"
	start=$SECONDS
	if (cd /tmp && "${CMD[@]}") </dev/null >"$log" 2>&1; then st=passed; else st=FAILED rc=1; fi
	secs=$((SECONDS - start))
	# The log in full when the part failed; its summary otherwise.
	if [[ $st == passed ]]; then
		grep -E '^(test result:|[0-9]+ passed|ok |FAIL|# )' "$log" | tail -40
	else
		cat "$log"
	fi
	c=$(counts "$log")
	echo "== $part: $st in ${secs}s ($c)"
	printf '%s\t%s\t%s\t%s\t%s\n' "$HOSTS_LAYOUT" "$part" "$st" "$secs" "$c" >>"$HOSTS_OUT/results.tsv"
done
exit $rc
