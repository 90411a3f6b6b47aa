//! Container logs: `containers/<id>/container.log` in the CRI ("k8s-file") format podman
//! also writes, one line per line of output:
//!
//! ```text
//! 2024-05-01T10:00:00.123456789Z stdout F hello
//! 2024-05-01T10:00:00.123456790Z stderr P a line longer than the buffer, contin
//! ```
//!
//! `F` marks a full line, `P` a part (a line not ended yet when it was written). The
//! monitor writes it for `-d` containers, the client for attached ones.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{Engine, Error, Result};

/// The log file's name in the container's directory.
pub const LOG_FILE: &str = "container.log";
/// A line still not ended after this many bytes is written as a part.
const MAX_PARTIAL: usize = 16 << 10;

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

impl Engine {
    /// The log file of container `id`.
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.container_dir(id).join(LOG_FILE)
    }
}

/// Appends output to a log file, line by line.
pub struct LogWriter {
    file: File,
    pending: [Vec<u8>; 2],
}

impl LogWriter {
    /// Opens (creating) the log at `path` for appending.
    pub fn open(path: &Path) -> Result<LogWriter> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io("open", path, e))?;
        Ok(LogWriter {
            file,
            pending: [Vec::new(), Vec::new()],
        })
    }

    fn line(&mut self, s: Stream, tag: char, content: &[u8]) {
        let mut out =
            format!("{} {} {tag} ", crate::runtime::rfc3339_now(), s.as_str()).into_bytes();
        out.extend_from_slice(content);
        out.push(b'\n');
        // A full disk loses log lines, not the container.
        let _ = self.file.write_all(&out);
    }

    /// Logs `data` read from stream `s`.
    pub fn write(&mut self, s: Stream, data: &[u8]) {
        let i = s as usize;
        let mut buf = std::mem::take(&mut self.pending[i]);
        buf.extend_from_slice(data);
        let mut rest: &[u8] = &buf;
        while let Some(n) = rest.iter().position(|b| *b == b'\n') {
            self.line(s, 'F', &rest[..n]);
            rest = &rest[n + 1..];
        }
        if rest.len() >= MAX_PARTIAL {
            self.line(s, 'P', rest);
            rest = &[];
        }
        self.pending[i] = rest.to_vec();
    }

    /// Writes out what is left of unfinished lines.
    pub fn flush(&mut self) {
        for s in [Stream::Stdout, Stream::Stderr] {
            let rest = std::mem::take(&mut self.pending[s as usize]);
            if !rest.is_empty() {
                self.line(s, 'P', &rest);
            }
        }
    }
}

/// One parsed log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub time: String,
    pub stream: Stream,
    /// The content, with its newline when the line was full.
    pub content: Vec<u8>,
}

/// Parses one line of the file (without its newline).
pub fn parse_line(raw: &[u8]) -> Option<Line> {
    let mut parts = raw.splitn(4, |b| *b == b' ');
    let time = String::from_utf8_lossy(parts.next()?).into_owned();
    let stream = match parts.next()? {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        _ => return None,
    };
    let tag = parts.next()?;
    let mut content = parts.next().unwrap_or_default().to_vec();
    if tag == b"F" {
        content.push(b'\n');
    }
    Some(Line {
        time,
        stream,
        content,
    })
}

/// Reads the complete lines of `f` from byte `offset`; returns them and the offset after the
/// last complete line.
fn read_lines(f: &mut File, path: &Path, offset: u64) -> Result<(Vec<Line>, u64)> {
    f.seek(SeekFrom::Start(offset))
        .map_err(|e| Error::io("read", path, e))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)
        .map_err(|e| Error::io("read", path, e))?;
    let end = buf.iter().rposition(|b| *b == b'\n').map_or(0, |n| n + 1);
    let lines = buf[..end]
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(parse_line)
        .collect();
    Ok((lines, offset + end as u64))
}

/// Reads the complete lines of `path` from byte `offset` (none if there is no file).
pub fn read_from(path: &Path, offset: u64) -> Result<(Vec<Line>, u64)> {
    match File::open(path) {
        Ok(mut f) => read_lines(&mut f, path, offset),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((Vec::new(), offset)),
        Err(e) => Err(Error::io("open", path, e)),
    }
}

/// Options of `logs`.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    pub follow: bool,
    pub timestamps: bool,
    /// Only the last N lines.
    pub tail: Option<usize>,
}

/// Prints container `input`'s log to `out` and `err`; with `follow`, until it has exited.
pub fn print(
    engine: &Engine,
    input: &str,
    o: &LogsOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let r = engine.find(input)?;
    let path = engine.log_path(&r.id);
    let mut emit = |lines: &[Line]| {
        for l in lines {
            let w: &mut dyn Write = match l.stream {
                Stream::Stdout => &mut *out,
                Stream::Stderr => &mut *err,
            };
            if o.timestamps {
                let _ = write!(w, "{} ", l.time);
            }
            let _ = w.write_all(&l.content);
            let _ = w.flush();
        }
    };
    // Opened once: a `--rm` container's log is removed with it, while the follower still
    // reads its end.
    let mut file = loop {
        match File::open(&path) {
            Ok(f) => break Some(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !o.follow || !crate::teardown::is_live(engine, &r.id)? {
                    break None;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(Error::io("open", &path, e)),
        }
    };
    let Some(f) = file.as_mut() else {
        return Ok(());
    };
    let (lines, mut offset) = read_lines(f, &path, 0)?;
    let skip = o.tail.map_or(0, |t| lines.len().saturating_sub(t));
    emit(&lines[skip..]);
    if !o.follow {
        return Ok(());
    }
    loop {
        let running = crate::teardown::is_live(engine, &r.id)?;
        let (lines, next) = read_lines(f, &path, offset)?;
        offset = next;
        emit(&lines);
        if !running {
            // The writer has finished: what was read after the check is all there is.
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parts_and_streams() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        let mut w = LogWriter::open(&p).unwrap();
        w.write(Stream::Stdout, b"hel");
        w.write(Stream::Stderr, b"oops\n");
        w.write(Stream::Stdout, b"lo\nwor");
        w.flush();
        let (lines, off) = read_from(&p, 0).unwrap();
        let got: Vec<(Stream, &[u8])> = lines.iter().map(|l| (l.stream, &l.content[..])).collect();
        assert_eq!(
            got,
            vec![
                (Stream::Stderr, &b"oops\n"[..]),
                (Stream::Stdout, &b"hello\n"[..]),
                (Stream::Stdout, &b"wor"[..]),
            ]
        );
        assert_eq!(off, std::fs::metadata(&p).unwrap().len());
        // A half-written line is not read until it is complete.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"2024 stdout F x")
            .unwrap();
        let (more, off2) = read_from(&p, off).unwrap();
        assert!(more.is_empty() && off2 == off);
        let long = vec![b'a'; MAX_PARTIAL + 5];
        let mut w = LogWriter::open(&p).unwrap();
        w.write(Stream::Stdout, &long);
        assert!(parse_line(b"t bogus F x").is_none());
    }
}
