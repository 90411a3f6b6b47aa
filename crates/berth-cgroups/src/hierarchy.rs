//! Where this host's cgroup hierarchies are mounted, read once per process
//! from `/proc/self/mountinfo` (as runc does), never guessed from directory
//! names: another tool may leave a plain `/sys/fs/cgroup/hugetlb` directory
//! on a host whose hugetlb controller lives in the cgroup2 mount.
//!
//! [`Hierarchies::parse`] is a pure function of the mountinfo text, so every
//! layout (legacy, hybrid, unified, co-mounted controllers, named
//! hierarchies, stray directories, mounts hidden by later mounts) is
//! unit-tested from sample texts.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::error::{CgroupError, Result};
use crate::{CgroupMode, DEFAULT_ROOT};

/// The named v1 hierarchy that systemd (and runc, crun) place every process in.
pub const SYSTEMD_NAME: &str = "name=systemd";

/// The kernel's v1 controllers: a super option of a `cgroup` mount is a
/// controller if it is one of these (or `name=...`); the rest are mount
/// options (`rw`, `xattr`, `clone_children`, `release_agent=...`).
const KNOWN_CONTROLLERS: [&str; 15] = [
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
    "debug",
];

/// One mounted cgroup v1 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Hierarchy {
    /// Where it is mounted, e.g. `/sys/fs/cgroup/cpu,cpuacct`.
    pub mount_point: PathBuf,
    /// Its controllers (`cpu`, `cpuacct`) and its name (`name=systemd`),
    /// from the mount's super options, in their order there.
    pub controllers: Vec<String>,
}

impl V1Hierarchy {
    /// True if `controller` (`memory`, `name=systemd`) is in this hierarchy.
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }

    /// True if a container joins it: it holds a kernel controller, or it is
    /// systemd's named hierarchy. Other named hierarchies belong to other
    /// tools and are left alone (as runc does).
    pub fn joined(&self) -> bool {
        self.controllers
            .iter()
            .any(|c| c == SYSTEMD_NAME || !c.starts_with("name="))
    }
}

/// The host facts a cgroupfs manager needs: the cgroup mode and the mount
/// point of each hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchies {
    mode: CgroupMode,
    root: PathBuf,
    v1: Vec<V1Hierarchy>,
    unified: Option<PathBuf>,
}

static HOST: OnceLock<Arc<Hierarchies>> = OnceLock::new();
static HOST_CGROUP_LINES: OnceLock<Arc<str>> = OnceLock::new();

fn read_mountinfo() -> Result<String> {
    let path = Path::new("/proc/self/mountinfo");
    std::fs::File::open(path)
        .and_then(crate::at::read_all)
        .map_err(|e| CgroupError::io("read", path, e))
}

/// The `cgroup` and `cgroup2` lines of the `/proc/self/mountinfo` that
/// [`Hierarchies::host`] was parsed from (read here if it was not), cached
/// for the life of the process: a child forked from it, whose copied mount
/// namespace has the same cgroup mounts until it changes them, needs no read
/// of its own. Only those lines are kept (a node's mountinfo can be large).
pub fn host_cgroup_mounts() -> Result<Arc<str>> {
    if let Some(t) = HOST_CGROUP_LINES.get() {
        return Ok(t.clone());
    }
    Ok(keep_cgroup_lines(&read_mountinfo()?))
}

fn keep_cgroup_lines(text: &str) -> Arc<str> {
    let lines = cgroup_lines(text);
    HOST_CGROUP_LINES.get_or_init(|| Arc::from(lines)).clone()
}

fn cgroup_lines(text: &str) -> String {
    text.lines()
        .filter(|l| {
            l.split_once(" - ")
                .and_then(|(_, post)| post.split_whitespace().next())
                .is_some_and(|t| t == "cgroup" || t == "cgroup2")
        })
        .flat_map(|l| [l, "\n"])
        .collect()
}

impl Hierarchies {
    /// This host's hierarchies, parsed from `/proc/self/mountinfo` on the
    /// first call and cached for the life of the process.
    pub fn host() -> Result<Arc<Hierarchies>> {
        if let Some(h) = HOST.get() {
            return Ok(h.clone());
        }
        let text = read_mountinfo()?;
        keep_cgroup_lines(&text);
        let h = Arc::new(Hierarchies::parse(&text, Path::new(DEFAULT_ROOT)));
        Ok(HOST.get_or_init(|| h).clone())
    }

    /// Decodes a mountinfo text. `root` is where cgroups are expected
    /// (`/sys/fs/cgroup`): a cgroup2 mount there means a unified host; else
    /// the `cgroup` (v1) mounts make a legacy host, and a hybrid one when
    /// cgroup2 is also mounted at `root/unified`. A cgroup2 mount anywhere
    /// else belongs to some other tool and is ignored. A mount hidden by a
    /// later mount on the same path or above it does not count.
    pub fn parse(mountinfo: &str, root: &Path) -> Hierarchies {
        // Only cgroup mounts and the mounts on the way to or below `root` can
        // matter; a node with thousands of container mounts elsewhere must
        // not cost an allocation per line.
        let mounts: Vec<Mount> = mountinfo
            .lines()
            .filter_map(|l| parse_line(l, root))
            .collect();
        let visible: Vec<&Mount> = mounts
            .iter()
            .filter(|m| m.fstype == "cgroup" || m.fstype == "cgroup2")
            .filter(|m| is_visible(&mounts, m))
            .collect();
        if visible
            .iter()
            .any(|m| m.fstype == "cgroup2" && m.mount_point == root)
        {
            return Hierarchies::unified_at(root);
        }
        let mut v1: Vec<(String, V1Hierarchy)> = Vec::new();
        for m in visible.iter().filter(|m| m.fstype == "cgroup") {
            let controllers: Vec<String> = m
                .super_options
                .split(',')
                .filter(|o| o.starts_with("name=") || KNOWN_CONTROLLERS.contains(o))
                .map(str::to_string)
                .collect();
            if controllers.is_empty() {
                continue;
            }
            let h = V1Hierarchy {
                mount_point: m.mount_point.clone(),
                controllers,
            };
            // One hierarchy (one superblock) may be mounted several times:
            // keep the first mount, unless a later one sits under `root`.
            match v1.iter_mut().find(|(dev, _)| *dev == m.dev) {
                None => v1.push((m.dev.clone(), h)),
                Some((_, kept)) => {
                    if !kept.mount_point.starts_with(root) && h.mount_point.starts_with(root) {
                        *kept = h;
                    }
                }
            }
        }
        let unified_dir = root.join("unified");
        let unified = visible
            .iter()
            .any(|m| m.fstype == "cgroup2" && m.mount_point == unified_dir)
            .then_some(unified_dir);
        Hierarchies {
            mode: if unified.is_some() {
                CgroupMode::Hybrid
            } else {
                CgroupMode::Legacy
            },
            root: root.to_path_buf(),
            v1: v1.into_iter().map(|(_, h)| h).collect(),
            unified,
        }
    }

    /// The hierarchies a caller recorded earlier from [`Hierarchies::v1`] and
    /// [`Hierarchies::unified`] of the host's, under the default root: no
    /// mountinfo read (a verb on an existing container finds its cgroups
    /// where they were made).
    pub fn recorded(v1: Vec<V1Hierarchy>, unified: Option<PathBuf>) -> Hierarchies {
        let root = PathBuf::from(DEFAULT_ROOT);
        let mode = match &unified {
            Some(u) if *u == root => CgroupMode::Unified,
            Some(_) => CgroupMode::Hybrid,
            None => CgroupMode::Legacy,
        };
        Hierarchies {
            mode,
            root,
            v1,
            unified,
        }
    }

    /// A unified host whose cgroup2 mount is `root` (also for tests on a
    /// fake cgroupfs in a temp dir).
    pub fn unified_at(root: &Path) -> Hierarchies {
        Hierarchies {
            mode: CgroupMode::Unified,
            root: root.to_path_buf(),
            v1: Vec::new(),
            unified: Some(root.to_path_buf()),
        }
    }

    /// A v1 host with the given hierarchies (each a list of controllers
    /// mounted together at `root/<name>`, named after the first one), plus a
    /// cgroup2 mount at `root/unified` if `hybrid`. For tests on a fake
    /// cgroupfs.
    pub fn v1_at(root: &Path, hierarchies: &[&[&str]], hybrid: bool) -> Hierarchies {
        Hierarchies {
            mode: if hybrid {
                CgroupMode::Hybrid
            } else {
                CgroupMode::Legacy
            },
            root: root.to_path_buf(),
            v1: hierarchies
                .iter()
                .map(|cs| V1Hierarchy {
                    mount_point: root.join(cs[0].strip_prefix("name=").unwrap_or(cs[0])),
                    controllers: cs.iter().map(|c| c.to_string()).collect(),
                })
                .collect(),
            unified: hybrid.then(|| root.join("unified")),
        }
    }

    /// How the host mounts cgroups.
    pub fn mode(&self) -> CgroupMode {
        self.mode
    }

    /// The cgroup mount root (`/sys/fs/cgroup`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The mounted v1 hierarchies (none on a unified host).
    pub fn v1(&self) -> &[V1Hierarchy] {
        &self.v1
    }

    /// The hierarchy holding the v1 `controller` (`memory`, `name=systemd`).
    pub fn v1_hierarchy(&self, controller: &str) -> Option<&V1Hierarchy> {
        self.v1.iter().find(|h| h.has(controller))
    }

    /// The mount point of the hierarchy holding the v1 `controller`.
    pub fn v1_mount(&self, controller: &str) -> Option<&Path> {
        self.v1_hierarchy(controller)
            .map(|h| h.mount_point.as_path())
    }

    /// The cgroup2 mount: the root on a unified host, `root/unified` on a
    /// hybrid one, `None` on a legacy one.
    pub fn unified(&self) -> Option<&Path> {
        self.unified.as_deref()
    }
}

/// The fields of one mountinfo line that matter here.
#[derive(Debug)]
struct Mount {
    id: u64,
    parent: u64,
    dev: String,
    mount_point: PathBuf,
    fstype: String,
    super_options: String,
}

/// Parses `36 35 98:0 /root /mnt/point rw,noatime shared:1 - fstype source super,opts`,
/// if it is a cgroup mount or one whose mount point is on the way to or
/// below `root`.
fn parse_line(line: &str, root: &Path) -> Option<Mount> {
    let mut fields = line.split(' ');
    let id = fields.next()?;
    let parent = fields.next()?;
    let dev = fields.next()?;
    let _mount_root = fields.next()?;
    let mount_point = fields.next()?;
    let mut rest = fields.skip(1).skip_while(|f| *f != "-").skip(1);
    let fstype = rest.next()?;
    let _source = rest.next()?;
    let super_options = rest.next().unwrap_or("");
    let related = |mp: &str| {
        let root = root.to_str().unwrap_or("/");
        let under = |a: &str, b: &str| {
            a.strip_prefix(b)
                .is_some_and(|r| r.is_empty() || r.starts_with('/') || b.ends_with('/'))
        };
        under(root, mp) || under(mp, root)
    };
    if !fstype.starts_with("cgroup") && !related(mount_point) {
        return None;
    }
    Some(Mount {
        id: id.parse().ok()?,
        parent: parent.parse().ok()?,
        dev: dev.to_string(),
        mount_point: PathBuf::from(unescape(mount_point)),
        fstype: fstype.to_string(),
        super_options: super_options.to_string(),
    })
}

/// True if `m` can be reached by its mount point: neither it nor a mount
/// it sits on is covered by a later mount. The tree (mount and parent ids)
/// decides, not the order of the lines: a mount moved with `MS_MOVE` (as
/// `switch_root` moves `/sys`) keeps its old, lower id.
fn is_visible(mounts: &[Mount], m: &Mount) -> bool {
    let mut cur = m;
    // The mount we came from: it may sit on `cur`'s root, covering `cur`
    // for everyone but itself.
    let mut from: Option<u64> = None;
    // Bounded: a corrupt text with a parent cycle must not loop forever.
    for _ in 0..mounts.len() + 1 {
        let covered = mounts.iter().any(|n| {
            n.id != cur.id
                && Some(n.id) != from
                && ((n.parent == cur.id && n.mount_point == cur.mount_point)
                    || (n.parent == cur.parent
                        && cur.mount_point.starts_with(&n.mount_point)
                        && (n.mount_point != cur.mount_point || n.id > cur.id)))
        });
        if covered {
            return false;
        }
        match mounts.iter().find(|p| p.id == cur.parent && p.id != cur.id) {
            Some(p) => {
                from = Some(cur.id);
                cur = p;
            }
            // The root of this mount namespace.
            None => return true,
        }
    }
    false
}

/// Undoes the kernel's octal escapes of space, tab, newline and backslash.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests;
