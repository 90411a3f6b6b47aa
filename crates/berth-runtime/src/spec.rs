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

/// Parses a spec document; an error names the field (`linux.namespaces[3].type`) and
/// carries serde's line and column.
pub fn parse(raw: &[u8]) -> std::result::Result<Spec, String> {
    let mut de = serde_json::Deserializer::from_slice(raw);
    let spec: Spec = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        if path == "." || path.is_empty() {
            e.into_inner().to_string()
        } else {
            format!("{path}: {}", e.into_inner())
        }
    })?;
    de.end().map_err(|e| e.to_string())?;
    Ok(spec)
}

/// Properties of `raw` that the spec does not define, as paths (`linux.namespace`,
/// `mounts[2].option`). config.md says a runtime MUST ignore them, so they are warnings, not
/// errors; but a misspelt security setting must not pass unnoticed.
pub fn unknown_fields(raw: &[u8], spec: &Spec) -> Vec<String> {
    let (Ok(raw), Ok(known)) = (
        serde_json::from_slice::<serde_json::Value>(raw),
        serde_json::to_value(spec),
    ) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    walk("", &raw, &known, &mut out);
    out
}

fn walk(path: &str, raw: &serde_json::Value, known: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (raw, known) {
        (Value::Object(r), Value::Object(k)) => {
            for (key, v) in r {
                let p = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match k.get(key) {
                    Some(kv) => walk(&p, v, kv, out),
                    // Known fields left out when serialized: null or empty values.
                    None if is_empty(v) => {}
                    None => out.push(p),
                }
            }
        }
        (Value::Array(r), Value::Array(k)) => {
            for (i, (rv, kv)) in r.iter().zip(k).enumerate() {
                walk(&format!("{path}[{i}]"), rv, kv, out);
            }
        }
        _ => {}
    }
}

fn is_empty(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => true,
        serde_json::Value::Array(a) => a.is_empty(),
        serde_json::Value::Object(o) => o.is_empty(),
        _ => false,
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
        let spec = parse(raw).unwrap();
        assert_eq!(
            unknown_fields(raw, &spec),
            vec![
                "linux.namespace",
                "linux.seccomp.syscals",
                "mounts[1].option",
                "root.readOnly"
            ]
        );
        let text = serde_json::to_vec(&default_spec(false)).unwrap();
        assert!(unknown_fields(&text, &parse(&text).unwrap()).is_empty());
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
