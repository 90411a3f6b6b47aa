#!/usr/bin/env bash
# The workload of bench/order/collect.py: the runtime verbs whose code the ordering file lays
# out first (run, run -d, exec, kill, delete, create, start, state, delete -f, list), each once,
# on a busybox bundle, in a private mount namespace with its own tmpfs (nothing is left behind).
# Every call is killed after 10 s: under the collector's probes the first pass is slow, and a
# killed call still tells which functions ran.
# Usage: workload.sh BERTH
set -u
B=$1
exec unshare --mount --propagation private bash -s "$B" <<'INNER'
B=$1
umount /sys/fs/cgroup/unified 2>/dev/null
W=$(mktemp -d /tmp/berth-order.XXXXXX)
mount -t tmpfs berth-order "$W"
trap 'for id in o1 o2 o3; do : | "$B" --root "$W/state" delete -f "$id" >/dev/null 2>&1; done; umount -l "$W"; rmdir "$W"' EXIT
mkdir -p "$W"/rootfs/{bin,dev,proc,sys,tmp,etc} "$W/b" "$W/b2" "$W/state"
cp "$(command -v busybox)" "$W/rootfs/bin/"
for c in true sh sleep; do ln -s busybox "$W/rootfs/bin/$c"; done
(cd "$W/b" && "$B" spec)
jq --arg r "$W/rootfs" '.process.terminal=false | .process.args=["/bin/true"] | .root={path:$r, readonly:true}' \
    "$W/b/config.json" > "$W/b/c" && mv "$W/b/c" "$W/b/config.json"
jq '.process.args=["/bin/sleep","100"]' "$W/b/config.json" > "$W/b2/config.json"
rc=0
call() { : | timeout -s KILL 10 "$B" --root "$W/state" "$@" >/dev/null || rc=1; }
call run -b "$W/b" o1
call run -d -b "$W/b2" o2
call exec o2 /bin/true
call kill o2 KILL
sleep 0.2
call delete o2
call create -b "$W/b2" o3
call start o3
call state o3
call delete -f o3
call list
exit $rc
INNER
