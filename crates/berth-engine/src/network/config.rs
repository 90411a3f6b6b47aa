//! The bridge network's CNI configuration: `networks/berth.conflist` under the store, written
//! with defaults on first use and read from there after, so the subnet (or anything else the
//! plugins take) can be changed by editing it.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::{Engine, Error, Result};

/// The file name of the network list.
pub const CONFIG_FILE: &str = "berth.conflist";
/// The bridge device containers are attached to.
pub const BRIDGE: &str = "berth0";
/// The default subnet (private; podman uses 10.88/16, Docker 172.17/16).
pub const DEFAULT_SUBNET: &str = "10.89.0.0/16";

/// A loaded network configuration list (CNI spec, "Network Configuration Lists").
#[derive(Debug, Clone)]
pub struct NetworkList {
    pub path: PathBuf,
    pub name: String,
    pub cni_version: String,
    /// The plugin configurations, in order.
    pub plugins: Vec<Value>,
}

/// The default list: a bridge with host-local IPAM (leases under the store) and portmap.
pub fn default_list(ipam_dir: &Path) -> Value {
    json!({
        "cniVersion": "1.0.0",
        "name": "berth",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": true,
                "ipMasq": true,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{ "subnet": DEFAULT_SUBNET }]],
                    "routes": [{ "dst": "0.0.0.0/0" }],
                    "dataDir": ipam_dir,
                }
            },
            { "type": "portmap", "capabilities": { "portMappings": true } }
        ]
    })
}

/// Parses and checks a list.
pub fn parse(path: &Path, v: &Value) -> Result<NetworkList> {
    let bad = |reason: &str| Error::NetworkConfig {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let name = v["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| bad("no `name`"))?;
    let cni_version = v["cniVersion"]
        .as_str()
        .ok_or_else(|| bad("no `cniVersion`"))?;
    let plugins = v["plugins"]
        .as_array()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| bad("no `plugins`"))?;
    for (i, p) in plugins.iter().enumerate() {
        let t = p["type"].as_str().unwrap_or("");
        if t.is_empty() || t.contains('/') {
            return Err(bad(&format!(
                "plugins[{i}].type is missing or not a plugin name"
            )));
        }
    }
    Ok(NetworkList {
        path: path.to_path_buf(),
        name: name.to_string(),
        cni_version: cni_version.to_string(),
        plugins: plugins.clone(),
    })
}

impl Engine {
    /// The bridge network's configuration, written with defaults if there is none.
    pub fn network_list(&self) -> Result<NetworkList> {
        let path = self.networks_dir().join(CONFIG_FILE);
        if !path.exists() {
            let v = default_list(&self.networks_dir().join("ipam"));
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, serde_json::to_vec_pretty(&v).expect("json"))
                .and_then(|_| std::fs::rename(&tmp, &path))
                .map_err(|e| Error::io("write", &path, e))?;
        }
        let raw = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
        let v: Value = serde_json::from_slice(&raw).map_err(|e| Error::NetworkConfig {
            path: path.clone(),
            reason: format!("not JSON: {e}"),
        })?;
        parse(&path, &v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_list_parses_and_bad_ones_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::new(dir.path(), Path::new("/run/berth")).unwrap();
        let l = e.network_list().unwrap();
        assert_eq!(l.name, "berth");
        assert_eq!(l.plugins.len(), 2);
        assert_eq!(l.plugins[0]["bridge"], BRIDGE);
        let p = Path::new("/x.conflist");
        let e = parse(
            p,
            &json!({"name": "n", "cniVersion": "1.0.0", "plugins": [{"type": "../evil"}]}),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("/x.conflist") && e.contains("plugins[0].type"),
            "{e}"
        );
        assert!(parse(p, &json!({"cniVersion": "1.0.0", "plugins": []})).is_err());
    }
}
