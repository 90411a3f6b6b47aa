//! Lifecycle hooks: each gets the container state on stdin and may have a timeout.

use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};

use nix::errno::Errno;
use oci_spec::runtime::Hook;

use crate::{Error, Result};

/// `pidfd_open(2)`: an fd that becomes readable when `pid` exits.
pub fn pidfd_open(pid: i32) -> std::result::Result<OwnedFd, Errno> {
    // SAFETY: plain syscall with integer arguments; returns a new fd we own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: fresh fd from the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Waits until the process behind `pidfd` exits, up to `timeout_ms` (-1: forever).
/// Returns false on timeout.
pub fn wait_pidfd(pidfd: &OwnedFd, timeout_ms: i32) -> bool {
    use std::os::fd::AsRawFd;
    let mut p = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        if r > 0 {
            return true;
        }
        if r == 0 {
            return false;
        }
        if Errno::last() != Errno::EINTR {
            return true;
        }
    }
}

/// Runs one hook with `state` (JSON) on its stdin.
pub fn run_one(hook: &Hook, state: &[u8]) -> std::result::Result<(), String> {
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
        if let Ok(pidfd) = pidfd_open(child.id() as i32) {
            if !wait_pidfd(&pidfd, t.saturating_mul(1000).min(i32::MAX as i64) as i32) {
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

/// Runs the hooks of one kind in order; the first failure stops the rest.
pub fn run(kind: &'static str, hooks: Option<&Vec<Hook>>, state: &[u8]) -> Result<()> {
    for (i, h) in hooks
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        run_one(h, state).map_err(|msg| Error::Hook {
            hook: kind,
            index: i,
            path: h.path().clone(),
            msg,
        })?;
    }
    Ok(())
}

/// Runs hooks whose failure only warns (poststart, poststop): returns the warnings.
pub fn run_warn(kind: &'static str, hooks: Option<&Vec<Hook>>, state: &[u8]) -> Vec<String> {
    let mut warnings = Vec::new();
    for (i, h) in hooks
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        if let Err(msg) = run_one(h, state) {
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
        run_one(&h, b"{\"id\":\"c\"}").unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "{\"id\":\"c\"}yes\n"
        );
    }

    #[test]
    fn failing_and_slow_hooks() {
        let e = run(
            "prestart",
            Some(&vec![hook(r#"{"path":"/bin/false"}"#)]),
            b"",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("prestart hook #0 (/bin/false): exit status 1"),
            "{e}"
        );
        let slow = hook(r#"{"path":"/bin/sleep","args":["sleep","10"],"timeout":1}"#);
        let t = std::time::Instant::now();
        assert!(run_one(&slow, b"").unwrap_err().contains("timed out"));
        assert!(t.elapsed().as_secs() < 5);
        assert_eq!(
            run_warn(
                "poststop",
                Some(&vec![hook(r#"{"path":"/nonexistent"}"#)]),
                b""
            )
            .len(),
            1
        );
    }
}
