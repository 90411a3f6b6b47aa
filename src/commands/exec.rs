//! `berth exec`. When exec itself fails, the exit status is 255 (as runc), so callers can
//! tell it from the process's own.

use berth_runtime::{Console, ExecOptions, Overrides, Runtime};

use crate::cli::ExecArgs;
use crate::foreground;
use crate::logging::Logger;

pub fn run(rt: &Runtime, a: ExecArgs, log: &Logger) -> anyhow::Result<i32> {
    let r = (|| -> anyhow::Result<i32> {
        if a.process.is_none() && a.args.is_empty() {
            anyhow::bail!("exec: no command given (ARGS or --process)");
        }
        let opts = ExecOptions {
            process: a
                .process
                .as_deref()
                .map(berth_runtime::plan::spec::load_process)
                .transpose()?,
            overrides: Overrides {
                args: a.args.clone(),
                env: a.env.clone(),
                cwd: a.cwd.clone(),
                user: a.user,
                additional_gids: a.additional_gids.clone(),
                caps: a.cap.clone(),
                no_new_privileges: a.no_new_privs,
                apparmor_profile: a.apparmor.clone(),
                selinux_label: a.process_label.clone(),
                terminal: a.tty,
            },
            field: if a.process.is_some() {
                "--process"
            } else {
                "process"
            }
            .into(),
            console: match (&a.console_socket, a.detach) {
                (Some(p), _) => Console::Socket(p.clone()),
                (None, false) => Console::Return,
                (None, true) => Console::None,
            },
            pid_file: a.pid_file.clone(),
            preserve_fds: a.preserve_fds,
            stdio: Default::default(),
            ignore_paused: a.ignore_paused,
            cgroups: a.cgroup.clone(),
        };
        let sigs = (!a.detach).then(foreground::block_signals);
        let e = rt.load(&a.id)?.exec(opts)?;
        match sigs {
            Some(sigs) => Ok(foreground::wait(e.pid, sigs, e.master)),
            None => Ok(0),
        }
    })();
    r.or_else(|e| {
        log.error(&crate::render(&e));
        Ok(255)
    })
}
