//! `berth exec`.

use std::str::FromStr;

use anyhow::Context;
use berth_runtime::exec::{self, ExecOptions};
use berth_runtime::foreground;
use berth_runtime::state::{ContainerDir, CONFIG_FILE};
use oci_spec::runtime::{Capability, Process};

use crate::cli::{ExecArgs, Global};
use crate::logging::Logger;

/// The process to run: `--process FILE`, or the container's own process with ARGS and the
/// flags applied, as runc builds it.
fn container_spec(g: &Global, id: &str) -> anyhow::Result<oci_spec::runtime::Spec> {
    let dir = ContainerDir::open(&g.root, id)?;
    let raw = std::fs::read(dir.path.join(CONFIG_FILE)).context("read the container's config")?;
    berth_runtime::spec::parse(&raw).map_err(anyhow::Error::msg)
}

fn build_process(g: &Global, a: &ExecArgs) -> anyhow::Result<Process> {
    if let Some(p) = &a.process {
        let raw = std::fs::read(p).with_context(|| format!("read --process {}", p.display()))?;
        let mut proc: Process = serde_json::from_slice(&raw)
            .with_context(|| format!("parse --process {}", p.display()))?;
        if a.tty {
            proc.set_terminal(Some(true));
        }
        return Ok(proc);
    }
    if a.args.is_empty() {
        anyhow::bail!("exec: no command given (ARGS or --process)");
    }
    let spec = container_spec(g, &a.id)?;
    let mut proc = spec.process().clone().unwrap_or_default();
    proc.set_args(Some(a.args.clone()));
    proc.set_terminal(Some(a.tty));
    proc.set_console_size(None);
    let mut env = proc.env().clone().unwrap_or_default();
    for e in &a.env {
        let key = e.split('=').next().unwrap_or_default();
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    proc.set_env(Some(env));
    if let Some(cwd) = &a.cwd {
        proc.set_cwd(cwd.clone());
    }
    if let Some(u) = &a.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u.parse::<u32>()?, g.parse::<u32>()?),
            None => (u.parse::<u32>().context("--user takes uid[:gid]")?, 0),
        };
        let user = proc.user_mut();
        user.set_uid(uid);
        user.set_gid(gid);
    }
    if !a.additional_gids.is_empty() {
        proc.user_mut()
            .set_additional_gids(Some(a.additional_gids.clone()));
    }
    if !a.cap.is_empty() {
        let mut caps = proc.capabilities().clone().unwrap_or_default();
        for c in &a.cap {
            let name = c.trim_start_matches("CAP_");
            let cap = Capability::from_str(name)
                .map_err(|_| anyhow::anyhow!("--cap: unknown capability {c}"))?;
            let add = |s: &Option<oci_spec::runtime::Capabilities>| {
                let mut s = s.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            caps.set_bounding(add(caps.bounding()));
            caps.set_effective(add(caps.effective()));
            caps.set_permitted(add(caps.permitted()));
        }
        proc.set_capabilities(Some(caps));
    }
    if a.no_new_privs {
        proc.set_no_new_privileges(Some(true));
    }
    if let Some(p) = &a.apparmor {
        proc.set_apparmor_profile(Some(p.clone()));
    }
    if let Some(l) = &a.process_label {
        proc.set_selinux_label(Some(l.clone()));
    }
    Ok(proc)
}

pub fn run(g: &Global, a: ExecArgs, _log: &Logger) -> anyhow::Result<i32> {
    let mut process = build_process(g, &a)?;
    let spec = container_spec(g, &a.id)?;
    // As runc: an exec'd process is confined like the container unless it asks otherwise.
    if let Some(cp) = spec.process() {
        if process
            .apparmor_profile()
            .as_deref()
            .unwrap_or_default()
            .is_empty()
        {
            process.set_apparmor_profile(cp.apparmor_profile().clone());
        }
        if process
            .selinux_label()
            .as_deref()
            .unwrap_or_default()
            .is_empty()
        {
            process.set_selinux_label(cp.selinux_label().clone());
        }
    }
    let opts = ExecOptions {
        root: g.root.clone(),
        id: a.id.clone(),
        process,
        console_socket: a.console_socket.clone(),
        pid_file: a.pid_file.clone(),
        preserve_fds: a.preserve_fds,
        foreground_tty: !a.detach,
        seccomp: spec.linux().as_ref().and_then(|l| l.seccomp().clone()),
    };
    let e = exec::exec(&opts)?;
    if a.detach {
        return Ok(0);
    }
    let sigs = foreground::block_signals();
    Ok(foreground::wait(e.pid, sigs, e.master))
}
