//! Unpacking a layer tar into its own directory, in the form overlayfs reads.
//!
//! Every path is resolved one component at a time with `openat(O_NOFOLLOW)`
//! from the layer directory's descriptor, so nothing is ever created through
//! a symlink and no entry can land outside the directory: `..`, absolute
//! names, and names or hardlink targets passing through a symlink are refused
//! with an error naming the entry. OCI whiteouts become overlayfs ones:
//! `.wh.NAME` a 0/0 character device `NAME`, `.wh..wh..opq` the
//! `trusted.overlay.opaque=y` xattr on its directory.
//!
//! # Writing files on several threads
//!
//! Creating an inode is most of the cost of unpacking (ext4 spends it in the
//! inode allocator), so one thread reads the tar and does everything that
//! decides where things go (path checks, directories, links, whiteouts, big
//! files), while small regular files are handed, with their bytes, to a few
//! workers that create, write and finish them. Order still matters where
//! entries touch the same path, so the reader waits for the workers (a
//! barrier) before an entry at or below a path a worker has not finished
//! with, before a hardlink to such a path, before a whiteout, before removing
//! a directory, and before directory times are set at the end. Nothing is
//! fsynced: the layer is renamed into the store only when complete, and a
//! crash leaves only a temporary directory behind.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufRead, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};

use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{
    fchmod, fchmodat, fstatat, mkdirat, mknodat, utimensat, FchmodatFlags, Mode, SFlag,
    UtimensatFlags,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, linkat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};

pub const WHITEOUT_PREFIX: &str = ".wh.";
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Regular files up to this size go to the worker threads with their bytes.
const SMALL_FILE: u64 = 256 << 10;
/// Files handed out and not yet finished, at most (bounds the memory held).
const MAX_IN_FLIGHT: usize = 64;
/// Writer threads per layer (override with `BERTH_UNPACK_JOBS`; 0 or 1: none).
const MAX_WORKERS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("refusing layer entry `{entry}`: {reason}")]
    Unsafe { entry: String, reason: String },
    #[error("layer entry `{entry}`: {op}: {source}")]
    Entry {
        entry: String,
        op: &'static str,
        source: io::Error,
    },
    #[error("reading layer archive: {0}")]
    Archive(io::Error),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: String,
        source: io::Error,
    },
    #[error("unsupported layer entry `{entry}` of type {kind:?}")]
    Unsupported { entry: String, kind: tar::EntryType },
}

/// What a tar member name means for overlayfs.
#[derive(Debug, PartialEq, Eq)]
pub enum Whiteout<'a> {
    /// `.wh..wh..opq`: hide everything below in lower layers.
    Opaque,
    /// `.wh.NAME`: NAME is deleted.
    Remove(&'a [u8]),
    /// Other `.wh..wh.*` bookkeeping (aufs hardlink dirs): ignored.
    Meta,
}

/// Classifies a member's last path component.
pub fn classify_whiteout(name: &[u8]) -> Option<Whiteout<'_>> {
    if name == OPAQUE_MARKER.as_bytes() {
        return Some(Whiteout::Opaque);
    }
    let rest = name.strip_prefix(WHITEOUT_PREFIX.as_bytes())?;
    if rest.starts_with(WHITEOUT_PREFIX.as_bytes()) {
        return Some(Whiteout::Meta);
    }
    Some(Whiteout::Remove(rest))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// Tells the compression from the first bytes of a blob.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Wraps `r` in the decompressor its first bytes call for.
pub fn decompress<'a, R: BufRead + 'a>(mut r: R) -> io::Result<Box<dyn Read + 'a>> {
    let head = r.fill_buf()?;
    Ok(match Compression::sniff(head) {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
        Compression::None => Box::new(r),
    })
}

/// Splits a member name into components; refuses absolute names and `..`.
/// A bare `/` (umoci writes one) names the layer root, as `./` does.
pub fn safe_components(raw: &[u8]) -> Result<Vec<OsString>, String> {
    if raw.starts_with(b"/") && !raw.iter().all(|b| *b == b'/') {
        return Err("absolute path".into());
    }
    let mut out = Vec::new();
    for c in raw.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("path contains `..`".into()),
            c => out.push(OsString::from_vec(c.to_vec())),
        }
    }
    Ok(out)
}

#[derive(Debug, Default, Clone, Copy)]
pub struct UnpackStats {
    pub entries: u64,
    pub bytes: u64,
}

/// Unpacks the (decompressed) tar stream `reader` into the existing, empty
/// directory `dest`. On error `dest` is left as it is: the caller removes it.
pub fn unpack(reader: impl Read, dest: &Path) -> Result<UnpackStats, UnpackError> {
    let workers = std::env::var("BERTH_UNPACK_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_WORKERS)
        });
    unpack_with_workers(reader, dest, workers)
}

/// [`unpack`] with `workers` writer threads (0 or 1: the reader writes).
pub fn unpack_with_workers(
    reader: impl Read,
    dest: &Path,
    workers: usize,
) -> Result<UnpackStats, UnpackError> {
    let root = openat(
        nix::fcntl::AT_FDCWD,
        dest,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| UnpackError::Io {
        op: "open layer directory",
        path: dest.display().to_string(),
        source: e.into(),
    })?;
    let is_root = nix::unistd::geteuid().is_root();
    let (done_tx, done) = mpsc::channel::<Done>();
    let (jobs_tx, jobs_rx) = mpsc::sync_channel::<FileJob>(MAX_IN_FLIGHT);
    let jobs_rx = Mutex::new(jobs_rx);
    std::thread::scope(|s| {
        let jobs = if workers > 1 {
            for _ in 0..workers {
                let done = done_tx.clone();
                let jobs_rx = &jobs_rx;
                s.spawn(move || loop {
                    let Ok(job) = jobs_rx.lock().expect("job queue").recv() else {
                        return;
                    };
                    let result = write_file(&job, is_root);
                    // The reader is gone only when it already failed.
                    let _ = done.send(Done {
                        data: job.data,
                        result,
                    });
                });
            }
            Some(jobs_tx)
        } else {
            None
        };
        let mut x = Extractor {
            root: Arc::new(root),
            is_root,
            buf: vec![0; 256 << 10],
            dir_times: Vec::new(),
            cache: None,
            stats: UnpackStats::default(),
            created: HashSet::new(),
            pool: Pool {
                jobs,
                done,
                in_flight: 0,
                pending: HashSet::new(),
                spare: Vec::new(),
            },
        };
        // Dropping `x` on any return closes the job queue, so the workers
        // finish what they hold and the scope can end.
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries().map_err(UnpackError::Archive)? {
            let mut entry = entry.map_err(UnpackError::Archive)?;
            x.entry(&mut entry)?;
        }
        x.finish_dirs()?;
        // Read to the end so a caller hashing the stream sees all of it.
        let mut inner = archive.into_inner();
        io::copy(&mut inner, &mut io::sink()).map_err(UnpackError::Archive)?;
        Ok(x.stats)
    })
}

/// A small regular file for a worker to create, write and finish.
struct FileJob {
    /// The parent directory, already resolved safely by the reader.
    parent: Arc<OwnedFd>,
    name: OsString,
    entry: String,
    data: Vec<u8>,
    meta: Meta,
}

/// A finished job: its buffer comes back for reuse.
struct Done {
    data: Vec<u8>,
    result: Result<(), UnpackError>,
}

/// The reader's side of the workers.
struct Pool {
    /// None: no workers, files are written by the reader.
    jobs: Option<mpsc::SyncSender<FileJob>>,
    done: mpsc::Receiver<Done>,
    in_flight: usize,
    /// Paths handed out since the last barrier.
    pending: HashSet<Vec<u8>>,
    spare: Vec<Vec<u8>>,
}

/// `a/b/c` as bytes: the key of a path in `created` and `pending`.
fn key_of(comps: &[OsString]) -> Vec<u8> {
    let mut k = Vec::new();
    for c in comps {
        if !k.is_empty() {
            k.push(b'/');
        }
        k.extend_from_slice(c.as_bytes());
    }
    k
}

/// Creates, fills and finishes one file (on a worker, or on the reader).
fn write_file(job: &FileJob, is_root: bool) -> Result<(), UnpackError> {
    let err = |op: &'static str| {
        move |source: io::Error| UnpackError::Entry {
            entry: job.entry.clone(),
            op,
            source,
        }
    };
    let f = create_file(job.parent.as_fd(), &job.name).map_err(err("create file"))?;
    (&f).write_all(&job.data).map_err(err("write file"))?;
    finish_file(&f, &job.meta, is_root).map_err(|(op, e)| err(op)(e))
}

fn create_file(parent: BorrowedFd<'_>, name: &OsStr) -> io::Result<File> {
    openat(
        parent,
        name,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .map(File::from)
    .map_err(ioe)
}

/// Owner, mode, xattrs and times of a written file; times last, since the
/// others change ctime only.
fn finish_file(f: &File, m: &Meta, is_root: bool) -> Result<(), (&'static str, io::Error)> {
    chown_fd(f.as_fd(), m, is_root).map_err(|e| ("chown", e))?;
    fchmod(f.as_fd(), Mode::from_bits_truncate(m.mode)).map_err(|e| ("chmod", ioe(e)))?;
    for (k, v) in &m.xattrs {
        xattr::FileExt::set_xattr(f, k, v).map_err(|e| ("set xattr", e))?;
    }
    let t = TimeSpec::new(m.mtime, 0);
    nix::sys::stat::futimens(f.as_fd(), &t, &t).map_err(|e| ("set times", ioe(e)))
}

/// Unprivileged unpacks keep their own uid where chown is refused.
fn chown_fd(fd: BorrowedFd<'_>, m: &Meta, is_root: bool) -> io::Result<()> {
    match fchown(fd, Some(Uid::from_raw(m.uid)), Some(Gid::from_raw(m.gid))) {
        Err(Errno::EPERM) if !is_root => Ok(()),
        r => r.map_err(Into::into),
    }
}

struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    xattrs: Vec<(String, Vec<u8>)>,
}

struct Extractor {
    root: Arc<OwnedFd>,
    is_root: bool,
    buf: Vec<u8>,
    /// Directory times are set last, since creating children changes them.
    dir_times: Vec<(Vec<OsString>, i64)>,
    /// The last parent directory resolved, reused for its siblings.
    cache: Option<(Vec<OsString>, Arc<OwnedFd>)>,
    stats: UnpackStats,
    /// Every path this layer has made so far. The layer directory starts
    /// empty, so a path not in here needs no look before it is created.
    created: HashSet<Vec<u8>>,
    pool: Pool,
}

fn ioe(e: Errno) -> io::Error {
    e.into()
}

impl Extractor {
    fn entry<R: Read>(&mut self, e: &mut tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let raw = e.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let kind = e.header().entry_type();
        if kind.is_pax_global_extensions()
            || kind.is_pax_local_extensions()
            || kind.is_gnu_longname()
            || kind.is_gnu_longlink()
        {
            return Ok(());
        }
        let unsafe_err = |reason: String| UnpackError::Unsafe {
            entry: name.clone(),
            reason,
        };
        let comps = safe_components(&raw).map_err(unsafe_err)?;
        let meta = self.meta(e, &name)?;
        self.stats.entries += 1;
        let Some((last, parents)) = comps.split_last() else {
            // "./": the layer root itself.
            if kind.is_dir() {
                let root = self.root.clone();
                self.apply_dir_meta(root.as_fd(), &meta, &name)?;
                self.dir_times.push((vec![], meta.mtime));
            }
            return Ok(());
        };
        // A worker may still be making this path or one of its parents.
        self.wait_if_pending(&comps)?;
        let parent = self.walk(parents, &name, true)?;
        let p = parent.as_fd();
        let eerr = |op: &'static str| {
            let name = name.clone();
            move |source: io::Error| UnpackError::Entry {
                entry: name,
                op,
                source,
            }
        };
        match classify_whiteout(last.as_bytes()) {
            Some(Whiteout::Opaque) => {
                let dir = reopen_dir(p).map_err(eerr("open directory"))?;
                xattr::FileExt::set_xattr(&dir, OVERLAY_OPAQUE_XATTR, b"y")
                    .map_err(eerr("set opaque xattr"))?;
                return Ok(());
            }
            Some(Whiteout::Remove(target)) => {
                let target = OsStr::from_bytes(target);
                // What goes may be a directory with files still being written.
                self.barrier()?;
                let mut key = key_of(parents);
                if !key.is_empty() {
                    key.push(b'/');
                }
                key.extend_from_slice(target.as_bytes());
                self.created.insert(key);
                self.remove_existing(p, target, &name)?;
                mknodat(p, target, SFlag::S_IFCHR, Mode::empty(), 0)
                    .map_err(|e| eerr("create whiteout device")(ioe(e)))?;
                return Ok(());
            }
            Some(Whiteout::Meta) => return Ok(()),
            None => {}
        }
        let key = key_of(&comps);
        let existed = !self.created.insert(key.clone());
        use tar::EntryType as T;
        match kind {
            T::Directory => {
                let existing = fstatat(p, last.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW);
                match existing {
                    Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {}
                    Ok(_) => {
                        self.remove_existing(p, last, &name)?;
                        mkdirat(p, last.as_os_str(), Mode::from_bits_truncate(0o700))
                            .map_err(|e| eerr("mkdir")(ioe(e)))?;
                    }
                    Err(Errno::ENOENT) => {
                        mkdirat(p, last.as_os_str(), Mode::from_bits_truncate(0o700))
                            .map_err(|e| eerr("mkdir")(ioe(e)))?
                    }
                    Err(e) => return Err(eerr("stat")(ioe(e))),
                }
                let dir = openat(
                    p,
                    last.as_os_str(),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| eerr("open directory")(ioe(e)))?;
                self.apply_dir_meta(dir.as_fd(), &meta, &name)?;
                self.dir_times.push((comps.clone(), meta.mtime));
            }
            T::Regular | T::Continuous => {
                if existed {
                    self.remove_existing(p, last, &name)?;
                }
                let size = e.size();
                if size <= SMALL_FILE {
                    let mut data = self.pool.spare.pop().unwrap_or_default();
                    data.clear();
                    e.read_to_end(&mut data).map_err(UnpackError::Archive)?;
                    self.stats.bytes += data.len() as u64;
                    let job = FileJob {
                        parent: parent.clone(),
                        name: last.clone(),
                        entry: name.clone(),
                        data,
                        meta,
                    };
                    return self.dispatch(job, key);
                }
                let f = create_file(p, last).map_err(eerr("create file"))?;
                loop {
                    let n = e.read(&mut self.buf).map_err(UnpackError::Archive)?;
                    if n == 0 {
                        break;
                    }
                    (&f).write_all(&self.buf[..n]).map_err(eerr("write file"))?;
                    self.stats.bytes += n as u64;
                }
                finish_file(&f, &meta, self.is_root).map_err(|(op, e)| eerr(op)(e))?;
            }
            T::Symlink => {
                let target = e
                    .link_name_bytes()
                    .ok_or_else(|| unsafe_err("symlink without target".into()))?
                    .into_owned();
                if existed {
                    self.remove_existing(p, last, &name)?;
                }
                symlinkat(OsStr::from_bytes(&target), p, last.as_os_str())
                    .map_err(|e| eerr("symlink")(ioe(e)))?;
                self.finish_node(p, last, &meta, false, &name)?;
            }
            T::Link => {
                let target = e
                    .link_name_bytes()
                    .ok_or_else(|| unsafe_err("hardlink without target".into()))?
                    .into_owned();
                let tcomps = safe_components(&target)
                    .map_err(|r| unsafe_err(format!("hardlink target {r}")))?;
                let Some((tlast, tparents)) = tcomps.split_last() else {
                    return Err(unsafe_err("hardlink to the layer root".into()));
                };
                // The target may be a file a worker has not made yet.
                self.wait_if_pending(&tcomps)?;
                if tcomps == comps {
                    return Ok(());
                }
                let tparent = self.walk(tparents, &name, false)?;
                if existed {
                    self.remove_existing(p, last, &name)?;
                }
                linkat(
                    tparent.as_fd(),
                    tlast.as_os_str(),
                    p,
                    last.as_os_str(),
                    AtFlags::empty(),
                )
                .map_err(|err| UnpackError::Entry {
                    entry: name.clone(),
                    op: "hardlink",
                    source: io::Error::other(format!(
                        "to `{}`: {}",
                        String::from_utf8_lossy(&target),
                        err.desc()
                    )),
                })?;
            }
            T::Char | T::Block | T::Fifo => {
                let kind_flag = match kind {
                    T::Char => SFlag::S_IFCHR,
                    T::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                let major = e.header().device_major().ok().flatten().unwrap_or(0);
                let minor = e.header().device_minor().ok().flatten().unwrap_or(0);
                if existed {
                    self.remove_existing(p, last, &name)?;
                }
                mknodat(
                    p,
                    last.as_os_str(),
                    kind_flag,
                    Mode::from_bits_truncate(meta.mode & 0o777),
                    nix::sys::stat::makedev(major as u64, minor as u64),
                )
                .map_err(|e| eerr("mknod")(ioe(e)))?;
                self.finish_node(p, last, &meta, true, &name)?;
            }
            other => {
                return Err(UnpackError::Unsupported {
                    entry: name.clone(),
                    kind: other,
                })
            }
        }
        Ok(())
    }

    fn meta<R: Read>(&self, e: &mut tar::Entry<'_, R>, name: &str) -> Result<Meta, UnpackError> {
        let h = e.header();
        let herr = |source: io::Error| UnpackError::Entry {
            entry: name.to_string(),
            op: "read header",
            source,
        };
        let mut m = Meta {
            mode: h.mode().map_err(herr)? & 0o7777,
            // Some writers leave these blank; blank means 0.
            uid: h.uid().unwrap_or(0) as u32,
            gid: h.gid().unwrap_or(0) as u32,
            mtime: h.mtime().unwrap_or(0) as i64,
            xattrs: Vec::new(),
        };
        if let Some(pax) = e.pax_extensions().map_err(herr)? {
            for ext in pax.flatten() {
                let Ok(key) = ext.key() else { continue };
                let v = ext.value_bytes();
                let num = || {
                    std::str::from_utf8(v)
                        .ok()
                        .and_then(|s| s.split('.').next()?.parse::<i64>().ok())
                };
                match key {
                    "uid" => m.uid = num().unwrap_or(m.uid as i64) as u32,
                    "gid" => m.gid = num().unwrap_or(m.gid as i64) as u32,
                    "mtime" => m.mtime = num().unwrap_or(m.mtime),
                    k => {
                        if let Some(x) = k.strip_prefix("SCHILY.xattr.") {
                            m.xattrs.push((x.to_string(), v.to_vec()));
                        }
                    }
                }
            }
        }
        Ok(m)
    }

    /// Resolves `comps` below the root without following symlinks; missing
    /// directories are created when `create`.
    fn walk(
        &mut self,
        comps: &[OsString],
        entry: &str,
        create: bool,
    ) -> Result<Arc<OwnedFd>, UnpackError> {
        if let Some((c, fd)) = &self.cache {
            if c.as_slice() == comps {
                return Ok(fd.clone());
            }
        }
        let mut cur = self.root.clone();
        for (i, c) in comps.iter().enumerate() {
            let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
            let mut r = openat(cur.as_fd(), c.as_os_str(), flags, Mode::empty());
            if matches!(r, Err(Errno::ENOENT)) && create {
                match mkdirat(cur.as_fd(), c.as_os_str(), Mode::from_bits_truncate(0o755)) {
                    Ok(()) => {
                        self.created.insert(key_of(&comps[..=i]));
                    }
                    Err(Errno::EEXIST) => {}
                    Err(e) => {
                        return Err(UnpackError::Entry {
                            entry: entry.into(),
                            op: "create parent directory",
                            source: e.into(),
                        })
                    }
                }
                r = openat(cur.as_fd(), c.as_os_str(), flags, Mode::empty());
            }
            cur = match r {
                Ok(fd) => Arc::new(fd),
                Err(Errno::ELOOP) | Err(Errno::ENOTDIR) => {
                    let so_far = comps[..=i]
                        .iter()
                        .map(|c| c.to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("/");
                    let is_link = fstatat(cur.as_fd(), c.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
                        .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFLNK);
                    let reason = if is_link {
                        format!("path goes through symlink `{so_far}`")
                    } else {
                        format!("`{so_far}` is not a directory")
                    };
                    return Err(UnpackError::Unsafe {
                        entry: entry.into(),
                        reason,
                    });
                }
                Err(e) => {
                    let op = if create {
                        "open parent directory"
                    } else {
                        "find hardlink target"
                    };
                    return Err(UnpackError::Entry {
                        entry: entry.into(),
                        op,
                        source: e.into(),
                    });
                }
            };
        }
        if create {
            self.cache = Some((comps.to_vec(), cur.clone()));
        }
        Ok(cur)
    }

    /// Clears the way for a new node `name`.
    fn remove_existing(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &OsStr,
        entry: &str,
    ) -> Result<(), UnpackError> {
        let err = |source: io::Error| UnpackError::Entry {
            entry: entry.into(),
            op: "remove",
            source,
        };
        match fstatat(parent, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(err(e.into())),
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {
                // Workers may be writing below it.
                self.barrier()?;
                // A cached parent may be inside what goes away.
                self.cache = None;
                remove_all_at(parent, name).map_err(err)
            }
            Ok(_) => unlinkat(parent, name, UnlinkatFlags::NoRemoveDir).map_err(|e| err(e.into())),
        }
    }

    /// Hands a small file to the workers (or writes it when there are none).
    fn dispatch(&mut self, job: FileJob, key: Vec<u8>) -> Result<(), UnpackError> {
        let Some(jobs) = &self.pool.jobs else {
            let r = write_file(&job, self.is_root);
            self.pool.spare.push(job.data);
            return r;
        };
        if jobs.send(job).is_err() {
            // Workers only stop when the queue closes, so this cannot be.
            return Err(UnpackError::Archive(io::Error::other(
                "unpack workers are gone",
            )));
        }
        self.pool.in_flight += 1;
        self.pool.pending.insert(key);
        while let Ok(done) = self.pool.done.try_recv() {
            self.finished(done)?;
        }
        if self.pool.in_flight >= MAX_IN_FLIGHT {
            self.wait_one()?;
        }
        Ok(())
    }

    fn finished(&mut self, done: Done) -> Result<(), UnpackError> {
        self.pool.in_flight -= 1;
        if self.pool.spare.len() < MAX_IN_FLIGHT {
            self.pool.spare.push(done.data);
        }
        done.result
    }

    fn wait_one(&mut self) -> Result<(), UnpackError> {
        let done = self
            .pool
            .done
            .recv()
            .map_err(|_| UnpackError::Archive(io::Error::other("unpack workers are gone")))?;
        self.finished(done)
    }

    /// Waits until the workers have finished every file handed out.
    fn barrier(&mut self) -> Result<(), UnpackError> {
        while self.pool.in_flight > 0 {
            self.wait_one()?;
        }
        self.pool.pending.clear();
        Ok(())
    }

    /// A barrier when `comps` or one of its parents is a file still with a worker.
    fn wait_if_pending(&mut self, comps: &[OsString]) -> Result<(), UnpackError> {
        if self.pool.pending.is_empty() {
            return Ok(());
        }
        let mut k = Vec::new();
        for c in comps {
            if !k.is_empty() {
                k.push(b'/');
            }
            k.extend_from_slice(c.as_bytes());
            if self.pool.pending.contains(&k) {
                return self.barrier();
            }
        }
        Ok(())
    }

    fn apply_dir_meta(&self, dir: BorrowedFd<'_>, m: &Meta, name: &str) -> Result<(), UnpackError> {
        let err = |op| {
            move |source: io::Error| UnpackError::Entry {
                entry: name.to_string(),
                op,
                source,
            }
        };
        // O_PATH descriptors (the root's) refuse fchown and friends.
        let dir = reopen_dir(dir).map_err(err("open directory"))?;
        chown_fd(dir.as_fd(), m, self.is_root).map_err(err("chown"))?;
        fchmod(dir.as_fd(), Mode::from_bits_truncate(m.mode)).map_err(|e| err("chmod")(ioe(e)))?;
        for (k, v) in &m.xattrs {
            xattr::FileExt::set_xattr(&dir, k, v).map_err(err("set xattr"))?;
        }
        Ok(())
    }

    /// Owner, mode, xattrs and times of a node that must not be opened.
    fn finish_node(
        &self,
        p: BorrowedFd<'_>,
        last: &OsStr,
        m: &Meta,
        chmod: bool,
        name: &str,
    ) -> Result<(), UnpackError> {
        let err = |op| {
            move |source: io::Error| UnpackError::Entry {
                entry: name.to_string(),
                op,
                source,
            }
        };
        match fchownat(
            p,
            last,
            Some(Uid::from_raw(m.uid)),
            Some(Gid::from_raw(m.gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Err(Errno::EPERM) if !self.is_root => {}
            r => r.map_err(|e| err("chown")(ioe(e)))?,
        }
        if chmod {
            fchmodat(
                p,
                last,
                Mode::from_bits_truncate(m.mode),
                FchmodatFlags::FollowSymlink,
            )
            .map_err(|e| err("chmod")(ioe(e)))?;
        }
        if !m.xattrs.is_empty() {
            // lsetxattr on "/proc/self/fd/P/NAME" acts on NAME itself, never a symlink's target.
            let path = Path::new(&format!("/proc/self/fd/{}", p.as_raw_fd())).join(last);
            for (k, v) in &m.xattrs {
                xattr::set(&path, k, v).map_err(err("set xattr"))?;
            }
        }
        let t = TimeSpec::new(m.mtime, 0);
        utimensat(p, last, &t, &t, UtimensatFlags::NoFollowSymlink)
            .map_err(|e| err("set times")(ioe(e)))?;
        Ok(())
    }

    fn finish_dirs(&mut self) -> Result<(), UnpackError> {
        // Files created in a directory change its times: let them all land first.
        self.barrier()?;
        let times = std::mem::take(&mut self.dir_times);
        self.cache = None;
        for (comps, mtime) in times.into_iter().rev() {
            let name = comps
                .iter()
                .map(|c| c.to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            let t = TimeSpec::new(mtime, 0);
            let r = match comps.split_last() {
                None => nix::sys::stat::futimens(
                    reopen_dir(self.root.as_fd())
                        .map_err(|source| UnpackError::Entry {
                            entry: "./".into(),
                            op: "open",
                            source,
                        })?
                        .as_fd(),
                    &t,
                    &t,
                ),
                Some((last, parents)) => {
                    // A directory replaced later in the stream may be gone: nothing to do.
                    let Ok(parent) = self.walk(parents, &name, false) else {
                        continue;
                    };
                    match utimensat(
                        parent.as_fd(),
                        last.as_os_str(),
                        &t,
                        &t,
                        UtimensatFlags::NoFollowSymlink,
                    ) {
                        Err(Errno::ENOENT) => Ok(()),
                        r => r,
                    }
                }
            };
            r.map_err(|e| UnpackError::Entry {
                entry: name,
                op: "set directory times",
                source: e.into(),
            })?;
        }
        Ok(())
    }
}

fn reopen_dir(fd: BorrowedFd<'_>) -> io::Result<File> {
    openat(
        fd,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map(File::from)
    .map_err(Into::into)
}

/// `rm -rf` of `name` under `parent`, never following symlinks.
pub fn remove_all_at(parent: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    match unlinkat(parent, name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => return Ok(()),
        Err(Errno::EISDIR) | Err(Errno::EPERM) => {}
        Err(e) => return Err(e.into()),
    }
    let dirfd = openat(
        parent,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let mut dir = nix::dir::Dir::from_fd(dirfd)?;
    let names: Vec<OsString> = dir
        .iter()
        .filter_map(|e| e.ok())
        .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
        .filter(|n| n != "." && n != "..")
        .collect();
    for n in names {
        remove_all_at(dir.as_fd(), &n)?;
    }
    drop(dir);
    unlinkat(parent, name, UnlinkatFlags::RemoveDir).map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    use tar::{EntryType, Header};

    /// A tar member with a name written raw, bypassing the builder's checks.
    fn raw(b: &mut tar::Builder<Vec<u8>>, name: &str, kind: EntryType, link: &str, data: &[u8]) {
        let mut h = Header::new_old();
        let n = name.as_bytes();
        h.as_old_mut().name[..n.len()].copy_from_slice(n);
        h.set_entry_type(kind);
        h.set_link_name_literal(link).unwrap();
        h.set_mode(if kind == EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_size(data.len() as u64);
        h.set_mtime(1_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    fn tar_of(entries: &[(&str, EntryType, &str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, link, data) in entries {
            raw(&mut b, name, *kind, link, data);
        }
        b.into_inner().unwrap()
    }

    /// Unpacks with writer threads, and checks that the reader alone
    /// gives the same result and the same tree.
    fn unpack_into(tar: &[u8]) -> (tempfile::TempDir, Result<UnpackStats, UnpackError>) {
        let dir = tempfile::tempdir().unwrap();
        let layer = dir.path().join("layer");
        std::fs::create_dir(&layer).unwrap();
        let r = unpack_with_workers(tar, &layer, 4);
        let serial = dir.path().join("serial");
        std::fs::create_dir(&serial).unwrap();
        let s = unpack_with_workers(tar, &serial, 0);
        assert_eq!(r.is_ok(), s.is_ok(), "{r:?} / {s:?}");
        if r.is_ok() {
            let (a, b) = (listing(&layer), listing(&serial));
            let diff: Vec<_> = a.iter().filter(|l| !b.contains(l)).collect();
            let diff2: Vec<_> = b.iter().filter(|l| !a.contains(l)).collect();
            assert_eq!(a, b, "threaded {diff:?} serial {diff2:?}");
        }
        (dir, r)
    }

    /// Type, mode, owner, mtime, inode group and content of every node.
    fn listing(root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut inodes: Vec<u64> = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            let mut names: Vec<_> = std::fs::read_dir(&d)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            names.sort();
            for p in names {
                let m = std::fs::symlink_metadata(&p).unwrap();
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                let ino = match inodes.iter().position(|i| *i == m.ino()) {
                    Some(i) => i,
                    None => {
                        inodes.push(m.ino());
                        inodes.len() - 1
                    }
                };
                let what = if m.is_dir() {
                    stack.push(p.clone());
                    "dir".to_string()
                } else if m.file_type().is_symlink() {
                    format!("-> {}", std::fs::read_link(&p).unwrap().display())
                } else if m.is_file() {
                    crate::digest::Digest::of(&std::fs::read(&p).unwrap())
                        .short()
                        .to_string()
                } else {
                    format!("dev {}", m.rdev())
                };
                // Nodes the tar does not describe (implied parents,
                // whiteouts) get the time of the unpack.
                let mtime = if m.mtime() == 1_000_000 { "tar" } else { "now" };
                out.push(format!(
                    "{rel} {:o} {}:{} {mtime} #{ino} {what}",
                    m.mode(),
                    m.uid(),
                    m.gid(),
                ));
            }
        }
        out.sort();
        out
    }

    use EntryType::{Directory as D, Link as L, Regular as F, Symlink as S};

    #[test]
    fn whiteout_names_classify() {
        assert_eq!(classify_whiteout(b".wh..wh..opq"), Some(Whiteout::Opaque));
        assert_eq!(
            classify_whiteout(b".wh.foo"),
            Some(Whiteout::Remove(b"foo"))
        );
        assert_eq!(classify_whiteout(b".wh..wh.plnk"), Some(Whiteout::Meta));
        assert_eq!(classify_whiteout(b"foo.wh.bar"), None);
        assert_eq!(classify_whiteout(b"foo"), None);
    }

    #[test]
    fn unpacks_files_links_and_whiteouts() {
        let tar = tar_of(&[
            ("./", D, "", b""),
            ("etc/", D, "", b""),
            ("etc/hosts", F, "", b"127.0.0.1 localhost\n"),
            ("etc/hosts2", L, "etc/hosts", b""),
            ("bin/sh", S, "busybox", b""),
            ("gone/.wh..wh..opq", F, "", b""),
            ("etc/.wh.passwd", F, "", b""),
            ("etc/.wh..wh.plnk", F, "", b""),
        ]);
        let (dir, r) = unpack_into(&tar);
        r.unwrap();
        let l = dir.path().join("layer");
        assert_eq!(
            std::fs::read_to_string(l.join("etc/hosts")).unwrap(),
            "127.0.0.1 localhost\n"
        );
        assert_eq!(
            std::fs::metadata(l.join("etc/hosts")).unwrap().ino(),
            std::fs::metadata(l.join("etc/hosts2")).unwrap().ino()
        );
        assert_eq!(
            std::fs::read_link(l.join("bin/sh")).unwrap(),
            Path::new("busybox")
        );
        assert_eq!(
            std::fs::metadata(l.join("etc/hosts")).unwrap().mtime(),
            1_000_000
        );
        assert_eq!(std::fs::metadata(l.join("etc")).unwrap().mtime(), 1_000_000);
        let wh = std::fs::symlink_metadata(l.join("etc/passwd")).unwrap();
        assert!(wh.file_type().is_char_device());
        assert_eq!(wh.rdev(), 0);
        assert!(!l.join("etc/.wh..wh.plnk").exists());
        if nix::unistd::geteuid().is_root() {
            assert_eq!(
                xattr::get(l.join("gone"), OVERLAY_OPAQUE_XATTR)
                    .unwrap()
                    .as_deref(),
                Some(&b"y"[..])
            );
        }
    }

    #[test]
    fn threaded_unpack_keeps_tar_order_where_paths_meet() {
        let mut entries: Vec<(String, EntryType, String, Vec<u8>)> = Vec::new();
        for i in 0..300 {
            entries.push((format!("many/f{i}"), F, String::new(), vec![b'a'; i * 37]));
        }
        let e = |n: &str, k, l: &str, d: &[u8]| (n.to_string(), k, l.to_string(), d.to_vec());
        entries.extend([
            // A file, then a directory of the same name with a file in it.
            e("x", F, "", b"file"),
            e("x/", D, "", b""),
            e("x/inner", F, "", b"inner"),
            // A file, then a hardlink to it, then the file rewritten.
            e("h/orig", F, "", b"orig"),
            e("h/link", L, "h/orig", b""),
            e("h/orig", F, "", b"new"),
            // A directory full of fresh files, then a whiteout of it.
            e("gone/a", F, "", b"a"),
            e("gone/b", F, "", b"b"),
            e(".wh.gone", F, "", b""),
            // A file that becomes a symlink, and one below it that is refused later.
            e("s", F, "", b"s"),
            e("s", S, "many", b""),
            // A big file written by the reader between small ones.
            e("big", F, "", &vec![7u8; 600 << 10]),
            e("many/f1", F, "", b"replaced"),
        ]);
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, link, data) in &entries {
            raw(&mut b, name, *kind, link, data);
        }
        let tar = b.into_inner().unwrap();
        let (dir, r) = unpack_into(&tar);
        r.unwrap();
        let l = dir.path().join("layer");
        assert_eq!(std::fs::read_to_string(l.join("x/inner")).unwrap(), "inner");
        assert_eq!(std::fs::read_to_string(l.join("h/link")).unwrap(), "orig");
        assert_eq!(std::fs::read_to_string(l.join("h/orig")).unwrap(), "new");
        assert!(std::fs::symlink_metadata(l.join("gone"))
            .unwrap()
            .file_type()
            .is_char_device());
        assert_eq!(std::fs::read_link(l.join("s")).unwrap(), Path::new("many"));
        assert_eq!(
            std::fs::read_to_string(l.join("many/f1")).unwrap(),
            "replaced"
        );
        assert_eq!(std::fs::read(l.join("many/f299")).unwrap().len(), 299 * 37);
    }

    #[test]
    fn later_entries_replace_earlier_ones() {
        let tar = tar_of(&[
            ("a", F, "", b"one"),
            ("a", F, "", b"two"),
            ("d/x", F, "", b"x"),
            ("d", F, "", b"file now"),
        ]);
        let (dir, r) = unpack_into(&tar);
        r.unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("layer/a")).unwrap(),
            "two"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("layer/d")).unwrap(),
            "file now"
        );
    }

    fn assert_refused(entries: &[(&str, EntryType, &str, &[u8])], bad_entry: &str, why: &str) {
        let (dir, r) = unpack_into(&tar_of(entries));
        let err = r.expect_err("unsafe archive accepted").to_string();
        assert!(err.contains(bad_entry) && err.contains(why), "{err}");
        assert!(
            !dir.path().join("escaped").exists(),
            "an entry escaped the layer directory"
        );
    }

    #[test]
    fn refuses_parent_traversal() {
        assert_refused(
            &[("ok", F, "", b""), ("../escaped", F, "", b"x")],
            "../escaped",
            "..",
        );
        assert_refused(&[("a/../../escaped", F, "", b"x")], "a/../../escaped", "..");
    }

    #[test]
    fn refuses_absolute_paths() {
        assert_refused(&[("/tmp/escaped", F, "", b"x")], "/tmp/escaped", "absolute");
        assert_eq!(safe_components(b"/"), Ok(vec![]));
        assert_eq!(
            safe_components(b"./a//b/"),
            Ok(vec![OsString::from("a"), OsString::from("b")])
        );
    }

    #[test]
    fn refuses_writing_through_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().display().to_string();
        let tar = tar_of(&[("link", S, &outside, b""), ("link/escaped", F, "", b"x")]);
        let layer = dir.path().join("layer");
        std::fs::create_dir(&layer).unwrap();
        let err = unpack(&tar[..], &layer).unwrap_err().to_string();
        assert!(
            err.contains("link/escaped") && err.contains("symlink `link`"),
            "{err}"
        );
        assert!(!dir.path().join("escaped").exists());
        // Relative symlink pointing up, then a file through it.
        assert_refused(
            &[("up", S, "..", b""), ("up/escaped", F, "", b"x")],
            "up/escaped",
            "symlink",
        );
    }

    #[test]
    fn refuses_hardlink_escapes() {
        assert_refused(&[("h", L, "../../etc/passwd", b"")], "`h`", "..");
        assert_refused(&[("h", L, "/etc/passwd", b"")], "`h`", "absolute");
        assert_refused(
            &[("up", S, "/etc", b""), ("h", L, "up/passwd", b"")],
            "`h`",
            "symlink `up`",
        );
    }

    #[test]
    fn symlink_entries_themselves_are_fine() {
        let (dir, r) = unpack_into(&tar_of(&[
            ("abs", S, "/etc/passwd", b""),
            ("rel", S, "../../x", b""),
        ]));
        r.unwrap();
        assert_eq!(
            std::fs::read_link(dir.path().join("layer/abs")).unwrap(),
            Path::new("/etc/passwd")
        );
    }

    #[test]
    fn compression_is_sniffed() {
        let tar = tar_of(&[("f", F, "", b"data")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&tar[..], 1).unwrap();
        for (blob, c) in [
            (&tar, Compression::None),
            (&gz, Compression::Gzip),
            (&zst, Compression::Zstd),
        ] {
            assert_eq!(Compression::sniff(blob), c);
            let mut out = Vec::new();
            decompress(io::BufReader::new(&blob[..]))
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, tar);
        }
    }
}
