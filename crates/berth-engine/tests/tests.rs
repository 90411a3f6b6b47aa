//! `berth image run` end to end, through the `berth` binary (`$BERTH_BIN`, else the
//! workspace's `target/debug/berth`, built before the tests as `make test` does).
//!
//! They need root and Debian's busybox-static, skopeo, docker-registry, iproute2,
//! iptables and containernetworking-plugins (integration/setup.sh installs them); a missing
//! one fails the test, naming the package. Every test runs berth inside a network namespace
//! of its own that plays the host (the bridge, the iptables rules of portmap, the registry
//! all live there), with its own store, state root and names, all removed afterwards.

#[path = "it/detached.rs"]
mod detached;
#[path = "it/failures.rs"]
mod failures;
#[path = "it/harness.rs"]
mod harness;
#[path = "it/image_gc.rs"]
mod image_gc;
#[path = "it/network.rs"]
mod network;
#[path = "it/resources.rs"]
mod resources;
#[path = "it/run.rs"]
mod run;
