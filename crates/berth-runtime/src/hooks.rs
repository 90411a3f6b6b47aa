//! Lifecycle hooks: each gets the container state on stdin and may have a timeout.

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};

use oci_spec::runtime::Hook;

use crate::{sys, Error, Result};

/// Runs one hook with `state` (JSON) on its stdin, in `cwd` if given.
pub fn run_one(hook: &Hook, state: &[u8], cwd: Option<&Path>) -> std::result::Result<(), String> {
    run_one_filtered(hook, state, cwd, None)
}

/// [`run_one`], with the seccomp `filter` loaded in the hook's process before it execs.
fn run_one_filtered(
    hook: &Hook,
    state: &[u8],
    cwd: Option<&Path>,
    filter: Option<&berth_seccomp::Filter>,
) -> std::result::Result<(), String> {
    let path = hook.path();
    let args = hook.args().clone().unwrap_or_default();
    let mut cmd = Command::new(path);
    if let Some(arg0) = args.first() {
        cmd.arg0(arg0);
    }
    cmd.args(args.iter().skip(1));
    cmd.env_clear();
    for kv in hook.env().as_deref().unwrap_or_default() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped());
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    if let Some(f) = filter {
        sys::spawn::seccomp_before_exec(&mut cmd, f.clone());
    }
    let mut child = cmd.spawn().map_err(|e| format!("start: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin must not make us fail.
        let _ = stdin.write_all(state);
    }
    if let Some(t) = hook.timeout() {
        if t <= 0 {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("timeout must be positive, got {t}"));
        }
        if let Ok(pidfd) = sys::pidfd::open(child.id() as i32) {
            let ms = t.saturating_mul(1000).min(i32::MAX as i64) as i32;
            if !sys::pidfd::wait_exit(pidfd.as_fd(), ms) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {t}s"));
            }
        }
    }
    let status = child.wait().map_err(|e| format!("wait: {e}"))?;
    if status.success() {
        Ok(())
    } else if let Some(sig) = status.signal() {
        Err(format!("killed by signal {sig}"))
    } else {
        Err(format!("exit status {}", status.code().unwrap_or(-1)))
    }
}

/// Runs the hooks of one kind in order (in `cwd` if given); the first failure stops the rest.
pub fn run(kind: &'static str, hooks: &[Hook], state: &[u8], cwd: Option<&Path>) -> Result<()> {
    run_each(kind, hooks, state, cwd, None)
}

/// Runs the hooks of one kind in order, each under the seccomp `filter` if given.
pub fn run_filtered(
    kind: &'static str,
    hooks: &[Hook],
    state: &[u8],
    filter: Option<&berth_seccomp::Filter>,
) -> Result<()> {
    run_each(kind, hooks, state, None, filter)
}

fn run_each(
    kind: &'static str,
    hooks: &[Hook],
    state: &[u8],
    cwd: Option<&Path>,
    filter: Option<&berth_seccomp::Filter>,
) -> Result<()> {
    for (i, h) in hooks.iter().enumerate() {
        run_one_filtered(h, state, cwd, filter).map_err(|msg| Error::Hook {
            hook: kind,
            index: i,
            path: h.path().clone(),
            msg,
        })?;
    }
    Ok(())
}

/// Runs hooks whose failure only warns (poststart, poststop): returns the warnings.
pub fn run_warn(kind: &'static str, hooks: &[Hook], state: &[u8]) -> Vec<String> {
    let mut warnings = Vec::new();
    for (i, h) in hooks.iter().enumerate() {
        if let Err(msg) = run_one(h, state, None) {
            warnings.push(
                Error::Hook {
                    hook: kind,
                    index: i,
                    path: h.path().clone(),
                    msg,
                }
                .to_string(),
            );
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(json: &str) -> Hook {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn hook_gets_state_on_stdin_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let h = hook(&format!(
            r#"{{"path":"/bin/sh","args":["sh","-c","cat > {} && echo $X >> {}"],"env":["X=yes"]}}"#,
            out.display(),
            out.display()
        ));
        run_one(&h, b"{\"id\":\"c\"}", None).unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "{\"id\":\"c\"}yes\n"
        );
    }

    #[test]
    fn failing_and_slow_hooks() {
        let e = run("prestart", &[hook(r#"{"path":"/bin/false"}"#)], b"", None).unwrap_err();
        assert!(
            e.to_string()
                .contains("prestart hook #0 (/bin/false): exit status 1"),
            "{e}"
        );
        let slow = hook(r#"{"path":"/bin/sleep","args":["sleep","10"],"timeout":1}"#);
        let t = std::time::Instant::now();
        assert!(run_one(&slow, b"", None).unwrap_err().contains("timed out"));
        assert!(t.elapsed().as_secs() < 5);
        assert_eq!(
            run_warn("poststop", &[hook(r#"{"path":"/nonexistent"}"#)], b"").len(),
            1
        );
    }
}
