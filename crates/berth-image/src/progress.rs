//! Progress reporting: bars per layer (bytes, rate) when stderr is a
//! terminal, one plain line per finished step otherwise.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Read};
use std::time::Instant;

pub struct Progress {
    multi: Option<MultiProgress>,
    quiet: bool,
}

impl Progress {
    /// Bars if stderr is a terminal, plain lines otherwise.
    pub fn auto() -> Progress {
        let multi = std::io::stderr()
            .is_terminal()
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress {
            multi,
            quiet: false,
        }
    }

    /// Reports nothing (library use, tests).
    pub fn quiet() -> Progress {
        Progress {
            multi: None,
            quiet: true,
        }
    }

    pub fn line(&self, msg: &str) {
        if self.quiet {
            return;
        }
        match &self.multi {
            Some(m) => {
                let _ = m.println(msg);
            }
            None => eprintln!("{msg}"),
        }
    }

    pub fn bar(&self, label: String, total: u64) -> Bar {
        let pb = self.multi.as_ref().map(|m| {
            let pb = m.add(ProgressBar::new(total));
            pb.set_style(
                ProgressStyle::with_template("{prefix:>19} [{bar:30}] {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} {msg}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            pb.set_prefix(label.clone());
            pb
        });
        Bar {
            pb,
            label,
            start: Instant::now(),
            quiet: self.quiet,
        }
    }
}

pub struct Bar {
    pb: Option<ProgressBar>,
    label: String,
    start: Instant,
    quiet: bool,
}

impl Bar {
    pub fn inc(&self, n: u64) {
        if let Some(pb) = &self.pb {
            pb.inc(n);
        }
    }

    /// Ends the bar with a status word, e.g. "done" or "exists".
    pub fn finish(&self, status: &str, bytes: u64) {
        match &self.pb {
            Some(pb) => pb.finish_with_message(status.to_string()),
            None if !self.quiet => {
                let secs = self.start.elapsed().as_secs_f64();
                if bytes > 0 && secs > 0.0 {
                    eprintln!(
                        "{}: {status} ({} in {secs:.2}s, {}/s)",
                        self.label,
                        human(bytes),
                        human((bytes as f64 / secs) as u64)
                    );
                } else {
                    eprintln!("{}: {status}", self.label);
                }
            }
            None => {}
        }
    }

    pub fn abandon(&self, why: &str) {
        if let Some(pb) = &self.pb {
            pb.abandon_with_message(why.to_string());
        }
    }
}

/// Counts bytes read through it into a bar.
pub struct ProgressReader<'a, R> {
    pub inner: R,
    pub bar: &'a Bar,
}

impl<R: Read> Read for ProgressReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// `1.5 MB` style sizes (decimal units, as registries report them).
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn human_sizes() {
        assert_eq!(super::human(999), "999 B");
        assert_eq!(super::human(1_500_000), "1.5 MB");
    }
}
