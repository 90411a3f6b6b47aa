//! Tests of cgroup placement, limits, pause/resume, update, events and ps through berth.
//! They run on whatever the host has (v1, hybrid or v2; `integration/cgv2/run.sh` runs them
//! in a pure v2 guest), each container in a cgroup of its own (`/berth-test-<pid>-<n>`),
//! and check both what the host's cgroupfs says and what the container sees.

mod util;

mod enforcement;
mod events;
mod limits;
mod optional;
mod pause;
mod placement;
mod ps;
mod update;
