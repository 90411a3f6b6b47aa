#!/usr/bin/env bash
# containerd-shim-berth-v2 against a real containerd 1.6 (Debian's): a private containerd (own
# root, state, sockets, CRI with CNI bridge + host-local) running in a network namespace of its
# own, so the host's network is never touched.
#
#   integration/shim/run.sh [ctr] [faults] [cri]      (default: all three)
#
# ctr:    the ctr workflows of integration/clients/containerd.sh, with --runtime
#         io.containerd.berth.v2, plus log URIs (file://, binary://) and OOM events.
# faults: containerd killed and restarted while containers run (one exits meanwhile); the
#         shim SIGKILLed (containerd's `shim delete` must leave nothing behind).
# cri:    the CRI workflow (crates/berth-cri-test) with a runtime handler of type
#         io.containerd.berth.v2, then containerd-shim-runc-v2 with BinaryName = berth's CLI
#         (handler berthcli), then containerd-shim-runc-v2 + runc.
#
# CGROUP_MANAGER=systemd (systemd as PID 1) runs the CRI pods with containerd's
# `SystemdCgroup = true` for each handler (for the berth shim in the file that its options'
# ConfigPath names: CRI gives runc's options to runc's shim only) and a kubelet-style cgroup parent
# (BCRI-besteffort-podHANDLER.slice): each container must be in its transient scope
# cri-containerd-ID.scope, and UpdateContainerResources must change the scope's MemoryMax.
# The default is cgroupfs.
#
# SHIM_RUNTIME=runc runs the ctr and faults suites through containerd-shim-runc-v2 + runc, to
# prove the tests right. SHIM=, CRI_TEST= name the binaries (default: the debug builds).
# LOGDIR=DIR keeps containerd's log and the test outputs. Output is TAP-like, ending in
# "N passed, M failed".
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SHIM=${SHIM:-$REPO/target/debug/containerd-shim-berth-v2}
CRI_TEST=${CRI_TEST:-$REPO/target/debug/berth-cri-test}
SHIM_RUNTIME=${SHIM_RUNTIME:-berth}
BERTH=${BERTH:-$REPO/target/debug/berth}
CGROUP_MANAGER=${CGROUP_MANAGER:-cgroupfs}
TIMEOUT=${TIMEOUT:-60}
LOGDIR=${LOGDIR:-}
SUITES=("$@")
((${#SUITES[@]})) || SUITES=(ctr faults cri)

for s in "${SUITES[@]}"; do
	case $s in ctr | faults | cri) ;; *)
		echo "usage: $0 [ctr] [faults] [cri]" >&2
		exit 2
		;;
	esac
done
case $CGROUP_MANAGER in
cgroupfs) SYSTEMD_CGROUP=false ;;
systemd)
	SYSTEMD_CGROUP=true
	if [[ ! -d /run/systemd/system ]]; then
		echo "$0: CGROUP_MANAGER=systemd needs systemd as PID 1" >&2
		exit 2
	fi
	;;
*)
	echo "$0: CGROUP_MANAGER=$CGROUP_MANAGER: cgroupfs or systemd" >&2
	exit 2
	;;
esac
if [[ $(id -u) != 0 ]]; then
	echo "$0: must run as root" >&2
	exit 2
fi
case $SHIM_RUNTIME in
berth)
	SHIM_NAME=containerd-shim-berth-v2
	RUNTIME_FLAGS=(--runtime io.containerd.berth.v2)
	;;
runc)
	SHIM_NAME=containerd-shim-runc-v2
	RUNTIME_FLAGS=(--runtime io.containerd.runc.v2 --runc-binary /usr/sbin/runc)
	;;
*)
	echo "$0: SHIM_RUNTIME is berth or runc" >&2
	exit 2
	;;
esac
for bin in "$SHIM" "$CRI_TEST" "$BERTH"; do
	if [[ ! -x $bin ]]; then
		echo "$0: $bin is not executable (cargo build first?)" >&2
		exit 2
	fi
done
for cmd in containerd ctr umoci unshare nsenter script; do
	if ! command -v "$cmd" >/dev/null; then
		echo "$0: $cmd is missing (run integration/setup.sh)" >&2
		exit 2
	fi
done
[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] || {
	echo "$0: the CNI plugins are missing (containernetworking-plugins; run integration/setup.sh)" >&2
	exit 2
}

WORK=$(mktemp -d /tmp/berth-shim.XXXXXX)
TAG=berth-shim-$$
D=$WORK/containerd
SOCK=$D/containerd.sock
NETNS=$WORK/netns
# The root slice of the CRI pods in systemd mode (no "-" in it: the pods' slices nest below).
BCRI=berthcri$$
CD_PID=
# containerd 1.6 puts shim sockets in /run/containerd/s whatever its configuration; cleanup
# removes the directories it made.
HOST_DIRS=(/run/containerd/s /run/containerd)
HOST_DIRS_NEW=()
for d in "${HOST_DIRS[@]}"; do
	[[ -e $d ]] || HOST_DIRS_NEW+=("$d")
done

log() { echo "# $*"; }

# ---------------------------------------------------------------------------------------------
# Cleanup: only what this run made.

# Processes whose command line names WORK: containerd, the shims, loggers. A killed shim leaves
# its socket in /run/containerd/s: remember the sockets they hold, remove them after.
kill_work_processes() {
	local p cmd fd inode sockets=()
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[[ $p == "$$" || $p == "$BASHPID" ]] && continue
		cmd=$(tr "\\0" " " 2>/dev/null <"/proc/$p/cmdline") || continue
		[[ $cmd == *"$WORK"* ]] || continue
		for fd in /proc/"$p"/fd/*; do
			inode=$(readlink "$fd" 2>/dev/null) || continue
			[[ $inode == socket:* ]] || continue
			inode=${inode#socket:[}
			mapfile -t -O "${#sockets[@]}" sockets < <(awk -v i="${inode%]}" \
				'$7 == i && $8 ~ "^/run/containerd/s/" { print $8 }' /proc/net/unix)
		done
		kill -KILL "$p" 2>/dev/null || true
	done
	((${#sockets[@]})) && rm -f "${sockets[@]}"
	true
}

remove_cgroups() {
	local root dir f pid
	for root in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
		root=${root%/}
		[[ -e $root/cgroup.procs ]] || continue
		for dir in "$root/$TAG" "$root/$TAG-cri"; do
			[[ -d $dir ]] || continue
			while read -r f; do
				echo THAWED >"$f" 2>/dev/null || true
			done < <(find "$dir" -name freezer.state 2>/dev/null)
			while read -r f; do
				while read -r pid; do
					kill -KILL "$pid" 2>/dev/null || true
				done <"$f"
			done < <(find "$dir" -name cgroup.procs 2>/dev/null)
			for _ in $(seq 20); do
				find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
				[[ -d $dir ]] || break
				sleep 0.2
			done
			[[ -d $dir ]] && echo "# warning: could not remove cgroup $dir" >&2
		done
	done
	true
}

unmount_work() {
	local m mounts
	for _ in 1 2 3; do
		mounts=$(awk -v w="$WORK" 'index($5, w "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r)
		[[ -z $mounts ]] && return 0
		while read -r m; do
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
		done <<<"$mounts"
	done
	awk -v w="$WORK" 'index($5, w "/") == 1 { print "# warning: still mounted: " $5 }' /proc/self/mountinfo >&2
}

cleanup() {
	local rc=$?
	set +e
	trap - EXIT
	trap "" INT TERM
	[[ -n $CD_PID ]] && kill -TERM "$CD_PID" 2>/dev/null && sleep 0.5
	kill_work_processes
	[[ $CGROUP_MANAGER == systemd ]] && systemctl stop "$BCRI.slice" 2>/dev/null
	remove_cgroups
	unmount_work
	if [[ -n $LOGDIR ]]; then
		mkdir -p "$LOGDIR"
		find "$WORK" -maxdepth 3 \( -name '*.log' -o -name '*.out' \) -exec cp --backup=numbered {} "$LOGDIR/" \; 2>/dev/null
		echo "# logs kept in $LOGDIR"
	fi
	rm -rf --one-file-system "$WORK"
	for d in "${HOST_DIRS_NEW[@]}"; do
		rmdir "$d" 2>/dev/null
	done
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# Reporting (as integration/clients): each test runs in a subshell with errexit; its output is
# shown only when it fails, with the end of containerd's log.

N=0 PASSED=0 FAILED=0
t() {
	local name=$1 out rc
	shift
	N=$((N + 1))
	out=$WORK/t$N.out
	set +e
	(
		set -e
		"$@"
	) >"$out" 2>&1 </dev/null
	rc=$?
	set -e
	if ((rc == 0)); then
		echo "ok $N - $name"
		PASSED=$((PASSED + 1))
	else
		echo "not ok $N - $name"
		tail -n 40 "$out" | sed 's/^/#   /'
		echo "#   --- containerd log (last 25 lines):"
		tail -n 25 "$D/containerd.log" 2>/dev/null | cut -c1-300 | sed 's/^/#   | /'
		FAILED=$((FAILED + 1))
	fi
}

fail_setup() {
	N=$((N + 1))
	echo "not ok $N - setup: $1"
	FAILED=$((FAILED + 1))
	[[ -n ${2:-} && -f $2 ]] && tail -n 30 "$2" | sed 's/^/#   /'
	true
}

x() {
	echo "+ $*" >&2
	timeout -k 5 "$TIMEOUT" "$@"
}

under_tty() {
	local cmd
	cmd=$(printf '%q ' "$@")
	echo "+ [tty] $cmd" >&2
	# script(1) with stdin at EOF may write a NUL to the terminal; the container's terminal
	# echoes it as "^@" in the output (seen before a line under load): drop that echo too.
	timeout -k 5 "$TIMEOUT" script -qec "$cmd" /dev/null </dev/null | tr -d '\r\0' | sed 's/\^@//g'
	return "${PIPESTATUS[0]}"
}

eq() {
	if [[ "$2" != "$3" ]]; then
		echo "FAIL $1: expected [$2], got [$3]"
		return 1
	fi
}

has() {
	if ! grep -Eq -- "$2" <<<"$3"; then
		echo "FAIL $1: expected to match /$2/, got:"
		echo "$3"
		return 1
	fi
}

words() {
	local w
	read -ra w -d '' <<<"$1" || true
	echo "${w[*]}"
}

until_ok() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || {
			echo "FAIL: timed out waiting for: $*"
			return 1
		}
		sleep 0.1
	done
}

# ---------------------------------------------------------------------------------------------
# The private containerd.

C() { x ctr --address "$SOCK" --namespace "$TAG" "$@"; }
CK() { x ctr --address "$SOCK" --namespace k8s.io "$@"; }

# The CRI handler "berth": the shim's own runtime type. CRI gives a shim of a type it does not
# know runtimeoptions.v1.Options: with SystemdCgroup, their ConfigPath names the berth shim's
# options file (runc's keys).
berth_runtime_config() {
	cat <<EOF
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth]
      runtime_type = "io.containerd.berth.v2"
EOF
	if [[ $CGROUP_MANAGER == systemd ]]; then
		echo "SystemdCgroup = true" >"$D/berth-shim.toml"
		cat <<EOF
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth.options]
        TypeUrl = "runtimeoptions.v1.Options"
        ConfigPath = "$D/berth-shim.toml"
EOF
	fi
}

write_config() {
	mkdir -p "$D"/{root,state,tmp,opt,cni,cni-ipam,runc-root,fifo,bin}
	# containerd finds the shim of runtime io.containerd.berth.v2 in its PATH.
	ln -sf "$(readlink -f "$SHIM")" "$D/bin/containerd-shim-berth-v2"
	cat >"$D/cni/10-berth.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "berth-test",
  "plugins": [{
    "type": "bridge", "bridge": "berthcni0", "isGateway": true, "ipMasq": false,
    "ipam": { "type": "host-local", "ranges": [[{ "subnet": "10.88.77.0/24" }]],
              "routes": [{ "dst": "0.0.0.0/0" }], "dataDir": "$D/cni-ipam" }
  }]
}
EOF
	cat >"$D/config.toml" <<EOF
version = 2
root = "$D/root"
state = "$D/state"
temp = "$D/tmp"
oom_score = 0
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
]

[grpc]
  address = "$SOCK"

[ttrpc]
  address = "$SOCK.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "$D/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/library/berthpause:latest"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  enable_selinux = false
  # No CAP_SYS_RESOURCE here: sandboxes must not ask for an oom_score_adj below containerd's.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "berth"
$(berth_runtime_config)
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berthcli]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berthcli.options]
        BinaryName = "$BERTH"
        Root = "$D/berthcli-root"
        SystemdCgroup = $SYSTEMD_CGROUP
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        Root = "$D/runc-root"
        SystemdCgroup = $SYSTEMD_CGROUP
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$D/cni"
EOF
}

# A network namespace of our own, kept by a bind mount on a file under WORK.
make_netns() {
	: >"$NETNS"
	unshare --net="$NETNS" true
	nsenter --net="$NETNS" ip link set lo up
}

cd_start() {
	nsenter --net="$NETNS" env PATH="$D/bin:$PATH" \
		containerd --config "$D/config.toml" --log-level debug >>"$D/containerd.log" 2>&1 &
	CD_PID=$!
	disown "$CD_PID"
	local _
	for _ in $(seq 300); do
		[[ -S $SOCK ]] && ctr --address "$SOCK" version >/dev/null 2>&1 && return 0
		kill -0 "$CD_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

cd_kill() { # SIGNAL
	kill "-$1" "$CD_PID"
	local _
	for _ in $(seq 100); do
		alive "$CD_PID" || break
		sleep 0.1
	done
	rm -f "$SOCK" "$SOCK.ttrpc"
	CD_PID=
}

# Two images, built offline from busybox-static: the test image and a pause image for CRI.
build_images() {
	local L=$WORK/image/layout B=$WORK/image/bundle
	mkdir -p "$WORK/image"
	(
		set -ex
		umoci init --layout "$L"
		umoci new --image "$L:base"
		umoci unpack --image "$L:base" "$B"
		local R=$B/rootfs
		mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,root,tmp,var,run}
		chmod 1777 "$R/tmp"
		cp /bin/busybox "$R/bin/busybox"
		chroot "$R" /bin/busybox --install -s /bin
		printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$R/etc/passwd"
		printf 'root:x:0:\nnogroup:x:65534:\n' >"$R/etc/group"
		umoci repack --image "$L:base" "$B"
		umoci tag --image "$L:base" test
		umoci config --image "$L:test" --config.cmd /bin/sh --config.env PATH=/usr/sbin:/usr/bin:/sbin:/bin
		umoci tag --image "$L:base" pause
		umoci config --image "$L:pause" --config.entrypoint /bin/sleep --config.cmd 2147483647
		umoci gc --layout "$L"
	) >"$WORK/image/build.log" 2>&1 || return 1
	# One archive per image (ctr import takes the ref from the index annotation).
	local name
	for name in test pause; do
		python3 - "$L" "$WORK/image/$name" "$name" <<'PY' || return 1
import json, os, shutil, sys
src, dst, tag = sys.argv[1:]
shutil.copytree(src, dst)
idx = json.load(open(os.path.join(dst, "index.json")))
idx["manifests"] = [m for m in idx["manifests"]
                    if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag]
json.dump(idx, open(os.path.join(dst, "index.json"), "w"))
PY
		tar -C "$WORK/image/$name" -cf "$WORK/image/$name.tar" .
	done
	IMAGE=docker.io/library/berthtest:test
}

import_images() {
	C images import --base-name docker.io/library/berthtest "$WORK/image/test.tar" &&
		CK images import --base-name docker.io/library/berthtest "$WORK/image/test.tar" &&
		CK images import --base-name docker.io/library/berthpause "$WORK/image/pause.tar" &&
		CK images tag docker.io/library/berthpause:pause docker.io/library/berthpause:latest &&
		CK images tag docker.io/library/berthtest:test docker.io/library/berthtest:latest
}

# ---------------------------------------------------------------------------------------------
# Helpers of the tests.

task_field() { # ID COLUMN(2=pid,3=status)
	C task ls 2>/dev/null | awk -v id="$1" -v c="$2" '$1 == id { print $c }'
}
status_is() { [[ $(task_field "$1" 3) == "$2" ]]; }

# Host-side cgroup file of a process (v1 controller, or the v2 path).
cg_file() { # PID CONTROLLER FILE
	local path
	path=$(awk -F: -v c="$2" '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3 }' "/proc/$1/cgroup")
	[[ -n $path ]] || return 1
	cat "/sys/fs/cgroup/$2$path/$3"
}

# Pids of the shim processes serving container ID.
shims_of() {
	local p cmd
	for p in /proc/[0-9]*; do
		cmd=$(tr "\\0" " " 2>/dev/null <"$p/cmdline") || continue
		[[ $cmd == *"$SHIM_NAME "*"-id $1 "* ]] && echo "${p#/proc/}"
	done
	true
}

alive() { # PID: running (not gone, not a zombie)
	[[ -e /proc/$1 ]] && [[ $(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) != Z ]]
}

bundle_of() { echo "$D/state/io.containerd.runtime.v2.task/$TAG/$1"; }

# Nothing of container ID left: task, bundle, rootfs mount, cgroup, shim.
nothing_left() { # ID
	local id=$1 cg
	if C task ls -q | grep -qx "$id"; then
		echo "FAIL: task $id still listed"
		return 1
	fi
	if [[ -e $(bundle_of "$id") ]]; then
		echo "FAIL: bundle $(bundle_of "$id") left behind"
		ls -la "$(bundle_of "$id")"
		return 1
	fi
	if grep -q " $(bundle_of "$id")/rootfs " /proc/self/mountinfo; then
		echo "FAIL: rootfs of $id still mounted"
		return 1
	fi
	for cg in /sys/fs/cgroup/*/"$TAG/$id"; do
		if [[ -d $cg ]]; then
			echo "FAIL: cgroup $cg left behind"
			return 1
		fi
	done
	if [[ -n $(shims_of "$id") ]]; then
		echo "FAIL: a shim still serves $id: $(shims_of "$id")"
		return 1
	fi
}

RF=()

# Starts `ctr events` into FILE (EV_PID) and returns once it is subscribed: a probe container
# created and removed after the start must show up in FILE.
events_start() { # FILE
	ctr --address "$SOCK" events >"$1" 2>&1 &
	EV_PID=$!
	local i _
	for i in $(seq 20); do
		C container create "$IMAGE" "ev-probe-$i" >/dev/null
		C container rm "ev-probe-$i" >/dev/null
		for _ in $(seq 10); do
			grep -q "ev-probe-$i" "$1" && return 0
			sleep 0.1
		done
	done
	echo "FAIL: ctr events did not subscribe"
	return 1
}

# ---------------------------------------------------------------------------------------------
# ctr workflows.

t_run_rm() {
	local out rc
	out=$(C run --rm "${RF[@]}" "$IMAGE" c-rm sh -c 'echo hello from $$; exit 3') && rc=0 || rc=$?
	eq "exit code" 3 "$rc"
	eq "output" "hello from 1" "$out"
	if C container ls -q | grep -qx c-rm; then
		echo "FAIL: container c-rm still listed after run --rm"
		return 1
	fi
	until_ok 10 nothing_left c-rm
	nothing_left c-rm
}

t_env_cwd() {
	local out
	out=$(C run --rm "${RF[@]}" --env FOO=bar --cwd /tmp "$IMAGE" c-env sh -c 'echo "$FOO $(pwd) $(id -u) $(hostname)"')
	has "env, cwd, uid" '^bar /tmp 0 ' "$out"
}

t_stdin() {
	local out
	# ctr sends CloseIO at its stdin's EOF only once the task exists (hence the sleep); the
	# process then reads EOF, so `cat` ends.
	out=$({
		sleep 2
		printf 'line one\nline two\n'
	} | C run --rm "${RF[@]}" "$IMAGE" c-stdin sh -c 'head -n 2 | wc -l; cat; echo done')
	eq "stdin reached the container, then EOF" "2 done" "$(words "$out")"
}

t_run_tty() {
	local out rc cmd
	# ctr resizes the container's terminal to its own (ResizePty) once the task started.
	cmd=$(printf '%q ' ctr --address "$SOCK" --namespace "$TAG" run -t --rm "${RF[@]}" "$IMAGE" c-tty \
		sh -c 'test -t 0 && test -t 1 && echo TTY-OK; tty; sleep 1; stty size; exit 4')
	out=$(under_tty sh -c "stty rows 33 cols 101; $cmd") && rc=0 || rc=$?
	eq "exit code" 4 "$rc"
	has "tty output" 'TTY-OK$' "$out"
	has "tty device" '^/dev/(pts/[0-9]+|console)$' "$out"
	has "terminal size from ResizePty" '^33 101$' "$out"
}

t_create_error() {
	local out rc
	out=$(C run --rm "${RF[@]}" "$IMAGE" c-bad /nonexistent-binary 2>&1) && rc=0 || rc=$?
	echo "$out"
	((rc != 0)) || {
		echo "FAIL: run of a missing binary succeeded"
		return 1
	}
	has "error names the binary" 'nonexistent-binary' "$out"
	until_ok 10 nothing_left c-bad
	nothing_left c-bad
}

t_sigterm() {
	local out=$WORK/c-term.out rc pid
	C run --rm "${RF[@]}" "$IMAGE" c-term sh -c \
		'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 0.1; done' >"$out" 2>"$out.err" &
	pid=$!
	until_ok 20 grep -q ready "$out"
	C task kill -s TERM c-term
	wait "$pid" && rc=0 || rc=$?
	cat "$out"
	eq "exit code after SIGTERM" 7 "$rc"
	has "trap ran" got-term "$(cat "$out")"
}

t_run_d() {
	C run -d "${RF[@]}" "$IMAGE" c-d sleep 600
	until_ok 20 status_is c-d RUNNING
	local pid
	pid=$(task_field c-d 2)
	eq "init is sleep" "sleep 600 " "$(tr '\0' ' ' <"/proc/$pid/cmdline")"
	eq "one shim for the container" 1 "$(shims_of c-d | wc -l)"
	local shim
	shim=$(shims_of c-d)
	eq "the shim is the init's parent (reaper)" "$shim" "$(awk '{ print $4 }' "/proc/$pid/stat")"
}

t_exec() {
	local out rc
	out=$(C task exec --fifo-dir "$D/fifo" --exec-id e1 c-d sh -c 'tr "\0" " " </proc/1/cmdline; echo; exit 5') && rc=0 || rc=$?
	eq "exec exit code" 5 "$rc"
	eq "exec sees init" "sleep 600 " "$out"
}

# A failed exec start must fail at once (containerd's exec delete waits up to 60 s for the shim
# to let go of the process) and leave the container and its other execs alone.
t_exec_error() {
	local out rc start
	start=$SECONDS
	out=$(timeout 30 ctr --address "$SOCK" --namespace "$TAG" task exec --fifo-dir "$D/fifo" \
		--exec-id ebad c-d /nonexistent-binary 2>&1) && rc=0 || rc=$?
	echo "$out"
	((rc != 0 && rc != 124)) || {
		echo "FAIL: exec of a missing binary: exit $rc after $((SECONDS - start)) s"
		return 1
	}
	((SECONDS - start < 15)) || {
		echo "FAIL: the failed exec took $((SECONDS - start)) s"
		return 1
	}
	has "error names the binary" 'nonexistent-binary' "$out"
	eq "the container still runs" RUNNING "$(task_field c-d 3)"
	eq "a later exec of the same id works" ok \
		"$(C task exec --fifo-dir "$D/fifo" --exec-id ebad c-d echo ok)"
}

t_exec_tty() {
	local out rc
	out=$(under_tty ctr --address "$SOCK" --namespace "$TAG" task exec --fifo-dir "$D/fifo" -t --exec-id e2 c-d \
		sh -c 'test -t 0 && test -t 1 && echo TTY-OK; exit 6') && rc=0 || rc=$?
	eq "exit code" 6 "$rc"
	has "tty output" 'TTY-OK$' "$out"
}

t_ps() {
	C task exec --fifo-dir "$D/fifo" -d --exec-id e3 c-d sleep 500
	until_ok 10 bash -c "[[ \$(ctr --address $SOCK --namespace $TAG task ps c-d | wc -l) == 3 ]]"
	local out pid
	out=$(C task ps c-d)
	echo "$out"
	pid=$(task_field c-d 2)
	has "ps lists init" "^$pid( |$)" "$out"
	eq "process count" 2 "$(awk 'NR > 1' <<<"$out" | wc -l)"
	has "exec'd process is named" 'ExecID:e3' "$out"
}

t_metrics() {
	local out
	out=$(C task metrics c-d)
	echo "$out"
	has "pids.current" 'pids\.current +2' "$out"
	has "memory usage" 'memory\.usage_in_bytes +[1-9]' "$out"
}

t_pause_resume() {
	local pid
	pid=$(task_field c-d 2)
	C task pause c-d
	eq "freezer after pause" FROZEN "$(cg_file "$pid" freezer freezer.state)"
	eq "status after pause" PAUSED "$(task_field c-d 3)"
	C task resume c-d
	eq "freezer after resume" THAWED "$(cg_file "$pid" freezer freezer.state)"
	eq "status after resume" RUNNING "$(task_field c-d 3)"
}

t_kill_all_delete() {
	local pids p
	pids=$(C task ps c-d | awk 'NR > 1 { print $1 }')
	C task kill --all -s KILL c-d
	until_ok 20 status_is c-d STOPPED
	for p in $pids; do
		if alive "$p"; then
			echo "FAIL: pid $p survived kill --all"
			return 1
		fi
	done
	C task delete c-d || true # the exit status is the task's (137)
	C container rm c-d
	until_ok 10 nothing_left c-d
	nothing_left c-d
}

t_limits() {
	C run -d "${RF[@]}" --memory-limit 67108864 --cpus 0.5 "$IMAGE" c-lim sleep 600
	until_ok 20 status_is c-lim RUNNING
	local pid
	pid=$(task_field c-lim 2)
	eq "memory.limit_in_bytes (host)" 67108864 "$(cg_file "$pid" memory memory.limit_in_bytes)"
	eq "cpu.cfs_quota_us (host)" 50000 "$(cg_file "$pid" cpu cpu.cfs_quota_us)"
	has "memory cgroup seen inside" "^[0-9]+:memory:/$TAG/c-lim\$" \
		"$(C task exec --fifo-dir "$D/fifo" --exec-id l1 c-lim cat /proc/self/cgroup)"
	C task kill -s KILL c-lim
	until_ok 20 status_is c-lim STOPPED
	C task delete c-lim || true
	C container rm c-lim
}

t_log_file() {
	local f=$WORK/logs/file.log
	# The process outlives its writes a little: containerd 1.6's runc shim, copying both
	# streams into one file, lost the stderr line now and then when both pipes ended at once
	# ("error copying stderr").
	C run --rm "${RF[@]}" --log-uri "file://$f" "$IMAGE" c-logf sh -c 'echo to-stdout; echo to-stderr >&2; sleep 0.3'
	eq "file:// log" "to-stderr to-stdout" "$(words "$(sort "$f")")"
}

t_log_binary() {
	local out=$WORK/logs/bin
	mkdir -p "$WORK/logs"
	cat >"$WORK/logger.sh" <<'EOF'
#!/bin/sh
# A binary:// logger: stdout on fd 3, stderr on fd 4, ready when fd 5 closes (in every
# process: so before the readers start).
out=$1
echo "$CONTAINER_NAMESPACE/$CONTAINER_ID" >"$out.env"
exec 5>&-
cat <&3 >"$out.stdout" &
cat <&4 >"$out.stderr" &
wait
EOF
	chmod 755 "$WORK/logger.sh"
	C run --rm "${RF[@]}" --log-uri "binary://$WORK/logger.sh?$out" "$IMAGE" c-logb \
		sh -c 'echo to-stdout; echo to-stderr >&2'
	until_ok 10 grep -q to-stdout "$out.stdout"
	until_ok 10 grep -q to-stderr "$out.stderr"
	eq "logger env" "$TAG/c-logb" "$(cat "$out.env")"
	eq "stdout" to-stdout "$(cat "$out.stdout")"
	eq "stderr" to-stderr "$(cat "$out.stderr")"
}

t_oom() {
	local ev=$WORK/oom-events.out rc
	events_start "$ev"
	# Fills a shell variable far past the 16 MiB limit (no swap here): the kernel kills it.
	C run --rm "${RF[@]}" --memory-limit 16777216 "$IMAGE" c-oom \
		sh -c 'x=$(head -c 67108864 /dev/zero | tr "\0" x); echo ${#x}' && rc=0 || rc=$?
	eq "killed by the OOM killer" 137 "$rc"
	until_ok 10 grep -q "/tasks/oom" "$ev"
	kill "$EV_PID" 2>/dev/null || true
	has "OOM event for the container" "/tasks/oom.*c-oom" "$(cat "$ev")"
}

suite_ctr() {
	log "suite ctr ($SHIM_NAME)"
	t "run --rm: output and exit code, nothing left" t_run_rm
	t "run --rm: env, cwd, uid, hostname" t_env_cwd
	t "run --rm: stdin is piped in, EOF after CloseIO" t_stdin
	t "run -t: the container gets a terminal" t_run_tty
	t "run of a missing binary fails cleanly" t_create_error
	t "task kill -s TERM reaches the init's trap" t_sigterm
	t "run -d: one shim, the init's parent" t_run_d
	t "task exec: output, exit code, same pid namespace" t_exec
	t "task exec of a missing binary fails at once" t_exec_error
	t "task exec -t" t_exec_tty
	t "task ps names the exec'd process" t_ps
	t "task metrics" t_metrics
	t "task pause / resume" t_pause_resume
	t "task kill --all, task delete, container rm: nothing left" t_kill_all_delete
	t "memory and cpu limits reach the cgroup" t_limits
	t "log URI file://" t_log_file
	t "log URI binary://" t_log_binary
	t "OOM kill is published as /tasks/oom" t_oom
}

# ---------------------------------------------------------------------------------------------
# Faults.

t_restart() {
	C run -d "${RF[@]}" "$IMAGE" f-run sleep 600
	C run -d "${RF[@]}" "$IMAGE" f-exit sh -c 'sleep 2; exit 7'
	until_ok 20 status_is f-run RUNNING
	until_ok 20 status_is f-exit RUNNING
	local run_pid exit_pid
	run_pid=$(task_field f-run 2)
	exit_pid=$(task_field f-exit 2)
	cd_kill KILL
	# f-exit ends while containerd is down.
	until_ok 20 bash -c "! [[ -e /proc/$exit_pid ]] || [[ \$(awk '{print \$3}' /proc/$exit_pid/stat) == Z ]]"
	cd_start
	alive "$run_pid" || {
		echo "FAIL: f-run died with containerd"
		return 1
	}
	eq "f-run after restart" "$run_pid RUNNING" "$(task_field f-run 2) $(task_field f-run 3)"
	until_ok 20 status_is f-exit STOPPED
	local out
	out=$(C task delete f-exit 2>&1) || true
	echo "$out"
	has "the exit while containerd was down is reported" 'exit code 7' "$out"
	C container rm f-exit
	# containerd talks to the surviving shim again: exec, and an exit it sees.
	eq "exec after restart" "ok" "$(C task exec --fifo-dir "$D/fifo" --exec-id r1 f-run echo ok)"
	local ev=$WORK/restart-events.out
	events_start "$ev"
	C task kill -s KILL f-run
	until_ok 20 status_is f-run STOPPED
	until_ok 10 grep -q '/tasks/exit.*f-run' "$ev"
	kill "$EV_PID" 2>/dev/null || true
	C task delete f-run || true
	C container rm f-run
	nothing_left f-run
	nothing_left f-exit
}

t_shim_killed() {
	C run -d "${RF[@]}" "$IMAGE" f-kill sleep 600
	until_ok 20 status_is f-kill RUNNING
	local pid shim bundle socket
	pid=$(task_field f-kill 2)
	shim=$(shims_of f-kill)
	bundle=$(bundle_of f-kill)
	socket=$(sed 's|^unix://||' "$bundle/address")
	[[ -n $shim ]] || {
		echo "FAIL: no shim found"
		return 1
	}
	grep -q " $bundle/rootfs " /proc/self/mountinfo || {
		echo "FAIL: the rootfs is not mounted at $bundle/rootfs before the test"
		return 1
	}
	kill -KILL "$shim"
	# containerd sees the shim go and cleans up through `shim delete`.
	until_ok 30 bash -c "! grep -q ' $bundle/rootfs ' /proc/self/mountinfo && ! [[ -e $bundle ]]"
	until_ok 10 bash -c "! [[ -e /proc/$pid ]] || [[ \$(awk '{print \$3}' /proc/$pid/stat) == Z ]]"
	if alive "$pid"; then
		echo "FAIL: the container's init $pid survived"
		return 1
	fi
	# containerd-shim-runc-v2 leaves its socket behind (removed here); berth's `shim delete`
	# removes it.
	if [[ -e $socket ]]; then
		[[ $SHIM_RUNTIME == berth ]] && echo "FAIL: the dead shim's socket $socket is left"
		rm -f "$socket"
		[[ $SHIM_RUNTIME == berth ]] && return 1
	fi
	C container rm f-kill
	nothing_left f-kill
	[[ -z $(ls -A "$D/runc-root/$TAG" 2>/dev/null) ]] || {
		echo "FAIL: runtime state left: $(ls "$D/runc-root/$TAG")"
		return 1
	}
}

suite_faults() {
	log "suite faults ($SHIM_NAME)"
	t "containerd killed and restarted: containers keep running, exits are seen, one that exited meanwhile is reported" t_restart
	t "shim SIGKILLed: containerd's shim delete leaves no process, cgroup, mount or state" t_shim_killed
}

# ---------------------------------------------------------------------------------------------
# CRI.

suite_cri() {
	log "suite cri (berth-cri-test, cgroup manager $CGROUP_MANAGER)"
	local h shim out line p f parent
	for h in berth berthcli runc; do
		shim=containerd-shim-runc-v2
		[[ $h == berth ]] && shim=containerd-shim-berth-v2
		out=$WORK/cri-$h.out
		parent=/$TAG-cri
		[[ $CGROUP_MANAGER == systemd ]] && parent=$BCRI-besteffort-pod$h.slice
		x "$CRI_TEST" --socket "$SOCK" --handler "$h" --image docker.io/library/berthtest:latest \
			--cgroup-parent "$parent" --log-dir "$WORK/cri-logs/$h" --shim "$shim" >"$out" 2>&1 || true
		while IFS= read -r line; do
			if [[ $line =~ ^(not\ )?ok\ [0-9]+\ -\ (.*)$ ]]; then
				N=$((N + 1))
				if [[ -n ${BASH_REMATCH[1]} ]]; then
					echo "not ok $N - cri $h: ${BASH_REMATCH[2]}"
					FAILED=$((FAILED + 1))
				else
					echo "ok $N - cri $h: ${BASH_REMATCH[2]}"
					PASSED=$((PASSED + 1))
				fi
			elif [[ $line =~ ^cri-$h:\ ([0-9]+)\ passed ]]; then
				p=${BASH_REMATCH[1]}
			else
				echo "#   $line"
			fi
		done <"$out"
		if [[ -z ${p:-} ]]; then
			fail_setup "berth-cri-test --handler $h did not finish" "$out"
		fi
		p=
		if [[ $CGROUP_MANAGER == systemd ]]; then
			f=$(find "/sys/fs/cgroup/$BCRI.slice" -name '*.scope' 2>/dev/null | head -3)
			f+=$(systemctl list-units --all --no-legend --plain 'cri-containerd-*.scope' 2>/dev/null | head -3)
		else
			f=$(find /sys/fs/cgroup -maxdepth 2 -path "*/$TAG-cri/*" -type d 2>/dev/null | head -3)
		fi
		if [[ -n $f ]]; then
			fail_setup "cgroups left by the $h pod: $f"
		fi
	done
}

# ---------------------------------------------------------------------------------------------

log "shim: $SHIM ($SHIM_RUNTIME); containerd $(containerd --version | awk '{ print $3 }'); work dir $WORK"
if ! build_images; then
	fail_setup "build the images" "$WORK/image/build.log"
	exit 1
fi
write_config
make_netns
if ! cd_start; then
	fail_setup "start the private containerd" "$D/containerd.log"
	exit 1
fi
if ! import_images >"$WORK/import.out" 2>&1; then
	fail_setup "import the images" "$WORK/import.out"
	exit 1
fi
RF=("${RUNTIME_FLAGS[@]}" --fifo-dir "$D/fifo")
[[ $SHIM_RUNTIME == runc ]] && RF+=(--runc-root "$D/runc-root")
for s in "${SUITES[@]}"; do
	"suite_$s"
done
echo "shim: $PASSED passed, $FAILED failed"
((FAILED == 0))
