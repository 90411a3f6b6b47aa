//! `berth create`.

use berth_runtime::{Console, CreateOptions, Runtime};

use crate::cli::CreateArgs;
use crate::logging::Logger;

pub fn options(a: &CreateArgs, console: Console) -> CreateOptions {
    CreateOptions {
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        console: match &a.console_socket {
            Some(p) => Console::Socket(p.clone()),
            None => console,
        },
        pid_file: a.pid_file.clone(),
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.preserve_fds,
        stdio: Default::default(),
    }
}

pub fn run(rt: &Runtime, a: CreateArgs, log: &Logger) -> anyhow::Result<i32> {
    let c = rt.create(options(&a, Console::None))?;
    log.warn_all(&c.warnings);
    Ok(0)
}
