//! Strict mode and the skip log, for every Rust test suite of the repository (the crates'
//! suites include this file with `#[path]`, so there is one definition).
//!
//! A test that cannot run on this host (a missing tool, kernel feature or privilege) says so
//! with [`cannot_run`] and returns. Under `CI=true` or `BERTH_STRICT=1` that is a failure
//! naming the reason. Otherwise the reason goes straight to stderr (past libtest's capture, so
//! it shows even though the test passes) and, when `BERTH_SKIP_LOG` names a file, one line is
//! appended there: `make test` counts those lines at the end.

use std::io::Write;

/// True under `CI=true` or `BERTH_STRICT=1`: nothing may be skipped.
pub fn strict() -> bool {
    let on = |var: &str, value: &str| std::env::var(var).is_ok_and(|v| v == value);
    on("CI", "true") || on("BERTH_STRICT", "1")
}

/// The current test's name: libtest runs each test on a thread named after it.
fn test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("(unnamed test)")
        .to_string()
}

/// This test cannot run here because of `why`: fails it in strict mode, else records the
/// skip. Use as `return cannot_run("...")`.
#[track_caller]
pub fn cannot_run(why: &str) {
    let test = test_name();
    if strict() {
        panic!("{test} cannot run on this host (strict mode: CI=true or BERTH_STRICT=1): {why}");
    }
    let suite = concat!(env!("CARGO_PKG_NAME"), "/", env!("CARGO_CRATE_NAME"));
    let line = format!("{suite}\t{test}\tSKIP {why}\n");
    let _ = std::io::stderr().write_all(format!("SKIPPED {test}: {why}\n").as_bytes());
    if let Some(log) = std::env::var_os("BERTH_SKIP_LOG") {
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .and_then(|mut f| f.write_all(line.as_bytes()));
    }
}
