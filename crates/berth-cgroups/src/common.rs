//! Small file helpers shared by every controller: write a value, read a
//! value, parse the kernel's "flat keyed" and "nested keyed" formats.

use std::collections::HashMap;
use std::fs;

use nix::fcntl::OFlag;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{CgroupError, Result};

/// Writes `value` to `dir/file`. The file must already exist: on cgroupfs
/// a missing file means the controller or feature is absent, and in unit
/// tests the fake cgroup directory lists the files the "kernel" has.
pub(crate) fn write_file(dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    let mut f = crate::at::open(&path, OFlag::O_WRONLY | OFlag::O_TRUNC)
        .map(fs::File::from)
        .map_err(|e| CgroupError::io("open", &path, e.into()))?;
    // cgroupfs takes one value per write(2); write_all may split only on
    // short writes, which kernfs does not do for these sizes.
    f.write_all(value.as_bytes())
        .map_err(|e| CgroupError::io("write", &path, e))
}

/// Opens the directory `dir` (`O_DIRECTORY|O_CLOEXEC`), e.g. for clone3's
/// `CLONE_INTO_CGROUP`.
pub(crate) fn open_dir(dir: &Path) -> Result<std::os::fd::OwnedFd> {
    crate::at::open(dir, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
        .map_err(|e| CgroupError::io("open", dir, e.into()))
}

/// Fails unless the calling process has exactly one thread.
pub(crate) fn require_single_threaded() -> Result<()> {
    let path = Path::new("/proc/self/stat");
    let stat = fs::read_to_string(path).map_err(|e| CgroupError::io("read", path, e))?;
    match threads_in_stat(&stat) {
        Some(1) => Ok(()),
        Some(threads) => Err(CgroupError::MultiThreaded { threads }),
        None => Err(CgroupError::Parse {
            path: path.to_path_buf(),
            reason: "no thread count".to_string(),
        }),
    }
}

/// `num_threads`, the 20th field of `/proc/PID/stat` (the 2nd, the command
/// name, is in parentheses and may hold spaces and parentheses).
pub(crate) fn threads_in_stat(stat: &str) -> Option<u64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    after_comm.split_whitespace().nth(17)?.parse().ok()
}

/// Writes `value` to `dir/file` as the setting of the spec field `field`.
pub(crate) fn write_field(dir: &Path, file: &str, value: &str, field: &str) -> Result<()> {
    write_file(dir, file, value).map_err(|e| e.in_field(field))
}

/// Reads `dir/file` as a string.
pub(crate) fn read_file(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    crate::at::read_to_string(&path).map_err(|e| CgroupError::io("read", path, e))
}

/// Reads `dir/file` if it exists.
pub(crate) fn read_optional(dir: &Path, file: &str) -> Result<Option<String>> {
    let path = dir.join(file);
    match crate::at::read_to_string(&path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CgroupError::io("read", path, e)),
    }
}

/// Parses a single number; `max` (v2) reads as `u64::MAX`.
pub(crate) fn parse_u64(path: &Path, s: &str) -> Result<u64> {
    let t = s.trim();
    if t == "max" {
        return Ok(u64::MAX);
    }
    t.parse().map_err(|_| CgroupError::Parse {
        path: path.to_path_buf(),
        reason: format!("expected a number, got `{t}`"),
    })
}

/// Reads `dir/file` as one number, or `None` when the file does not exist.
pub(crate) fn read_u64_optional(dir: &Path, file: &str) -> Result<Option<u64>> {
    match read_optional(dir, file)? {
        Some(s) => parse_u64(&dir.join(file), &s).map(Some),
        None => Ok(None),
    }
}

/// Parses "key value" lines (`memory.stat`, `cpu.stat`, `memory.events`).
/// Lines whose value is not a number are skipped.
pub(crate) fn parse_flat_keyed(s: &str) -> HashMap<String, u64> {
    s.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?;
            let v = it.next()?.parse().ok()?;
            Some((k.to_string(), v))
        })
        .collect()
}

/// Parses "key k1=v1 k2=v2" lines (`io.stat`) into (key, fields).
pub(crate) fn parse_nested_keyed(s: &str) -> Vec<(String, HashMap<String, u64>)> {
    s.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let key = it.next()?.to_string();
            let fields = it
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    Some((k.to_string(), v.parse().ok()?))
                })
                .collect();
            Some((key, fields))
        })
        .collect()
}

/// Parses the pid list of `cgroup.procs` / `tasks`.
pub(crate) fn parse_pids(path: &Path, s: &str) -> Result<Vec<i32>> {
    s.split_whitespace()
        .map(|p| {
            p.parse().map_err(|_| CgroupError::Parse {
                path: path.to_path_buf(),
                reason: format!("bad pid `{p}`"),
            })
        })
        .collect()
}

/// All pids in `dir/cgroup.procs` and in every descendant cgroup.
pub(crate) fn pids_recursive(dir: &Path) -> Result<Vec<i32>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let procs = d.join("cgroup.procs");
        match crate::at::read_to_string(&procs) {
            Ok(s) => out.extend(parse_pids(&procs, &s)?),
            // A cgroup removed while we walk it has no tasks.
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(CgroupError::io("read", procs, e)),
        }
        stack.extend(sub_cgroups(&d)?);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// The child cgroup directories of `dir`.
pub(crate) fn sub_cgroups(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(CgroupError::io("readdir", dir, e)),
    };
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| CgroupError::io("readdir", dir, e))?;
        if ent.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            out.push(ent.path());
        }
    }
    Ok(out)
}

/// Makes the cgroup `dir` and the missing levels above it, up to the mount
/// point `top` (which must exist), and appends the directories it made to
/// `made`, top-down. The leaf is tried first, so a container under an
/// existing parent costs one mkdir. A level that exists as a file is an
/// error naming it. The caller removes `made` ([`rmdir_made`]) on failure.
pub(crate) fn mkdir_p(top: &Path, dir: &Path, made: &mut Vec<PathBuf>) -> Result<()> {
    let mut missing: Vec<&Path> = Vec::new();
    let mut cur = dir;
    loop {
        match crate::at::create_dir(cur) {
            Ok(()) => {
                made.push(cur.to_path_buf());
                break;
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                if missing.is_empty() && !crate::at::is_dir(cur) {
                    return Err(CgroupError::NotADirectory {
                        path: cur.to_path_buf(),
                    });
                }
                // Else another create made it a moment ago.
                break;
            }
            Err(e) if e.kind() == ErrorKind::NotFound && cur != top && cur.starts_with(top) => {
                missing.push(cur);
                cur = cur.parent().unwrap_or(top);
            }
            Err(e) => return Err(mkdir_error(top, cur, e)),
        }
    }
    for d in missing.into_iter().rev() {
        match crate::at::create_dir(d) {
            Ok(()) => made.push(d.to_path_buf()),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(mkdir_error(top, d, e)),
        }
    }
    Ok(())
}

/// ENOTDIR names the level that is a file; anything else is the mkdir error.
fn mkdir_error(top: &Path, dir: &Path, e: std::io::Error) -> CgroupError {
    if e.raw_os_error() == Some(libc::ENOTDIR) {
        let mut level = top.to_path_buf();
        for comp in dir.strip_prefix(top).unwrap_or(dir).components() {
            level.push(comp);
            if fs::symlink_metadata(&level).is_ok_and(|m| !m.is_dir()) {
                return CgroupError::NotADirectory { path: level };
            }
        }
    }
    CgroupError::io("mkdir", dir, e)
}

/// Removes the directories [`mkdir_p`] made, deepest first (undoing a
/// create that failed half-way). Best effort: it runs on an error path.
pub(crate) fn rmdir_made(made: &[PathBuf]) {
    for d in made.iter().rev() {
        let _ = crate::at::remove_dir(d);
    }
}

/// Tries to remove the cgroup `dir` in one rmdir: true if it is gone (or
/// was never there), false if it still has tasks or sub-cgroups (EBUSY).
pub(crate) fn rmdir_if_idle(dir: &Path) -> Result<bool> {
    match crate::at::remove_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY)) => Ok(false),
        Err(e) => Err(CgroupError::io("rmdir", dir, e)),
    }
}

/// Removes the cgroup `dir` and its sub-cgroups. The rmdir is tried first:
/// a cgroup without children goes in one call. EBUSY (children, or a last
/// task still exiting) removes the children and retries briefly. A
/// directory that is already gone is fine.
pub(crate) fn rmdir_tree(dir: &Path) -> Result<()> {
    let mut tries = 0;
    loop {
        let e = match crate::at::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => e,
        };
        let busy = matches!(e.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY));
        let children = if busy { sub_cgroups(dir)? } else { Vec::new() };
        // ENOTEMPTY without sub-directories: a plain directory with files,
        // not a cgroup.
        if !busy
            || tries >= 100
            || (children.is_empty() && e.raw_os_error() == Some(libc::ENOTEMPTY))
        {
            return Err(CgroupError::io("rmdir", dir, e));
        }
        for child in &children {
            rmdir_tree(child)?;
        }
        if children.is_empty() {
            std::thread::sleep(Duration::from_millis(10));
        }
        tries += 1;
    }
}

/// Polls `cond` every 10 ms until it is true, at most `limit` long.
pub(crate) fn wait_until(
    limit: Duration,
    what: &'static str,
    path: &Path,
    mut cond: impl FnMut() -> Result<bool>,
) -> Result<()> {
    let step = Duration::from_millis(10);
    let mut waited = Duration::ZERO;
    loop {
        if cond()? {
            return Ok(());
        }
        if waited >= limit {
            return Err(CgroupError::Timeout {
                what,
                path: path.to_path_buf(),
            });
        }
        std::thread::sleep(step);
        waited += step;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_keyed_skips_non_numbers() {
        let m = parse_flat_keyed("low 0\nhigh 5\noom_kill 2\nbogus x\n");
        assert_eq!(m["high"], 5);
        assert_eq!(m["oom_kill"], 2);
        assert!(!m.contains_key("bogus"));
    }

    #[test]
    fn nested_keyed_parses_io_stat() {
        let v = parse_nested_keyed("8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n");
        assert_eq!(v[0].0, "8:0");
        assert_eq!(v[0].1["wbytes"], 20);
    }

    #[test]
    fn write_requires_existing_file() {
        let d = tempfile::tempdir().unwrap();
        let e = write_file(d.path(), "nope", "1").unwrap_err();
        assert_eq!(e.errno(), Some(nix::errno::Errno::ENOENT));
        fs::write(d.path().join("yes"), "old-long-value").unwrap();
        write_file(d.path(), "yes", "1").unwrap();
        assert_eq!(fs::read_to_string(d.path().join("yes")).unwrap(), "1");
    }

    #[test]
    fn thread_count_from_stat() {
        let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 3 0 123 4096 100 18446744073709551615";
        assert_eq!(threads_in_stat(stat), Some(3));
        assert_eq!(threads_in_stat("1 (x) S 0"), None);
    }

    #[test]
    fn max_parses_as_u64_max() {
        assert_eq!(parse_u64(Path::new("x"), "max\n").unwrap(), u64::MAX);
        assert_eq!(parse_u64(Path::new("x"), " 42\n").unwrap(), 42);
    }
}
