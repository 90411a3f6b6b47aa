//! Loading `config.json` and the default spec printed by `berth spec`.

use std::path::Path;

use oci_spec::runtime::{Spec, SpecBuilder};

use crate::{Error, Result};

/// Reads and parses `<bundle>/config.json`; a parse error names the file, line and column.
/// Also returns the raw bytes and the properties the spec does not define.
pub fn load(bundle: &Path) -> Result<(Spec, Vec<u8>, Vec<String>)> {
    let path = bundle.join("config.json");
    let raw = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
    let (spec, unknown) = parse_reporting(&raw).map_err(|msg| Error::Parse { path, msg })?;
    Ok((spec, raw, unknown))
}

/// Parses a spec document; an error names the field (`linux.namespaces[3].type`) and
/// carries serde's line and column.
pub fn parse(raw: &[u8]) -> std::result::Result<Spec, String> {
    parse_reporting(raw).map(|(spec, _)| spec)
}

/// [`parse`], also returning the properties of `raw` that the spec does not define, as paths
/// (`linux.namespace`, `mounts[2].option`), found in the same pass. config.md says a runtime
/// MUST ignore them, so they are warnings, not errors; but a misspelt security setting must
/// not pass unnoticed.
pub fn parse_reporting(raw: &[u8]) -> std::result::Result<(Spec, Vec<String>), String> {
    let mut unknown = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(raw);
    let mut note = |p: serde_ignored::Path| unknown.push(dotted(&p));
    let tracked = serde_ignored::Deserializer::new(&mut de, &mut note);
    let spec: Spec = serde_path_to_error::deserialize(tracked).map_err(|e| {
        let path = e.path().to_string();
        if path == "." || path.is_empty() {
            e.into_inner().to_string()
        } else {
            format!("{path}: {}", e.into_inner())
        }
    })?;
    de.end().map_err(|e| e.to_string())?;
    Ok((spec, unknown))
}

/// `linux.seccomp.syscalls[2].names`, from serde_ignored's path.
fn dotted(p: &serde_ignored::Path) -> String {
    use serde_ignored::Path as P;
    match p {
        P::Root => String::new(),
        P::Seq { parent, index } => format!("{}[{index}]", dotted(parent)),
        P::Map { parent, key } => match dotted(parent) {
            s if s.is_empty() => key.clone(),
            s => format!("{s}.{key}"),
        },
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            dotted(parent)
        }
    }
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
        let err = parse(
            br#"{"ociVersion":"1.0.2","linux":{"namespaces":[{"type":"pid"},{"type":"bogus"}]}}"#,
        )
        .unwrap_err();
        assert!(
            err.starts_with("linux.namespaces[1].type: unknown variant `bogus`"),
            "{err}"
        );
    }

    #[test]
    fn unknown_fields_are_named_by_path() {
        let raw = br#"{"ociVersion":"1.0.2","root":{"path":"rootfs","readOnly":true},
            "process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0},"terminal":false,
              "capabilities":{"bounding":[],"effective":["CAP_KILL"]}},
            "mounts":[{"destination":"/proc","type":"proc","source":"proc"},
                      {"destination":"/x","type":"bind","source":"/y","option":["ro"]}],
            "linux":{"namespace":[{"type":"pid"}],"namespaces":[{"type":"mount"}],
                     "maskedPaths":[],"seccomp":{"defaultAction":"SCMP_ACT_ALLOW","syscals":[{"names":["x"]}]},
                     "resources":{"memory":{"limit":1}}},
            "annotations":{"anything.goes":"x"}, "x-vendor":null}"#;
        let (_, unknown) = parse_reporting(raw).unwrap();
        assert_eq!(
            unknown,
            vec![
                "root.readOnly",
                "mounts[1].option",
                "linux.namespace",
                "linux.seccomp.syscals",
                "x-vendor"
            ]
        );
        let text = serde_json::to_vec(&default_spec(false)).unwrap();
        assert!(parse_reporting(&text).unwrap().1.is_empty());
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
