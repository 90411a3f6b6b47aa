//! A container's network: `--network host` shares the host's namespace; `none` gets a pinned
//! namespace of its own with only loopback; `bridge` (the default) also gets a veth on the
//! `berth0` bridge, an address from host-local IPAM and its published ports, all through the
//! CNI plugins of [`config::NetworkList`] ([`cni`]). The resolver files come from [`files`].

pub mod cni;
pub mod config;
pub mod files;
pub mod netns;

use std::path::PathBuf;

use serde_json::{json, Map, Value};

use crate::options::NetworkMode;
use crate::{Engine, Result};

/// The interface name of the container's bridge link.
pub const IFNAME: &str = "eth0";

impl Engine {
    /// Where a container's network namespace is pinned.
    pub fn netns_path(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("netns")
    }
}

fn runtime_config(ports: &[crate::ports::PortMapping]) -> Map<String, Value> {
    let mut m = Map::new();
    if !ports.is_empty() {
        m.insert("portMappings".into(), json!(ports));
    }
    m
}

/// Sets up the network of container `id` before it is created: the namespace, its
/// interfaces and address, and the files for `/etc`. Each step is recorded before it is
/// taken, so [`teardown`] undoes exactly what was done, even after a crash.
pub fn setup(engine: &Engine, id: &str) -> Result<()> {
    let r = engine.load(id)?;
    let dir = engine.container_dir(id);
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    files::write_in_place(&dir.join("hostname"), &format!("{}\n", r.hostname))?;
    if r.network.mode == NetworkMode::Host {
        let hosts = std::fs::read_to_string("/etc/hosts")
            .unwrap_or_else(|_| files::hosts_isolated(&r.hostname));
        files::write_in_place(&dir.join("hosts"), &hosts)?;
        return files::write_in_place(&dir.join("resolv.conf"), &host_resolv);
    }
    files::write_in_place(&dir.join("resolv.conf"), &files::resolv_conf(&host_resolv))?;
    files::write_in_place(&dir.join("hosts"), &files::hosts_isolated(&r.hostname))?;
    let ns = engine.netns_path(id);
    engine.update(id, |r| r.network.netns = true)?;
    netns::pin(&ns)?;
    let ns_str = ns.display().to_string();
    let list = engine.network_list()?;
    cni::exec(
        cni::Op::Add,
        &cni::Target {
            container_id: id,
            netns: &ns_str,
            ifname: "lo",
        },
        &cni::loopback(&list.cni_version),
    )?;
    if r.network.mode == NetworkMode::Bridge {
        engine.update(id, |r| r.network.attached = true)?;
        let result = cni::add_list(
            &list,
            &cni::Target {
                container_id: id,
                netns: &ns_str,
                ifname: IFNAME,
            },
            &runtime_config(&r.network.ports),
        )?;
        let (ip, gateway, mac) = cni::parse_result(&result);
        engine.update(id, |r| {
            r.network.ip = ip;
            r.network.gateway = gateway;
            r.network.mac = mac;
            r.network.cni_result = Some(result);
        })?;
        refresh_hosts(engine)?;
    }
    Ok(())
}

/// Rewrites the `/etc/hosts` of every container on the bridge with its current peers.
pub fn refresh_hosts(engine: &Engine) -> Result<()> {
    let _l = engine.lock()?;
    let on_bridge: Vec<(String, files::Peer)> = engine
        .records()?
        .into_iter()
        .filter(|r| {
            r.network.mode == NetworkMode::Bridge && r.state != crate::record::State::Exited
        })
        .filter_map(|r| {
            Some((
                r.id.clone(),
                files::Peer {
                    ip: r.network.ip.clone()?,
                    name: r.name.clone(),
                    hostname: r.hostname.clone(),
                },
            ))
        })
        .collect();
    for (id, me) in &on_bridge {
        let peers: Vec<files::Peer> = on_bridge
            .iter()
            .filter(|(other, _)| other != id)
            .map(|(_, p)| p.clone())
            .collect();
        let path = engine.container_dir(id).join("hosts");
        // A container being removed meanwhile has no file to write: skip it.
        if path.exists() {
            files::write_in_place(&path, &files::hosts(me, &peers))?;
        }
    }
    Ok(())
}

/// Undoes [`setup`]: CNI DEL (releasing the address and the port forwards), then the
/// namespace. Safe to repeat.
pub fn teardown(engine: &Engine, id: &str) -> Result<()> {
    let Some(r) = engine.try_load(id)? else {
        return Ok(());
    };
    let ns = engine.netns_path(id);
    let mut result = Ok(());
    if r.network.attached {
        let pinned = netns::is_pinned(&ns);
        let ns_str = if pinned {
            ns.display().to_string()
        } else {
            String::new()
        };
        let list = engine.network_list()?;
        result = cni::del_list(
            &list,
            &cni::Target {
                container_id: id,
                netns: &ns_str,
                ifname: IFNAME,
            },
            &runtime_config(&r.network.ports),
            r.network.cni_result.as_ref(),
        );
        if result.is_ok() {
            engine.update(id, |r| {
                r.network.attached = false;
                r.network.ip = None;
            })?;
        }
    }
    if r.network.netns {
        netns::unpin(&ns)?;
        engine.update(id, |r| r.network.netns = false)?;
    }
    if r.network.mode == NetworkMode::Bridge {
        refresh_hosts(engine)?;
    }
    result
}
