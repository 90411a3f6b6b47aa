//! Tests of cgroup placement, limits, pause/resume, update, events and ps through berth.
