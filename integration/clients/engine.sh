# shellcheck shell=bash disable=SC2016  # container-side scripts are single-quoted on purpose
# The tests that dockerd and podman share, sourced by run.sh: their CLIs agree on run, exec,
# logs, inspect, pause, stop and rm.  A suite sets, before running them:
#   ENG         the function that runs its CLI (Dk, P)
#   ENG_CMD     the same command line as an array, for under_tty (which cannot call a function)
#   ENG_RUN     its `run` flags (runtime, network, cgroup parent)
#   ENG_CG      its cgroup parent
#   ENG_PREFIX  the prefix of its container names: PREFIX-d is the long-running container
#   ENG_SCOPE   the prefix of its containers' systemd scopes (CGROUP_MANAGER=systemd)

ENG= ENG_CG= ENG_PREFIX= ENG_SCOPE=
ENG_CMD=() ENG_RUN=()

eng() { "$ENG" "$@"; }
eng_field() { eng inspect -f "$2" "$1" 2>/dev/null; }
eng_status_is() { [[ $(eng_field "$1" '{{.State.Status}}') == "$2" ]]; }

eng_t_run_rm() {
	local out rc
	out=$(eng run --rm "${ENG_RUN[@]}" "$IMAGE" sh -c 'echo hello from $$; exit 3') && rc=0 || rc=$?
	eq "exit code" 3 "$rc"
	eq "output" "hello from 1" "$out"
	runtime_was_called create
	runtime_was_called start
}

eng_t_stdin_user_readonly() {
	local out
	out=$(printf 'line one\nline two\n' | eng run --rm -i "${ENG_RUN[@]}" --user 65534:65534 --read-only "$IMAGE" \
		sh -c 'wc -l; id -u; id -g; touch /x 2>/dev/null && echo writable || echo read-only')
	eq "stdin uid gid rootfs" "2 65534 65534 read-only" "$(words "$out")"
}

eng_t_run_tty() {
	local out rc
	out=$(under_tty "${ENG_CMD[@]}" run -t --rm "${ENG_RUN[@]}" "$IMAGE" \
		sh -c 'test -t 0 && test -t 1 && echo TTY-OK; exit 4') && rc=0 || rc=$?
	eq "exit code" 4 "$rc"
	has "tty output" 'TTY-OK$' "$out"
}

eng_t_missing_binary() {
	local out rc
	out=$(eng run --rm "${ENG_RUN[@]}" "$IMAGE" /nonexistent-binary 2>&1) && rc=0 || rc=$?
	echo "$out"
	# The engine maps the runtime's "not found" error to 127 by reading its message.
	eq "exit code" 127 "$rc"
	has "error names the binary" 'nonexistent-binary' "$out"
}

eng_t_run_d_logs() {
	local name=$ENG_PREFIX-d pid
	eng run -d --name "$name" "${ENG_RUN[@]}" "$IMAGE" sh -c 'echo started; exec sleep 600'
	until_ok 20 eng_status_is "$name" running
	until_ok 10 eval 'eng logs "$name" | grep -q started'
	pid=$(eng_field "$name" '{{.State.Pid}}')
	eq "init is sleep" "sleep 600 " "$(tr '\0' ' ' <"/proc/$pid/cmdline")"
	has "cgroup parent" "^[0-9]+:[^:]*:$ENG_CG/" "$(cg_line "$pid")"
	[[ $CGROUP_MANAGER != systemd ]] || scope_check "$pid" "$ENG_SCOPE"
}

eng_t_exec() {
	local out rc
	out=$(eng exec "$ENG_PREFIX-d" sh -c 'tr "\0" " " </proc/1/cmdline; echo; exit 5') && rc=0 || rc=$?
	eq "exec exit code" 5 "$rc"
	eq "exec sees init" "sleep 600 " "$out"
	runtime_was_called exec
}

eng_t_exec_tty() {
	local out rc
	out=$(under_tty "${ENG_CMD[@]}" exec -t "$ENG_PREFIX-d" sh -c 'test -t 0 && test -t 1 && echo TTY-OK; exit 6') && rc=0 || rc=$?
	eq "exit code" 6 "$rc"
	has "tty output" 'TTY-OK$' "$out"
}

eng_t_pause() {
	local name=$ENG_PREFIX-d pid
	pid=$(eng_field "$name" '{{.State.Pid}}')
	eng pause "$name"
	eq "status after pause" paused "$(eng_field "$name" '{{.State.Status}}')"
	eq "freezer after pause" FROZEN "$(cg_file "$pid" freezer freezer.state)"
	eng unpause "$name"
	eq "status after unpause" running "$(eng_field "$name" '{{.State.Status}}')"
	eq "freezer after unpause" THAWED "$(cg_file "$pid" freezer freezer.state)"
	runtime_was_called pause
	runtime_was_called resume
}

eng_t_stop_term() {
	local name=$ENG_PREFIX-term start=$SECONDS pid
	eng run -d --name "$name" "${ENG_RUN[@]}" "$IMAGE" sh -c 'trap "exit 7" TERM; echo ready; while :; do sleep 0.1; done'
	until_ok 20 eng_status_is "$name" running
	# A pid 1 ignores a SIGTERM that comes before its trap is set: wait for the trap.
	until_ok 20 eval 'eng logs "$name" | grep -q ready'
	pid=$(eng_field "$name" '{{.State.Pid}}')
	grep -E '^Sig(Blk|Ign|Cgt)' "/proc/$pid/status"
	cg_line "$pid"
	[[ $CGROUP_MANAGER != systemd ]] || scope_check "$pid" "$ENG_SCOPE"
	start=$SECONDS
	# The trap's exit code proves SIGTERM arrived; had it not, the engine would have sent
	# SIGKILL through the runtime after 30 s. (Not a time bound: under emulation each engine
	# and runtime call takes seconds.)
	eng stop -t 30 "$name"
	echo "stop took $((SECONDS - start))s"
	eq "exit code" 7 "$(eng_field "$name" '{{.State.ExitCode}}')"
	eq "signals sent through the runtime" 15 "$(runtime_kill_signals)"
	eng rm "$name"
}

eng_t_stop_kill() {
	# sleep as pid 1 ignores SIGTERM: stop must fall back to SIGKILL after the timeout.
	local name=$ENG_PREFIX-d start=$SECONDS
	eng stop -t 2 "$name"
	eq "status" exited "$(eng_field "$name" '{{.State.Status}}')"
	eq "exit code" 137 "$(eng_field "$name" '{{.State.ExitCode}}')"
	eq "signals sent through the runtime" "15 9" "$(runtime_kill_signals)"
	echo "stop took $((SECONDS - start))s"
	# A bound for a stop that hangs; under emulation each engine and runtime call takes seconds.
	((SECONDS - start < 60)) || {
		echo "FAIL: stop took $((SECONDS - start))s"
		return 1
	}
}
