#!/bin/bash
# podman 4.3's `container checkpoint` and `container restore` with `--runtime RUNTIME`, for
# each RUNTIME given (run as root where CRIU works: the qemu guest, see run.sh):
#
#   integration/criu/podman.sh RUNTIME...
#
# A counting busybox container (`--network none`, private podman storage under a temporary
# directory) is checkpointed and restored in place: its log must count on without starting
# over. Then a checkpoint with --leave-running --export is restored under a new name from the
# archive: both run. Nothing may be left in the runtime's list. Every runtime call goes
# through a wrapper named like the runtime (podman looks at the name), with a private --root;
# the checkpoint and restore calls are printed.
set -euo pipefail

[ $# -gt 0 ] || {
	echo "usage: $0 RUNTIME..." >&2
	exit 2
}
command -v podman >/dev/null || {
	echo "podman.sh: podman is not installed (integration/setup.sh installs it)" >&2
	exit 2
}
# One runtime per process (`--one RUNTIME`), so that `set -e` holds in it; its cleanup runs
# at its exit.
if [ "$1" != --one ]; then
	rc=0
	for RT in "$@"; do
		bash "$0" --one "$RT" || rc=1
	done
	exit $rc
fi
RT=$(readlink -f "$2")
W=$(mktemp -d /tmp/criu-podman.XXXXXX)
mkdir -p "$W"/{rt,root,runroot,tmp,state,rootfs/bin}
WRAP=$W/rt/$(basename "$RT")
cat >"$WRAP" <<EOF
#!/bin/bash
printf '%q ' "\$(basename "\$0")" "\$@" >>$W/calls.log
echo >>$W/calls.log
exec $RT --root $W/state "\$@"
EOF
chmod 755 "$WRAP"
cat >"$W/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024"]
log_driver = "k8s-file"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$W/events.log"
conmon_path = ["/usr/bin/conmon"]
EOF
cat >"$W/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$W/root"
runroot = "$W/runroot"
EOF
P() {
	env CONTAINERS_CONF="$W/containers.conf" CONTAINERS_STORAGE_CONF="$W/storage.conf" TMPDIR="$W/tmp" \
		podman --root "$W/root" --runroot "$W/runroot" --tmpdir "$W/tmp" --runtime "$WRAP" \
		--cgroup-manager cgroupfs --events-backend file "$@"
}
cleanup() {
	P rm -a -f -t 0 >/dev/null 2>&1 || true
	P rmi -a -f >/dev/null 2>&1 || true
	umount -R "$W/root/overlay" 2>/dev/null || true
	rm -rf "$W" 2>/dev/null || true
}
trap cleanup EXIT
fail() {
	echo "FAIL (podman + $RT): $*"
	echo "--- runtime calls:"
	cat "$W/calls.log" 2>/dev/null || true
	find "$W/root" \( -name dump.log -o -name restore.log \) 2>/dev/null | while read -r l; do
		echo "--- $l:"
		grep -E 'Error|Warn' "$l" | tail -5
	done
	exit 1
}
# The numbers a container's log shows, one a line.
counts() { P logs "$1" 2>/dev/null | grep -E '^[0-9]+$' || true; }
# Waits until container $1 has printed at least $2 numbers.
wait_count() {
	local i
	for i in $(seq 300); do
		[ "$(counts "$1" | wc -l)" -ge "$2" ] && return 0
		sleep 0.1
	done
	fail "$1 printed fewer than $2 numbers: $(counts "$1" | tr '\n' ' ')"
}
# The log counts 1, 2, 3, ... without a gap or a restart.
consecutive() {
	counts "$1" | awk -v c="$1" 'NR != $1 { printf "%s: line %d is %s\n", c, NR, $1; bad = 1; exit }
		END { exit bad }'
}
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
status() { P inspect -f '{{.State.Status}}' "$1"; }

cp /bin/busybox "$W/rootfs/bin/"
for a in sh sleep echo; do ln -sf busybox "$W/rootfs/bin/$a"; done
tar -C "$W/rootfs" -cf "$W/rootfs.tar" .
P import -q "$W/rootfs.tar" localhost/criu-busybox >/dev/null || fail "podman import"
P run -d --name c1 --network none localhost/criu-busybox \
	sh -c 'i=0; while :; do i=$((i+1)); echo $i; sleep 0.1; done' >/dev/null || fail "podman run"
wait_count c1 5
t0=$(date +%s.%N)
P container checkpoint c1 >/dev/null || fail "checkpoint"
t1=$(date +%s.%N)
[ "$(status c1)" = exited ] || fail "c1 is $(status c1) after the checkpoint"
before=$(counts c1 | wc -l)
P container restore c1 >/dev/null || fail "restore"
t2=$(date +%s.%N)
[ "$(status c1)" = running ] || fail "c1 is $(status c1) after the restore"
wait_count c1 $((before + 5))
consecutive c1 || fail "c1's count did not go on after the restore"
echo "podman + $(basename "$RT"): checkpoint $(secs "$t0" "$t1") s, restore $(secs "$t1" "$t2") s; counted on from $before"
# A copy under a new name, from an exported checkpoint of the running container.
P container checkpoint --leave-running --export "$W/c1.tar.gz" c1 >/dev/null ||
	fail "checkpoint --leave-running --export"
[ "$(status c1)" = running ] || fail "c1 is $(status c1) after --leave-running"
P container restore --import "$W/c1.tar.gz" --name c2 >/dev/null || fail "restore --import --name c2"
[ "$(status c2)" = running ] || fail "c2 is $(status c2)"
n=$(counts c2 | wc -l)
wait_count c2 $((n + 3))
# c2 has a cgroup of its own: removing c1 leaves it counting. runc 1.1.5 on cgroup v2
# restores the copy into the original's cgroup, so this part is berth's.
cg2=$(cat "/proc/$(P inspect -f '{{.State.Pid}}' c2)/cgroup")
echo "c2's cgroup: $cg2"
if [ "$(basename "$RT")" != runc ]; then
	case $cg2 in *"$(P inspect -f '{{.Id}}' c1)"*) fail "c2 is in c1's cgroup: $cg2" ;; esac
	P rm -f -t 0 c1 >/dev/null || fail "podman rm c1"
	[ "$(status c2)" = running ] || fail "c2 is $(status c2) after c1's removal"
	n=$(counts c2 | wc -l)
	wait_count c2 $((n + 3))
fi
P rm -a -f -t 0 >/dev/null || fail "podman rm -a"
left=$(P ps -a -q)
[ -z "$left" ] || fail "podman still lists: $left"
left=$("$RT" --root "$W/state" list -q 2>/dev/null || true)
[ -z "$left" ] || fail "the runtime still lists: $left"
echo "--- $(basename "$RT") as podman called it for checkpoint and restore:"
grep -E ' (checkpoint|restore) ' "$W/calls.log" | sed 's/^/    /'
echo "ok: podman + $(basename "$RT")"
