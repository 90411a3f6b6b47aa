//! Loading `config.json` and the default spec printed by `berth spec`.

use std::path::Path;

use oci_spec::runtime::{Spec, SpecBuilder};

use crate::{Error, Result};

/// Reads and parses `<bundle>/config.json`; a parse error names the file, line and column.
/// Also returns the properties the spec does not define.
pub fn load(bundle: &Path) -> Result<(Spec, Vec<String>)> {
    let path = bundle.join("config.json");
    let raw = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
    let (spec, unknown) = parse_reporting(&raw).map_err(|msg| Error::Parse { path, msg })?;
    Ok((spec, unknown))
}

/// Reads a process document (`exec --process`). A missing `user` is uid and gid 0, as runc
/// takes it.
pub fn load_process(path: &Path) -> Result<oci_spec::runtime::Process> {
    let raw = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
    let bad = |msg: String| Error::Parse {
        path: path.to_path_buf(),
        msg,
    };
    let mut v: serde_json::Value = serde_json::from_slice(&raw).map_err(|e| bad(e.to_string()))?;
    if let Some(m) = v.as_object_mut() {
        m.entry("user")
            .or_insert_with(|| serde_json::json!({"uid": 0, "gid": 0}));
    }
    serde_path_to_error::deserialize(v).map_err(|e| bad(format!("{}: {}", e.path(), e.inner())))
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
    let value: serde_json::Value = serde_json::from_slice(raw).map_err(|e| e.to_string())?;
    check_shapes(&value, &mut Vec::new(), &mut Vec::new())?;
    let mut unknown = Vec::new();
    let mut note = |p: serde_ignored::Path| unknown.push(dotted(&p));
    let tracked = serde_ignored::Deserializer::new(value, &mut note);
    let spec: Spec = serde_path_to_error::deserialize(tracked).map_err(|e| {
        let path = e.path().to_string();
        if path == "." || path.is_empty() {
            e.into_inner().to_string()
        } else {
            format!("{path}: {}", e.into_inner())
        }
    })?;
    Ok((spec, unknown))
}

/// The spec's objects (`*` stands for any array index or map key). serde would also take an
/// array for an object, by position (`"resources": []`); runc refuses that, and so does berth.
const OBJECTS: &[&str] = &[
    "",
    "root",
    "process",
    "process.user",
    "process.capabilities",
    "process.consoleSize",
    "process.rlimits.*",
    "process.scheduler",
    "process.ioPriority",
    "process.execCPUAffinity",
    "mounts.*",
    "hooks",
    "hooks.*.*",
    "annotations",
    "linux",
    "linux.namespaces.*",
    "linux.uidMappings.*",
    "linux.gidMappings.*",
    "linux.devices.*",
    "linux.sysctl",
    "linux.resources",
    "linux.resources.devices.*",
    "linux.resources.memory",
    "linux.resources.cpu",
    "linux.resources.pids",
    "linux.resources.blockIO",
    "linux.resources.hugepageLimits.*",
    "linux.resources.network",
    "linux.resources.rdma",
    "linux.resources.unified",
    "linux.seccomp",
    "linux.seccomp.syscalls.*",
    "linux.seccomp.syscalls.*.args.*",
    "linux.intelRdt",
    "linux.personality",
    "linux.memoryPolicy",
    "linux.timeOffsets",
];

/// Whether the JSON path `path` (its dot-separated segments, `*` for an array index; the
/// document itself is `[""]`) is one of the spec's objects named by `pattern`.
fn shape_matches(pattern: &[&str], path: &[&str]) -> bool {
    let path = if path.is_empty() { &[""][..] } else { path };
    pattern.len() == path.len() && pattern.iter().zip(path).all(|(a, b)| *a == "*" || a == b)
}

/// [`OBJECTS`] split at their dots, once: every array and scalar of a document is matched
/// against all of them.
fn object_patterns() -> &'static [Vec<&'static str>] {
    static SPLIT: std::sync::OnceLock<Vec<Vec<&'static str>>> = std::sync::OnceLock::new();
    SPLIT.get_or_init(|| OBJECTS.iter().map(|p| p.split('.').collect()).collect())
}

/// A step of the JSON path as errors print it.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// The JSON path as errors print it (`linux.namespaces[2]`).
fn shown(steps: &[Step<'_>]) -> String {
    let mut s = String::new();
    for step in steps {
        match step {
            Step::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Step::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Refuses an array (or scalar) where the spec has an object. `path` holds the segments
/// matched against [`OBJECTS`] (a key's own dots split it, an index is `*`), `steps` the
/// path as errors print it; both are restored on return, and nothing is allocated per node
/// unless a document has an error.
fn check_shapes<'a>(
    v: &'a serde_json::Value,
    path: &mut Vec<&'a str>,
    steps: &mut Vec<Step<'a>>,
) -> std::result::Result<(), String> {
    use serde_json::Value;
    let object = || object_patterns().iter().any(|p| shape_matches(p, path));
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let depth = path.len();
                path.extend(k.split('.'));
                steps.push(Step::Key(k));
                check_shapes(child, path, steps)?;
                steps.pop();
                path.truncate(depth);
            }
        }
        Value::Null => {}
        Value::Array(items) if !object() => {
            for (i, child) in items.iter().enumerate() {
                path.push("*");
                steps.push(Step::Index(i));
                check_shapes(child, path, steps)?;
                steps.pop();
                path.pop();
            }
        }
        other if object() => {
            let kind = match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                _ => "a boolean",
            };
            let at = match shown(steps) {
                s if s.is_empty() => "config.json".to_string(),
                s => s,
            };
            return Err(format!("{at}: expected an object, found {kind}"));
        }
        _ => {}
    }
    Ok(())
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

/// The spec `berth spec` writes: runc's template (scripts that edit it expect exactly its
/// content: no cgroup namespace, a deny-all device rule first), with `berth` as hostname. The
/// rootless variant maps the caller's ids and binds `/sys` instead of mounting it.
pub fn default_spec(rootless: bool) -> Spec {
    serde_json::from_value(default_spec_json(rootless)).expect("the template is a valid spec")
}

/// [`default_spec`] as JSON, in the order runc writes its lists.
pub fn default_spec_json(rootless: bool) -> serde_json::Value {
    let caps = serde_json::json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut mounts = serde_json::json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
    ]);
    let mut linux = serde_json::json!({
        "resources": {"devices": [{"allow": false, "access": "rwm"}]},
        "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                       {"type": "mount"}],
        "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                        "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
        "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
    });
    if rootless {
        let map = |id: u32| serde_json::json!([{"containerID": 0, "hostID": id, "size": 1}]);
        linux = serde_json::json!({
            "uidMappings": map(nix::unistd::geteuid().as_raw()),
            "gidMappings": map(nix::unistd::getegid().as_raw()),
            "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
                           {"type": "user"}],
            "maskedPaths": linux["maskedPaths"].clone(),
            "readonlyPaths": linux["readonlyPaths"].clone()
        });
        mounts[2]["options"] = serde_json::json!([
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620"
        ]);
        mounts[5] = serde_json::json!({"destination": "/sys", "type": "none", "source": "/sys",
                                       "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
    }
    serde_json::json!({
        "ociVersion": oci_spec::runtime::VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "ambient": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "berth",
        "mounts": mounts,
        "linux": linux
    })
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
                "linux.namespace",
                "linux.seccomp.syscals",
                "mounts[1].option",
                "root.readOnly",
                "x-vendor"
            ]
        );
        let text = serde_json::to_vec(&default_spec(false)).unwrap();
        assert!(parse_reporting(&text).unwrap().1.is_empty());
    }

    #[test]
    fn arrays_for_objects_are_refused_by_path() {
        let e = parse(b"[]").unwrap_err();
        assert_eq!(e, "config.json: expected an object, found an array");
        let e = parse(br#"{"ociVersion":"1.0.2","linux":{"resources":[]}}"#).unwrap_err();
        assert_eq!(e, "linux.resources: expected an object, found an array");
        let e = parse(br#"{"ociVersion":"1.0.2","linux":{"namespaces":[{"type":"pid"},[]]}}"#)
            .unwrap_err();
        assert_eq!(e, "linux.namespaces[1]: expected an object, found an array");
        let e =
            parse(br#"{"ociVersion":"1.0.2","hooks":{"prestart":[{"path":"/x"},7]}}"#).unwrap_err();
        assert_eq!(e, "hooks.prestart[1]: expected an object, found a number");
        // Dotted keys (sysctl names, annotations) are no path into the spec.
        parse(br#"{"ociVersion":"1.0.2","linux":{"sysctl":{"net.ipv4.ip_forward":"1"}},"annotations":{"linux.resources":"[]"}}"#).unwrap();
        // Arrays where the spec has arrays, and free-form annotations, are fine.
        parse(br#"{"ociVersion":"1.0.2","annotations":{"a":"[]"},"process":{"cwd":"/","args":["a"],"user":{"uid":0,"gid":0}}}"#).unwrap();
    }

    #[test]
    fn the_template_is_runcs() {
        let v = serde_json::to_value(default_spec(false)).unwrap();
        let ns: Vec<&str> = v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(ns, ["pid", "network", "ipc", "uts", "mount"]);
        assert_eq!(v["linux"]["resources"]["devices"][0]["allow"], false);
        assert!(v["process"]["capabilities"].get("inheritable").is_none());
        let r = serde_json::to_value(default_spec(true)).unwrap();
        assert_eq!(r["linux"]["namespaces"].as_array().unwrap().len(), 5);
        assert!(r["linux"]["uidMappings"].is_array());
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
