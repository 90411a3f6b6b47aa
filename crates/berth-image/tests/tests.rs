//! Integration tests against Debian's `docker-registry`, with skopeo and
//! umoci for interop. They need root and those packages; without them each
//! test prints SKIP and passes, except under CI=true, where it fails. `runtime_flow` also runs the `berth` binary
//! (`$BERTH_BIN`, else the workspace's `target/debug/berth`).

#[path = "it/archives.rs"]
mod archives;
#[path = "it/harness.rs"]
mod harness;
#[path = "it/registry_flows.rs"]
mod registry_flows;
#[path = "it/runtime_flow.rs"]
mod runtime_flow;
#[path = "it/token_auth.rs"]
mod token_auth;
