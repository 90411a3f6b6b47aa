//! The OCI state documents: what `state` and `list --format json` print (with runc's key
//! order, which line-oriented scripts match) and what hooks get on stdin.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::plan::HookContext;

/// `state`'s document, in runc's key order.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    pub owner: String,
}

/// The state a hook gets on stdin (runtime-spec "State").
pub fn hook_state(ctx: &HookContext, status: &str, pid: i32) -> Vec<u8> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct HookState<'a> {
        oci_version: &'a str,
        id: &'a str,
        status: &'a str,
        pid: i32,
        bundle: &'a std::path::Path,
        annotations: &'a HashMap<String, String>,
    }
    serde_json::to_vec(&HookState {
        oci_version: oci_spec::runtime::VERSION,
        id: &ctx.id,
        status,
        pid,
        bundle: &ctx.bundle,
        annotations: &ctx.annotations,
    })
    .unwrap_or_default()
}

/// The container's state as an oci-spec value, for the seccomp agent.
pub fn agent_state(
    ctx: &HookContext,
    status: oci_spec::runtime::ContainerState,
    pid: i32,
) -> oci_spec::runtime::State {
    let mut s = oci_spec::runtime::State::default();
    s.set_version(oci_spec::runtime::VERSION.to_string());
    s.set_id(ctx.id.clone());
    s.set_status(status);
    s.set_pid(Some(pid));
    s.set_bundle(ctx.bundle.clone());
    s.set_annotations(Some(ctx.annotations.clone()));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_runcs_order() {
        let s = OciState {
            oci_version: "1.0.2".into(),
            id: "c".into(),
            pid: 7,
            status: "running".into(),
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "2026-01-01T00:00:00.000000000Z".into(),
            annotations: HashMap::new(),
            owner: String::new(),
        };
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"ociVersion":"1.0.2","id":"c","pid":7,"status":"running","bundle":"/b","rootfs":"/b/rootfs","created":"2026-01-01T00:00:00.000000000Z","owner":""}"#
        );
        let h = hook_state(
            &HookContext {
                id: "c".into(),
                bundle: "/b".into(),
                annotations: HashMap::new(),
            },
            "created",
            3,
        );
        let v: serde_json::Value = serde_json::from_slice(&h).unwrap();
        assert_eq!(v["pid"], 3);
        assert_eq!(v["status"], "created");
    }
}
