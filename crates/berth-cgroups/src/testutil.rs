//! A fake cgroupfs in a temp dir: directories and the files the "kernel"
//! offers, so the exact writes can be checked without root.

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

pub(crate) struct FakeFs {
    pub(crate) tmp: tempfile::TempDir,
}

impl FakeFs {
    pub(crate) fn new() -> FakeFs {
        FakeFs {
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    pub(crate) fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// Creates `rel/file` under the root with `content`.
    pub(crate) fn file(&self, rel: &str, content: &str) -> &Self {
        let p = self.root().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
        self
    }

    pub(crate) fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }
}

/// Parses `linux.resources` from JSON, as it appears in config.json.
pub(crate) fn resources(v: serde_json::Value) -> LinuxResources {
    serde_json::from_value(v).unwrap()
}
