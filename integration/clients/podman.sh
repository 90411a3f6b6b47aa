# shellcheck shell=bash disable=SC2016  # container-side scripts are single-quoted on purpose
# podman 4.3 + conmon suite, sourced by run.sh.  Private --root/--runroot/--tmpdir, a private
# containers.conf (CONTAINERS_CONF) and storage.conf; every container goes under the cgroup
# parent /TAG/podman; `podman --runtime WRAPPER` makes conmon call the runtime.

P() {
	x env TMPDIR="$PM_DIR/tmp" CONTAINERS_CONF="$PM_DIR/containers.conf" CONTAINERS_STORAGE_CONF="$PM_DIR/storage.conf" \
		podman --root "$PM_DIR/root" --runroot "$PM_DIR/runroot" --tmpdir "$PM_DIR/tmp" \
		--runtime "$WRAPPER" --cgroup-manager cgroupfs --events-backend file "$@"
}

# The same command line for under_tty (which cannot call a shell function).
PCMD=()

pm_setup() {
	PM_DIR=$WORK/podman
	PM_CG=/$TAG/podman
	mkdir -p "$PM_DIR"/{root,runroot,tmp,net,volumes}
	cat >"$PM_DIR/containers.conf" <<EOF
[containers]
netns = "none"
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$PM_DIR/events.log"
lock_type = "file"
tmp_dir = "$PM_DIR/tmp"
volume_path = "$PM_DIR/volumes"
conmon_path = ["/usr/bin/conmon"]

[network]
network_config_dir = "$PM_DIR/net"
EOF
	cat >"$PM_DIR/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$PM_DIR/root"
runroot = "$PM_DIR/runroot"
EOF
	PCMD=(env TMPDIR="$PM_DIR/tmp" CONTAINERS_CONF="$PM_DIR/containers.conf" CONTAINERS_STORAGE_CONF="$PM_DIR/storage.conf"
		podman --root "$PM_DIR/root" --runroot "$PM_DIR/runroot" --tmpdir "$PM_DIR/tmp"
		--runtime "$WRAPPER" --cgroup-manager cgroupfs --events-backend file)
}

pm_stop() {
	P rm -a -f -t 0 >/dev/null 2>&1 || true
}

pm_field() { P inspect -f "$2" "$1" 2>/dev/null; }
pm_status_is() { [[ $(pm_field "$1" '{{.State.Status}}') == "$2" ]]; }

pm_t_run_rm() {
	local out rc
	out=$(P run --rm --cgroup-parent "$PM_CG" "$IMAGE" sh -c 'echo hello from $$; exit 3') && rc=0 || rc=$?
	eq "exit code" 3 "$rc"
	eq "output" "hello from 1" "$out"
	runtime_was_called create
	runtime_was_called start
}

pm_t_env() {
	local out
	out=$(P run --rm --cgroup-parent "$PM_CG" --env FOO=bar --hostname hh -w /tmp "$IMAGE" \
		sh -c 'echo "$FOO $(hostname) $(pwd) $(id -u) $(ulimit -n)"')
	eq "env hostname cwd uid nofile" "bar hh /tmp 0 20000" "$out"
}

pm_t_stdin_user() {
	local out
	out=$(printf 'line one\nline two\n' | P run --rm -i --cgroup-parent "$PM_CG" --user 65534:65534 --read-only \
		"$IMAGE" sh -c 'wc -l; id -u; touch /x 2>/dev/null && echo writable || echo read-only')
	eq "stdin, uid, rootfs" "2 65534 read-only" "$(words "$out")"
}

pm_t_run_tty() {
	local out rc
	out=$(under_tty "${PCMD[@]}" run -t --rm --cgroup-parent "$PM_CG" "$IMAGE" \
		sh -c 'test -t 0 && test -t 1 && echo TTY-OK; exit 4') && rc=0 || rc=$?
	eq "exit code" 4 "$rc"
	has "tty output" 'TTY-OK$' "$out"
}

pm_t_missing_binary() {
	local out rc
	out=$(P run --rm --cgroup-parent "$PM_CG" "$IMAGE" /nonexistent-binary 2>&1) && rc=0 || rc=$?
	echo "$out"
	# podman maps the runtime's "not found" error to 127 by reading its message.
	eq "exit code" 127 "$rc"
	has "error names the binary" 'nonexistent-binary' "$out"
}

pm_t_run_d_logs() {
	P run -d --name p-d --cgroup-parent "$PM_CG" "$IMAGE" sh -c 'echo started; exec sleep 600'
	until_ok 20 pm_status_is p-d running
	until_ok 10 eval 'P logs p-d | grep -q started'
	local pid
	pid=$(pm_field p-d '{{.State.Pid}}')
	eq "init is sleep" "sleep 600 " "$(tr '\0' ' ' <"/proc/$pid/cmdline")"
	has "cgroup parent" "^[0-9]+:memory:$PM_CG/" "$(cat "/proc/$pid/cgroup")"
}

pm_t_exec() {
	local out rc
	out=$(P exec p-d sh -c 'tr "\0" " " </proc/1/cmdline; echo; exit 5') && rc=0 || rc=$?
	eq "exec exit code" 5 "$rc"
	eq "exec sees init" "sleep 600 " "$out"
	runtime_was_called exec
}

pm_t_exec_tty() {
	local out rc
	out=$(under_tty "${PCMD[@]}" exec -t p-d sh -c 'test -t 0 && test -t 1 && echo TTY-OK; exit 6') && rc=0 || rc=$?
	eq "exit code" 6 "$rc"
	has "tty output" 'TTY-OK$' "$out"
}

pm_t_pause() {
	local pid
	pid=$(pm_field p-d '{{.State.Pid}}')
	P pause p-d
	eq "status after pause" paused "$(pm_field p-d '{{.State.Status}}')"
	eq "freezer after pause" FROZEN "$(cg_file "$pid" freezer freezer.state)"
	P unpause p-d
	eq "status after unpause" running "$(pm_field p-d '{{.State.Status}}')"
	eq "freezer after unpause" THAWED "$(cg_file "$pid" freezer freezer.state)"
	runtime_was_called pause
	runtime_was_called resume
}

pm_t_update() {
	if ! podman update --help >/dev/null 2>&1; then
		echo "podman update not available in this podman"
		return 0
	fi
	local pid
	pid=$(pm_field p-d '{{.State.Pid}}')
	P update --memory 128m --cpus 0.5 p-d
	eq "memory.limit_in_bytes" 134217728 "$(cg_file "$pid" memory memory.limit_in_bytes)"
	eq "cpu.cfs_quota_us" 50000 "$(cg_file "$pid" cpu cpu.cfs_quota_us)"
	runtime_was_called update
}

pm_t_stop_kill() {
	# sleep as pid 1 ignores SIGTERM: stop must fall back to SIGKILL after the timeout.
	local start=$SECONDS
	P stop -t 2 p-d
	eq "status" exited "$(pm_field p-d '{{.State.Status}}')"
	eq "exit code" 137 "$(pm_field p-d '{{.State.ExitCode}}')"
	((SECONDS - start < 30)) || {
		echo "FAIL: stop took $((SECONDS - start))s"
		return 1
	}
}

pm_t_stop_term() {
	P run -d --name p-term --cgroup-parent "$PM_CG" "$IMAGE" \
		sh -c 'trap "exit 7" TERM; while :; do sleep 0.1; done'
	until_ok 20 pm_status_is p-term running
	local start=$SECONDS
	P stop -t 20 p-term
	((SECONDS - start < 15)) || {
		echo "FAIL: SIGTERM was not delivered; stop took $((SECONDS - start))s"
		return 1
	}
	eq "exit code" 7 "$(pm_field p-term '{{.State.ExitCode}}')"
	P rm p-term
}

pm_t_rm() {
	local id
	id=$(pm_field p-d '{{.Id}}')
	P rm p-d
	if P container exists p-d; then
		echo "FAIL: p-d still exists"
		return 1
	fi
	if "$RUNTIME" --root "$WORK/runtime-default-root" list -q 2>/dev/null | grep -qx "$id"; then
		echo "FAIL: runtime still lists $id"
		return 1
	fi
	if [[ -d /sys/fs/cgroup/memory$PM_CG/libpod-$id ]]; then
		echo "FAIL: cgroup libpod-$id left behind"
		return 1
	fi
}

suite_podman() {
	suite_begin podman
	if ! ensure_pkgs podman conmon; then
		suite_skipped podman "packages podman/conmon cannot be installed"
		return 0
	fi
	if ! build_image; then
		fail_setup "build busybox image" "$WORK/image-build.log"
		suite_end
		return 0
	fi
	pm_setup
	log "podman $(podman --version | awk '{ print $3 }'), root $PM_DIR, cgroup parent $PM_CG"
	if ! P load -i "$IMAGE_DIR/oci.tar" >"$PM_DIR/load.log" 2>&1; then
		fail_setup "podman load" "$PM_DIR/load.log"
		suite_end
		return 0
	fi

	t "run --rm: output and exit code" pm_t_run_rm
	t "run --rm: env, hostname, workdir, uid, default ulimit" pm_t_env
	t "run -i --user --read-only: stdin, uid, read-only rootfs" pm_t_stdin_user
	t "run -t: container gets a terminal" pm_t_run_tty
	t "run of a missing binary: exit 127 and a clear error" pm_t_missing_binary
	t "run -d, logs, cgroup parent" pm_t_run_d_logs
	t "exec: output, exit code, same pid namespace" pm_t_exec
	t "exec -t" pm_t_exec_tty
	t "pause / unpause" pm_t_pause
	if podman update --help >/dev/null 2>&1; then
		t "update --memory --cpus" pm_t_update
	else
		skip "update --memory --cpus" "podman $(podman --version | awk '{ print $3 }') has no update"
	fi
	t "stop: SIGTERM handled by the init's trap" pm_t_stop_term
	t "stop: SIGTERM ignored, SIGKILL after timeout" pm_t_stop_kill
	t "rm: runtime state and cgroup gone" pm_t_rm

	pm_stop
	suite_end
}
