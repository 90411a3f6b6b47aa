//! Image references as Docker spells them: `[registry/]path[:tag][@digest]`.
//!
//! A first path component is a registry when it contains `.` or `:`, is
//! `localhost`, or is not lowercase; otherwise the registry is `docker.io`,
//! where single-component names live under `library/`.

use crate::digest::{Digest, DigestError};
use std::fmt;
use std::str::FromStr;

pub const DEFAULT_REGISTRY: &str = "docker.io";
pub const DEFAULT_TAG: &str = "latest";
const MAX_NAME_LEN: usize = 255;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ReferenceError {
    #[error("invalid reference `{0}`: empty")]
    Empty(String),
    #[error("invalid reference `{reference}`: bad registry `{registry}`")]
    Registry { reference: String, registry: String },
    #[error("invalid reference `{reference}`: bad repository component `{component}` (lowercase letters, digits and . _ __ - separators only)")]
    Component {
        reference: String,
        component: String,
    },
    #[error("invalid reference `{reference}`: bad tag `{tag}`")]
    Tag { reference: String, tag: String },
    #[error("invalid reference `{reference}`: {reason}")]
    Digest { reference: String, reason: String },
    #[error("invalid reference `{0}`: repository name longer than 255 characters")]
    TooLong(String),
}

/// A fully qualified image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    /// Parses and normalises; a reference with neither tag nor digest gets `:latest`.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        let mut r = Self::parse_bare(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_string());
        }
        Ok(r)
    }

    /// Parses without adding a default tag.
    pub fn parse_bare(s: &str) -> Result<Reference, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::Empty(s.to_string()));
        }
        let (rest, digest) = match s.rsplit_once('@') {
            Some((rest, d)) => {
                let digest = d.parse::<Digest>().map_err(|e| ReferenceError::Digest {
                    reference: s.to_string(),
                    reason: match e {
                        DigestError::Unsupported(_) => format!("unsupported digest `{d}`"),
                        _ => format!("malformed digest `{d}`"),
                    },
                })?;
                (rest, Some(digest))
            }
            None => (s, None),
        };
        // A tag follows the last ':' that comes after the last '/'.
        let last_slash = rest.rfind('/');
        let (name, tag) = match rest.rfind(':') {
            Some(c) if last_slash.is_none_or(|sl| c > sl) => (&rest[..c], Some(&rest[c + 1..])),
            _ => (rest, None),
        };
        if name.is_empty() {
            return Err(ReferenceError::Empty(s.to_string()));
        }
        if let Some(t) = tag {
            if !valid_tag(t) {
                return Err(ReferenceError::Tag {
                    reference: s.to_string(),
                    tag: t.to_string(),
                });
            }
        }
        let (registry, mut path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.')
                    || first.contains(':')
                    || first == "localhost"
                    || first.to_lowercase() != first =>
            {
                if !valid_registry(first) {
                    return Err(ReferenceError::Registry {
                        reference: s.to_string(),
                        registry: first.to_string(),
                    });
                }
                (first.to_string(), rest.to_string())
            }
            _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
        };
        let registry = if registry == "index.docker.io" {
            DEFAULT_REGISTRY.to_string()
        } else {
            registry
        };
        if registry == DEFAULT_REGISTRY && !path.contains('/') {
            path = format!("library/{path}");
        }
        for component in path.split('/') {
            if !valid_component(component) {
                return Err(ReferenceError::Component {
                    reference: s.to_string(),
                    component: component.to_string(),
                });
            }
        }
        if registry.len() + 1 + path.len() > MAX_NAME_LEN {
            return Err(ReferenceError::TooLong(s.to_string()));
        }
        Ok(Reference {
            registry,
            repository: path,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// What to ask the registry's manifest endpoint for: the digest if pinned, else the tag.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => DEFAULT_TAG.to_string(),
        }
    }

    /// The same name with a different digest and no tag.
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: None,
            digest: Some(digest),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

/// A host name, IPv4 address or bracketed IPv6 address, with an optional port.
fn valid_registry(r: &str) -> bool {
    let (host, port) = if let Some(rest) = r.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => ("x", Some(port)),
                None => return false,
            },
        }
    } else {
        match r.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (r, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<u16>().is_err() {
            return false;
        }
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn full(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    #[test]
    fn docker_hub_short_names_get_library_and_latest() {
        assert_eq!(full("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(full("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(full("library/busybox"), "docker.io/library/busybox:latest");
        assert_eq!(
            full("docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            full("index.docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(full("user/app:v1"), "docker.io/user/app:v1");
        assert_eq!(full("user/team/app"), "docker.io/user/team/app:latest");
    }

    #[test]
    fn registries_with_ports_and_localhost() {
        let r = Reference::parse("localhost:5000/x").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("localhost:5000", "x", Some("latest"))
        );
        assert_eq!(full("localhost/x:t"), "localhost/x:t");
        assert_eq!(full("127.0.0.1:5000/a/b:c"), "127.0.0.1:5000/a/b:c");
        assert_eq!(full("quay.io/org/img"), "quay.io/org/img:latest");
        assert_eq!(full("[::1]:5000/img:1"), "[::1]:5000/img:1");
        assert_eq!(full("Registry/img"), "Registry/img:latest");
    }

    #[test]
    fn digests_with_and_without_tags() {
        let r = Reference::parse(&format!("busybox@{D}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_ref().unwrap().to_string(), D);
        assert_eq!(r.manifest_reference(), D);
        let r = Reference::parse(&format!("localhost:5000/busybox:1@{D}")).unwrap();
        assert_eq!(r.tag.as_deref(), Some("1"));
        assert_eq!(r.manifest_reference(), D);
        assert_eq!(r.to_string(), format!("localhost:5000/busybox:1@{D}"));
    }

    #[test]
    fn bare_parse_keeps_tag_absent() {
        assert_eq!(Reference::parse_bare("busybox").unwrap().tag, None);
    }

    #[test]
    fn invalid_references_are_refused() {
        for bad in [
            "",
            ":tag",
            "UPPER",
            "busybox:",
            "busybox:-x",
            "a//b",
            "a/b/",
            "-a",
            "a-",
            "a..b",
            "a___b",
            "localhost:port/x",
            "busybox@sha256:123",
            "busybox@md5:abc",
            "host:5000/UP/x",
            "[::1/x",
            "a:b:c",
            "foo:bar:baz/x",
        ] {
            assert!(Reference::parse(bad).is_err(), "accepted `{bad}`");
        }
        let long = format!("x/{}", "a".repeat(300));
        assert!(matches!(
            Reference::parse(&long),
            Err(ReferenceError::TooLong(_))
        ));
    }

    #[test]
    fn separators_in_components() {
        for ok in ["a.b", "a_b", "a__b", "a-b", "a---b", "a1/b2.c3"] {
            assert!(Reference::parse(ok).is_ok(), "refused `{ok}`");
        }
    }

    #[test]
    fn tag_of_port_is_not_confused() {
        let r = Reference::parse("localhost:5000/x/y").unwrap();
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(r.repository, "x/y");
        assert_eq!(r.tag.as_deref(), Some("latest"));
    }
}
