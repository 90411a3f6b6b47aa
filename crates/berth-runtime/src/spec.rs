//! Loading `config.json` and the default spec printed by `berth spec`.

use std::path::Path;

use oci_spec::runtime::{Spec, SpecBuilder};

use crate::{Error, Result};

/// Reads and parses `<bundle>/config.json`; a parse error names the file, line and column.
pub fn load(bundle: &Path) -> Result<(Spec, Vec<u8>)> {
    let path = bundle.join("config.json");
    let raw = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
    let spec = parse(&raw).map_err(|msg| Error::Parse { path, msg })?;
    Ok((spec, raw))
}

/// Parses a spec document; the error message carries serde's line and column.
pub fn parse(raw: &[u8]) -> std::result::Result<Spec, String> {
    serde_json::from_slice(raw).map_err(|e| e.to_string())
}

/// The spec `berth spec` writes: runc's defaults, with `berth` as hostname.
pub fn default_spec(rootless: bool) -> Spec {
    let mut spec = if rootless {
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        Spec::rootless(uid, gid)
    } else {
        Spec::default()
    };
    spec.set_hostname(Some("berth".into()));
    if let Some(p) = spec.process_mut() {
        p.set_terminal(Some(true));
    }
    spec
}

/// An empty spec, for tests that build one field by field.
pub fn empty() -> Spec {
    SpecBuilder::default().build().expect("empty spec")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_error_names_line_and_column() {
        let err = parse(b"{\n  \"ociVersion\": \"1.0.2\",\n  \"process\": [}").unwrap_err();
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("column"), "{err}");
    }

    #[test]
    fn default_spec_round_trips() {
        let spec = default_spec(false);
        let text = serde_json::to_vec(&spec).unwrap();
        let back = parse(&text).unwrap();
        assert_eq!(back.hostname().as_deref(), Some("berth"));
        assert!(back.linux().as_ref().unwrap().namespaces().is_some());
    }
}
