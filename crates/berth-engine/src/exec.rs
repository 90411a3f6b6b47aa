//! `exec`: another process in a running container, built from the container's own process
//! (environment, capabilities, user) with the flags applied, and attached as `run` is.

use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::OFlag;

use crate::launch::dup_onto;
use crate::relay::{self, Ends, Exit};
use crate::runtime;
use crate::{teardown, Engine, Error, Result};

/// What `exec` was asked for.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub args: Vec<String>,
    pub tty: bool,
    pub interactive: bool,
    pub detach: bool,
    /// `-e K=V` or `-e K`.
    pub env: Vec<String>,
    /// `-u USER[:GROUP]`, resolved in the container's `/etc/passwd`.
    pub user: Option<String>,
    /// `-w DIR`.
    pub workdir: Option<String>,
}

/// Runs a process in container `input`; returns its exit code (0 for `-d`).
pub fn exec(engine: &Engine, input: &str, o: &ExecOptions) -> Result<i32> {
    let r = engine.find(input)?;
    let not_running = || Error::State {
        name: r.name.clone(),
        msg: "is not running".into(),
    };
    if !teardown::is_live(engine, &r.id)? {
        return Err(not_running());
    }
    let (_, Some(pid)) = runtime::status(&r.runtime_root, &r.id) else {
        return Err(not_running());
    };
    if o.args.is_empty() {
        return Err(Error::flag("COMMAND", "", "exec needs a command"));
    }
    let mut p = runtime::container_process(&r.runtime_root, &r.id)?;
    p.set_args(Some(o.args.clone()));
    p.set_terminal(Some(o.tty && !o.detach));
    p.set_console_size(None);
    let mut env = p.env().clone().unwrap_or_default();
    let lookup = |k: &str| std::env::var(k).ok();
    for e in &o.env {
        if let Some(kv) = crate::options::parse_env("-e", e, &lookup)? {
            let key = kv.split('=').next().unwrap_or_default().to_string();
            env.retain(|x| x.split('=').next() != Some(key.as_str()));
            env.push(kv);
        }
    }
    p.set_env(Some(env));
    if let Some(w) = &o.workdir {
        if !w.starts_with('/') {
            return Err(Error::flag(
                "-w",
                w,
                "the working directory must be absolute",
            ));
        }
        p.set_cwd(w.into());
    }
    if let Some(u) = &o.user {
        let resolved = crate::user::in_container(u, pid)?;
        let user = p.user_mut();
        user.set_uid(resolved.uid);
        user.set_gid(resolved.gid);
        user.set_additional_gids(
            (!resolved.additional_gids.is_empty()).then_some(resolved.additional_gids),
        );
    }

    // stdio: /dev/null for -d, a pty for -t, else pipes on 0, 1 and 2 around the call (our
    // own stdio is kept aside and put back for the relay).
    let saved: Vec<OwnedFd> = [
        std::io::stdin().as_fd().try_clone_to_owned(),
        std::io::stdout().as_fd().try_clone_to_owned(),
        std::io::stderr().as_fd().try_clone_to_owned(),
    ]
    .into_iter()
    .collect::<std::io::Result<_>>()
    .map_err(|e| Error::io("dup", "stdio", e))?;
    let mut ends = Ends::default();
    let mut container_ends = Vec::new();
    if o.detach {
        let null: OwnedFd = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map_err(|e| Error::io("open", "/dev/null", e))?
            .into();
        for t in 0..3 {
            dup_onto(&null, t)?;
        }
    } else if !o.tty {
        let pipe =
            || nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::sys("pipe", "exec", e));
        let (in_r, in_w) = pipe()?;
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        dup_onto(&in_r, 0)?;
        dup_onto(&out_w, 1)?;
        dup_onto(&err_w, 2)?;
        container_ends.extend([in_r, out_w, err_w]);
        ends.stdin = o.interactive.then_some(in_w);
        ends.stdout = Some(out_r);
        ends.stderr = Some(err_r);
    }
    let started = runtime::exec(&r.runtime_root, &r.id, p);
    for (t, fd) in saved.iter().enumerate() {
        let _ = dup_onto(fd, t as i32);
    }
    drop(container_ends);
    let e = started?;
    if o.detach {
        return Ok(0);
    }
    if let Some(m) = e.master {
        ends.stdin = Some(
            m.try_clone()
                .map_err(|e| Error::io("dup", "pty master", e))?,
        );
        ends.stdout = Some(m);
        ends.tty = true;
    }
    relay::relay(ends, e.pid, Exit::Child(e.pid), None, o.interactive)
}
