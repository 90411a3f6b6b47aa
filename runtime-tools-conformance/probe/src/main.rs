//! The conformance suite's container process. Static, std-only, so it runs in an empty rootfs.
//!
//! ```text
//! probe report [PATH...]      print what the process sees as one JSON object, exit 0
//! probe wait [PATH...]        sleep until a signal: SIGUSR1 prints the report, any other
//!                             handled signal prints {"signal":N}; then exit 0
//! probe hook NAME LOG         append {"hook":NAME, "stdin":..., ...} to LOG (a hook program);
//!                             exits 1 after logging when NAME starts with "fail"
//! probe exit N                exit with status N
//! ```
//!
//! The report carries raw facts (files of /proc, stat results, syscall results); the driver
//! decides what they mean, so the probe stays the same for every test case.

use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_long};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::sync::atomic::{AtomicI32, Ordering};

#[repr(C)]
struct Rlimit {
    cur: u64,
    max: u64,
}

#[repr(C)]
struct Timespec {
    sec: i64,
    nsec: i64,
}

#[repr(C)]
struct Utsname {
    fields: [[c_char; 65]; 6],
}

extern "C" {
    fn getrlimit(resource: c_int, rlim: *mut Rlimit) -> c_int;
    fn uname(buf: *mut Utsname) -> c_int;
    fn clock_gettime(clock: c_int, ts: *mut Timespec) -> c_int;
    fn syscall(number: c_long, ...) -> c_long;
    fn signal(signum: c_int, handler: extern "C" fn(c_int)) -> usize;
    fn getppid() -> c_int;
}

/// A JSON value, just enough to print the report.
enum J {
    Null,
    Bool(bool),
    Int(i128),
    Str(String),
    Arr(Vec<J>),
    Obj(BTreeMap<String, J>),
}

impl J {
    fn write(&self, out: &mut String) {
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Int(i) => out.push_str(&i.to_string()),
            J::Str(s) => {
                out.push('"');
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            J::Arr(v) => {
                out.push('[');
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    x.write(out);
                }
                out.push(']');
            }
            J::Obj(m) => {
                out.push('{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    J::Str(k.clone()).write(out);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn s(x: impl Into<String>) -> J {
    J::Str(x.into())
}

fn obj(pairs: Vec<(&str, J)>) -> J {
    J::Obj(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn errno_of(e: &std::io::Error) -> J {
    J::Int(e.raw_os_error().unwrap_or(-1) as i128)
}

/// A file's text, or null when it cannot be read.
fn file(path: &str) -> J {
    match fs::read(path) {
        Ok(b) => s(String::from_utf8_lossy(&b).into_owned()),
        Err(_) => J::Null,
    }
}

fn lines(path: &str) -> J {
    match fs::read_to_string(path) {
        Ok(t) => J::Arr(t.lines().map(s).collect()),
        Err(_) => J::Null,
    }
}

/// /proc/self/status as a map of its `Key:\tvalue` lines.
fn status() -> J {
    let text = fs::read_to_string("/proc/self/status").unwrap_or_default();
    J::Obj(
        text.lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), s(v.trim())))
            .collect(),
    )
}

fn rlimits() -> J {
    const NAMES: [&str; 16] = [
        "RLIMIT_CPU",
        "RLIMIT_FSIZE",
        "RLIMIT_DATA",
        "RLIMIT_STACK",
        "RLIMIT_CORE",
        "RLIMIT_RSS",
        "RLIMIT_NPROC",
        "RLIMIT_NOFILE",
        "RLIMIT_MEMLOCK",
        "RLIMIT_AS",
        "RLIMIT_LOCKS",
        "RLIMIT_SIGPENDING",
        "RLIMIT_MSGQUEUE",
        "RLIMIT_NICE",
        "RLIMIT_RTPRIO",
        "RLIMIT_RTTIME",
    ];
    let mut m = BTreeMap::new();
    for (i, name) in NAMES.iter().enumerate() {
        let mut r = Rlimit { cur: 0, max: 0 };
        // SAFETY: `r` is a valid rlimit struct that getrlimit fills.
        if unsafe { getrlimit(i as c_int, &mut r) } == 0 {
            m.insert(
                name.to_string(),
                J::Arr(vec![J::Int(r.cur as i128), J::Int(r.max as i128)]),
            );
        }
    }
    J::Obj(m)
}

fn utsname() -> J {
    let mut u = Utsname {
        fields: [[0; 65]; 6],
    };
    // SAFETY: `u` has the layout of Linux's struct utsname (six 65-byte fields).
    if unsafe { uname(&mut u) } != 0 {
        return J::Null;
    }
    let field = |i: usize| {
        let bytes: Vec<u8> = u.fields[i]
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        s(String::from_utf8_lossy(&bytes).into_owned())
    };
    obj(vec![("nodename", field(1)), ("domainname", field(5))])
}

fn clocks() -> J {
    let mut m = BTreeMap::new();
    for (name, id) in [("realtime", 0), ("monotonic", 1), ("boottime", 7)] {
        let mut t = Timespec { sec: 0, nsec: 0 };
        // SAFETY: `t` is a valid timespec that clock_gettime fills.
        if unsafe { clock_gettime(id, &mut t) } == 0 {
            m.insert(
                name.to_string(),
                J::Arr(vec![J::Int(t.sec as i128), J::Int(t.nsec as i128)]),
            );
        }
    }
    J::Obj(m)
}

fn namespaces() -> J {
    let mut m = BTreeMap::new();
    for ns in [
        "cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts",
    ] {
        if let Ok(t) = fs::read_link(format!("/proc/self/ns/{ns}")) {
            m.insert(ns.to_string(), s(t.to_string_lossy().into_owned()));
        }
    }
    J::Obj(m)
}

/// Raw syscalls that seccomp test cases filter; they succeed when unfiltered.
fn syscalls() -> J {
    const SYS_GETSID: c_long = 124;
    const SYS_GETPRIORITY: c_long = 140;
    let call = |ret: c_long| {
        let errno = if ret < 0 {
            std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
        } else {
            0
        };
        obj(vec![("ret", J::Int(ret as i128)), ("errno", J::Int(errno as i128))])
    };
    // SAFETY: getsid(0) and getpriority(PRIO_PROCESS, 0) take integer arguments only.
    let sid = call(unsafe { syscall(SYS_GETSID, 0 as c_long) });
    // SAFETY: as above.
    let prio = call(unsafe { syscall(SYS_GETPRIORITY, 0 as c_long, 0 as c_long) });
    obj(vec![("getsid", sid), ("getpriority", prio)])
}

fn file_type(ft: fs::FileType) -> &'static str {
    if ft.is_symlink() {
        "lnk"
    } else if ft.is_dir() {
        "dir"
    } else if ft.is_file() {
        "file"
    } else if ft.is_char_device() {
        "chr"
    } else if ft.is_block_device() {
        "blk"
    } else if ft.is_fifo() {
        "fifo"
    } else {
        "sock"
    }
}

/// lstat facts of `path`, plus a read and a write attempt that change nothing.
fn path_facts(path: &str) -> J {
    let md = match fs::symlink_metadata(path) {
        Ok(md) => md,
        Err(e) => return obj(vec![("exists", J::Bool(false)), ("errno", errno_of(&e))]),
    };
    let rdev = md.rdev();
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    let kind = file_type(md.file_type());
    let mut facts = vec![
        ("exists", J::Bool(true)),
        ("type", s(kind)),
        ("mode", J::Int((md.mode() & 0o7777) as i128)),
        ("uid", J::Int(md.uid() as i128)),
        ("gid", J::Int(md.gid() as i128)),
        ("rdev", J::Arr(vec![J::Int(major as i128), J::Int(minor as i128)])),
    ];
    if kind == "lnk" {
        let target = fs::read_link(path).map(|t| t.to_string_lossy().into_owned());
        facts.push(("link", target.map(s).unwrap_or(J::Null)));
    }
    if kind == "dir" {
        match fs::read_dir(path) {
            Ok(rd) => {
                let mut names: Vec<String> = rd
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                facts.push(("entries", J::Arr(names.into_iter().map(s).collect())));
            }
            Err(e) => facts.push(("read_errno", errno_of(&e))),
        }
        // Writable when a directory can be made in it.
        let probe_dir = format!("{}/.probe-write-test", path.trim_end_matches('/'));
        let w = match fs::create_dir(&probe_dir) {
            Ok(()) => {
                let _ = fs::remove_dir(&probe_dir);
                J::Int(0)
            }
            Err(e) => errno_of(&e),
        };
        facts.push(("write_errno", w));
    } else if kind == "file" || kind == "chr" {
        let nonblock = fs::OpenOptions::new()
            .read(true)
            .custom_flags(0o4000) // O_NONBLOCK: never hang on a tty or fifo
            .open(path);
        match nonblock {
            Ok(mut f) => {
                // A device may stream forever (/dev/zero, /dev/random): a taste is enough.
                let mut buf = vec![0u8; if kind == "chr" { 64 } else { 4096 }];
                match f.read(&mut buf) {
                    Ok(n) => facts.push((
                        "content",
                        s(String::from_utf8_lossy(&buf[..n]).into_owned()),
                    )),
                    Err(e) => facts.push(("read_errno", errno_of(&e))),
                }
            }
            Err(e) => facts.push(("read_errno", errno_of(&e))),
        }
        let w = match fs::OpenOptions::new()
            .write(true)
            .custom_flags(0o4000)
            .open(path)
        {
            Ok(_) => J::Int(0),
            Err(e) => errno_of(&e),
        };
        facts.push(("write_errno", w));
    }
    obj(facts)
}

fn dev_entries() -> J {
    let mut m = BTreeMap::new();
    if let Ok(rd) = fs::read_dir("/dev") {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let md = match fs::symlink_metadata(e.path()) {
                Ok(md) => md,
                Err(_) => continue,
            };
            let rdev = md.rdev();
            let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
            let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
            let mut f = vec![
                ("type", s(file_type(md.file_type()))),
                ("rdev", J::Arr(vec![J::Int(major as i128), J::Int(minor as i128)])),
            ];
            if md.file_type().is_symlink() {
                if let Ok(t) = fs::read_link(e.path()) {
                    f.push(("link", s(t.to_string_lossy().into_owned())));
                }
            }
            m.insert(name, obj(f));
        }
    }
    J::Obj(m)
}

fn report(paths: &[String]) -> String {
    let cwd = std::env::current_dir()
        .map(|p| s(p.to_string_lossy().into_owned()))
        .unwrap_or(J::Null);
    let argv = std::env::args().map(s).collect();
    let env = std::env::vars_os()
        .map(|(k, v)| s(format!("{}={}", k.to_string_lossy(), v.to_string_lossy())))
        .collect();
    let path_map = paths
        .iter()
        .map(|p| (p.clone(), path_facts(p)))
        .collect::<BTreeMap<_, _>>();
    let r = obj(vec![
        ("argv", J::Arr(argv)),
        ("pid", J::Int(std::process::id() as i128)),
        // SAFETY: getppid has no arguments and cannot fail.
        ("ppid", J::Int(unsafe { getppid() } as i128)),
        ("cwd", cwd),
        ("env", J::Arr(env)),
        ("status", status()),
        ("uname", utsname()),
        ("mountinfo", lines("/proc/self/mountinfo")),
        ("cgroup", lines("/proc/self/cgroup")),
        ("rlimits", rlimits()),
        ("ns", namespaces()),
        ("oom_score_adj", file("/proc/self/oom_score_adj")),
        ("uid_map", file("/proc/self/uid_map")),
        ("gid_map", file("/proc/self/gid_map")),
        ("timens_offsets", file("/proc/self/timens_offsets")),
        ("clocks", clocks()),
        ("syscalls", syscalls()),
        ("dev", dev_entries()),
        (
            "numa_policy",
            std::fs::read_to_string("/proc/self/numa_maps")
                .ok()
                .and_then(|t| t.lines().next().and_then(|l| l.split_whitespace().nth(1)).map(str::to_string))
                .map(s)
                .unwrap_or(J::Null),
        ),
        ("paths", J::Obj(path_map)),
    ]);
    let mut out = String::new();
    r.write(&mut out);
    out.push('\n');
    out
}

static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: c_int) {
    SIGNAL.store(sig, Ordering::SeqCst);
}

fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Sleeps until a signal arrives. As pid 1 of a pid namespace, a signal without a handler
/// is ignored, so every signal the suite sends has one.
fn wait(paths: &[String]) -> i32 {
    for sig in [1, 2, 10, 12, 15] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { signal(sig, on_signal) };
    }
    loop {
        let sig = SIGNAL.load(Ordering::SeqCst);
        if sig == 10 {
            print(&report(paths));
            return 0;
        }
        if sig != 0 {
            print(&format!("{{\"signal\":{sig}}}\n"));
            return 0;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A hook: logs what it was given, one JSON line appended to `log`.
fn hook(name: &str, log: &str) -> i32 {
    let mut stdin = String::new();
    let _ = std::io::stdin().read_to_string(&mut stdin);
    let argv = std::env::args().map(s).collect();
    let env = std::env::vars_os()
        .map(|(k, v)| s(format!("{}={}", k.to_string_lossy(), v.to_string_lossy())))
        .collect();
    let line = obj(vec![
        ("hook", s(name)),
        ("stdin", s(stdin)),
        ("argv", J::Arr(argv)),
        ("env", J::Arr(env)),
        ("pid", J::Int(std::process::id() as i128)),
        ("ns", namespaces()),
        (
            "cwd",
            std::env::current_dir()
                .map(|p| s(p.to_string_lossy().into_owned()))
                .unwrap_or(J::Null),
        ),
    ]);
    let mut text = String::new();
    line.write(&mut text);
    text.push('\n');
    // One write of one line with O_APPEND: hooks never interleave.
    match fs::OpenOptions::new().append(true).create(true).open(log) {
        Ok(mut f) => {
            let _ = f.write_all(text.as_bytes());
        }
        Err(e) => eprintln!("probe hook: open {log}: {e}"),
    }
    if name.starts_with("fail") {
        1
    } else {
        0
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rest = if args.len() > 2 { &args[2..] } else { &[] };
    let code = match args.get(1).map(String::as_str) {
        Some("report") | None => {
            print(&report(rest));
            0
        }
        Some("wait") => wait(rest),
        Some("hook") if rest.len() >= 2 => hook(&rest[0], &rest[1]),
        Some("exit") => rest.first().and_then(|n| n.parse().ok()).unwrap_or(0),
        Some(other) => {
            eprintln!("probe: unknown command {other:?}");
            2
        }
    };
    std::process::exit(code);
}
