#!/usr/bin/env bash
# Real-engine integration suites: containerd (ctr + containerd-shim-runc-v2), podman (+ conmon)
# and dockerd drive an OCI runtime unchanged, each through a private daemon.
#
#   integration/clients/run.sh [containerd|podman|docker|all]...
#
# RUNTIME=/usr/sbin/runc proves the suites right; the default is berth's debug build.
# Every runtime invocation goes through a logging wrapper (argv, cwd, fds, exit status, and
# what the runtime wrote to its --log file); failed tests print the calls they made.
# LOGDIR=DIR keeps the call log, the created containers' config.json files, daemon logs and test
# outputs after the run.  TIMEOUT=secs bounds each command.
# CGROUP_MANAGER=systemd (on a host whose PID 1 is systemd) has podman and dockerd use their systemd
# cgroup managers (containers in transient scopes `libpod-ID.scope`, `docker-ID.scope` under this
# run's slice, checked with systemctl); the default is cgroupfs.  Cgroup v1 and v2 both work.
# STRIP_ZERO_BLKIO=1 (diagnostic only) has the wrapper delete "blockIO": {"weight": 0} from each
# config before create, to see what else fails past that runtime bug.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
RUNTIME=${RUNTIME:-$REPO/target/debug/berth}
TIMEOUT=${TIMEOUT:-60}
LOGDIR=${LOGDIR:-}
CGROUP_MANAGER=${CGROUP_MANAGER:-cgroupfs}
SUITES=${*:-all}
[[ $SUITES == all ]] && SUITES="containerd podman docker"
for s in $SUITES; do
	case $s in
	containerd | podman | docker) ;;
	*)
		echo "usage: $0 [containerd|podman|docker]... (default: all)" >&2
		exit 2
		;;
	esac
done

case $CGROUP_MANAGER in
cgroupfs | systemd) ;;
*)
	echo "$0: CGROUP_MANAGER=$CGROUP_MANAGER: cgroupfs or systemd" >&2
	exit 2
	;;
esac
if [[ $CGROUP_MANAGER == systemd && ! -d /run/systemd/system ]]; then
	echo "$0: CGROUP_MANAGER=systemd needs systemd as PID 1" >&2
	exit 2
fi
if [[ $(id -u) != 0 ]]; then
	echo "$0: must run as root" >&2
	exit 2
fi
if [[ ! -x $RUNTIME ]]; then
	echo "$0: RUNTIME=$RUNTIME is not executable (cargo build first?)" >&2
	exit 2
fi
RUNTIME=$(readlink -f "$RUNTIME")

# All state of this run lives under WORK; TAG names its cgroups and containerd namespace.
WORK=$(mktemp -d /tmp/berth-clients.XXXXXX)
TAG=berth-clients-$$
# The systemd slice of this run (no "-": that would nest it in berth.slice and berth-clients.slice).
SLICE=berth_clients_$$.slice
# Pure cgroup v2 (else v1 controllers, perhaps with a hybrid unified hierarchy).
CG_V2=0
[[ -e /sys/fs/cgroup/cgroup.controllers ]] && CG_V2=1
CALLS=$WORK/runtime-calls.log
STARTED_PIDS=()
# Host directories that engines create at hard-coded paths whatever their configuration
# (containerd 1.6: shim sockets in /run/containerd/s; podman 4.3: /run/containers/networks;
# dockerd 20.10: /run/docker/plugins).
# Cleanup removes those that did not exist before, if they are empty.
HOST_DIRS=(/run/containerd/s /run/containerd/fifo /run/containerd /run/containers/networks /run/containers
	/run/docker/plugins /run/docker)
HOST_DIRS_NEW=()
for d in "${HOST_DIRS[@]}"; do
	[[ -e $d ]] || HOST_DIRS_NEW+=("$d")
done

log() { echo "# $*"; }

# ---------------------------------------------------------------------------------------------
# Cleanup: only what this run started or created.

kill_started() {
	local pid
	for pid in "${STARTED_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for _ in $(seq 100); do
		local alive=0
		for pid in "${STARTED_PIDS[@]}"; do
			kill -0 "$pid" 2>/dev/null && alive=1
		done
		((alive)) || break
		sleep 0.2
	done
	for pid in "${STARTED_PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
	done
}

# Shims and conmons daemonize away from the engine that started them; they are ours when their
# command line names this run's WORK directory.
# A killed shim leaves its socket in /run/containerd/s: note the paths of the unix sockets it
# holds first, and remove them after.
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

cgroup_roots() {
	local d
	for d in /sys/fs/cgroup/*/; do
		d=${d%/}
		[[ -e $d/cgroup.procs ]] && echo "$d"
	done
	[[ -e /sys/fs/cgroup/cgroup.procs ]] && echo /sys/fs/cgroup
	true
}

remove_cgroups() {
	local root dir f pid
	for root in $(cgroup_roots); do
		dir=$root/$TAG
		[[ -d $dir ]] || continue
		# Thaw anything left frozen, kill what is left inside, then remove leaves first.
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
	true
}

unmount_work() {
	local m
	for _ in 1 2 3; do
		local mounts
		mounts=$(awk -v w="$WORK" 'index($5, w "/") == 1 || $5 == w { print $5 }' /proc/self/mountinfo | sort -r)
		[[ -z $mounts ]] && return 0
		while read -r m; do
			umount -R "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
		done <<<"$mounts"
	done
	awk -v w="$WORK" 'index($5, w "/") == 1 { print "# warning: still mounted: " $5 }' /proc/self/mountinfo >&2
}

cleanup() {
	local rc=$?
	set +e
	trap - EXIT
	trap "" INT TERM # finish cleaning up even if interrupted again
	kill_started
	kill_work_processes
	[[ $CGROUP_MANAGER == systemd ]] && systemctl stop "$SLICE" 2>/dev/null
	remove_cgroups
	unmount_work
	if [[ -n $LOGDIR ]]; then
		mkdir -p "$LOGDIR"
		cp "$CALLS" "$LOGDIR/" 2>/dev/null
		[[ -d $WORK/configs ]] && cp -r "$WORK/configs" "$LOGDIR/"
		find "$WORK" -maxdepth 2 \( -name '*.log' -o -name '*.out' \) -exec cp --backup=numbered {} "$LOGDIR/" \; 2>/dev/null
		echo "# logs kept in $LOGDIR"
	fi
	# --one-file-system: never follow a mount that survived unmount_work into the host.
	rm -rf --one-file-system "$WORK"
	for d in "${HOST_DIRS_NEW[@]}"; do
		rmdir "$d" 2>/dev/null
	done
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_daemon LOGFILE CMD... : start CMD in the background and remember its pid.
start_daemon() {
	local logfile=$1
	shift
	"$@" >"$logfile" 2>&1 &
	STARTED_PIDS+=("$!")
	DAEMON_PID=$!
}

wait_for_socket() {
	local sock=$1 pid=$2
	for _ in $(seq 150); do
		[[ -S $sock ]] && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.2
	done
	return 1
}

# ---------------------------------------------------------------------------------------------
# Packages, image, runtime wrapper.

APT_UPDATED=0
# ensure_pkgs PKG... : install what is missing; returns non-zero if something cannot be had.
ensure_pkgs() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	log "installing ${missing[*]}"
	if ((!APT_UPDATED)); then
		apt-get update -q >"$WORK/apt-update.log" 2>&1 || true
		APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
		>"$WORK/apt-install.log" 2>&1 || {
		tail -20 "$WORK/apt-install.log" | sed 's/^/#   /'
		return 1
	}
}

# The runtime as engines see it: a wrapper named like the real binary (podman and dockerd look at
# the name), logging each call to CALLS.
make_wrapper() {
	mkdir -p "$WORK/rt"
	WRAPPER=$WORK/rt/$(basename "$RUNTIME")
	cat >"$WRAPPER" <<EOF
#!/bin/bash
real=$(printf %q "$RUNTIME")
calls=$(printf %q "$CALLS")
default_root=$(printf %q "$WORK/runtime-default-root")
strip_zero_blkio=$(printf %q "${STRIP_ZERO_BLKIO:-}")
EOF
	cat >>"$WRAPPER" <<'EOF'
logfile= prev= sub= has_root= bundle=
for a in "$@"; do
	[[ $prev == --log ]] && logfile=$a
	[[ $prev == --bundle || $prev == -b ]] && bundle=$a
	case $a in --log=*) logfile=${a#--log=} ;; --root | --root=*) has_root=1 ;; esac
	if [[ -z $sub && $prev != --log && $prev != --root && $prev != --log-format && $prev != --criu && $a != -* ]]; then sub=$a; fi
	prev=$a
done
# Engines that pass no --root (podman; its cleanup process drops --runtime-flag) would use the
# runtime's machine-wide default state directory: give them a private one instead.
if [[ -z $has_root && $sub != "" ]]; then
	set -- --root "$default_root" "$@"
fi
off=0
[[ -n $logfile && -f $logfile ]] && off=$(stat -c %s "$logfile")
fds=
for fd in /proc/$$/fd/*; do
	n=${fd##*/}
	[[ $n == 255 ]] && continue
	fds+=" $n=$(readlink "$fd")"
done
{
	printf '=== %s pid=%s ppid=%s(%s) cwd=%s\nargv:' "$(date +%T.%N)" $$ "$PPID" "$(cat /proc/$PPID/comm 2>/dev/null)" "$PWD"
	printf ' %q' "$real" "$@"
	printf '\nfds:%s\n' "$fds"
	# Keep each created container's config: the engines delete their bundles.
	if [[ $sub == create ]]; then
		saved=${calls%/*}/configs/$(date +%s%N).json
		mkdir -p "${saved%/*}"
		cp "${bundle:-.}/config.json" "$saved" 2>/dev/null && echo "config: $saved"
		if [[ -n $strip_zero_blkio ]]; then
			python3 -c '
import json, sys
p = sys.argv[1]; c = json.load(open(p))
b = c.get("linux", {}).get("resources", {}).get("blockIO", {})
if b.get("weight") == 0:
    del b["weight"]; json.dump(c, open(p, "w")); print("STRIP_ZERO_BLKIO: removed blockIO.weight 0")
' "${bundle:-.}/config.json"
		fi
	fi
} >>"$calls"
# `update --resources -` reads the resources from stdin: keep a copy in the log.
if [[ $sub == update && " $* " == *" --resources - "* || $sub == update && " $* " == *" -r - "* ]]; then
	input=$(cat)
	echo "stdin: $input" >>"$calls"
	"$real" "$@" <<<"$input"
else
	"$real" "$@"
fi
rc=$?
{
	echo "--- $sub exit=$rc pid=$$ at $(date +%T.%N)"
	if [[ -n $logfile && -f $logfile ]]; then
		tail -c +$((off + 1)) "$logfile" | head -c 4000 | sed 's/^/    log: /'
	fi
} >>"$calls"
exit $rc
EOF
	chmod 755 "$WRAPPER"
	: >"$CALLS"
}

# A busybox-static image, built locally (no network) with umoci; the OCI layout is tarred as an
# OCI archive (ctr import, podman load) and rewritten as a docker-archive (docker load).  No skopeo:
# it would write the host's /var/lib/containers/cache.
build_image() {
	[[ -n ${IMAGE_DIR:-} ]] && return 0
	ensure_pkgs busybox-static umoci python3 || return 1
	IMAGE_DIR=$WORK/image
	IMAGE=docker.io/library/berthtest:latest
	mkdir -p "$IMAGE_DIR"
	# A separate bash: errexit is ignored inside anything called from a condition.
	if ! bash -euo pipefail -c "$(declare -f image_steps); image_steps \"\$@\"" _ "$IMAGE_DIR" "$IMAGE" \
		>"$WORK/image-build.log" 2>&1; then
		tail -20 "$WORK/image-build.log" | sed 's/^/#   /'
		IMAGE_DIR=
		return 1
	fi
}

image_steps() {
	local IMAGE_DIR=$1 IMAGE=$2
	local L=$IMAGE_DIR/layout B=$IMAGE_DIR/bundle
	set -x
	umoci init --layout "$L"
	umoci new --image "$L:$IMAGE"
	umoci unpack --image "$L:$IMAGE" "$B"
	local R=$B/rootfs
	mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,root,var,run,tmp}
	chmod 1777 "$R/tmp"
	cp /bin/busybox "$R/bin/busybox"
	chroot "$R" /bin/busybox --install -s /bin
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$R/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$R/etc/group"
	umoci repack --image "$L:$IMAGE" "$B"
	umoci config --image "$L:$IMAGE" --config.cmd /bin/sh \
		--config.env PATH=/usr/sbin:/usr/bin:/sbin:/bin --config.workingdir /
	umoci gc --layout "$L"
	tar -C "$L" -cf "$IMAGE_DIR/oci.tar" .
	python3 - "$L" "$IMAGE_DIR/docker" "$IMAGE" <<'PY'
import gzip, json, os, shutil, sys
layout, out, name = sys.argv[1:]
blob = lambda d: os.path.join(layout, "blobs", *d.split(":"))
index = json.load(open(os.path.join(layout, "index.json")))
manifest = json.load(open(blob(index["manifests"][0]["digest"])))
os.makedirs(out)
shutil.copy(blob(manifest["config"]["digest"]), os.path.join(out, "config.json"))
layers = []
for i, layer in enumerate(manifest["layers"]):
    with gzip.open(blob(layer["digest"])) as src, open(os.path.join(out, f"layer{i}.tar"), "wb") as dst:
        shutil.copyfileobj(src, dst)
    layers.append(f"layer{i}.tar")
tag = name.removeprefix("docker.io/library/")
json.dump([{"Config": "config.json", "RepoTags": [tag], "Layers": layers}],
          open(os.path.join(out, "manifest.json"), "w"))
PY
	tar -C "$IMAGE_DIR/docker" -cf "$IMAGE_DIR/docker.tar" .
}

# ---------------------------------------------------------------------------------------------
# TAP-ish reporting.  A test is a function run in a subshell with errexit on; what it prints goes
# to its log, shown (with the runtime calls it caused) only when it fails.

suite_begin() {
	SUITE=$1
	N=0 PASSED=0 FAILED=0 SKIPPED=0
	echo "# ===== suite $SUITE (runtime $RUNTIME, cgroup manager $CGROUP_MANAGER)"
}

# suite_prepare NAME PKG... : begins the suite, installs its packages and builds the image;
# non-zero (the suite reported as skipped, or its setup as failed) when it cannot go on.
suite_prepare() {
	local name=$1
	shift
	suite_begin "$name"
	if ! ensure_pkgs "$@"; then
		suite_skipped "$name" "packages $* cannot be installed"
		return 1
	fi
	if ! build_image; then
		fail_setup "build busybox image" "$WORK/image-build.log"
		suite_end
		return 1
	fi
}

t() {
	local name=$1 out mark rc
	shift
	N=$((N + 1))
	out=$WORK/$SUITE-t$N.out
	mark=$(stat -c %s "$CALLS")
	TEST_MARK=$mark
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
		echo "#   --- runtime calls during this test (last 80 lines):"
		tail -c +$((mark + 1)) "$CALLS" | tail -n 80 | sed 's/^/#   | /'
		FAILED=$((FAILED + 1))
	fi
}

# CI=true or BERTH_STRICT=1: a test or suite that cannot run fails instead of being skipped.
strict() { [[ ${CI:-} == true || ${BERTH_STRICT:-} == 1 ]]; }

# log_skip NAME REASON : one line in $BERTH_SKIP_LOG (counted at the end of `make test`).
log_skip() {
	[[ -n ${BERTH_SKIP_LOG:-} ]] && printf 'clients/%s\t%s\tSKIP %s\n' "$SUITE" "$1" "$2" >>"$BERTH_SKIP_LOG"
	true
}

skip() {
	N=$((N + 1))
	if strict; then
		echo "not ok $N - $1 # cannot run (strict mode: CI=true or BERTH_STRICT=1): $2"
		FAILED=$((FAILED + 1))
		return
	fi
	echo "ok $N - $1 # SKIP $2"
	SKIPPED=$((SKIPPED + 1))
	log_skip "$1" "$2"
}

fail_setup() {
	N=$((N + 1))
	echo "not ok $N - $SUITE: $1"
	FAILED=$((FAILED + 1))
	[[ -n ${2:-} && -f $2 ]] && tail -n 30 "$2" | sed 's/^/#   /'
	true
}

suite_end() {
	echo "$SUITE: $PASSED passed, $FAILED failed, $SKIPPED skipped"
	TOTAL_PASSED=$((TOTAL_PASSED + PASSED))
	TOTAL_FAILED=$((TOTAL_FAILED + FAILED))
	TOTAL_SKIPPED=$((TOTAL_SKIPPED + SKIPPED))
}

suite_skipped() {
	if strict; then
		echo "not ok - suite $1 cannot run (strict mode: CI=true or BERTH_STRICT=1): $2"
		TOTAL_FAILED=$((TOTAL_FAILED + 1))
		return
	fi
	echo "# !!!!! SKIPPING SUITE $1: $2 !!!!!"
	SKIPPED_SUITES+=("$1")
	log_skip "(whole suite)" "$2"
}

# x CMD... : echo and run a command with a time limit.
x() {
	echo "+ $*" >&2
	timeout -k 5 "$TIMEOUT" "$@"
}

# Run CMD... under a real pseudo-terminal (script), exit status preserved, CRs stripped.
under_tty() {
	local cmd
	cmd=$(printf '%q ' "$@")
	echo "+ [tty] $cmd" >&2
	# script(1) with stdin at EOF may write a NUL to the terminal; the container's terminal
	# echoes it as "^@" in the output (seen before a line under load): drop that echo too.
	timeout -k 5 "$TIMEOUT" script -qec "$cmd" /dev/null </dev/null | tr -d '\r\0' | sed 's/\^@//g'
	return "${PIPESTATUS[0]}"
}

eq() { # what expected actual
	if [[ "$2" != "$3" ]]; then
		echo "FAIL $1: expected [$2], got [$3]"
		return 1
	fi
}

has() { # what regex actual
	if ! grep -Eq -- "$2" <<<"$3"; then
		echo "FAIL $1: expected to match /$2/, got:"
		echo "$3"
		return 1
	fi
}

# The lines of $1 joined by single spaces.
words() {
	local w
	read -ra w -d '' <<<"$1" || true
	echo "${w[*]}"
}

# until_ok SECONDS CMD... : retry CMD until it succeeds.
until_ok() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || {
			echo "FAIL: timed out waiting for: $*"
			return 1
		}
		sleep 0.2
	done
}

# The container's cgroup directory as the host sees it: cg_dir PID CONTROLLER (v1; on v2 the
# one directory).
cg_dir() {
	local path
	if ((CG_V2)); then
		path=$(sed -n 's/^0:://p' "/proc/$1/cgroup")
		[[ -n $path ]] && echo "/sys/fs/cgroup$path"
	else
		path=$(awk -F: -v c="$2" '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3 }' "/proc/$1/cgroup")
		[[ -n $path ]] && echo "/sys/fs/cgroup/$2$path"
	fi
	[[ -n $path ]] || {
		echo "no $2 cgroup for pid $1" >&2
		return 1
	}
}

# Host-side view of a container's cgroup, in v1 terms: cg_file PID CONTROLLER FILE.  On v2 the
# v1 file is read from its v2 counterpart: memory.max, memory.low, cpu.max's quota, cgroup.freeze
# (as FROZEN/THAWED).  v1 files with no exact v2 counterpart are refused (tests check those apart).
cg_file() {
	local d
	d=$(cg_dir "$1" "$2") || return 1
	if ((!CG_V2)); then
		cat "$d/$3"
		return
	fi
	case $3 in
	memory.limit_in_bytes) v2_bytes "$(cat "$d/memory.max")" ;;
	memory.soft_limit_in_bytes) v2_bytes "$(cat "$d/memory.low")" ;;
	cpu.cfs_quota_us) awk '{ print $1 == "max" ? -1 : $1 }' "$d/cpu.max" ;;
	freezer.state) [[ $(cat "$d/cgroup.freeze") == 1 ]] && echo FROZEN || echo THAWED ;;
	*)
		echo "cg_file: no v2 counterpart for $3" >&2
		return 1
		;;
	esac
}

# A v2 byte limit as v1 shows it ("max" is v1's unlimited, 0 stays 0).
v2_bytes() {
	[[ $1 == max ]] && echo 9223372036854771712 || echo "$1"
}

# The container's cgroup line as /proc/PID/cgroup shows it for the memory controller (v1) or the
# one hierarchy (v2): what a cgroup parent check matches.
cg_line() {
	if ((CG_V2)); then
		grep '^0::' "/proc/$1/cgroup"
	else
		grep -E '^[0-9]+:([^:]*,)?memory(,[^:]*)?:' "/proc/$1/cgroup"
	fi
}

# The memory cgroup root on this host (where a container's leftover cgroup would be seen).
cg_mem_root() {
	((CG_V2)) && echo /sys/fs/cgroup || echo /sys/fs/cgroup/memory
}

# In systemd mode, the container (PID) really is in a transient scope of SLICE that systemd
# runs, and systemd knows it as the scope's: scope_check PID UNIT-PREFIX.
scope_check() {
	local line path unit
	line=$(cg_line "$1")
	path=${line#*:*:}
	unit=${path##*/}
	eq "cgroup is a scope of $SLICE" "/$SLICE/$2-" "${path%"$unit"}$2-"
	[[ $unit == "$2"-*.scope ]] || {
		echo "FAIL: cgroup $path is not a $2-*.scope"
		return 1
	}
	eq "$unit state" "active running" "$(words "$(systemctl show -p ActiveState -p SubState --value "$unit")")"
	eq "$unit control group" "$path" "$(systemctl show -p ControlGroup --value "$unit")"
	eq "$unit delegate" yes "$(systemctl show -p Delegate --value "$unit")"
}

# The engine really called the runtime (with subcommand $1) during this test.
runtime_was_called() {
	local n
	n=$(tail -c +$((TEST_MARK + 1)) "$CALLS" | grep -c "^--- $1 exit=" || true)
	((n > 0)) || {
		echo "FAIL: no '$1' call reached the runtime wrapper"
		return 1
	}
}

# The signals of the `kill` calls that reached the runtime during this test, as numbers, in
# order (kill ID SIGNAL; names such as TERM or SIGKILL are mapped).
runtime_kill_signals() {
	local sig out=()
	while read -r sig; do
		sig=${sig#SIG}
		[[ $sig =~ ^[0-9]+$ ]] || sig=$(kill -l "$sig" 2>/dev/null || echo "$sig")
		out+=("$sig")
	done < <(tail -c +$((TEST_MARK + 1)) "$CALLS" | awk '/^argv:/ {
		for (i = 2; i <= NF; i++) if ($i == "kill") { k = i; break }
		if (k) { for (j = k + 1; j <= NF; j++) if ($j !~ /^-/) a[++n] = $j; print a[n]; n = 0; k = 0 } }')
	echo "${out[*]}"
}

TOTAL_PASSED=0 TOTAL_FAILED=0 TOTAL_SKIPPED=0 TEST_MARK=0
SKIPPED_SUITES=()

# shellcheck source=engine.sh
source "$HERE/engine.sh"
# shellcheck source=containerd.sh
source "$HERE/containerd.sh"
# shellcheck source=podman.sh
source "$HERE/podman.sh"
# shellcheck source=docker.sh
source "$HERE/docker.sh"

make_wrapper
log "runtime: $RUNTIME ($("$RUNTIME" --version 2>&1 | head -1)); work dir $WORK; cgroup manager $CGROUP_MANAGER, cgroup v$((CG_V2 ? 2 : 1))"
for s in $SUITES; do
	"suite_$s"
done

if [[ $SUITES == *" "* ]]; then
	echo "total: $TOTAL_PASSED passed, $TOTAL_FAILED failed, $TOTAL_SKIPPED skipped"
fi
if ((${#SKIPPED_SUITES[@]})); then
	echo "# !!!!! suites skipped: ${SKIPPED_SUITES[*]} !!!!!"
fi
((TOTAL_FAILED == 0))
