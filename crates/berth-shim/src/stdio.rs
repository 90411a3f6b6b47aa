//! A process's stdio as containerd describes it: FIFO paths, a `file://` or `binary://` log
//! URI for stdout and stderr, or a terminal.
//!
//! FIFOs are handed to the process directly, with no copying in the shim. The shim keeps the
//! other end of each open: a writer on stdin (so the process sees EOF only after `CloseIO` and
//! the client both closed theirs) and a reader on stdout and stderr (so the process never gets
//! EPIPE while no client reads, e.g. while containerd restarts). A terminal's master is copied
//! to and from the FIFOs by two threads, which end with the process.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio as ChildStdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::error::{Error, Result};
use crate::runtime::Stdio;

/// How long a `binary://` logger may take to say it is ready.
const LOGGER_READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Where stdout and stderr go.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sink<'a> {
    None,
    Fifo(&'a str),
    File(String),
    Binary { path: String, args: Vec<String> },
}

/// URL percent-decoding; in a query (`query`) `+` is a space too.
fn percent_decode(s: &str, query: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if query && b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses containerd's stdout value: a path, `fifo://PATH`, `file://PATH` or
/// `binary://PATH?KEY=VALUE&...` (the query becomes the arguments `KEY VALUE ...`).
fn parse_sink(s: &str) -> Result<Sink<'_>> {
    if s.is_empty() {
        return Ok(Sink::None);
    }
    let Some((scheme, rest)) = s.split_once("://") else {
        return Ok(Sink::Fifo(s));
    };
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let path = percent_decode(path, false);
    if !path.starts_with('/') {
        return Err(Error::invalid(
            "stdout",
            format!("{s:?}: the path must be absolute"),
        ));
    }
    match scheme {
        "fifo" => Ok(Sink::Fifo(&rest[..rest.find('?').unwrap_or(rest.len())])),
        "file" => Ok(Sink::File(path)),
        "binary" => {
            let mut args = Vec::new();
            for kv in query.split('&').filter(|kv| !kv.is_empty()) {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                args.push(percent_decode(k, true));
                if !v.is_empty() {
                    args.push(percent_decode(v, true));
                }
            }
            Ok(Sink::Binary { path, args })
        }
        other => Err(Error::invalid(
            "stdout",
            format!("{s:?}: unsupported scheme {other:?} (fifo, file or binary)"),
        )),
    }
}

fn open(path: &str, flags: OFlag) -> Result<OwnedFd> {
    nix::fcntl::open(
        path,
        flags | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::io("open", path, std::io::Error::from(e)))
}

fn clear_nonblock(fd: &OwnedFd, path: &str) -> Result<()> {
    let fl = fcntl(fd, FcntlArg::F_GETFL).map_err(|e| Error::io("fcntl", path, e.into()))?;
    let fl = OFlag::from_bits_retain(fl) & !OFlag::O_NONBLOCK;
    fcntl(fd, FcntlArg::F_SETFL(fl)).map_err(|e| Error::io("fcntl", path, e.into()))?;
    Ok(())
}

fn is_fifo(path: &str) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo())
}

/// Opens an input FIFO: (the process's read end, the shim's keep-alive write end).
fn open_input(path: &str) -> Result<(OwnedFd, Option<OwnedFd>)> {
    if !is_fifo(path) {
        return Ok((open(path, OFlag::O_RDONLY)?, None));
    }
    let reader = open(path, OFlag::O_RDONLY | OFlag::O_NONBLOCK)?;
    let keep = open(path, OFlag::O_WRONLY | OFlag::O_NONBLOCK)?;
    clear_nonblock(&reader, path)?;
    Ok((reader, Some(keep)))
}

/// Opens an output FIFO: (the process's write end, the shim's keep-alive read end).
fn open_output(path: &str) -> Result<(OwnedFd, Option<OwnedFd>)> {
    if !is_fifo(path) {
        return Ok((open(path, OFlag::O_WRONLY | OFlag::O_APPEND)?, None));
    }
    let keep = open(path, OFlag::O_RDONLY | OFlag::O_NONBLOCK)?;
    let writer = open(path, OFlag::O_WRONLY | OFlag::O_NONBLOCK)?;
    clear_nonblock(&writer, path)?;
    Ok((writer, Some(keep)))
}

fn dup(fd: &OwnedFd, what: &str) -> Result<OwnedFd> {
    fd.try_clone().map_err(|e| Error::io("dup", what, e))
}

/// A pipe with close-on-exec ends: (read, write).
fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::sys("pipe2", e))
}

/// A `binary://` logger: a child reading the process's stdout and stderr from its fds 3 and 4.
struct Logger {
    pid: i32,
}

impl Drop for Logger {
    fn drop(&mut self) {
        // As the runc shim: the logger gets SIGTERM when the process is deleted, to flush.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
}

/// Starts `path args...` with fds 3 (stdout), 4 (stderr) and 5 (closed when it is ready).
/// Returns the logger and the write ends for the process.
fn start_logger(
    path: &str,
    args: &[String],
    namespace: &str,
    id: &str,
) -> Result<(Logger, OwnedFd, OwnedFd)> {
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (ready_r, ready_w) = pipe()?;
    let fds = [out_r.as_raw_fd(), err_r.as_raw_fd(), ready_w.as_raw_fd()];
    let mut cmd = Command::new(path);
    cmd.args(args)
        .env("CONTAINER_ID", id)
        .env("CONTAINER_NAMESPACE", namespace)
        .stdin(ChildStdio::null())
        .stdout(ChildStdio::null())
        .stderr(ChildStdio::null());
    // SAFETY: runs between fork and exec and calls only fcntl and dup2 (async-signal-safe). The
    // fds are first moved above 9 so that placing one on 3..5 cannot overwrite another.
    unsafe {
        cmd.pre_exec(move || {
            let mut high = [0; 3];
            for (h, fd) in high.iter_mut().zip(fds) {
                *h = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10);
                if *h < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for (i, h) in high.into_iter().enumerate() {
                if libc::dup2(h, 3 + i as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| Error::io("start the binary:// logger", path, e))?;
    drop(cmd);
    drop((out_r, err_r, ready_w));
    let logger = Logger {
        pid: child.id() as i32,
    };
    // Ready when it closes fd 5 (or exits).
    let mut fds = [PollFd::new(
        std::os::fd::AsFd::as_fd(&ready_r),
        PollFlags::POLLIN,
    )];
    let timeout = PollTimeout::try_from(LOGGER_READY_TIMEOUT).unwrap_or(PollTimeout::MAX);
    match poll(&mut fds, timeout) {
        Ok(0) => {
            return Err(Error::FailedPrecondition(format!(
                "binary:// logger {path}: not ready after {}s",
                LOGGER_READY_TIMEOUT.as_secs()
            )))
        }
        Err(e) => return Err(Error::sys("wait for the binary:// logger", e)),
        Ok(_) => {}
    }
    Ok((logger, out_w, err_w))
}

/// What the shim keeps of one process's stdio until the process is deleted.
#[derive(Default)]
pub struct ProcessIo {
    stdin_keep: Mutex<Option<OwnedFd>>,
    output_keep: Vec<OwnedFd>,
    logger: Option<Logger>,
    console: Option<Console>,
}

/// The stdio paths of a process, as containerd sent them.
#[derive(Debug, Clone, Default)]
pub struct Paths {
    pub stdin: String,
    pub stdout: String,
    pub stderr: String,
    pub terminal: bool,
}

impl Paths {
    /// Opens the process's stdio. With a terminal the process gets none (the pty is its stdio)
    /// and [`ProcessIo::attach_console`] connects the master once the process exists.
    pub fn open(&self, namespace: &str, id: &str) -> Result<(Stdio, ProcessIo)> {
        let mut io = ProcessIo::default();
        let mut stdio = Stdio::default();
        if self.terminal {
            return Ok((stdio, io));
        }
        if !self.stdin.is_empty() {
            let (r, keep) = open_input(&self.stdin)?;
            stdio.stdin = Some(r);
            *io.stdin_keep.get_mut().unwrap_or_else(|e| e.into_inner()) = keep;
        }
        match parse_sink(&self.stdout)? {
            Sink::None => {}
            Sink::Fifo(p) => {
                let (w, keep) = open_output(p)?;
                stdio.stdout = Some(w);
                io.output_keep.extend(keep);
            }
            Sink::File(p) => {
                if let Some(dir) = Path::new(&p).parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| Error::io("create the log directory", dir, e))?;
                }
                let f = OpenOptions::new()
                    .append(true)
                    .create(true)
                    .mode(0o640)
                    .custom_flags(libc::O_CLOEXEC)
                    .open(&p)
                    .map_err(|e| Error::io("open the log file", &p, e))?;
                let f = OwnedFd::from(f);
                stdio.stderr = Some(dup(&f, &p)?);
                stdio.stdout = Some(f);
                return Ok((stdio, io));
            }
            Sink::Binary { path, args } => {
                let (logger, out, err) = start_logger(&path, &args, namespace, id)?;
                stdio.stdout = Some(out);
                stdio.stderr = Some(err);
                io.logger = Some(logger);
                return Ok((stdio, io));
            }
        }
        if !self.stderr.is_empty() {
            if self.stderr == self.stdout {
                stdio.stderr = stdio
                    .stdout
                    .as_ref()
                    .map(|f| dup(f, &self.stderr))
                    .transpose()?;
            } else {
                let p = match parse_sink(&self.stderr)? {
                    Sink::Fifo(p) => p,
                    _ => {
                        return Err(Error::invalid(
                            "stderr",
                            "a log URI goes in stdout and serves both",
                        ))
                    }
                };
                let (w, keep) = open_output(p)?;
                stdio.stderr = Some(w);
                io.output_keep.extend(keep);
            }
        }
        Ok((stdio, io))
    }
}

/// A terminal: the pty master, copied to stdout and from stdin by two threads.
struct Console {
    master: Arc<File>,
    /// Written to stop the input thread.
    stop: OwnedFd,
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = nix::unistd::write(&self.stop, b"x");
    }
}

impl ProcessIo {
    /// Connects a terminal process's pty master to its stdin and stdout FIFOs.
    pub fn attach_console(&mut self, master: OwnedFd, paths: &Paths) -> Result<()> {
        let master = Arc::new(File::from(master));
        let (stop_r, stop_w) = pipe()?;
        if !paths.stdout.is_empty() {
            let (out, keep) = match parse_sink(&paths.stdout)? {
                Sink::Fifo(p) => open_output(p)?,
                _ => {
                    return Err(Error::invalid(
                        "stdout",
                        "a terminal's output goes to a FIFO",
                    ))
                }
            };
            self.output_keep.extend(keep);
            let m = Arc::clone(&master);
            std::thread::Builder::new()
                .name("console-out".into())
                .spawn(move || copy_out(&m, File::from(out)))
                .map_err(|e| Error::io("spawn the console thread", "stdout", e))?;
        }
        if !paths.stdin.is_empty() {
            // O_RDWR: reads block (no EOF) while no client has the FIFO open.
            let input = File::from(open(&paths.stdin, OFlag::O_RDWR)?);
            let m = Arc::clone(&master);
            std::thread::Builder::new()
                .name("console-in".into())
                .spawn(move || copy_in(input, &m, stop_r))
                .map_err(|e| Error::io("spawn the console thread", "stdin", e))?;
        }
        self.console = Some(Console {
            master,
            stop: stop_w,
        });
        Ok(())
    }

    /// Sets the terminal's size.
    pub fn resize(&self, width: u32, height: u32) -> Result<()> {
        let Some(c) = &self.console else {
            return Err(Error::FailedPrecondition(
                "the process has no terminal".into(),
            ));
        };
        let ws = libc::winsize {
            ws_row: height.min(u16::MAX as u32) as u16,
            ws_col: width.min(u16::MAX as u32) as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize from a valid pointer; the master is open.
        if unsafe { libc::ioctl(c.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) } != 0 {
            return Err(Error::sys("resize the terminal", nix::errno::Errno::last()));
        }
        Ok(())
    }

    /// `CloseIO`: the process sees EOF on stdin once the client closed its end too.
    pub fn close_stdin(&self) {
        self.stdin_keep
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(c) = &self.console {
            let _ = nix::unistd::write(&c.stop, b"x");
        }
    }
}

fn copy_out(master: &File, mut out: File) {
    let mut buf = [0u8; 8192];
    let mut m = master;
    loop {
        match m.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if out.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // EIO: every holder of the slave side closed it.
            Err(_) => break,
        }
    }
}

fn copy_in(mut input: File, master: &File, stop: OwnedFd) {
    let mut buf = [0u8; 8192];
    let mut m = master;
    loop {
        let ready = {
            let mut fds = [
                PollFd::new(std::os::fd::AsFd::as_fd(&input), PollFlags::POLLIN),
                PollFd::new(std::os::fd::AsFd::as_fd(&stop), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {
                    if fds[1].any().unwrap_or(true) {
                        return;
                    }
                    fds[0].any().unwrap_or(false)
                }
                Err(nix::errno::Errno::EINTR) => false,
                Err(_) => return,
            }
        };
        if !ready {
            continue;
        }
        match input.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if m.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinks() {
        assert_eq!(parse_sink("").unwrap(), Sink::None);
        assert_eq!(
            parse_sink("/run/f/1-stdout").unwrap(),
            Sink::Fifo("/run/f/1-stdout")
        );
        assert_eq!(
            parse_sink("fifo:///run/f/x").unwrap(),
            Sink::Fifo("/run/f/x")
        );
        assert_eq!(
            parse_sink("file:///var/log/c%201.log").unwrap(),
            Sink::File("/var/log/c 1.log".into())
        );
        assert_eq!(
            parse_sink("binary:///usr/bin/logger?id=7&tag=a%2Fb&flag").unwrap(),
            Sink::Binary {
                path: "/usr/bin/logger".into(),
                args: vec![
                    "id".into(),
                    "7".into(),
                    "tag".into(),
                    "a/b".into(),
                    "flag".into()
                ]
            }
        );
        assert!(parse_sink("file://relative").is_err());
        assert!(parse_sink("http:///x").is_err());
    }

    #[test]
    fn fifo_output_keeps_a_reader_so_the_writer_never_gets_epipe() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("out");
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let p = p.to_str().unwrap().to_string();
        let paths = Paths {
            stdout: p.clone(),
            ..Paths::default()
        };
        let (stdio, io) = paths.open("ns", "c1").unwrap();
        let w = File::from(stdio.stdout.unwrap());
        // No client reads: the write succeeds (buffered) instead of failing with EPIPE.
        (&w).write_all(b"hello").unwrap();
        // A client that opens the FIFO reads it, and sees EOF once the process's end closes.
        let mut r = File::open(&p).unwrap();
        drop(w);
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");
        drop(io);
    }

    #[test]
    fn fifo_input_reaches_eof_only_after_close_io() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("in");
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let p = p.to_str().unwrap().to_string();
        let paths = Paths {
            stdin: p.clone(),
            ..Paths::default()
        };
        let (stdio, io) = paths.open("ns", "c1").unwrap();
        let mut r = File::from(stdio.stdin.unwrap());
        let mut client = OpenOptions::new().write(true).open(&p).unwrap();
        client.write_all(b"two\nlines\n").unwrap();
        drop(client);
        let mut buf = [0u8; 64];
        let n = r.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"two\nlines\n");
        // The client is gone but the shim's writer keeps the FIFO open: no EOF yet.
        nix::fcntl::fcntl(&r, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).unwrap();
        assert_eq!(
            r.read(&mut buf).unwrap_err().kind(),
            std::io::ErrorKind::WouldBlock
        );
        io.close_stdin();
        assert_eq!(r.read(&mut buf).unwrap(), 0);
    }

    #[test]
    fn file_uri_serves_stdout_and_stderr() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("logs/c.log");
        let paths = Paths {
            stdout: format!("file://{}", log.display()),
            stderr: format!("file://{}", log.display()),
            ..Paths::default()
        };
        let (stdio, _io) = paths.open("ns", "c1").unwrap();
        File::from(stdio.stdout.unwrap())
            .write_all(b"out\n")
            .unwrap();
        File::from(stdio.stderr.unwrap())
            .write_all(b"err\n")
            .unwrap();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "out\nerr\n");
    }
}
