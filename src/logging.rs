//! Runtime logging: text or JSON lines to `--log` (containerd's shim reads the last
//! `{"level":"error","msg":...}` line), errors always on stderr too.

use std::io::Write;

use crate::cli::Global;

pub struct Logger {
    file: Option<std::fs::File>,
    json: bool,
    debug: bool,
}

impl Logger {
    pub fn new(g: &Global) -> Logger {
        let file = g.log.as_ref().and_then(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .ok()
        });
        Logger {
            file,
            json: g.log_format == "json",
            debug: g.debug,
        }
    }

    fn write(&self, level: &str, msg: &str) {
        let Some(mut f) = self.file.as_ref() else {
            return;
        };
        let time = berth_runtime::state::store::rfc3339_now();
        let line = if self.json {
            serde_json::json!({ "level": level, "msg": msg, "time": time }).to_string()
        } else {
            format!("time={time:?} level={level} msg={msg:?}")
        };
        let _ = writeln!(f, "{line}");
    }

    pub fn error(&self, msg: &str) {
        self.write("error", msg);
        eprintln!("berth: {msg}");
    }

    pub fn warn(&self, msg: &str) {
        self.write("warning", msg);
        eprintln!("berth: warning: {msg}");
    }

    pub fn debug(&self, msg: &str) {
        if self.debug {
            self.write("debug", msg);
        }
    }
}
