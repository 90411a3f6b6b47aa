//! Engine-format profiles (Docker's `default.json`, podman's `seccomp.json`).
//!
//! Those files are not OCI `linux.seccomp` objects: they carry `archMap` and per-rule
//! `includes`/`excludes` (capabilities, architectures) that the engine resolves before it
//! writes config.json. [`resolve`] does that resolution, as an engine does for an amd64
//! container with a given set of capabilities; kernel-version conditions are taken as met.

use serde_json::{json, Value};

/// Resolves an engine profile into the `linux.seccomp` object for an amd64 container whose
/// bounding set is `caps`. Returns `None` if `profile` does not look like an engine profile.
pub fn resolve(profile: &Value, caps: &[&str]) -> Option<Value> {
    let arches = ["amd64", "x86", "x32"];
    let holds = |list: Option<&Value>, pred: &dyn Fn(&str) -> bool| {
        list.and_then(Value::as_array)
            .map(|l| l.iter().any(|v| v.as_str().is_some_and(pred)))
    };
    let mut syscalls = Vec::new();
    for sc in profile["syscalls"].as_array()? {
        let (inc, exc) = (&sc["includes"], &sc["excludes"]);
        let has_cap = |c: &str| caps.contains(&c);
        let is_arch = |a: &str| arches.contains(&a);
        let all_caps = inc["caps"]
            .as_array()
            .is_none_or(|l| l.iter().all(|c| c.as_str().is_some_and(has_cap)));
        let arch_ok = holds(inc.get("arches"), &is_arch).unwrap_or(true);
        let excluded = holds(exc.get("caps"), &has_cap).unwrap_or(false)
            || holds(exc.get("arches"), &is_arch).unwrap_or(false);
        if all_caps && arch_ok && !excluded {
            let mut rule = json!({ "names": sc["names"], "action": sc["action"] });
            for k in ["errnoRet", "args"] {
                if !sc[k].is_null() {
                    rule[k] = sc[k].clone();
                }
            }
            syscalls.push(rule);
        }
    }
    let amd64 = profile["archMap"]
        .as_array()?
        .iter()
        .find(|a| a["architecture"] == "SCMP_ARCH_X86_64")?;
    let mut architectures = vec![amd64["architecture"].clone()];
    architectures.extend(amd64["subArchitectures"].as_array()?.iter().cloned());
    let mut out = json!({
        "defaultAction": profile["defaultAction"],
        "architectures": architectures,
        "syscalls": syscalls,
    });
    if !profile["defaultErrnoRet"].is_null() {
        out["defaultErrnoRet"] = profile["defaultErrnoRet"].clone();
    }
    Some(out)
}
