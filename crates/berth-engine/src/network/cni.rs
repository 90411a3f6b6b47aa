//! Running CNI plugins as the CNI specification (1.0) says: the plugin binary is found in
//! `CNI_PATH`, the operation and the container are given in `CNI_*` environment variables,
//! the network configuration on stdin, and the result (or an error object) comes back on
//! stdout. A network list runs its plugins in order for ADD, each given the previous one's
//! result as `prevResult` and the `runtimeConfig` its `capabilities` ask for; DEL runs them in
//! reverse with the list's cached ADD result.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{json, Map, Value};

use super::config::NetworkList;
use crate::{Error, Result};

/// Where plugins are looked for when `CNI_PATH` is not set (Debian's
/// containernetworking-plugins, then the upstream default).
pub const DEFAULT_CNI_PATH: &str = "/usr/lib/cni:/opt/cni/bin";

/// The operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Del,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Add => "ADD",
            Op::Del => "DEL",
        }
    }
}

/// Which container and interface a call is about.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    pub container_id: &'a str,
    /// The network namespace path; empty for a DEL whose namespace is gone.
    pub netns: &'a str,
    pub ifname: &'a str,
}

/// The directories of `CNI_PATH` (or the default).
pub fn search_path() -> String {
    std::env::var("CNI_PATH")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_CNI_PATH.to_string())
}

/// The plugin binary for `typ`.
pub fn find_plugin(typ: &str) -> Result<PathBuf> {
    search_path()
        .split(':')
        .map(|d| PathBuf::from(d).join(typ))
        .find(|p| p.is_file())
        .ok_or_else(|| Error::Cni {
            plugin: typ.to_string(),
            command: "ADD",
            msg: format!(
                "no plugin binary in CNI_PATH {} (install Debian's containernetworking-plugins)",
                search_path()
            ),
        })
}

/// The configuration one plugin of a list is called with.
pub fn plugin_config(
    list: &NetworkList,
    plugin: &Value,
    prev_result: Option<&Value>,
    runtime_config: &Map<String, Value>,
) -> Value {
    let mut conf = plugin.clone();
    conf["name"] = json!(list.name);
    conf["cniVersion"] = json!(list.cni_version);
    if let Some(p) = prev_result {
        conf["prevResult"] = p.clone();
    }
    // Only what the plugin declares among its capabilities is passed.
    let wanted: Map<String, Value> = runtime_config
        .iter()
        .filter(|(k, _)| plugin["capabilities"][k.as_str()].as_bool() == Some(true))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !wanted.is_empty() {
        conf["runtimeConfig"] = Value::Object(wanted);
    }
    conf
}

/// Runs one plugin; returns its result (DEL returns none).
pub fn exec(cmd: Op, target: &Target, conf: &Value) -> Result<Option<Value>> {
    let typ = conf["type"].as_str().unwrap_or_default().to_string();
    let fail = |msg: String| Error::Cni {
        plugin: typ.clone(),
        command: cmd.as_str(),
        msg,
    };
    let bin = find_plugin(&typ).map_err(|e| match e {
        Error::Cni { msg, .. } => fail(msg),
        e => e,
    })?;
    let mut child = Command::new(&bin)
        .env_clear()
        // Plugins run iptables and friends.
        .env(
            "PATH",
            std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into()),
        )
        .env("CNI_COMMAND", cmd.as_str())
        .env("CNI_CONTAINERID", target.container_id)
        .env("CNI_NETNS", target.netns)
        .env("CNI_IFNAME", target.ifname)
        .env("CNI_PATH", search_path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("run {}: {e}", bin.display())))?;
    let input = serde_json::to_vec(conf).expect("json");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&input);
    }
    let out = child
        .wait_with_output()
        .map_err(|e| fail(format!("wait for {}: {e}", bin.display())))?;
    let stdout: Option<Value> = serde_json::from_slice(&out.stdout).ok();
    if !out.status.success() {
        // An error object: {"code": N, "msg": "...", "details": "..."}.
        let msg = match &stdout {
            Some(v) if v["msg"].is_string() => {
                let mut m = v["msg"].as_str().unwrap_or_default().to_string();
                if let Some(d) = v["details"].as_str().filter(|d| !d.is_empty()) {
                    m.push_str(": ");
                    m.push_str(d);
                }
                m
            }
            _ => {
                let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
                format!("{} exited with {}: {err}", bin.display(), out.status)
            }
        };
        return Err(fail(msg));
    }
    match cmd {
        Op::Del => Ok(None),
        Op::Add => stdout
            .map(Some)
            .ok_or_else(|| fail("the plugin printed no JSON result".into())),
    }
}

/// ADD through every plugin of the list; returns the final result.
pub fn add_list(
    list: &NetworkList,
    target: &Target,
    runtime_config: &Map<String, Value>,
) -> Result<Value> {
    let mut prev: Option<Value> = None;
    for p in &list.plugins {
        let conf = plugin_config(list, p, prev.as_ref(), runtime_config);
        prev = exec(Op::Add, target, &conf)?;
    }
    prev.ok_or_else(|| Error::NetworkConfig {
        path: list.path.clone(),
        reason: "no plugins".into(),
    })
}

/// DEL through every plugin of the list, last first. Every plugin is tried; the first
/// error is returned.
pub fn del_list(
    list: &NetworkList,
    target: &Target,
    runtime_config: &Map<String, Value>,
    cached: Option<&Value>,
) -> Result<()> {
    let mut first_err = None;
    for p in list.plugins.iter().rev() {
        let conf = plugin_config(list, p, cached, runtime_config);
        if let Err(e) = exec(Op::Del, target, &conf) {
            first_err.get_or_insert(e);
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// The loopback plugin's configuration (it brings `lo` up in the namespace).
pub fn loopback(cni_version: &str) -> Value {
    json!({ "cniVersion": cni_version, "name": "lo", "type": "loopback" })
}

/// The container's address, gateway and MAC from an ADD result (the first IPv4 address on
/// an interface inside the namespace).
pub fn parse_result(result: &Value) -> (Option<String>, Option<String>, Option<String>) {
    let ifaces = result["interfaces"].as_array().cloned().unwrap_or_default();
    let in_sandbox = |i: &Value| {
        i.as_u64()
            .and_then(|n| ifaces.get(n as usize))
            .is_some_and(|f| f["sandbox"].is_string())
    };
    let ip = result["ips"].as_array().and_then(|ips| {
        ips.iter()
            .filter(|ip| ip["address"].as_str().is_some_and(|a| a.contains('.')))
            .find(|ip| ip.get("interface").is_none() || in_sandbox(&ip["interface"]))
            .cloned()
    });
    let address = ip
        .as_ref()
        .and_then(|i| i["address"].as_str())
        .map(|a| a.split('/').next().unwrap_or(a).to_string());
    let gateway = ip
        .as_ref()
        .and_then(|i| i["gateway"].as_str())
        .map(str::to_string);
    let mac = ifaces
        .iter()
        .find(|f| f["sandbox"].is_string())
        .and_then(|f| f["mac"].as_str())
        .map(str::to_string);
    (address, gateway, mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> NetworkList {
        let v = super::super::config::default_list(std::path::Path::new("/ipam"));
        super::super::config::parse(std::path::Path::new("/l"), &v).unwrap()
    }

    #[test]
    fn plugin_configs_carry_name_version_prev_result_and_capabilities() {
        let l = list();
        let rc: Map<String, Value> = [("portMappings".to_string(), json!([{"hostPort": 1}]))]
            .into_iter()
            .collect();
        let bridge = plugin_config(&l, &l.plugins[0], None, &rc);
        assert_eq!(bridge["name"], "berth");
        assert_eq!(bridge["cniVersion"], "1.0.0");
        assert!(bridge.get("runtimeConfig").is_none() && bridge.get("prevResult").is_none());
        let prev = json!({"ips": []});
        let portmap = plugin_config(&l, &l.plugins[1], Some(&prev), &rc);
        assert_eq!(portmap["runtimeConfig"]["portMappings"][0]["hostPort"], 1);
        assert_eq!(portmap["prevResult"], prev);
    }

    #[test]
    fn results_give_the_sandbox_address() {
        let r = json!({
            "cniVersion": "1.0.0",
            "interfaces": [
                {"name": "berth0", "mac": "aa"},
                {"name": "veth1", "mac": "bb"},
                {"name": "eth0", "mac": "cc", "sandbox": "/x/netns"}
            ],
            "ips": [{"address": "10.89.0.5/16", "gateway": "10.89.0.1", "interface": 2}]
        });
        let (ip, gw, mac) = parse_result(&r);
        assert_eq!(ip.as_deref(), Some("10.89.0.5"));
        assert_eq!(gw.as_deref(), Some("10.89.0.1"));
        assert_eq!(mac.as_deref(), Some("cc"));
    }

    #[test]
    fn a_missing_plugin_is_named() {
        let conf = json!({"type": "no-such-plugin-berth", "name": "n", "cniVersion": "1.0.0"});
        let t = Target {
            container_id: "x",
            netns: "",
            ifname: "eth0",
        };
        let e = exec(Op::Del, &t, &conf).unwrap_err().to_string();
        assert!(
            e.contains("no-such-plugin-berth") && e.contains("CNI_PATH"),
            "{e}"
        );
    }
}
