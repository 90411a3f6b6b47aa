//! berth's integration tests, one binary (see STYLE.md). Root is required: they run real
//! containers from a busybox rootfs. `RUNTIME=/usr/sbin/runc cargo test --test tests` runs
//! the same tests against runc, to prove the tests themselves right.

mod cgroups;
mod runtime;
