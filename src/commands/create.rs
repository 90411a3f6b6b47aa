//! `berth create`.

use berth_runtime::create::{self, CreateOptions, Mode};

use crate::cli::{CreateArgs, Global};
use crate::logging::Logger;

pub fn options(g: &Global, a: &CreateArgs, mode: Mode, foreground_tty: bool) -> CreateOptions {
    CreateOptions {
        root: g.root.clone(),
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        console_socket: a.console_socket.clone(),
        pid_file: a.pid_file.clone(),
        no_pivot: a.no_pivot,
        preserve_fds: a.preserve_fds,
        mode,
        foreground_tty,
        no_new_keyring: a.no_new_keyring,
    }
}

pub fn run(g: &Global, a: CreateArgs, log: &Logger) -> anyhow::Result<i32> {
    let c = create::create(&options(g, &a, Mode::Create, false))?;
    for w in &c.plan.warnings {
        log.warn(w);
    }
    log.debug(&format!("created {} with init pid {}", a.id, c.state.pid));
    Ok(0)
}
