//! `berth exec`. When exec itself fails, the exit status is 255 (as runc), so callers can
//! tell it from the process's own.

use std::ffi::OsString;
use std::sync::Mutex;

use berth_runtime::{spawn, Console, ExecOptions, Overrides, Runtime};

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
            helper: PRESTARTED.lock().ok().and_then(|mut h| h.take()),
        };
        let sigs = (!a.detach).then(foreground::block_signals);
        let e = rt.load(&a.id)?.exec(opts)?;
        match sigs {
            Some(sigs) => Ok(foreground::wait(e.pid, sigs, e.master)),
            None => Ok(0),
        }
    })();
    // Not handed to the library (a bad flag, an unknown container): not left behind.
    abandon();
    r.or_else(|e| {
        log.error(&crate::render(&e));
        Ok(255)
    })
}

/// The helper [`prestart`] started, until `run` hands it to the library.
static PRESTARTED: Mutex<Option<spawn::Helper>> = Mutex::new(None);

/// Starts the runtime's helper for an `exec` before the command line is parsed: its exec
/// then overlaps this process's parsing, state reading and namespace gathering instead of
/// following them. Only for a plain `berth [GLOBAL FLAGS] exec ...` without `--preserve-fds`
/// anywhere (the CLI's exec passes the caller's stdio as it is). Whatever the command turns
/// out to be, a helper nobody takes dies with this process (it is started with a parent-death
/// signal) or is killed by [`abandon`].
pub fn prestart() {
    // Started already, before the C library's start-up (see `crate::early`).
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    if let Some((pid, chan, view)) = crate::early::take() {
        spawn::view::adopt(view);
        if let Ok(mut slot) = PRESTARTED.lock() {
            *slot = Some(spawn::Helper::adopt(pid, chan));
        }
        return;
    }
    if is_plain_exec(std::env::args_os().skip(1)) {
        if let Ok(h) = spawn::start(0, &spawn::Stdio::default(), None) {
            if let Ok(mut slot) = PRESTARTED.lock() {
                *slot = Some(h);
            }
        }
    }
}

/// Kills and reaps a prestarted helper that no exec took.
pub fn abandon() {
    if let Some(h) = PRESTARTED.lock().ok().and_then(|mut h| h.take()) {
        h.abandon();
    }
}

/// Whether the arguments (after the program name) are global flags, `exec`, and no
/// `--preserve-fds` anywhere.
pub(crate) fn is_plain_exec(args: impl Iterator<Item = OsString>) -> bool {
    const WITH_VALUE: [&str; 4] = ["--root", "--log", "--log-format", "--criu"];
    const SWITCHES: [&str; 2] = ["--debug", "--systemd-cgroup"];
    let args: Vec<OsString> = args.collect();
    let mut i = 0;
    while let Some(a) = args.get(i).and_then(|a| a.to_str()) {
        if WITH_VALUE.contains(&a) {
            i += 2;
        } else if SWITCHES.contains(&a)
            || WITH_VALUE
                .iter()
                .any(|f| a.strip_prefix(f).is_some_and(|v| v.starts_with('=')))
        {
            i += 1;
        } else {
            return a == "exec"
                && !args[i + 1..]
                    .iter()
                    .any(|x| x.to_str().is_none_or(|x| x.starts_with("--preserve-fds")));
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::is_plain_exec;

    fn plain(line: &str) -> bool {
        is_plain_exec(line.split_whitespace().map(Into::into))
    }

    #[test]
    fn only_a_plain_exec_prestarts_its_helper() {
        assert!(plain("exec c1 /bin/true"));
        assert!(plain("--root /run/x --debug exec -e A=1 c1 sh -c true"));
        assert!(plain("--log=/tmp/l --log-format json exec c1 true"));
        assert!(!plain("exec --preserve-fds 2 c1 true"));
        assert!(!plain("exec --preserve-fds=2 c1 true"));
        // An argument of the container's command may look like the flag: no guessing.
        assert!(!plain("exec c1 sh --preserve-fds"));
        assert!(!plain("--root exec run c1"));
        assert!(!plain("run exec"));
        assert!(!plain("--help exec"));
        assert!(!plain(""));
    }
}
