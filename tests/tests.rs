//! berth's integration tests, one binary (see STYLE.md). Root is required: they run real
//! containers from a busybox rootfs. `RUNTIME=/usr/sbin/runc cargo test --test tests --
//! --skip berth_only` runs the same tests against runc, to prove the tests themselves right
//! (`berth_only_*` tests check what only berth does). Under `CI=true` or `BERTH_STRICT=1` a
//! test that cannot run on the host fails instead of being skipped (see `harness::strict`).
//! `BERTH_TEST_CGROUP_DRIVER=systemd` runs them with the systemd cgroup driver (see
//! `harness::systemd` and the `cgroups` module).

mod harness;

mod cgroups;
mod runtime;
