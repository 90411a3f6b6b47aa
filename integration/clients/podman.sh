# shellcheck shell=bash disable=SC2016  # container-side scripts are single-quoted on purpose
# podman 4.3 + conmon suite, sourced by run.sh.  Private --root/--runroot/--tmpdir, a private
# containers.conf (CONTAINERS_CONF) and storage.conf; every container goes under the cgroup
# parent /TAG/podman (CGROUP_MANAGER=systemd: the slice SLICE, containers in libpod-ID.scope);
# `podman --runtime WRAPPER` makes conmon call the runtime.

P() {
	x env TMPDIR="$PM_DIR/tmp" CONTAINERS_CONF="$PM_DIR/containers.conf" CONTAINERS_STORAGE_CONF="$PM_DIR/storage.conf" \
		podman --root "$PM_DIR/root" --runroot "$PM_DIR/runroot" --tmpdir "$PM_DIR/tmp" \
		--runtime "$WRAPPER" --cgroup-manager "$CGROUP_MANAGER" --events-backend file "$@"
}

# The same command line for under_tty (which cannot call a shell function).
PCMD=()

pm_setup() {
	PM_DIR=$WORK/podman
	PM_CG=/$TAG/podman
	[[ $CGROUP_MANAGER == systemd ]] && PM_CG=/$SLICE
	mkdir -p "$PM_DIR"/{root,runroot,tmp,net,volumes}
	cat >"$PM_DIR/containers.conf" <<EOF
[containers]
netns = "none"
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
log_driver = "k8s-file"

[engine]
cgroup_manager = "$CGROUP_MANAGER"
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
		--runtime "$WRAPPER" --cgroup-manager "$CGROUP_MANAGER" --events-backend file)
}

pm_stop() {
	P rm -a -f -t 0 >/dev/null 2>&1 || true
}


pm_t_env() {
	local out
	out=$(P run --rm "${ENG_RUN[@]}" --env FOO=bar --hostname hh -w /tmp "$IMAGE" \
		sh -c 'echo "$FOO $(hostname) $(pwd) $(id -u) $(ulimit -n)"')
	eq "env hostname cwd uid nofile" "bar hh /tmp 0 20000" "$out"
}

pm_t_update() {
	local pid
	pid=$(eng_field p-d '{{.State.Pid}}')
	P update --memory 128m --cpus 0.5 p-d
	eq "memory.limit_in_bytes" 134217728 "$(cg_file "$pid" memory memory.limit_in_bytes)"
	eq "cpu.cfs_quota_us" 50000 "$(cg_file "$pid" cpu cpu.cfs_quota_us)"
	runtime_was_called update
}

pm_t_rm() {
	local id
	id=$(eng_field p-d '{{.Id}}')
	P rm p-d
	if P container exists p-d; then
		echo "FAIL: p-d still exists"
		return 1
	fi
	if "$RUNTIME" --root "$WORK/runtime-default-root" list -q 2>/dev/null | grep -qx "$id"; then
		echo "FAIL: runtime still lists $id"
		return 1
	fi
	local cg
	cg=$(cg_mem_root)$PM_CG/libpod-$id
	[[ $CGROUP_MANAGER == systemd ]] && cg+=.scope
	if [[ -d $cg ]]; then
		echo "FAIL: cgroup $cg left behind"
		return 1
	fi
	if [[ $CGROUP_MANAGER == systemd ]] && systemctl is-active -q "libpod-$id.scope"; then
		echo "FAIL: libpod-$id.scope still active"
		return 1
	fi
}

suite_podman() {
	suite_prepare podman podman conmon || return 0
	pm_setup
	log "podman $(podman --version | awk '{ print $3 }'), root $PM_DIR, cgroup parent $PM_CG"
	ENG=P ENG_CG=$PM_CG ENG_PREFIX=p
	ENG_CMD=("${PCMD[@]}")
	ENG_RUN=(--cgroup-parent "$PM_CG")
	[[ $CGROUP_MANAGER == systemd ]] && ENG_RUN=(--cgroup-parent "$SLICE")
	ENG_SCOPE=libpod
	if ! P load -i "$IMAGE_DIR/oci.tar" >"$PM_DIR/load.log" 2>&1; then
		fail_setup "podman load" "$PM_DIR/load.log"
		suite_end
		return 0
	fi

	t "run --rm: output and exit code" eng_t_run_rm
	t "run --rm: env, hostname, workdir, uid, default ulimit" pm_t_env
	t "run -i --user --read-only: stdin, uid, gid, read-only rootfs" eng_t_stdin_user_readonly
	t "run -t: container gets a terminal" eng_t_run_tty
	t "run of a missing binary: exit 127 and a clear error" eng_t_missing_binary
	t "run -d, logs, cgroup parent" eng_t_run_d_logs
	t "exec: output, exit code, same pid namespace" eng_t_exec
	t "exec -t" eng_t_exec_tty
	t "pause / unpause" eng_t_pause
	if podman update --help >/dev/null 2>&1; then
		t "update --memory --cpus" pm_t_update
	else
		skip "update --memory --cpus" "podman $(podman --version | awk '{ print $3 }') has no update"
	fi
	t "stop: SIGTERM handled by the init's trap" eng_t_stop_term
	t "stop: SIGTERM ignored, SIGKILL after timeout" eng_t_stop_kill
	t "rm: runtime state and cgroup gone" pm_t_rm

	pm_stop
	suite_end
}
