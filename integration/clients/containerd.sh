# shellcheck shell=bash disable=SC2016  # container-side scripts are single-quoted on purpose
# containerd 1.6 suite, sourced by run.sh.  A private containerd (own root, state, sockets, CRI
# disabled); ctr runs containers through containerd-shim-runc-v2 with --runc-binary pointing at
# the runtime wrapper.  The shim calls:
#   RUNTIME --root R/NS --log B/log.json --log-format json create --bundle B --pid-file P [--console-socket S] ID

C() { x ctr --address "$CD_SOCK" --namespace "$TAG" "$@"; }

cd_task_field() { # ID COLUMN(2=pid,3=status)
	C task ls 2>/dev/null | awk -v id="$1" -v c="$2" '$1 == id { print $c }'
}
cd_status_is() { [[ $(cd_task_field "$1" 3) == "$2" ]]; }

cd_start() {
	local D=$WORK/containerd
	mkdir -p "$D"/{root,state,tmp,opt}
	CD_SOCK=$D/containerd.sock
	CD_RUNC_ROOT=$D/runc-root
	cat >"$D/config.toml" <<EOF
version = 2
root = "$D/root"
state = "$D/state"
temp = "$D/tmp"
oom_score = 0
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
]

[grpc]
  address = "$CD_SOCK"

[ttrpc]
  address = "$CD_SOCK.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "$D/opt"
EOF
	start_daemon "$D/containerd.log" containerd --config "$D/config.toml" --log-level debug
	wait_for_socket "$CD_SOCK" "$DAEMON_PID"
}

cd_stop() {
	local id
	for id in $(C task ls -q 2>/dev/null); do
		C task kill --all -s KILL "$id" >/dev/null 2>&1 || true
	done
	sleep 0.5
	for id in $(C task ls -q 2>/dev/null); do
		C task delete -f "$id" >/dev/null 2>&1 || true
	done
	for id in $(C container ls -q 2>/dev/null); do
		C container rm "$id" >/dev/null 2>&1 || true
	done
}

RF=() # run flags: set in suite_containerd

cd_t_run_rm() {
	local out rc
	out=$(C run --rm "${RF[@]}" "$IMAGE" c-rm sh -c 'echo hello from $$; exit 3') && rc=0 || rc=$?
	eq "exit code" 3 "$rc"
	eq "output" "hello from 1" "$out"
	runtime_was_called create
	runtime_was_called start
	runtime_was_called delete
	if C container ls -q | grep -qx c-rm; then
		echo "FAIL: container c-rm still listed after run --rm"
		return 1
	fi
}

cd_t_env_cwd() {
	local out
	out=$(C run --rm "${RF[@]}" --env FOO=bar --cwd /tmp "$IMAGE" c-env sh -c 'echo "$FOO $(pwd) $(id -u) $(hostname)"')
	has "env, cwd, uid" '^bar /tmp 0 ' "$out"
}

cd_t_stdin() {
	local out
	# ctr does not close the container's stdin at EOF: read exactly two lines.
	out=$(printf 'line one\nline two\n' | C run --rm "${RF[@]}" "$IMAGE" c-stdin sh -c 'head -n 2 | wc -l; echo done')
	eq "stdin reached the container" "2 done" "$(words "$out")"
}

cd_t_run_tty() {
	local out rc
	out=$(under_tty ctr --address "$CD_SOCK" --namespace "$TAG" run -t --rm "${RF[@]}" "$IMAGE" c-tty \
		sh -c 'test -t 0 && test -t 1 && echo TTY-OK; tty; exit 4') && rc=0 || rc=$?
	eq "exit code" 4 "$rc"
	has "tty output" 'TTY-OK$' "$out"
	has "tty device" '^/dev/(pts/[0-9]+|console)$' "$out"
}

cd_t_create_error() {
	local out rc
	out=$(C run --rm "${RF[@]}" "$IMAGE" c-bad /nonexistent-binary 2>&1) && rc=0 || rc=$?
	echo "$out"
	((rc != 0)) || {
		echo "FAIL: run of a missing binary succeeded"
		return 1
	}
	has "error names the binary" 'nonexistent-binary' "$out"
	if "$RUNTIME" --root "$CD_RUNC_ROOT/$TAG" list -q 2>/dev/null | grep -qx c-bad; then
		echo "FAIL: runtime still lists c-bad after failed create"
		return 1
	fi
}

cd_t_sigterm() {
	local out=$WORK/containerd/c-term.out rc pid
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

cd_t_run_d() {
	C run -d "${RF[@]}" "$IMAGE" c-d sleep 600
	until_ok 20 cd_status_is c-d RUNNING
	local pid
	pid=$(cd_task_field c-d 2)
	eq "init is sleep" "sleep 600 " "$(tr '\0' ' ' <"/proc/$pid/cmdline")"
}

cd_t_exec() {
	local out rc
	out=$(C task exec --fifo-dir "$WORK/containerd/fifo" --exec-id e1 c-d sh -c 'tr "\0" " " </proc/1/cmdline; echo; exit 5') && rc=0 || rc=$?
	eq "exec exit code" 5 "$rc"
	eq "exec sees init" "sleep 600 " "$out"
	runtime_was_called exec
}

cd_t_exec_tty() {
	local out rc
	out=$(under_tty ctr --address "$CD_SOCK" --namespace "$TAG" task exec --fifo-dir "$WORK/containerd/fifo" -t --exec-id e2 c-d \
		sh -c 'test -t 0 && test -t 1 && echo TTY-OK; exit 6') && rc=0 || rc=$?
	eq "exit code" 6 "$rc"
	has "tty output" 'TTY-OK$' "$out"
}

cd_t_ps() {
	C task exec --fifo-dir "$WORK/containerd/fifo" -d --exec-id e3 c-d sleep 500
	sleep 0.5
	local out pid
	out=$(C task ps c-d)
	echo "$out"
	pid=$(cd_task_field c-d 2)
	has "ps lists init" "^$pid( |$)" "$out"
	eq "process count" 2 "$(awk 'NR > 1' <<<"$out" | wc -l)"
	runtime_was_called ps
}

cd_t_metrics() {
	local out
	out=$(C task metrics c-d)
	echo "$out"
	has "pids.current" 'pids\.current +2' "$out"
	has "memory usage" 'memory\.usage_in_bytes +[1-9]' "$out"
}

cd_t_pause_resume() {
	local pid
	pid=$(cd_task_field c-d 2)
	C task pause c-d
	eq "freezer after pause" FROZEN "$(cg_file "$pid" freezer freezer.state)"
	eq "status after pause" PAUSED "$(cd_task_field c-d 3)"
	C task resume c-d
	eq "freezer after resume" THAWED "$(cg_file "$pid" freezer freezer.state)"
	eq "status after resume" RUNNING "$(cd_task_field c-d 3)"
	runtime_was_called pause
	runtime_was_called resume
}

cd_t_kill_all_delete() {
	local pids p
	pids=$(C task ps c-d | awk 'NR > 1 { print $1 }')
	C task kill --all -s KILL c-d
	until_ok 20 cd_status_is c-d STOPPED
	for p in $pids; do
		if [[ -e /proc/$p ]] && [[ $(awk '{ print $3 }' "/proc/$p/stat") != Z ]]; then
			echo "FAIL: pid $p survived kill --all"
			return 1
		fi
	done
	C task delete c-d || true # exit status is the task's (137)
	C container rm c-d
	if "$RUNTIME" --root "$CD_RUNC_ROOT/$TAG" list -q | grep -qx c-d; then
		echo "FAIL: runtime still lists c-d after delete"
		return 1
	fi
	local cg
	for cg in memory pids freezer cpu; do
		if [[ -d /sys/fs/cgroup/$cg/$TAG/c-d ]]; then
			echo "FAIL: cgroup /sys/fs/cgroup/$cg/$TAG/c-d left behind"
			return 1
		fi
	done
}

cd_t_limits() {
	C run -d "${RF[@]}" --memory-limit 67108864 --cpus 0.5 "$IMAGE" c-lim sleep 600
	until_ok 20 cd_status_is c-lim RUNNING
	local pid
	pid=$(cd_task_field c-lim 2)
	eq "memory.limit_in_bytes (host)" 67108864 "$(cg_file "$pid" memory memory.limit_in_bytes)"
	eq "cpu.cfs_quota_us (host)" 50000 "$(cg_file "$pid" cpu cpu.cfs_quota_us)"
	has "memory cgroup seen inside" "^[0-9]+:memory:/$TAG/c-lim\$" \
		"$(C task exec --fifo-dir "$WORK/containerd/fifo" --exec-id l1 c-lim cat /proc/self/cgroup)"
	C task kill -s KILL c-lim
	until_ok 20 cd_status_is c-lim STOPPED
	C task delete c-lim || true
	C container rm c-lim
}

suite_containerd() {
	if [[ $CGROUP_MANAGER == systemd ]]; then
		# Its tests are written for cgroupfs paths; containerd with SystemdCgroup is tested
		# through the CRI in integration/shim.
		suite_begin containerd
		suite_skipped containerd "CGROUP_MANAGER=systemd: the ctr suite has no systemd mode yet"
		suite_end
		return 0
	fi
	suite_prepare containerd containerd || return 0
	if ! cd_start; then
		fail_setup "start private containerd" "$WORK/containerd/containerd.log"
		suite_end
		return 0
	fi
	log "containerd $(containerd --version | awk '{ print $3 }') on $CD_SOCK, namespace $TAG"
	RF=(--runc-binary "$WRAPPER" --runc-root "$CD_RUNC_ROOT" --fifo-dir "$WORK/containerd/fifo")
	if ! C images import "$IMAGE_DIR/oci.tar" >"$WORK/containerd/import.log" 2>&1; then
		fail_setup "ctr images import" "$WORK/containerd/import.log"
		cd_stop
		suite_end
		return 0
	fi

	t "run --rm: output and exit code" cd_t_run_rm
	t "run --rm: env, cwd, uid" cd_t_env_cwd
	t "run --rm: stdin is piped in" cd_t_stdin
	t "run -t: container gets a terminal" cd_t_run_tty
	t "run of a missing binary fails cleanly" cd_t_create_error
	t "task kill -s TERM reaches the init's trap" cd_t_sigterm
	t "run -d" cd_t_run_d
	t "task exec: output, exit code, same pid namespace" cd_t_exec
	t "task exec -t" cd_t_exec_tty
	t "task ps" cd_t_ps
	t "task metrics" cd_t_metrics
	t "task pause / resume" cd_t_pause_resume
	t "task kill --all, task delete, container rm" cd_t_kill_all_delete
	t "memory and cpu limits reach the cgroup" cd_t_limits

	cd_stop
	suite_end
}
