//! `-p` and `-P`: host ports forwarded to the container, by CNI's `portmap` plugin.

use std::collections::BTreeMap;
use std::net::{IpAddr, TcpListener, UdpSocket};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One forwarded port, as portmap's `portMappings` capability takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    pub host_port: u16,
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// The host address to listen on; empty for every address.
    #[serde(rename = "hostIP", default, skip_serializing_if = "String::is_empty")]
    pub host_ip: String,
}

fn port(flag: &'static str, value: &str, s: &str) -> Result<u16> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(Error::flag(
            flag,
            value,
            format!("`{s}` is not a port number (1-65535; ranges are not supported)"),
        )),
    }
}

fn protocol(flag: &'static str, value: &str, s: &str) -> Result<String> {
    match s {
        "tcp" | "udp" => Ok(s.to_string()),
        _ => Err(Error::flag(
            flag,
            value,
            format!("unknown protocol `{s}` (tcp or udp)"),
        )),
    }
}

/// `-p [IP:][HOSTPORT:]PORT[/PROTO]`; a missing host port is picked from the free ones.
pub fn parse_publish(value: &str) -> Result<PortMapping> {
    const F: &str = "-p";
    let (spec, proto) = match value.rsplit_once('/') {
        Some((s, p)) => (s, protocol(F, value, p)?),
        None => (value, "tcp".to_string()),
    };
    // An IPv6 address comes in brackets: [::1]:8080:80.
    let (host_ip, rest) = match spec.strip_prefix('[') {
        Some(r) => {
            let (ip, rest) = r
                .split_once("]:")
                .ok_or_else(|| Error::flag(F, value, "expected [IPV6]:HOSTPORT:PORT"))?;
            (ip.to_string(), rest)
        }
        None => match spec.matches(':').count() {
            2 => {
                let (ip, rest) = spec.split_once(':').expect("two colons");
                (ip.to_string(), rest)
            }
            _ => (String::new(), spec),
        },
    };
    if !host_ip.is_empty() && host_ip.parse::<IpAddr>().is_err() {
        return Err(Error::flag(
            F,
            value,
            format!("`{host_ip}` is not an IP address"),
        ));
    }
    let (host, container) = match rest.split_once(':') {
        Some(("", c)) => (None, c),
        Some((h, c)) => (Some(port(F, value, h)?), c),
        None => (None, rest),
    };
    let container_port = port(F, value, container)?;
    let host_port = match host {
        Some(h) => h,
        None => free_port(&proto, &host_ip)
            .map_err(|e| Error::flag(F, value, format!("find a free host port: {e}")))?,
    };
    Ok(PortMapping {
        host_port,
        container_port,
        protocol: proto,
        host_ip,
    })
}

/// `-P`: the image's `ExposedPorts` (`80/tcp`, `53/udp`, `8080`), each on a free host port.
pub fn publish_all(exposed: &BTreeMap<String, serde_json::Value>) -> Result<Vec<PortMapping>> {
    let mut out = Vec::new();
    for key in exposed.keys() {
        let (p, proto) = key.split_once('/').unwrap_or((key, "tcp"));
        let bad = |reason: String| Error::flag("-P", key, reason);
        let container_port = p
            .parse::<u16>()
            .map_err(|_| bad("the image exposes a port that is not a number".into()))?;
        let proto = match proto {
            "tcp" | "udp" => proto.to_string(),
            other => return Err(bad(format!("protocol `{other}` is not supported"))),
        };
        let host_port =
            free_port(&proto, "").map_err(|e| bad(format!("find a free host port: {e}")))?;
        out.push(PortMapping {
            host_port,
            container_port,
            protocol: proto,
            host_ip: String::new(),
        });
    }
    Ok(out)
}

/// A port nothing listens on now (the kernel's pick for port 0).
fn free_port(proto: &str, ip: &str) -> std::io::Result<u16> {
    let ip = if ip.is_empty() { "0.0.0.0" } else { ip };
    let addr = match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(a)) => format!("[{a}]:0"),
        _ => format!("{ip}:0"),
    };
    if proto == "udp" {
        Ok(UdpSocket::bind(addr)?.local_addr()?.port())
    } else {
        Ok(TcpListener::bind(addr)?.local_addr()?.port())
    }
}

/// Refuses one host port twice.
pub fn check_unique(ports: &[PortMapping]) -> Result<()> {
    for (i, a) in ports.iter().enumerate() {
        if ports[..i].iter().any(|b| {
            b.host_port == a.host_port && b.protocol == a.protocol && b.host_ip == a.host_ip
        }) {
            return Err(Error::flag(
                "-p",
                &format!("{}/{}", a.host_port, a.protocol),
                "this host port is published twice",
            ));
        }
    }
    Ok(())
}

/// `0.0.0.0:8080->80/tcp, …` as `ps` shows them.
pub fn display(ports: &[PortMapping]) -> String {
    ports
        .iter()
        .map(|p| {
            let ip = if p.host_ip.is_empty() {
                "0.0.0.0"
            } else {
                &p.host_ip
            };
            format!("{ip}:{}->{}/{}", p.host_port, p.container_port, p.protocol)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_forms() {
        let p = parse_publish("8080:80").unwrap();
        assert_eq!(
            (p.host_port, p.container_port, p.protocol.as_str()),
            (8080, 80, "tcp")
        );
        let p = parse_publish("127.0.0.1:8081:81/udp").unwrap();
        assert_eq!(
            (p.host_ip.as_str(), p.protocol.as_str()),
            ("127.0.0.1", "udp")
        );
        let p = parse_publish("[::1]:8082:82").unwrap();
        assert_eq!(p.host_ip, "::1");
        let p = parse_publish("90").unwrap();
        assert_eq!(p.container_port, 90);
        assert!(p.host_port > 0);
        let p = parse_publish("127.0.0.1::91").unwrap();
        assert!(p.host_port > 0 && p.container_port == 91);
        for (bad, says) in [
            ("80/sctp", "protocol"),
            ("0:80", "port number"),
            ("8000-8010:80", "port number"),
            ("x.y:1:2", "IP address"),
            ("70000:80", "port number"),
        ] {
            let e = parse_publish(bad).unwrap_err().to_string();
            assert!(e.starts_with("-p `") && e.contains(says), "{bad}: {e}");
        }
        assert_eq!(
            display(&[parse_publish("8080:80").unwrap()]),
            "0.0.0.0:8080->80/tcp"
        );
        let twice = [
            parse_publish("8080:80").unwrap(),
            parse_publish("8080:81").unwrap(),
        ];
        assert!(check_unique(&twice).is_err());
    }

    #[test]
    fn exposed_ports_get_free_host_ports() {
        let exposed: BTreeMap<String, serde_json::Value> = [
            ("80/tcp".to_string(), serde_json::json!({})),
            ("53/udp".to_string(), serde_json::json!({})),
        ]
        .into();
        let all = publish_all(&exposed).unwrap();
        assert_eq!(all.len(), 2);
        assert!(all
            .iter()
            .any(|p| p.container_port == 53 && p.protocol == "udp"));
        let bad: BTreeMap<String, serde_json::Value> =
            [("http/tcp".to_string(), serde_json::json!({}))].into();
        assert!(publish_all(&bad).unwrap_err().to_string().starts_with("-P"));
    }
}
