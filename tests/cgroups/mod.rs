//! Tests of cgroup placement, limits, pause/resume, update, events and ps through berth.
//! They run on whatever the host has (v1, hybrid or v2; `integration/cgv2/run.sh` runs them
//! in a pure v2 guest), each container in a cgroup of its own (`/berth-test-<pid>-<n>`),
//! and check both what the host's cgroupfs says and what the container sees.
//!
//! With `BERTH_TEST_CGROUP_DRIVER=systemd` (in the systemd guest of `integration/vm/run
//! --systemd`) the same tests drive the runtime's systemd driver: every command gets
//! `--systemd-cgroup`, each container its scope `berth-test-<pid>-<n>.scope` in `system.slice`
//! (cgroupsPath `system.slice:berth-test:<pid>-<n>`), and the tests check systemd's view of
//! it (`systemctl show`: Delegate, MemoryMax, TasksMax, CPUWeight, CPUQuotaPerSecUSec,
//! AllowedCPUs, ...) beside the cgroup files, and that no scope is left after delete, a
//! failed create or a SIGKILLed create. Against runc 1.1.5 that run skips, besides
//! `berth_only`, what runc's systemd driver does differently (named in each test's comment):
//! `--skip cgroups::optional::network_ --skip
//! cgroups::update::update_memory_swap_alone_uses_the_current_limit`.

mod util;

mod enforcement;
mod events;
mod limits;
mod optional;
mod pause;
mod placement;
mod ps;
mod update;
