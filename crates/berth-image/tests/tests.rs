//! Integration tests against Debian's `docker-registry`, with skopeo and
//! umoci for interop. They need root and those packages; without them each
//! test prints SKIP and passes.

#[path = "it/harness.rs"]
mod harness;
#[path = "it/registry_flows.rs"]
mod registry_flows;
