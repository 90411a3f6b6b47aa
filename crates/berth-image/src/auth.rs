//! Registry credentials: the containers-style auth file (`login` writes it,
//! pulls and pushes read it, falling back to Docker's `config.json`), and
//! parsing of `WWW-Authenticate` challenges.

use base64::Engine as _;
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("read auth file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parse auth file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("write auth file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("bad credentials for {registry} in {path}: {reason}")]
    BadEntry {
        registry: String,
        path: PathBuf,
        reason: String,
    },
    #[error("malformed WWW-Authenticate challenge `{0}`")]
    Challenge(String),
}

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ***)", self.username)
    }
}

impl Credentials {
    /// The value of an `Authorization: Basic` header.
    pub fn basic_header(&self) -> String {
        format!(
            "Basic {}",
            encode(&format!("{}:{}", self.username, self.password))
        )
    }
}

fn encode(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The file `login` writes: `$REGISTRY_AUTH_FILE`, else
/// `$XDG_RUNTIME_DIR/containers/auth.json`, else `/run/containers/<uid>/auth.json`.
pub fn auth_file_path() -> PathBuf {
    if let Some(p) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|p| !p.is_empty()) {
        Some(d) => Path::new(&d).join("containers/auth.json"),
        None => PathBuf::from(format!(
            "/run/containers/{}/auth.json",
            nix::unistd::geteuid()
        )),
    }
}

/// Docker's config, read as a fallback: `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|p| !p.is_empty()) {
        return Some(Path::new(&d).join("config.json"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| Path::new(&h).join(".docker/config.json"))
}

/// Keys under which an entry for `registry` may be stored.
fn candidate_keys(registry: &str) -> Vec<String> {
    let mut keys = vec![
        registry.to_string(),
        format!("https://{registry}"),
        format!("http://{registry}"),
        format!("https://{registry}/v1/"),
        format!("https://{registry}/v2/"),
    ];
    if registry == "docker.io" {
        keys.extend(
            [
                "https://index.docker.io/v1/",
                "index.docker.io",
                "registry-1.docker.io",
            ]
            .map(String::from),
        );
    }
    keys
}

/// An auth file in the `{"auths": {"registry": {"auth": base64(user:pass)}}}`
/// format shared by containers tools and Docker; other keys are kept as they are.
#[derive(Debug)]
pub struct AuthFile {
    path: PathBuf,
    doc: serde_json::Map<String, serde_json::Value>,
}

impl AuthFile {
    /// Loads `path`; a missing file is an empty one.
    pub fn load(path: &Path) -> Result<AuthFile, AuthError> {
        let doc = match std::fs::read(path) {
            Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Default::default(),
            Ok(b) => serde_json::from_slice(&b).map_err(|source| AuthError::Parse {
                path: path.into(),
                source,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
            Err(source) => {
                return Err(AuthError::Read {
                    path: path.into(),
                    source,
                })
            }
        };
        Ok(AuthFile {
            path: path.into(),
            doc,
        })
    }

    fn auths(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
        self.doc.get("auths")?.as_object()
    }

    pub fn get(&self, registry: &str) -> Result<Option<Credentials>, AuthError> {
        let Some(auths) = self.auths() else {
            return Ok(None);
        };
        let bad = |reason: &str| AuthError::BadEntry {
            registry: registry.into(),
            path: self.path.clone(),
            reason: reason.into(),
        };
        for key in candidate_keys(registry) {
            let Some(entry) = auths.get(&key) else {
                continue;
            };
            if let (Some(u), Some(p)) = (
                entry.get("username").and_then(|v| v.as_str()),
                entry.get("password").and_then(|v| v.as_str()),
            ) {
                return Ok(Some(Credentials {
                    username: u.into(),
                    password: p.into(),
                }));
            }
            let Some(auth) = entry
                .get("auth")
                .and_then(|v| v.as_str())
                .filter(|a| !a.is_empty())
            else {
                continue;
            };
            let raw = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| bad("`auth` is not base64"))?;
            let raw = String::from_utf8(raw).map_err(|_| bad("`auth` is not UTF-8"))?;
            let (u, p) = raw
                .split_once(':')
                .ok_or_else(|| bad("`auth` is not user:password"))?;
            return Ok(Some(Credentials {
                username: u.into(),
                password: p.into(),
            }));
        }
        Ok(None)
    }

    pub fn set(&mut self, registry: &str, creds: &Credentials) {
        let auths = self
            .doc
            .entry("auths")
            .or_insert_with(|| serde_json::json!({}));
        if !auths.is_object() {
            *auths = serde_json::json!({});
        }
        let map = auths.as_object_mut().expect("auths is an object");
        map.insert(
            registry.into(),
            serde_json::json!({"auth": encode(&format!("{}:{}", creds.username, creds.password))}),
        );
    }

    /// Removes every entry for `registry`; true when one existed.
    pub fn remove(&mut self, registry: &str) -> bool {
        let Some(auths) = self.doc.get_mut("auths").and_then(|a| a.as_object_mut()) else {
            return false;
        };
        let mut removed = false;
        for k in candidate_keys(registry) {
            removed |= auths.remove(&k).is_some();
        }
        removed
    }

    /// Writes to a temporary file with mode 0600 and renames it into place.
    pub fn save(&self) -> Result<(), AuthError> {
        let werr = |source| AuthError::Write {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(werr)?;
        }
        let tmp = self
            .path
            .with_extension(format!("tmp{}", std::process::id()));
        let body = serde_json::to_vec_pretty(&self.doc).expect("JSON map serialises");
        let result = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(&body).and_then(|_| f.sync_all()))
            .and_then(|_| std::fs::rename(&tmp, &self.path));
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(werr)
    }
}

/// Credentials for `registry` from the auth file, else Docker's config.
pub fn lookup(registry: &str) -> Result<Option<Credentials>, AuthError> {
    if let Some(c) = AuthFile::load(&auth_file_path())?.get(registry)? {
        return Ok(Some(c));
    }
    match docker_config_path() {
        Some(p) => AuthFile::load(&p)?.get(registry),
        None => Ok(None),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    Basic,
    Bearer,
}

/// One parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: Scheme,
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    /// Parses `Scheme k="v", k2=v2`. Parameter names are lowercased; quoted
    /// values may contain commas and backslash escapes.
    pub fn parse(header: &str) -> Result<Challenge, AuthError> {
        let bad = || AuthError::Challenge(header.to_string());
        let header = header.trim();
        let (scheme, rest) = header
            .split_once(char::is_whitespace)
            .unwrap_or((header, ""));
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "basic" => Scheme::Basic,
            "bearer" => Scheme::Bearer,
            _ => return Err(bad()),
        };
        let mut params = BTreeMap::new();
        let b = rest.as_bytes();
        let mut i = 0;
        loop {
            while i < b.len() && (b[i] == b',' || b[i].is_ascii_whitespace()) {
                i += 1;
            }
            if i >= b.len() {
                break;
            }
            let start = i;
            while i < b.len() && b[i] != b'=' && b[i] != b',' {
                i += 1;
            }
            if i >= b.len() || b[i] != b'=' {
                return Err(bad());
            }
            let key = rest[start..i].trim().to_ascii_lowercase();
            i += 1;
            let mut value = String::new();
            if i < b.len() && b[i] == b'"' {
                i += 1;
                let mut closed = false;
                let mut chars = rest[i..].char_indices();
                while let Some((off, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, n)) = chars.next() {
                                value.push(n);
                            }
                        }
                        '"' => {
                            i += off + 1;
                            closed = true;
                            break;
                        }
                        c => value.push(c),
                    }
                }
                if !closed {
                    return Err(bad());
                }
            } else {
                let vstart = i;
                while i < b.len() && b[i] != b',' {
                    i += 1;
                }
                value = rest[vstart..i].trim().to_string();
            }
            if key.is_empty() {
                return Err(bad());
            }
            params.insert(key, value);
        }
        Ok(Challenge { scheme, params })
    }

    pub fn param(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenge_with_commas_in_scope() {
        let c = Challenge::parse(r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push""#).unwrap();
        assert_eq!(c.scheme, Scheme::Bearer);
        assert_eq!(c.param("realm"), Some("https://auth.example.com/token"));
        assert_eq!(c.param("service"), Some("registry.example.com"));
        assert_eq!(c.param("scope"), Some("repository:a/b:pull,push"));
    }

    #[test]
    fn parses_basic_and_unquoted_and_escapes() {
        let c = Challenge::parse(r#"basic Realm="Registry \"Realm\"""#).unwrap();
        assert_eq!(c.scheme, Scheme::Basic);
        assert_eq!(c.param("realm"), Some(r#"Registry "Realm""#));
        let c = Challenge::parse("Bearer realm=http://127.0.0.1:1/t, service=s").unwrap();
        assert_eq!(c.param("realm"), Some("http://127.0.0.1:1/t"));
        assert_eq!(c.param("service"), Some("s"));
        assert!(Challenge::parse("Basic").unwrap().params.is_empty());
    }

    #[test]
    fn refuses_malformed_challenges() {
        for bad in [
            "Negotiate abc",
            r#"Bearer realm="unterminated"#,
            "Bearer realm",
            "",
        ] {
            assert!(Challenge::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn auth_file_round_trip_keeps_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/auth.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            r#"{"auths":{"other.io":{"auth":"eDp5"}},"credHelpers":{"x":"y"}}"#,
        )
        .unwrap();
        let mut f = AuthFile::load(&path).unwrap();
        let creds = Credentials {
            username: "alice".into(),
            password: "p:ss word".into(),
        };
        f.set("localhost:5000", &creds);
        f.save().unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let f = AuthFile::load(&path).unwrap();
        assert_eq!(f.get("localhost:5000").unwrap(), Some(creds));
        assert_eq!(f.get("other.io").unwrap().unwrap().username, "x");
        assert_eq!(f.get("nowhere.io").unwrap(), None);
        let raw: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(raw["credHelpers"]["x"], "y");
        let mut f = AuthFile::load(&path).unwrap();
        assert!(f.remove("localhost:5000"));
        assert!(!f.remove("localhost:5000"));
        f.save().unwrap();
        assert_eq!(
            AuthFile::load(&path)
                .unwrap()
                .get("localhost:5000")
                .unwrap(),
            None
        );
    }

    #[test]
    fn docker_config_spellings_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let auth = encode("bob:secret");
        std::fs::write(&path, format!(r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{auth}"}},"https://quay.io":{{"auth":"{auth}"}}}}}}"#)).unwrap();
        let f = AuthFile::load(&path).unwrap();
        assert_eq!(f.get("docker.io").unwrap().unwrap().password, "secret");
        assert_eq!(f.get("quay.io").unwrap().unwrap().username, "bob");
        std::fs::write(&path, r#"{"auths":{"q.io":{"auth":"!!!"}}}"#).unwrap();
        assert!(matches!(
            AuthFile::load(&path).unwrap().get("q.io"),
            Err(AuthError::BadEntry { .. })
        ));
        assert!(AuthFile::load(&dir.path().join("missing.json"))
            .unwrap()
            .get("q.io")
            .unwrap()
            .is_none());
    }

    #[test]
    fn basic_header_is_base64() {
        let c = Credentials {
            username: "u".into(),
            password: "p".into(),
        };
        assert_eq!(c.basic_header(), "Basic dTpw");
    }
}
