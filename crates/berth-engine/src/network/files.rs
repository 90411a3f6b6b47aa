//! `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` for a container: files in its record
//! directory, bind-mounted over the image's.
//!
//! Names on the bridge: every container's `/etc/hosts` lists the other running containers of
//! the bridge by name and host name, and is rewritten (in place, so the bind mount sees it)
//! whenever one joins or leaves. That is how two containers reach each other by name without
//! a DNS server: honest for a single host, as Docker's legacy links and podman's early CNI
//! setups did; a program that caches a lookup keeps a stale address.

use std::io::Write;
use std::path::Path;

use crate::{Error, Result};

/// One container as its peers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub ip: String,
    pub name: String,
    pub hostname: String,
}

/// The `/etc/hosts` of a container on the bridge.
pub fn hosts(me: &Peer, peers: &[Peer]) -> String {
    let mut s = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    s.push_str(&entry(me));
    if !peers.is_empty() {
        s.push_str("# other containers on the bridge\n");
        for p in peers {
            s.push_str(&entry(p));
        }
    }
    s
}

fn entry(p: &Peer) -> String {
    if p.name == p.hostname {
        format!("{}\t{}\n", p.ip, p.hostname)
    } else {
        format!("{}\t{} {}\n", p.ip, p.hostname, p.name)
    }
}

/// The `/etc/hosts` of a container without a bridge address (`--network none`).
pub fn hosts_isolated(hostname: &str) -> String {
    format!("127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n")
}

/// The host's resolver configuration for a container in its own network namespace: the
/// host's loopback name servers (a local stub such as systemd-resolved's 127.0.0.53) are
/// not reachable from there, so they are left out.
pub fn resolv_conf(host: &str) -> String {
    let mut out = String::new();
    for line in host.lines() {
        let t = line.trim();
        if let Some(ns) = t.strip_prefix("nameserver") {
            let ns = ns.trim();
            if ns.starts_with("127.") || ns == "::1" {
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Writes `content` into the existing file `path` in place (truncate and write): the inode
/// a container has bind-mounted stays the same.
pub fn write_in_place(path: &Path, content: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| Error::io("open", path, e))?;
    f.write_all(content.as_bytes())
        .map_err(|e| Error::io("write", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_list_me_then_peers() {
        let me = Peer {
            ip: "10.89.0.2".into(),
            name: "web".into(),
            hostname: "abc".into(),
        };
        let peer = Peer {
            ip: "10.89.0.3".into(),
            name: "db".into(),
            hostname: "db".into(),
        };
        let h = hosts(&me, &[peer]);
        assert!(h.contains("10.89.0.2\tabc web\n"), "{h}");
        assert!(h.contains("10.89.0.3\tdb\n"), "{h}");
        assert!(hosts_isolated("x").starts_with("127.0.0.1\tlocalhost x\n"));
    }

    #[test]
    fn loopback_name_servers_are_dropped() {
        let r = resolv_conf(
            "# c\nnameserver 127.0.0.53\nnameserver 10.0.0.1\nsearch lan\nnameserver ::1\n",
        );
        assert_eq!(r, "# c\nnameserver 10.0.0.1\nsearch lan\n");
    }

    #[test]
    fn rewrites_keep_the_inode() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hosts");
        write_in_place(&p, "a long first version\n").unwrap();
        let ino = std::fs::metadata(&p).unwrap().ino();
        write_in_place(&p, "short\n").unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().ino(), ino);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "short\n");
    }
}
