#!/usr/bin/env bash
# Rootless containers: the runtime started by an unprivileged user.
#
#   integration/hosts/rootless.sh host     (this host, as root: the runtime runs as nobody)
#   integration/hosts/rootless.sh guest [cgroups] [podman]
#                                          (as root in `integration/vm/run --systemd`; both
#                                          parts by default)
#
# host:  a single-id mapping (`spec --rootless` as nobody, uid 0 inside = 65534 outside), the
#        state under $XDG_RUNTIME_DIR by default; run, create/start/state/exec/kill/delete;
#        no cgroup can be written here (hybrid host, nothing delegated), so a container without
#        limits runs in its caller's cgroup and one with a memory limit is refused, as runc
#        does; `features` (berth only) reports what this caller can use.
# guest: a lingering user (ROOTLESS_USER, default u1: made with `useradd -m`, its subuid
#        range from useradd, `loginctl enable-linger`) whose user@UID.service has memory
#        delegated. As that user: `--systemd-cgroup` with a memory limit in a transient scope of
#        the user's systemd (MemoryMax, memory.max, an allocation over it OOM-killed, the scope
#        gone after delete); rootless podman (vfs storage and its run root on the guest's
#        tmpfs, slirp4netns) run, exec, stop (the SIGTERM trap's exit code) and rm with
#        `--runtime $RUNTIME`.
#
# RUNTIME names the runtime (default: this repository's target/debug/berth); RUNTIME=/usr/sbin/runc
# proves the checks right. Prints one "ok"/"FAIL" line a check (a failure's output follows,
# indented) and "N passed, M failed"; exits 1 when a check failed, 2 when it cannot run at all.
# Everything it made (containers, scopes, files; in the guest the user's podman state) is
# removed at exit, also after a failure; the guest's user stays for a later run.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
RUNTIME=${RUNTIME:-$REPO/target/debug/berth}
NAME=$(basename "$RUNTIME")
MODE=${1:-}
PARTS=("${@:2}")
PASSED=0 FAILED=0
T0=$SECONDS

die() {
	echo "rootless.sh: $*" >&2
	exit 2
}

case $MODE in host | guest) ;; *) die "usage: $0 host|guest" ;; esac
[[ $(id -u) == 0 ]] || die "must run as root (it runs the runtime as an unprivileged user)"
[[ -x $RUNTIME ]] || die "$RUNTIME is not executable (cargo build --bin berth?)"
command -v jq >/dev/null || die "jq is missing"
[[ -x /bin/busybox ]] || die "/bin/busybox is missing (package busybox-static)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-rootless.XXXXXX") || die "mktemp"
chmod 755 "$WORK"
# The runtime runs as an unprivileged user, who may not reach the repository (a clone under
# /root, say): it runs from a copy here.
mkdir "$WORK/bin" && cp "$RUNTIME" "$WORK/bin/$NAME" && chmod 755 "$WORK/bin" "$WORK/bin/$NAME" ||
	die "cannot copy $RUNTIME to $WORK/bin"
RUNTIME=$WORK/bin/$NAME
CLEANUP=()
cleanup() {
	local i
	for ((i = ${#CLEANUP[@]} - 1; i >= 0; i--)); do
		eval "${CLEANUP[i]}" >/dev/null 2>&1 || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# check NAME FUNCTION [ARG...]: runs FUNCTION in a subshell with errexit, its output kept
# and shown only when it fails. (A subshell: what must be cleaned up is registered before.)
check() {
	local name=$1 out=$WORK/check.out rc
	shift
	(
		set -e
		"$@"
	) >"$out" 2>&1 </dev/null
	rc=$?
	if ((rc == 0)); then
		echo "ok - $name"
		PASSED=$((PASSED + 1))
	else
		echo "FAIL - $name (exit $rc)"
		tail -n 30 "$out" | sed 's/^/    /'
		FAILED=$((FAILED + 1))
	fi
}

# eq WHAT EXPECTED ACTUAL
eq() {
	if [[ $2 != "$3" ]]; then
		printf '%s: expected [%s], got [%s]\n' "$1" "$2" "$3"
		return 1
	fi
}

# A busybox rootfs readable by everyone, in DIR/rootfs.
make_rootfs() {
	local r=$1/rootfs a
	mkdir -p "$r"/{bin,proc,sys,dev,tmp,etc,root}
	chmod 1777 "$r/tmp"
	cp /bin/busybox "$r/bin/busybox"
	# Only the applets the checks use: hundreds of symlinks cost seconds under emulation.
	for a in sh cat cut dd echo id ls sed seq sleep tr true; do
		ln -s busybox "$r/bin/$a"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$r/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
	chmod -R a+rX "$1"
}

# set_config BUNDLE JQ-FILTER [JQ ARGS...]: edits BUNDLE/config.json in place.
set_config() {
	local b=$1 f=$2
	shift 2
	jq "$@" "$f" "$b/config.json" >"$b/config.json.new" && mv "$b/config.json.new" "$b/config.json"
}

# ------------------------------------------------------------------------------------------
# host: as nobody on this host.

NOBODY=65534

# As nobody, with a clean environment and the state root's parent in XDG_RUNTIME_DIR.
nb() {
	setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups \
		env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/ \
		XDG_RUNTIME_DIR="$XDG" "$@"
}
rt() { nb "$RUNTIME" "$@"; }

# A fresh bundle B (config from `spec --rootless` as nobody) running ARGS.
nb_bundle() {
	local args
	args=$(printf '%s\n' "$@" | jq -R . | jq -s -c .)
	rm -f "$B/config.json"
	(cd "$B" && rt spec --rootless)
	set_config "$B" '.process.args = $a | .process.terminal = false' --argjson a "$args"
}

host_run() {
	local out rc=0
	nb_bundle sh -c 'id -u; cat /proc/self/uid_map /proc/self/gid_map; exit 7'
	out=$(rt run --bundle "$B" hrl-run) || rc=$?
	eq "exit status" 7 "$rc"
	eq "uid and maps" "0 0 65534 1 0 65534 1" "$(echo $out)"
	[[ -z $(rt list -q) ]] || {
		echo "still listed after run: $(rt list -q)"
		return 1
	}
}

host_create() {
	local pid st
	nb_bundle sleep 1000
	# No --root: the state goes under $XDG_RUNTIME_DIR/<runtime's name>.
	rt create --bundle "$B" hrl-life >/dev/null 2>"$WORK/create.err" || {
		cat "$WORK/create.err"
		return 1
	}
	st=$(rt state hrl-life)
	eq status created "$(jq -r .status <<<"$st")"
	pid=$(jq -r .pid <<<"$st")
	[[ -d /proc/$pid ]] || {
		echo "the init $pid does not exist"
		return 1
	}
	eq "init's owner" $NOBODY "$(stat -c %u "/proc/$pid")"
	[[ -d $XDG/$NAME/hrl-life ]] || {
		echo "no state in $XDG/$NAME/hrl-life:"
		find "$XDG" | head
		return 1
	}
	# No cgroup could be made: the init stays in its caller's (this shell's) cgroup.
	eq "init's cgroup" "$(cat /proc/self/cgroup)" "$(cat "/proc/$pid/cgroup")"
}

# berth says that nothing limits the container (runc says nothing).
host_no_cgroup_warning() {
	cat "$WORK/create.err"
	grep -q 'warning: no cgroup for the container' "$WORK/create.err"
}

host_start() {
	rt start hrl-life
	eq status running "$(rt state hrl-life | jq -r .status)"
	eq "list" "hrl-life running" "$(rt list | awk 'NR > 1 { print $1, $3 }')"
}

host_exec() {
	local out rc=0
	out=$(rt exec hrl-life sh -c 'id -u; cat /proc/1/cmdline | tr "\0" " "; exit 5') || rc=$?
	eq "exit status" 5 "$rc"
	eq "uid, pid 1" "0 sleep 1000" "$(echo $out)"
}

host_kill_delete() {
	local pid
	pid=$(rt state hrl-life | jq -r .pid)
	rt kill hrl-life KILL
	for _ in $(seq 50); do
		[[ $(rt state hrl-life | jq -r .status) == stopped ]] && break
		sleep 0.1
	done
	eq status stopped "$(rt state hrl-life | jq -r .status)"
	rt delete hrl-life
	if [[ -d /proc/$pid ]] && ! grep -q '^State:.*zombie' "/proc/$pid/status"; then
		grep -E '^(State|PPid)' "/proc/$pid/status"
		return 1
	fi
	[[ ! -e $XDG/$NAME/hrl-life ]] || {
		echo "state left in $XDG/$NAME/hrl-life"
		return 1
	}
	[[ -z $(rt list -q) ]]
}

# As root of a user namespace of nobody's, for a container without a user namespace of its
# own: how rootless podman runs the runtime. Still rootless: the state under
# $XDG_RUNTIME_DIR, no cgroup, the host's device nodes bound (mknod is refused there).
host_userns_root() {
	local out
	nb_bundle sh -c 'id -u; ls -ln /dev/null | cut -c1'
	set_config "$B" '.linux.namespaces -= [{type: "user"}] | del(.linux.uidMappings, .linux.gidMappings)'
	out=$(nb unshare --user --map-root-user sh -c '
		"$0" create --bundle "$1" hrl-userns &&
		ls -d "$XDG_RUNTIME_DIR/$2/hrl-userns" &&
		"$0" start hrl-userns &&
		for _ in $(seq 50); do
			[ "$("$0" state hrl-userns | grep -c "\"stopped\"")" = 1 ] && break
			sleep 0.1
		done
		"$0" delete hrl-userns' "$RUNTIME" "$B" "$NAME")
	eq "state dir, uid, /dev/null" "$XDG/$NAME/hrl-userns 0 c" "$(echo $out)"
	[[ -z $(rt list -q) ]]
}

# A memory limit needs a cgroup, and none can be made here: refused with a reason that names
# it, nothing left behind (runc: "cannot set memory limit: container could not join or create
# cgroup").
host_memory_refused() {
	local rc=0
	nb_bundle true
	set_config "$B" '.linux.resources = {memory: {limit: 67108864}}'
	rt run --bundle "$B" hrl-mem >"$WORK/mem.out" 2>&1 || rc=$?
	cat "$WORK/mem.out"
	((rc != 0)) || {
		echo "a memory limit it cannot apply was ignored"
		return 1
	}
	grep -Eqi 'memory|resources' "$WORK/mem.out" && grep -Eqi 'cgroup' "$WORK/mem.out"
	[[ -z $(rt list -q) ]]
}

# `features` as nobody: user namespaces usable by this caller, the id-map helpers found in
# PATH (and not when PATH lacks them), no systemd for it to talk to.
host_features() {
	local f userns=false helpers=false
	f=$(rt features)
	nb unshare -U true && userns=true
	if nb sh -c 'command -v newuidmap && command -v newgidmap'; then helpers=true; fi
	eq "rootless.enabled" $userns "$(jq .linux.rootless.enabled <<<"$f")"
	eq "rootless.idMapHelpers" $helpers "$(jq .linux.rootless.idMapHelpers <<<"$f")"
	f=$(setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups env -i PATH=/nonexistent \
		XDG_RUNTIME_DIR="$XDG" "$RUNTIME" features)
	eq "rootless.idMapHelpers without them in PATH" false "$(jq .linux.rootless.idMapHelpers <<<"$f")"
	eq "cgroup.systemdUser (no user bus in $XDG)" false "$(jq .linux.cgroup.systemdUser <<<"$f")"
}

mode_host() {
	B=$WORK/bundle XDG=$WORK/xdg
	mkdir -p "$B" "$XDG"
	make_rootfs "$B"
	chown $NOBODY:$NOBODY "$B" "$XDG"
	chmod 700 "$XDG"
	CLEANUP+=("rt delete -f hrl-run" "rt delete -f hrl-life" "rt delete -f hrl-mem"
		"rt delete -f hrl-userns")
	echo "# host: $RUNTIME as nobody (uid $NOBODY), XDG_RUNTIME_DIR=$XDG"
	check "run: uid 0 inside is nobody outside, exit status" host_run
	check "create: state under \$XDG_RUNTIME_DIR/$NAME, init in its caller's cgroup" host_create
	if [[ $NAME == berth ]]; then
		check "create: a warning that the container has no cgroup" host_no_cgroup_warning
	fi
	check "start, state, list" host_start
	check "exec: uid, same pid namespace, exit status" host_exec
	check "kill, delete: init gone, state gone" host_kill_delete
	check "as root of nobody's user namespace (as rootless podman): state, no cgroup, devices" \
		host_userns_root
	check "memory limit without a writable cgroup: refused, nothing left" host_memory_refused
	if [[ $NAME == berth ]]; then
		check "features: rootless, id-map helpers, systemd user instance" host_features
	fi
}

# ------------------------------------------------------------------------------------------
# guest: as a lingering user of the systemd guest.

U=${ROOTLESS_USER:-u1}

# As the user, in its session's environment (XDG_RUNTIME_DIR and the user bus).
as_u() {
	setpriv --reuid="$UID_U" --regid="$GID_U" --init-groups \
		env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME="$HOME_U" USER="$U" LOGNAME="$U" XDG_RUNTIME_DIR="/run/user/$UID_U" \
		DBUS_SESSION_BUS_ADDRESS="unix:path=/run/user/$UID_U/bus" "$@"
}
urt() { as_u "$RUNTIME" --root "/run/user/$UID_U/$NAME-hrl" "$@"; }

setup_user() {
	id "$U" >/dev/null 2>&1 || useradd -m "$U" || die "useradd -m $U"
	UID_U=$(id -u "$U") GID_U=$(id -g "$U") HOME_U=$(getent passwd "$U" | cut -d: -f6)
	grep -q "^$U:" /etc/subuid || die "$U has no /etc/subuid range"
	loginctl enable-linger "$U" || die "loginctl enable-linger $U"
	systemctl start "user@$UID_U.service" || die "start user@$UID_U.service"
	for _ in $(seq 100); do
		[[ -S /run/user/$UID_U/bus ]] && break
		sleep 0.1
	done
	[[ -S /run/user/$UID_U/bus ]] || die "no user bus /run/user/$UID_U/bus"
	USER_CG=/sys/fs/cgroup/user.slice/user-$UID_U.slice/user@$UID_U.service
	grep -qw memory "$USER_CG/cgroup.controllers" ||
		die "memory is not delegated to user@$UID_U.service: $(cat "$USER_CG/cgroup.controllers")"
}

# Exit status of ARGS as the user, with its output in $WORK/last.out.
u_status() {
	local rc=0
	as_u "$@" >"$WORK/last.out" 2>&1 || rc=$?
	echo $rc
}

SD_ID=hrl-sd
SD_SCOPE=berth-$SD_ID.scope
SD_LIMIT=$((32 << 20))

sd_create() {
	local pid cg
	urt --systemd-cgroup create --bundle "$B" $SD_ID </dev/null >"$WORK/sd.out" 2>&1 || {
		cat "$WORK/sd.out"
		return 1
	}
	urt start $SD_ID
	eq status running "$(urt state $SD_ID | jq -r .status)"
	pid=$(urt state $SD_ID | jq -r .pid)
	cg=$(sed -n 's/^0:://p' "/proc/$pid/cgroup")
	echo "init $pid in $cg"
	eq "init's cgroup" "/user.slice/user-$UID_U.slice/user@$UID_U.service/user.slice/$SD_SCOPE" "$cg"
	eq "MemoryMax of the user's scope" $SD_LIMIT \
		"$(as_u systemctl --user show -P MemoryMax $SD_SCOPE)"
	eq "memory.max" $SD_LIMIT "$(cat "/sys/fs/cgroup$cg/memory.max")"
	eq "scope owner" "$UID_U" "$(stat -c %u "/sys/fs/cgroup$cg")"
	echo "/sys/fs/cgroup$cg" >"$WORK/sd.cg"
}

# The init allocates under the limit, then over it: the OOM killer ends that one. (The
# init, not an exec: an exec'd process joins the scope only if its caller may move it there,
# and the caller here is in a cgroup of root's, as a user's login session would be.)
sd_oom() {
	local cg
	cg=$(cat "$WORK/sd.cg")
	for _ in $(seq 100); do
		grep -q '^big=' "$WORK/sd.out" && break
		sleep 0.2
	done
	cat "$WORK/sd.out"
	eq "allocations" "small=0 big=137" "$(grep -E '^(small|big)=' "$WORK/sd.out" | xargs)"
	grep -E '^oom_kill [1-9]' "$cg/memory.events"
}

sd_delete() {
	local cg
	cg=$(cat "$WORK/sd.cg")
	urt kill $SD_ID KILL
	for _ in $(seq 50); do
		[[ $(urt state $SD_ID | jq -r .status) == stopped ]] && break
		sleep 0.1
	done
	urt delete $SD_ID
	[[ ! -d $cg ]] || {
		echo "$cg is left"
		return 1
	}
	for _ in $(seq 30); do
		[[ $(as_u systemctl --user show -P LoadState $SD_SCOPE) == not-found ]] && break
		sleep 0.1
	done
	eq "$SD_SCOPE's LoadState" not-found "$(as_u systemctl --user show -P LoadState $SD_SCOPE)"
}

CG_ID=hrl-cg

# The cgroupfs driver in the user's delegated cgroup: the runtime started in a scope of the
# user's systemd (a cgroup it may move processes out of), the container's cgroup a new one
# below user@UID.service, which the user owns. Its init allocates as in the systemd case.
cg_run() {
	local b=$WORK/bundle-cg rel pid
	rel=/user.slice/user-$UID_U.slice/user@$UID_U.service/hrl-cgfs/$CG_ID
	rm -rf "$b" && mkdir "$b" && cp "$B/config.json" "$b/"
	set_config "$b" '.root.path = $r | .linux.cgroupsPath = $p' --arg r "$B/rootfs" --arg p "$rel"
	chown -R "$UID_U:$GID_U" "$b"
	as_u systemd-run --user --scope -q -- "$RUNTIME" --root "/run/user/$UID_U/$NAME-hrl" \
		create --bundle "$b" $CG_ID </dev/null >"$WORK/cg.out" 2>&1 || {
		cat "$WORK/cg.out"
		return 1
	}
	urt start $CG_ID
	pid=$(urt state $CG_ID | jq -r .pid)
	eq "init's cgroup" "0::$rel" "$(cat "/proc/$pid/cgroup")"
	eq "memory.max" $SD_LIMIT "$(cat "/sys/fs/cgroup$rel/memory.max")"
	for _ in $(seq 100); do
		grep -q '^big=' "$WORK/cg.out" && break
		sleep 0.2
	done
	cat "$WORK/cg.out"
	eq "allocations" "small=0 big=137" "$(grep -E '^(small|big)=' "$WORK/cg.out" | xargs)"
	grep -E '^oom_kill [1-9]' "/sys/fs/cgroup$rel/memory.events"
	urt delete -f $CG_ID
	[[ ! -d /sys/fs/cgroup$rel ]] || {
		echo "/sys/fs/cgroup$rel is left"
		return 1
	}
}

# podman as the user: private configuration, its storage and run root on the guest's tmpfs.
pm() {
	as_u env CONTAINERS_CONF="$PM/containers.conf" CONTAINERS_STORAGE_CONF="$PM/storage.conf" \
		TMPDIR="$PM/tmp" podman --runtime "$RUNTIME" "$@"
}

pm_setup() {
	mkdir -p "$PM/tmp"
	cat >"$PM/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$PM/storage"
runroot = "$PM/run"
EOF
	cat >"$PM/containers.conf" <<EOF
[engine]
cgroup_manager = "systemd"
events_logger = "file"
events_logfile_path = "$PM/events.log"
EOF
	chown -R "$UID_U:$GID_U" "$PM"
	tar -C "$B/rootfs" -cf "$WORK/rootfs.tar" .
	chmod 644 "$WORK/rootfs.tar"
	pm import "$WORK/rootfs.tar" localhost/hrl:latest >/dev/null
}

pm_run() {
	local rc
	rc=$(u_status env CONTAINERS_CONF="$PM/containers.conf" CONTAINERS_STORAGE_CONF="$PM/storage.conf" \
		TMPDIR="$PM/tmp" podman --runtime "$RUNTIME" run --rm localhost/hrl \
		sh -c 'echo hello; id -u; exit 3')
	cat "$WORK/last.out"
	eq "exit status" 3 "$rc"
	eq "output" "hello 0" "$(echo $(cat "$WORK/last.out"))"
}

pm_run_d() {
	pm run -d --name hrl-p localhost/hrl sh -c 'trap "exit 42" TERM; while :; do sleep 0.2; done'
	eq "state, runtime" "running $RUNTIME" "$(pm inspect -f '{{.State.Status}} {{.OCIRuntime}}' hrl-p)"
}

pm_exec() {
	local rc
	rc=$(u_status env CONTAINERS_CONF="$PM/containers.conf" CONTAINERS_STORAGE_CONF="$PM/storage.conf" \
		TMPDIR="$PM/tmp" podman --runtime "$RUNTIME" exec hrl-p sh -c 'echo in; cat /proc/1/cmdline | tr "\0" " "; exit 4')
	cat "$WORK/last.out"
	eq "exit status" 4 "$rc"
	case $(cat "$WORK/last.out") in
	in*"sh -c trap"*) ;;
	*) return 1 ;;
	esac
}

pm_stop() {
	pm stop -t 30 hrl-p
	eq "state, exit code (the TERM trap's)" "exited 42" \
		"$(pm inspect -f '{{.State.Status}} {{.State.ExitCode}}' hrl-p)"
}

pm_rm() {
	local id left
	id=$(pm inspect -f '{{.Id}}' hrl-p)
	pm rm hrl-p
	if pm container exists hrl-p; then
		echo "hrl-p still exists"
		return 1
	fi
	left=$(find "/run/user/$UID_U" "$PM/run" -name "$id*" 2>/dev/null || true)
	[[ -z $left ]] || {
		echo "left: $left"
		return 1
	}
	left=$(find /sys/fs/cgroup -name "*$id*" 2>/dev/null || true)
	[[ -z $left ]] || {
		echo "cgroups left: $left"
		return 1
	}
}

mode_guest() {
	[[ $(cat /proc/1/comm) == systemd ]] || die "guest mode needs systemd as PID 1 (integration/vm/run --systemd)"
	setup_user
	B=$WORK/bundle
	mkdir -p "$B"
	make_rootfs "$B"
	chown "$UID_U:$GID_U" "$B"
	echo "# guest: $RUNTIME as $U (uid $UID_U), delegated: $(cat "$USER_CG/cgroup.controllers")"

	((${#PARTS[@]})) || PARTS=(cgroups podman)
	if [[ " ${PARTS[*]} " == *" cgroups "* ]]; then guest_cgroups; fi
	if [[ " ${PARTS[*]} " == *" podman "* ]]; then guest_podman; fi
}

guest_cgroups() {
	local t=$SECONDS
	(cd "$B" && as_u "$RUNTIME" spec --rootless)
	set_config "$B" '.process.args = ["sh", "-c", $sh] | .process.terminal = false
		| .linux.cgroupsPath = "user.slice:berth:'$SD_ID'"
		| .linux.resources.memory = {limit: '$SD_LIMIT', swap: '$SD_LIMIT'}' --arg sh '
		dd if=/dev/zero of=/dev/null bs=8M count=1 2>/dev/null; echo small=$?
		dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo big=$?
		exec sleep 1000'
	CLEANUP+=("urt delete -f $SD_ID")
	check "--systemd-cgroup: the user's scope, MemoryMax and memory.max" sd_create
	check "--systemd-cgroup: over the limit OOM-killed, under it not" sd_oom
	check "--systemd-cgroup: delete removes the scope" sd_delete
	CLEANUP+=("urt delete -f $CG_ID" "rmdir $USER_CG/hrl-cgfs")
	check "cgroupfs in the user's delegated cgroup: memory.max, OOM kill, removed" cg_run
	echo "# cgroups: $((SECONDS - t)) s"
}

guest_podman() {
	local t=$SECONDS
	if ! command -v podman >/dev/null; then
		echo "FAIL - podman is not installed"
		FAILED=$((FAILED + 1))
		return
	fi
	PM=$WORK/podman
	# The containers go, then the storage (vfs layers are owned by the user's subordinate
	# ids, so root could not tell them apart) and the user's pause process with it.
	CLEANUP+=("pm system reset -f" "pm rm -a -f -t 0")
	check "podman: setup (vfs storage, import)" pm_setup
	check "podman run --rm: output, uid, exit status" pm_run
	check "podman run -d: running, with this runtime" pm_run_d
	check "podman exec: output, same pid namespace, exit status" pm_exec
	check "podman stop: the SIGTERM trap's exit code" pm_stop
	check "podman rm: container, runtime state and cgroup gone" pm_rm
	echo "# podman: $((SECONDS - t)) s"
}

"mode_$MODE"
echo "# $MODE with $RUNTIME: $PASSED passed, $FAILED failed, $((SECONDS - T0)) s"
((FAILED == 0))
