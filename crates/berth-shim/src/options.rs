//! The runtime options containerd attaches to a create request, and what the shim remembers
//! of them in the bundle for the `delete` subcommand.
//!
//! containerd passes runc shims `containerd.runc.v1.Options`: `Root` (the state root; berth
//! uses `Root/<namespace>` as the runc shim does), `SystemdCgroup` (the systemd cgroup driver,
//! as `berth --systemd-cgroup`), `NoPivotRoot`, `NoNewKeyring`; `BinaryName` does not apply (the
//! runtime is linked in) and is ignored. CRI sends `runtimeoptions.v1.Options` for runtime types
//! it does not know (containerd 1.6 has no way to give another shim runc's options): their
//! `ConfigPath` names a TOML file with the same keys as runc's options (`SystemdCgroup`, `Root`,
//! `NoPivotRoot`, `NoNewKeyring`), e.g. `SystemdCgroup = true` for containerd's CRI with the
//! systemd cgroup driver.

use std::path::{Path, PathBuf};

use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::Message;
use containerd_shim::protos::shim::oci::Options as RuncOptions;
use log::info;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The file in the bundle where the shim records where the container's state is.
pub const BUNDLE_FILE: &str = "berth-shim.json";
/// The state root inside the bundle, when the options name none.
const BUNDLE_ROOT: &str = ".berth";

/// The options that matter to berth.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pub root: Option<PathBuf>,
    pub systemd_cgroup: bool,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
}

/// Parses `CreateTaskRequest.options`.
pub fn parse(any: Option<&Any>) -> Result<Options> {
    let Some(any) = any.filter(|a| !a.type_url.is_empty()) else {
        return Ok(Options::default());
    };
    let name = any.type_url.rsplit('/').next().unwrap_or_default();
    match name {
        "containerd.runc.v1.Options" => {
            let o = RuncOptions::parse_from_bytes(&any.value)
                .map_err(|e| Error::invalid("options", format!("{name}: {e}")))?;
            if !o.binary_name.is_empty() {
                info!(
                    "options.BinaryName {:?} ignored: berth is linked in",
                    o.binary_name
                );
            }
            Ok(Options {
                root: (!o.root.is_empty()).then(|| PathBuf::from(o.root)),
                systemd_cgroup: o.systemd_cgroup,
                no_pivot: o.no_pivot_root,
                no_new_keyring: o.no_new_keyring,
            })
        }
        "runtimeoptions.v1.Options" => match config_path(&any.value)? {
            Some(p) => from_file(&p),
            None => Ok(Options::default()),
        },
        other => {
            info!("runtime options of type {other:?} ignored");
            Ok(Options::default())
        }
    }
}

/// `runtimeoptions.v1.Options.config_path` (field 2; field 1 is a type URL).
fn config_path(bytes: &[u8]) -> Result<Option<PathBuf>> {
    let bad = |e: containerd_shim::protos::protobuf::Error| {
        Error::invalid("options", format!("runtimeoptions.v1.Options: {e}"))
    };
    let mut is = containerd_shim::protos::protobuf::CodedInputStream::from_bytes(bytes);
    let mut path = None;
    while let Some(tag) = is.read_raw_tag_or_eof().map_err(bad)? {
        if tag == (2 << 3 | 2) {
            path = Some(is.read_string().map_err(bad)?);
        } else {
            let wire = containerd_shim::protos::protobuf::rt::WireType::new(tag & 7)
                .ok_or_else(|| Error::invalid("options", format!("bad wire type in tag {tag}")))?;
            is.skip_field(wire).map_err(bad)?;
        }
    }
    Ok(path.filter(|p| !p.is_empty()).map(PathBuf::from))
}

/// The options file that `runtimeoptions.v1.Options.config_path` names: runc's keys in TOML.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct OptionsFile {
    #[serde(default)]
    root: String,
    #[serde(default)]
    systemd_cgroup: bool,
    #[serde(default)]
    no_pivot_root: bool,
    #[serde(default)]
    no_new_keyring: bool,
}

fn from_file(p: &Path) -> Result<Options> {
    let text = std::fs::read_to_string(p).map_err(|e| Error::io("read", p, e))?;
    let f: OptionsFile = toml::from_str(&text)
        .map_err(|e| Error::invalid(p.display().to_string(), e.to_string()))?;
    Ok(Options {
        root: (!f.root.is_empty()).then(|| PathBuf::from(f.root)),
        systemd_cgroup: f.systemd_cgroup,
        no_pivot: f.no_pivot_root,
        no_new_keyring: f.no_new_keyring,
    })
}

/// What the bundle file records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleRecord {
    /// The runtime library's state root for this container.
    pub root: PathBuf,
    /// Whether `<bundle>/rootfs` was mounted by the shim (and is unmounted at delete).
    pub rootfs_mounted: bool,
}

impl BundleRecord {
    /// The record for a container of `namespace` in `bundle`.
    pub fn new(opts: &Options, bundle: &Path, namespace: &str, rootfs_mounted: bool) -> Self {
        let root = match &opts.root {
            Some(r) => r.join(namespace),
            None => bundle.join(BUNDLE_ROOT),
        };
        BundleRecord {
            root,
            rootfs_mounted,
        }
    }

    /// Writes it into `bundle` (before anything is made, so `delete` can always clean up).
    pub fn save(&self, bundle: &Path) -> Result<()> {
        let p = bundle.join(BUNDLE_FILE);
        let tmp = bundle.join(format!(".{BUNDLE_FILE}"));
        let body =
            serde_json::to_vec(self).map_err(|e| Error::invalid(BUNDLE_FILE, e.to_string()))?;
        std::fs::write(&tmp, body).map_err(|e| Error::io("write", &tmp, e))?;
        std::fs::rename(&tmp, &p).map_err(|e| Error::io("rename", &p, e))
    }

    /// Reads it from `bundle`; `None` if the shim never got as far as writing it.
    pub fn load(bundle: &Path) -> Result<Option<Self>> {
        let p = bundle.join(BUNDLE_FILE);
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| Error::invalid(p.display().to_string(), e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", &p, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_options_are_read_and_binary_name_ignored() {
        let o = RuncOptions {
            root: "/run/r".into(),
            binary_name: "runc".into(),
            systemd_cgroup: true,
            no_pivot_root: true,
            ..Default::default()
        };
        let any = Any {
            type_url: "containerd.runc.v1.Options".into(),
            value: o.write_to_bytes().unwrap(),
            ..Default::default()
        };
        let p = parse(Some(&any)).unwrap();
        assert_eq!(p.root.as_deref(), Some(Path::new("/run/r")));
        assert!(p.systemd_cgroup && p.no_pivot && !p.no_new_keyring);
        let rec = BundleRecord::new(&p, Path::new("/b"), "k8s.io", true);
        assert_eq!(rec.root, Path::new("/run/r/k8s.io"));
    }

    #[test]
    fn runtimeoptions_config_path_names_a_toml_file_of_runc_keys() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("berth.toml");
        std::fs::write(&f, "SystemdCgroup = true\nRoot = \"/run/b\"\n").unwrap();
        let path = f.to_str().unwrap().as_bytes();
        // Field 1 (type URL) then field 2 (config path), both length-delimited.
        let mut value = vec![0x0a, 3, b'a', b'b', b'c', 0x12, path.len() as u8];
        value.extend_from_slice(path);
        let any = Any {
            type_url: "runtimeoptions.v1.Options".into(),
            value,
            ..Default::default()
        };
        let p = parse(Some(&any)).unwrap();
        assert!(p.systemd_cgroup && !p.no_pivot);
        assert_eq!(p.root.as_deref(), Some(Path::new("/run/b")));
        std::fs::write(&f, "SystemdCgroups = true\n").unwrap();
        assert!(parse(Some(&any)).is_err(), "a misspelt key is refused");
        let none = Any {
            type_url: "runtimeoptions.v1.Options".into(),
            ..Default::default()
        };
        assert_eq!(parse(Some(&none)).unwrap(), Options::default());
    }

    #[test]
    fn no_options_keep_the_state_in_the_bundle() {
        let p = parse(None).unwrap();
        assert_eq!(p, Options::default());
        let rec = BundleRecord::new(&p, Path::new("/b"), "default", false);
        assert_eq!(rec.root, Path::new("/b/.berth"));
        let cri = Any {
            type_url: "runtimeoptions.v1.Options".into(),
            ..Default::default()
        };
        assert_eq!(parse(Some(&cri)).unwrap(), Options::default());
        let bad = Any {
            type_url: "containerd.runc.v1.Options".into(),
            value: vec![0xff, 0xff],
            ..Default::default()
        };
        assert!(parse(Some(&bad)).is_err());
    }

    #[test]
    fn the_record_round_trips_through_the_bundle() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(BundleRecord::load(d.path()).unwrap(), None);
        let rec = BundleRecord::new(&Options::default(), d.path(), "ns", true);
        rec.save(d.path()).unwrap();
        assert_eq!(BundleRecord::load(d.path()).unwrap(), Some(rec));
    }
}
