//! Runtime logging: text or JSON lines to `--log` (containerd's shim reads the last
//! `{"level":"error","msg":...}` line), errors always on stderr too.

use std::io::Write;

use crate::cli::Global;

#[derive(Clone)]
pub struct Logger {
    file: Option<std::sync::Arc<std::fs::File>>,
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
                .map(std::sync::Arc::new)
        });
        Logger {
            file,
            json: g.log_format == "json",
            debug: g.debug,
        }
    }

    fn line(&self, level: &str, msg: &str) -> String {
        let time = berth_runtime::state::store::rfc3339_now();
        if self.json {
            serde_json::json!({ "level": level, "msg": msg, "time": time }).to_string()
        } else {
            format!("time={time:?} level={level} msg={msg:?}")
        }
    }

    fn write(&self, level: &str, msg: &str) {
        if let Some(f) = self.file.as_ref() {
            let _ = writeln!(&**f, "{}", self.line(level, msg));
        }
    }

    pub fn error(&self, msg: &str) {
        self.write("error", msg);
        eprintln!("berth: {msg}");
    }

    pub fn warn(&self, msg: &str) {
        self.write("warning", msg);
        eprintln!("berth: warning: {msg}");
    }

    pub fn warn_all(&self, warnings: &[String]) {
        warnings.iter().for_each(|w| self.warn(w));
    }

    /// A `level=debug` line, with `--debug`: to `--log`, or else to stderr.
    pub fn debug(&self, msg: &str) {
        if !self.debug {
            return;
        }
        match &self.file {
            Some(_) => self.write("debug", msg),
            None => eprintln!("{}", self.line("debug", msg)),
        }
    }

    pub fn debugging(&self) -> bool {
        self.debug
    }
}
