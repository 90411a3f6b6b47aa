//! Manifests, image indexes and image configs (OCI and Docker schema 2), and
//! choosing one platform's manifest from an index.

use crate::digest::Digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// What we send in `Accept` for manifests.
pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot parse {what} {digest}: {source}")]
    Parse {
        what: &'static str,
        digest: String,
        source: serde_json::Error,
    },
    #[error("unsupported manifest media type `{0}`")]
    MediaType(String),
    #[error("no manifest for platform {wanted} in index (available: {available})")]
    NoPlatform { wanted: String, available: String },
    #[error("invalid platform `{0}`: expected os/arch[/variant]")]
    BadPlatform(String),
    #[error("image config has {diff_ids} diff_ids but the manifest has {layers} layers")]
    LayerCount { diff_ids: usize, layers: usize },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
}

impl Platform {
    pub fn parse(s: &str) -> Result<Platform, ManifestError> {
        let parts: Vec<&str> = s.split('/').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return Err(ManifestError::BadPlatform(s.to_string()));
        }
        Ok(Platform {
            os: parts[0].to_string(),
            architecture: parts[1].to_string(),
            variant: parts.get(2).map(|v| v.to_string()),
            os_version: None,
            os_features: None,
        })
    }

    /// The platform this binary runs on, in OCI spelling.
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            a => a,
        };
        Platform {
            os: "linux".into(),
            architecture: arch.into(),
            variant: None,
            os_version: None,
            os_features: None,
        }
    }

    /// A variant that is implied when an index entry leaves it out.
    fn normalized_variant(&self) -> Option<&str> {
        match (self.architecture.as_str(), self.variant.as_deref()) {
            ("arm64", None) => Some("v8"),
            ("arm", None) => Some("v7"),
            (_, v) => v,
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            urls: None,
            annotations: None,
            platform: None,
        }
    }
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl Index {
    pub fn empty() -> Index {
        Index {
            schema_version: 2,
            media_type: Some(OCI_INDEX.into()),
            manifests: vec![],
            annotations: None,
        }
    }
}

/// A manifest document as fetched, before deciding what it is.
pub enum Fetched {
    Manifest(Box<Manifest>),
    Index(Index),
}

/// Tells an image manifest from an index by its `mediaType` (falling back to
/// the Content-Type header, then to its shape).
pub fn parse_fetched(
    bytes: &[u8],
    content_type: Option<&str>,
    digest: &Digest,
) -> Result<Fetched, ManifestError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
    }
    let perr = |what, source| ManifestError::Parse {
        what,
        digest: digest.to_string(),
        source,
    };
    let probe: Probe = serde_json::from_slice(bytes).map_err(|e| perr("manifest", e))?;
    let mt = probe
        .media_type
        .or_else(|| content_type.map(|c| c.split(';').next().unwrap_or("").trim().to_string()));
    let is_index = match mt.as_deref() {
        Some(OCI_INDEX) | Some(DOCKER_LIST) => true,
        Some(OCI_MANIFEST) | Some(DOCKER_MANIFEST) => false,
        Some(other)
            if probe.manifests.is_none() && !other.is_empty() && other != "application/json" =>
        {
            return Err(ManifestError::MediaType(other.to_string()))
        }
        _ => probe.manifests.is_some(),
    };
    if is_index {
        Ok(Fetched::Index(
            serde_json::from_slice(bytes).map_err(|e| perr("image index", e))?,
        ))
    } else {
        Ok(Fetched::Manifest(Box::new(
            serde_json::from_slice(bytes).map_err(|e| perr("image manifest", e))?,
        )))
    }
}

/// Picks the entry of an index for `wanted`: os and architecture must match;
/// a requested variant must match (arm64 means v8 when unspecified); without a
/// requested variant, the architecture's default variant or none is preferred.
pub fn select_platform<'a>(
    index: &'a Index,
    wanted: &Platform,
) -> Result<&'a Descriptor, ManifestError> {
    let candidates: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| matches!(d.media_type.as_str(), OCI_MANIFEST | DOCKER_MANIFEST))
        .filter(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == wanted.os && p.architecture == wanted.architecture)
        })
        .collect();
    let variant_of = |d: &Descriptor| {
        d.platform
            .as_ref()
            .and_then(|p| p.normalized_variant().map(str::to_string))
    };
    let found = match wanted.normalized_variant() {
        Some(v) if wanted.variant.is_some() => candidates
            .iter()
            .find(|d| variant_of(d).as_deref() == Some(v))
            .copied(),
        default => candidates
            .iter()
            .find(|d| variant_of(d).as_deref() == default)
            .or_else(|| candidates.first())
            .copied(),
    };
    found.ok_or_else(|| ManifestError::NoPlatform {
        wanted: wanted.to_string(),
        available: index
            .manifests
            .iter()
            .filter_map(|d| d.platform.as_ref().map(|p| p.to_string()))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// The parts of an image config that berth reads; the document itself is
/// kept verbatim in the store.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub config: Option<RunConfig>,
    #[serde(default)]
    pub rootfs: RootFs,
    #[serde(default)]
    pub history: Option<Vec<serde_json::Value>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    /// `"80/tcp": {}` entries: the ports the image says it listens on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    /// The signal that asks the container to stop (`SIGTERM` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// `"/data": {}` entries: directories that get a volume of their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type", default)]
    pub typ: String,
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

impl ImageConfig {
    pub fn parse(bytes: &[u8], digest: &Digest) -> Result<ImageConfig, ManifestError> {
        serde_json::from_slice(bytes).map_err(|source| ManifestError::Parse {
            what: "image config",
            digest: digest.to_string(),
            source,
        })
    }
}

/// Checks a manifest and config agree on the number of layers.
pub fn check_layers(manifest: &Manifest, config: &ImageConfig) -> Result<(), ManifestError> {
    if manifest.layers.len() != config.rootfs.diff_ids.len() {
        return Err(ManifestError::LayerCount {
            diff_ids: config.rootfs.diff_ids.len(),
            layers: manifest.layers.len(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(os: &str, arch: &str, variant: Option<&str>, n: u8) -> serde_json::Value {
        let mut p = serde_json::json!({"os": os, "architecture": arch});
        if let Some(v) = variant {
            p["variant"] = v.into();
        }
        serde_json::json!({"mediaType": OCI_MANIFEST, "size": 10, "digest": format!("sha256:{}", format!("{n:02x}").repeat(32)), "platform": p})
    }

    fn index() -> Index {
        let doc = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            entry("linux", "arm", Some("v6"), 1),
            entry("linux", "arm", Some("v7"), 2),
            entry("linux", "arm64", Some("v8"), 3),
            entry("linux", "amd64", None, 4),
            entry("unknown", "unknown", None, 5),
            entry("windows", "amd64", None, 6),
        ]});
        serde_json::from_value(doc).unwrap()
    }

    fn pick(p: &str) -> u8 {
        let idx = index();
        let d = select_platform(&idx, &Platform::parse(p).unwrap()).unwrap();
        u8::from_str_radix(&d.digest.hex()[..2], 16).unwrap()
    }

    #[test]
    fn selects_by_os_arch_and_variant() {
        assert_eq!(pick("linux/amd64"), 4);
        assert_eq!(pick("windows/amd64"), 6);
        assert_eq!(pick("linux/arm64"), 3);
        assert_eq!(pick("linux/arm64/v8"), 3);
        assert_eq!(pick("linux/arm/v6"), 1);
        assert_eq!(pick("linux/arm"), 2);
    }

    #[test]
    fn missing_platform_lists_available() {
        let idx = index();
        let err = select_platform(&idx, &Platform::parse("linux/s390x").unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("linux/s390x") && err.contains("linux/arm64/v8"),
            "{err}"
        );
        assert!(select_platform(&idx, &Platform::parse("linux/arm/v5").unwrap()).is_err());
    }

    #[test]
    fn platform_strings() {
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux//v7").is_err());
        assert!(Platform::parse("a/b/c/d").is_err());
        assert_eq!(
            Platform::parse("linux/arm/v7").unwrap().to_string(),
            "linux/arm/v7"
        );
        assert_eq!(Platform::host().os, "linux");
    }

    #[test]
    fn tells_index_from_manifest() {
        let d = Digest::of(b"x");
        let idx = serde_json::to_vec(&index()).unwrap();
        assert!(matches!(
            parse_fetched(&idx, None, &d).unwrap(),
            Fetched::Index(_)
        ));
        let m = serde_json::json!({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "size": 1, "digest": d.to_string()}, "layers": []});
        assert!(matches!(
            parse_fetched(m.to_string().as_bytes(), None, &d).unwrap(),
            Fetched::Manifest(_)
        ));
        let mut no_mt = m.clone();
        no_mt.as_object_mut().unwrap().remove("mediaType");
        assert!(matches!(
            parse_fetched(no_mt.to_string().as_bytes(), Some(OCI_MANIFEST), &d).unwrap(),
            Fetched::Manifest(_)
        ));
        let v1 = serde_json::json!({"schemaVersion": 1, "mediaType": "application/vnd.docker.distribution.manifest.v1+prettyjws"});
        assert!(matches!(
            parse_fetched(v1.to_string().as_bytes(), None, &d),
            Err(ManifestError::MediaType(_))
        ));
    }
}
