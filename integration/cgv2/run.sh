#!/bin/bash
# Runs berth's integration tests (tests/tests.rs: the cgroups:: and runtime:: modules by
# default) as root inside a throw-away QEMU guest whose only cgroup mount is cgroup v2, via
# cgv2-run. The host of this repo is hybrid, so this is where the v2 code paths of
# `create`, `pause`, `update`, `events`, `ps` and `delete` get exercised.
#
#   integration/cgv2/run.sh [libtest args...]     e.g. run.sh cgroups::pause --nocapture
#
# Builds on the host (the guest sees the host's / read-only, so the test binary and the
# berth binary it names through CARGO_BIN_EXE_berth run from their host paths), then runs
# the test binary in the guest with TMPDIR=/tmp: bundles and the per-test state roots live
# on the guest's tmpfs, nothing of the host's /run or cgroups is touched.
# Honours CARGO_TARGET_DIR; CGV2_RUN overrides the path of the cgv2-run tool; CGV2_MEM and
# CGV2_CPUS size the guest (cgv2-run's defaults: 1024M, all CPUs).
# The guest kernel boots with a major LSM (this host's kernel has none), so the runtime::lsm
# tests apply real labels there: CGV2_LSM=apparmor (default) or selinux (Debian's default
# policy loaded in permissive mode; packages selinux-policy-default and policycoreutils).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
CGV2_RUN=${CGV2_RUN:-$REPO/../shared/tools/cgv2-run}
[ -x "$CGV2_RUN" ] || CGV2_RUN=/work/shared/tools/cgv2-run
[ -x "$CGV2_RUN" ] || { echo "cgv2/run.sh: cgv2-run not found (set CGV2_RUN)" >&2; exit 2; }

cd "$REPO"
# Build the berth binary too: the tests run it by its absolute path.
cargo build --bin berth >&2
BIN=$(cargo test --test tests --no-run --message-format=json 2>/dev/null |
  grep '"name":"tests"' | grep -o '"executable":"[^"]*"' | tail -1 |
  sed 's/^"executable":"//; s/"$//')
[ -n "$BIN" ] && [ -x "$BIN" ] || {
  echo "cgv2/run.sh: test binary not built; see: cargo test --test tests --no-run" >&2
  exit 2
}

[ $# -gt 0 ] || set -- cgroups:: runtime::
ARGS=""
for a in "$@"; do ARGS="$ARGS '${a//\'/\'\\\'\'}'"; done

# The guest's /tmp and /run are empty tmpfs: state and bundles go there. A watchdog prints
# the kernel log once a task has been stuck in the kernel for 30 s (a hung test otherwise
# shows nothing until the timeout).
case ${CGV2_LSM:-apparmor} in
apparmor)
  APPEND="apparmor=1 lsm=landlock,lockdown,yama,apparmor,bpf"
  PREP=":" ;;
selinux)
  APPEND="selinux=1 security=selinux lsm=landlock,lockdown,yama,selinux,bpf enforcing=0"
  PREP="mount -t selinuxfs selinuxfs /sys/fs/selinux && load_policy || { echo 'cgv2/run.sh: cannot load the SELinux policy' >&2; exit 3; }" ;;
*) echo "cgv2/run.sh: CGV2_LSM must be apparmor or selinux" >&2; exit 2 ;;
esac

CMD="export TMPDIR=/tmp RUST_BACKTRACE=1; mkdir -p /run/berth; cd /tmp; $PREP;
echo 30 > /proc/sys/kernel/hung_task_timeout_secs 2>/dev/null;
(while sleep 15; do if dmesg | grep -q 'blocked for more than'; then
  echo '== cgv2/run.sh: a task is stuck in the kernel:' >&2; dmesg | tail -n 120 >&2; break; fi;
done) &
echo '== ${BIN##*/} (cgroup v2 guest:' \$(cat /sys/fs/cgroup/cgroup.controllers)')';
'$BIN' $ARGS"
export CGV2_APPEND="${CGV2_APPEND:-$APPEND}"
exec "$CGV2_RUN" -w "$REPO" -t "${CGV2_TIMEOUT:-1200}" -e PATH "$CMD"
