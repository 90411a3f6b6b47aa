//! Integration tests, one binary (see STYLE.md).
//!
//! `profile`: real-world profiles through the public API, no privileges.
//! `kernel`: filters installed for real, each scenario in a re-executed
//! copy of this test binary so the harness's threads are never filtered.

mod kernel;
mod profile;

/// Strict mode and the skip log, shared with the repository's other suites: a case this
/// host cannot run fails under `CI=true` or `BERTH_STRICT=1`.
#[path = "../../../tests/harness/strict.rs"]
mod strict;
