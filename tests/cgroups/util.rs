//! The cgroup tests' extension of the harness: a [`Ctx`] that gives every test its own
//! `linux.cgroupsPath` (removed on drop if a failed test left it), resource and cgroup
//! namespace setters, and readers of the container's cgroup files and, in the systemd mode
//! (`BERTH_TEST_CGROUP_DRIVER=systemd`, see [`harness::systemd`]), of its scope's properties.

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::harness;
pub use crate::harness::{
    cannot_run, cgroup_dirs, in_container, is_berth, is_v2, systemd, text, unit_left,
    unit_properties, v1_mount, wait_for, KillOnDrop, CGROUP_ROOT,
};

/// The v1 controllers a runtime manages that this host has a hierarchy for.
pub fn v1_controllers() -> Vec<&'static str> {
    [
        "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "pids", "blkio", "hugetlb",
        "net_cls", "net_prio", "rdma",
    ]
    .into_iter()
    .filter(|c| v1_mount(c).is_some())
    .collect()
}

/// Whether this host can place containers under `controller` (v1: a hierarchy; v2: the
/// root's `cgroup.controllers`).
pub fn has_controller(controller: &str) -> bool {
    if is_v2() {
        std::fs::read_to_string(Path::new(CGROUP_ROOT).join("cgroup.controllers"))
            .unwrap_or_default()
            .split_whitespace()
            .any(|c| c == controller)
    } else {
        v1_mount(controller).is_some()
    }
}

/// A container's cgroup, by its path relative to the hierarchies' roots; in the systemd
/// mode also its scope unit.
#[derive(Clone, Debug)]
pub struct Cgroup {
    pub path: String,
    pub unit: Option<String>,
}

impl Cgroup {
    pub fn new(path: &str) -> Cgroup {
        Cgroup {
            path: path.trim_start_matches('/').to_string(),
            unit: None,
        }
    }

    /// The cgroup a `linux.cgroupsPath` names: in the systemd mode `slice:prefix:name` is
    /// the scope `prefix-name.scope` in the slice's directory (see [`slice_dir`]).
    pub fn of_cgroups_path(value: &str) -> Cgroup {
        if !systemd() {
            return Cgroup::new(value);
        }
        let parts: Vec<&str> = value.split(':').collect();
        let [slice, prefix, name] = parts[..] else {
            panic!("cgroupsPath {value:?} is not slice:prefix:name");
        };
        let slice = if slice.is_empty() {
            "system.slice"
        } else {
            slice
        };
        let unit = format!("{prefix}-{name}.scope");
        Cgroup {
            path: format!("{}/{unit}", slice_dir(slice)),
            unit: Some(unit),
        }
    }

    /// In the systemd mode, that systemd shows the scope's properties as `want` says
    /// (`systemctl show` formats: `67108864`, `infinity`, `500ms`, `0-1`, `yes`). The
    /// cgroupfs mode has no unit: the callers check the cgroup files in both modes.
    #[track_caller]
    pub fn assert_properties(&self, want: &[(&str, &str)]) {
        let Some(unit) = &self.unit else { return };
        // On cgroup v1 systemd names the memory limit MemoryLimit, and it has no MemoryLow,
        // MemorySwapMax, CPUWeight (CPUShares instead) or cpuset properties: runtimes write
        // those files themselves there, and the tests check the files.
        let want: Vec<(&str, &str)> = if is_v2() {
            want.to_vec()
        } else {
            want.iter()
                .filter(|(n, _)| {
                    !matches!(
                        *n,
                        "MemoryLow"
                            | "MemorySwapMax"
                            | "CPUWeight"
                            | "AllowedCPUs"
                            | "AllowedMemoryNodes"
                    )
                })
                .map(|&(n, v)| (if n == "MemoryMax" { "MemoryLimit" } else { n }, v))
                .collect()
        };
        let names: Vec<&str> = want.iter().map(|(n, _)| *n).collect();
        let got = unit_properties(unit, &names);
        for (name, value) in &want {
            let v = got.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
            assert_eq!(v, Some(*value), "{unit}: {name} (all: {got:?})");
        }
    }

    /// Nothing of this cgroup is left: no directory in any hierarchy and, in the systemd
    /// mode, no scope in any state but inactive (a failed one is left).
    #[track_caller]
    pub fn assert_gone(&self) {
        assert_eq!(self.existing(), Vec::<PathBuf>::new(), "cgroup left");
        if let Some(unit) = &self.unit {
            assert_eq!(unit_left(unit), None, "scope {unit} left");
        }
    }

    /// The directory holding `controller`'s files (v2: the one directory).
    pub fn dir(&self, controller: &str) -> PathBuf {
        if is_v2() {
            Path::new(CGROUP_ROOT).join(&self.path)
        } else {
            v1_mount(controller)
                .unwrap_or_else(|| panic!("no v1 hierarchy for {controller}"))
                .join(&self.path)
        }
    }

    /// The directories of this cgroup that exist, in any hierarchy.
    pub fn existing(&self) -> Vec<PathBuf> {
        cgroup_dirs(&self.path)
            .into_iter()
            .filter(|d| d.exists())
            .collect()
    }

    /// The trimmed content of `file` in `controller`'s directory.
    pub fn read(&self, controller: &str, file: &str) -> String {
        let p = self.dir(controller).join(file);
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
            .trim()
            .to_string()
    }

    pub fn has(&self, controller: &str, file: &str) -> bool {
        (is_v2() || v1_mount(controller).is_some()) && self.dir(controller).join(file).exists()
    }

    /// A `key value` line of a flat-keyed file (`memory.events`, `pids.events`, ...).
    pub fn key(&self, controller: &str, file: &str, key: &str) -> Option<u64> {
        self.read(controller, file).lines().find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == key).then(|| v.trim().parse().ok())?
        })
    }
}

/// The cgroup path of `pid` as `/proc/PID/cgroup` shows it for `controller` (v2: the
/// `0::` line).
pub fn proc_cgroup(pid: i32, controller: &str) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    cgroup_line(&s, if is_v2() { "" } else { controller })
}

/// The path of `controller`'s line (`""`: the v2 `0::` line) in a `/proc/PID/cgroup` text.
pub fn cgroup_line(text: &str, controller: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        let hit = if controller.is_empty() {
            ctrls.is_empty()
        } else {
            ctrls.split(',').any(|c| c == controller)
        };
        hit.then(|| path.to_string())
    })
}

/// systemd's cgroup directory of `slice` (relative to the root): `a-b.slice` is
/// `a.slice/a-b.slice`, `-.slice` the root.
pub fn slice_dir(slice: &str) -> String {
    let stem = slice
        .strip_suffix(".slice")
        .unwrap_or_else(|| panic!("{slice} is no slice"));
    if stem == "-" {
        return String::new();
    }
    let mut dirs = Vec::new();
    let mut acc = String::new();
    for part in stem.split('-') {
        if !acc.is_empty() {
            acc.push('-');
        }
        acc.push_str(part);
        dirs.push(format!("{acc}.slice"));
    }
    dirs.join("/")
}

/// The harness's [`harness::Ctx`] with a cgroup of its own, removed on drop after the
/// containers: `linux.cgroupsPath` is `/berth-test-<pid>-<n>`; in the systemd mode
/// `system.slice:berth-test:<pid>-<n>`, the scope `berth-test-<pid>-<n>.scope` in
/// `system.slice`, stopped on drop if still there.
pub struct Ctx(harness::Ctx);

impl Deref for Ctx {
    type Target = harness::Ctx;
    fn deref(&self) -> &harness::Ctx {
        &self.0
    }
}

impl DerefMut for Ctx {
    fn deref_mut(&mut self) -> &mut harness::Ctx {
        &mut self.0
    }
}

impl Ctx {
    pub fn new() -> Ctx {
        let name = format!("{}-{}", std::process::id(), harness::unique());
        let path = if systemd() {
            format!("system.slice:berth-test:{name}")
        } else {
            format!("/berth-test-{name}")
        };
        let mut c = Ctx(harness::Ctx::new());
        c.set_cgroups_path(&path);
        c
    }

    /// Sets `linux.cgroupsPath`, and owns its cgroup (and unit) for the cleanup.
    pub fn set_cgroups_path(&mut self, path: &str) {
        self.config["linux"]["cgroupsPath"] = json!(path);
        let cg = Cgroup::of_cgroups_path(path);
        self.own_cgroup(&cg.path);
        if let Some(unit) = &cg.unit {
            self.own_unit(unit);
        }
    }

    /// This test's cgroup (as `linux.cgroupsPath` now says).
    pub fn cgroup(&self) -> Cgroup {
        let path = self.config["linux"]["cgroupsPath"]
            .as_str()
            .expect("cgroupsPath set");
        Cgroup::of_cgroups_path(path)
    }

    /// Sets `linux.resources.KEY` (keeping the device rules).
    pub fn resource(&mut self, key: &str, v: Value) -> &mut Self {
        self.config["linux"]["resources"][key] = v;
        self
    }

    /// Adds a cgroup namespace and a `type: cgroup` mount at /sys/fs/cgroup.
    pub fn cgroupns(&mut self) -> &mut Self {
        self.config["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "cgroup"}));
        self.config["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]
        }));
        self
    }
}

/// The v2 `cpu.weight` for v1 shares: runc's first linear map or the current one.
pub fn weights_for(shares: u64) -> [u64; 2] {
    [
        1 + ((shares - 2) * 9999) / 262142,
        berth_cgroups::v2::cpu::shares_to_weight(shares),
    ]
}
