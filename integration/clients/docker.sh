# shellcheck shell=bash disable=SC2016  # container-side scripts are single-quoted on purpose
# dockerd 20.10 suite, sourced by run.sh.  A private dockerd (own data-root, exec-root, pidfile,
# socket, trust key, no bridge/iptables, cgroupfs driver and cgroup parent /TAG/docker, or with
# CGROUP_MANAGER=systemd the systemd driver and the slice SLICE, containers in docker-ID.scope) that
# supervises its own private containerd under its exec-root.  The runtime under test is
# registered as "under-test" ("runc" is a reserved name) and chosen per container.

DK_RT=under-test

Dk() { x env DOCKER_CONFIG="$DK_DIR/cli" /usr/bin/docker -H "unix://$DK_DIR/docker.sock" "$@"; }
DKCMD=()

dk_start() {
	DK_DIR=$WORK/docker
	DK_CG=/$TAG/docker
	local parent=$DK_CG
	if [[ $CGROUP_MANAGER == systemd ]]; then
		DK_CG=/$SLICE
		parent=$SLICE
	fi
	mkdir -p "$DK_DIR"/{data,exec,cli}
	cat >"$DK_DIR/daemon.json" <<EOF
{
  "data-root": "$DK_DIR/data",
  "exec-root": "$DK_DIR/exec",
  "pidfile": "$DK_DIR/docker.pid",
  "hosts": ["unix://$DK_DIR/docker.sock"],
  "deprecated-key-path": "$DK_DIR/key.json",
  "bridge": "none",
  "iptables": false,
  "ip-masq": false,
  "ip-forward": false,
  "userland-proxy": false,
  "exec-opts": ["native.cgroupdriver=$CGROUP_MANAGER"],
  "cgroup-parent": "$parent",
  "storage-driver": "overlay2",
  "log-driver": "json-file",
  "features": {"buildkit": false},
  "runtimes": {"$DK_RT": {"path": "$WRAPPER"}}
}
EOF
	DKCMD=(env DOCKER_CONFIG="$DK_DIR/cli" /usr/bin/docker -H "unix://$DK_DIR/docker.sock")
	start_daemon "$DK_DIR/dockerd.log" dockerd --config-file "$DK_DIR/daemon.json" --debug
	DK_PID=$DAEMON_PID
	wait_for_socket "$DK_DIR/docker.sock" "$DK_PID" || return 1
	until_ok 60 "${DKCMD[@]}" version
}

dk_stop() {
	local ids=()
	mapfile -t ids < <(Dk ps -aq 2>/dev/null)
	((${#ids[@]})) && Dk rm -f "${ids[@]}" >/dev/null 2>&1
	kill -TERM "$DK_PID" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$DK_PID" 2>/dev/null || break
		sleep 0.2
	done
	true
}

dk_t_version_call() {
	# dockerd asks every configured runtime for its version (docker info); the answer must parse.
	local out
	out=$(Dk info --format '{{json .Runtimes}}')
	has "runtime registered" "\"$DK_RT\"" "$out"
}

dk_t_run_rm() {
	eng_t_run_rm
	runtime_was_called delete
}

dk_t_env() {
	local out
	out=$(Dk run --rm "${ENG_RUN[@]}" -e FOO=bar -h hh -w /tmp "$IMAGE" \
		sh -c 'echo "$FOO $(hostname) $(pwd) $(id -u)"')
	eq "env hostname cwd uid" "bar hh /tmp 0" "$out"
}

dk_t_stats() {
	local out
	out=$(Dk stats --no-stream --format '{{.Name}} {{.PIDs}} {{.MemUsage}}' d-d)
	has "stats for d-d" '^d-d 1 [0-9.]+[KMG]?i?B / ' "$out"
}

dk_t_zero_resources() {
	# dockerd sends "cpu": {"shares": 0} and "blockIO": {"weight": 0} for every container: zero
	# means unset (runc writes nothing), not "as little as possible" (the kernel clamps 0 to 2).
	local pid
	pid=$(eng_field d-d '{{.State.Pid}}')
	if ((CG_V2)); then
		local d
		d=$(cg_dir "$pid" cpu)
		eq "cpu.weight" 100 "$(cat "$d/cpu.weight")"
		[[ ! -e $d/io.bfq.weight ]] || eq "io.bfq.weight" "default 100" "$(head -1 "$d/io.bfq.weight")"
		return
	fi
	eq "cpu.shares" 1024 "$(cg_file "$pid" cpu cpu.shares)"
}

dk_t_hook() {
	# dockerd puts a libnetwork-setkey prestart hook in every config; the container runs only
	# if the runtime ran it successfully.
	local id cfg
	id=$(eng_field d-d '{{.Id}}')
	cfg=$(find "$DK_DIR/exec" -path "*/$id/config.json" | head -1)
	[[ -n $cfg ]] || {
		echo "FAIL: bundle config.json for $id not found"
		return 1
	}
	if grep -q libnetwork-setkey "$cfg"; then
		echo "prestart hook present in $cfg"
		has "sandbox key set by the hook" "netns|[0-9a-f]{12}" "$(eng_field d-d '{{.NetworkSettings.SandboxKey}}')"
	else
		echo "no libnetwork-setkey hook in $cfg (nothing to check)"
	fi
}

dk_t_update() {
	local pid soft shares d
	pid=$(eng_field d-d '{{.State.Pid}}')
	d=$(cg_dir "$pid" cpu)
	soft=$(cg_file "$pid" memory memory.soft_limit_in_bytes)
	if ((CG_V2)); then
		shares=$(cat "$d/cpu.weight")
	else
		shares=$(cg_file "$pid" cpu cpu.shares)
	fi
	# dockerd sends {"memory":{"limit":..,"reservation":0,"swap":..,"kernel":0},
	#   "cpu":{"shares":0,"quota":50000,"period":100000},"blockIO":{"weight":0}}: zeros are "unset".
	Dk update --memory 128m --memory-swap 256m --cpus 0.5 d-d
	eq "memory.limit_in_bytes" 134217728 "$(cg_file "$pid" memory memory.limit_in_bytes)"
	if ((CG_V2)); then
		eq "memory.swap.max (swap beyond memory)" 134217728 "$(cat "$d/memory.swap.max")"
	else
		eq "memory.memsw.limit_in_bytes" 268435456 "$(cg_file "$pid" memory memory.memsw.limit_in_bytes)"
	fi
	eq "cpu.cfs_quota_us" 50000 "$(cg_file "$pid" cpu cpu.cfs_quota_us)"
	eq "memory.soft_limit_in_bytes unchanged" "$soft" "$(cg_file "$pid" memory memory.soft_limit_in_bytes)"
	if ((CG_V2)); then
		eq "cpu.weight unchanged" "$shares" "$(cat "$d/cpu.weight")"
	else
		eq "cpu.shares unchanged" "$shares" "$(cg_file "$pid" cpu cpu.shares)"
	fi
	runtime_was_called update
}

dk_t_top() {
	local out
	out=$(Dk top d-d)
	echo "$out"
	has "top lists sleep" 'sleep 600' "$out"
	runtime_was_called ps
}

dk_t_rm() {
	local id
	id=$(eng_field d-d '{{.Id}}')
	Dk rm d-d
	if Dk inspect d-d >/dev/null 2>&1; then
		echo "FAIL: d-d still exists"
		return 1
	fi
	local root
	for root in "$DK_DIR"/exec/runtime-*/moby; do
		if [[ -d $root ]] && "$RUNTIME" --root "$root" list -q 2>/dev/null | grep -qx "$id"; then
			echo "FAIL: runtime still lists $id in $root"
			return 1
		fi
	done
	local cg
	cg=$(cg_mem_root)$DK_CG/$id
	[[ $CGROUP_MANAGER == systemd ]] && cg=$(cg_mem_root)$DK_CG/docker-$id.scope
	if [[ -d $cg ]]; then
		echo "FAIL: cgroup $cg left behind"
		return 1
	fi
	if [[ $CGROUP_MANAGER == systemd ]] && systemctl is-active -q "docker-$id.scope"; then
		echo "FAIL: docker-$id.scope still active"
		return 1
	fi
}

suite_docker() {
	suite_prepare docker docker.io || return 0
	if ! dk_start; then
		fail_setup "start private dockerd" "$WORK/docker/dockerd.log"
		suite_end
		return 0
	fi
	log "dockerd $(dockerd --version | awk '{ print $3 }' | tr -d ,) on $DK_DIR/docker.sock, cgroup parent $DK_CG"
	ENG=Dk ENG_CG=$DK_CG ENG_PREFIX=d
	ENG_CMD=("${DKCMD[@]}")
	ENG_RUN=(--runtime "$DK_RT" --network none)
	ENG_SCOPE=docker
	if ! Dk load -i "$IMAGE_DIR/docker.tar" >"$DK_DIR/load.log" 2>&1; then
		fail_setup "docker load" "$DK_DIR/load.log"
		dk_stop
		suite_end
		return 0
	fi

	t "dockerd lists the runtime (--version call)" dk_t_version_call
	t "run --rm: output and exit code" dk_t_run_rm
	t "run --rm: env, hostname, workdir, uid" dk_t_env
	t "run -i --user --read-only: stdin, uid, gid, read-only rootfs" eng_t_stdin_user_readonly
	t "run -t: container gets a terminal" eng_t_run_tty
	t "run of a missing binary: exit 127 and a clear error" eng_t_missing_binary
	t "run -d, logs, cgroup parent" eng_t_run_d_logs
	t "spec zeros (cpu.shares 0, blockIO.weight 0) leave the cgroup defaults" dk_t_zero_resources
	t "libnetwork-setkey prestart hook" dk_t_hook
	t "exec: output, exit code, same pid namespace" eng_t_exec
	t "exec -t" eng_t_exec_tty
	t "top" dk_t_top
	t "stats" dk_t_stats
	t "pause / unpause" eng_t_pause
	t "update --memory --cpus" dk_t_update
	t "stop: SIGTERM handled by the init's trap" eng_t_stop_term
	t "stop: SIGTERM ignored, SIGKILL after timeout" eng_t_stop_kill
	t "rm: runtime state and cgroup gone" dk_t_rm

	dk_stop
	suite_end
}
