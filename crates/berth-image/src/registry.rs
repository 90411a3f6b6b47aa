//! A blocking client for the OCI distribution API: manifests, blobs (streamed,
//! resumable with HTTP Range), uploads, and the token dance.
//!
//! Authentication is lazy: a request goes out with whatever authorization the
//! client already holds for its scopes; on `401` the `WWW-Authenticate`
//! challenge is answered (Basic credentials, or a Bearer token fetched from
//! the challenge's realm) and the request is sent once more.

use crate::auth::{Challenge, Credentials, Scheme};
use crate::digest::{Digest, DigestError};
use crate::manifest::ACCEPT_MANIFESTS;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::sync::Mutex;
use std::time::Duration;

const MAX_ATTEMPTS: u32 = 5;
const MAX_MANIFEST_BYTES: u64 = 8 << 20;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot reach registry {registry} at {url}: {reason}")]
    Unreachable {
        registry: String,
        url: String,
        reason: String,
    },
    #[error("registry {registry}: authentication failed for {what}: {reason}")]
    Unauthorized {
        registry: String,
        what: String,
        reason: String,
    },
    #[error("{what}: not found on registry {registry}")]
    NotFound { registry: String, what: String },
    #[error("{what}: registry {registry} answered HTTP {status}: {body}")]
    Status {
        registry: String,
        what: String,
        status: u16,
        body: String,
    },
    #[error("token server {realm}: {reason}")]
    Token { realm: String, reason: String },
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("{what}: {source}")]
    Digest { what: String, source: DigestError },
}

/// Authorization scopes (`repository:NAME:pull,push`) a request needs.
pub type Scopes = Vec<String>;

pub fn pull_scope(repo: &str) -> Scopes {
    vec![format!("repository:{repo}:pull")]
}

pub fn push_scope(repo: &str) -> Scopes {
    vec![format!("repository:{repo}:pull,push")]
}

/// True for `localhost`, 127.0.0.0/8 and `[::1]`, with or without a port.
pub fn is_loopback(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        registry.split(':').next().unwrap_or("")
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// A slice of a file, re-read from its start on each attempt.
    File {
        file: &'a File,
        offset: u64,
        len: u64,
    },
}

/// A client for one registry.
pub struct Client {
    registry: String,
    base: String,
    agent: ureq::Agent,
    credentials: Option<Credentials>,
    /// Authorization header per scope set; `*` holds Basic credentials.
    auth_cache: Mutex<HashMap<String, String>>,
}

pub enum UploadStart {
    /// The registry mounted the blob from another repository.
    Mounted,
    /// An upload session was opened at this URL.
    Session(String),
}

impl Client {
    /// Loopback registries use plain HTTP; others HTTPS unless `insecure`.
    pub fn new(registry: &str, insecure: bool, credentials: Option<Credentials>) -> Client {
        let host = if registry == "docker.io" {
            "registry-1.docker.io"
        } else {
            registry
        };
        let scheme = if insecure || is_loopback(registry) {
            "http"
        } else {
            "https"
        };
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(15))
            .timeout_read(Duration::from_secs(120))
            .timeout_write(Duration::from_secs(120))
            .max_idle_connections_per_host(16)
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .build();
        Client {
            registry: registry.into(),
            base: format!("{scheme}://{host}"),
            agent,
            credentials,
            auth_cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    fn resolve_location(&self, loc: &str) -> String {
        if loc.starts_with("http://") || loc.starts_with("https://") {
            loc.to_string()
        } else if loc.starts_with('/') {
            self.url(loc)
        } else {
            format!("{}/{}", self.base, loc)
        }
    }

    fn cached_auth(&self, scopes: &Scopes) -> Option<String> {
        let cache = self.auth_cache.lock().expect("auth cache lock");
        cache
            .get(&scopes.join(" "))
            .or_else(|| cache.get("*"))
            .cloned()
    }

    fn status_error(&self, what: &str, resp: ureq::Response) -> RegistryError {
        let status = resp.status();
        let mut body = String::new();
        let _ = resp.into_reader().take(2048).read_to_string(&mut body);
        let body = body.trim().chars().take(300).collect::<String>();
        match status {
            404 => RegistryError::NotFound {
                registry: self.registry.clone(),
                what: what.into(),
            },
            401 | 403 => {
                RegistryError::Unauthorized {
                    registry: self.registry.clone(),
                    what: what.into(),
                    reason: if self.credentials.is_some() {
                        format!("access denied with the stored credentials (HTTP {status}) {body}")
                    } else {
                        format!("access denied (HTTP {status}); log in with `berth image login {}` {body}", self.registry)
                    },
                }
            }
            _ => RegistryError::Status {
                registry: self.registry.clone(),
                what: what.into(),
                status,
                body,
            },
        }
    }

    /// Sends one request, answering an auth challenge and retrying transport
    /// failures and 429/5xx answers with exponential backoff.
    fn call(
        &self,
        method: &str,
        url: &str,
        scopes: &Scopes,
        headers: &[(&str, &str)],
        body: Body<'_>,
        what: &str,
    ) -> Result<ureq::Response, RegistryError> {
        let mut authenticated = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = self.agent.request(method, url);
            for (k, v) in headers {
                req = req.set(k, v);
            }
            if let Some(a) = self.cached_auth(scopes) {
                req = req.set("Authorization", &a);
            }
            let result = match &body {
                Body::Empty if method == "PUT" || method == "POST" || method == "PATCH" => {
                    req.set("Content-Length", "0").send_bytes(&[])
                }
                Body::Empty => req.call(),
                Body::Bytes(b) => req.send_bytes(b),
                Body::File { file, offset, len } => {
                    req.set("Content-Length", &len.to_string()).send(FileSlice {
                        file,
                        pos: *offset,
                        end: offset + len,
                    })
                }
            };
            let resp = match result {
                Ok(r) | Err(ureq::Error::Status(_, r)) => r,
                Err(ureq::Error::Transport(t)) => {
                    if attempt < MAX_ATTEMPTS {
                        backoff(attempt);
                        continue;
                    }
                    return Err(RegistryError::Unreachable {
                        registry: self.registry.clone(),
                        url: url.into(),
                        reason: t.to_string(),
                    });
                }
            };
            match resp.status() {
                401 if !authenticated => {
                    authenticated = true;
                    let challenge = resp.header("www-authenticate").map(str::to_string);
                    self.answer_challenge(challenge.as_deref(), scopes, what)?;
                    attempt -= 1;
                }
                429 | 500 | 502 | 503 | 504 if attempt < MAX_ATTEMPTS => backoff(attempt),
                _ => return Ok(resp),
            }
        }
    }

    fn answer_challenge(
        &self,
        header: Option<&str>,
        scopes: &Scopes,
        what: &str,
    ) -> Result<(), RegistryError> {
        let unauthorized = |reason: String| RegistryError::Unauthorized {
            registry: self.registry.clone(),
            what: what.into(),
            reason,
        };
        let header = header
            .ok_or_else(|| unauthorized("HTTP 401 without a WWW-Authenticate challenge".into()))?;
        let challenge = Challenge::parse(header).map_err(|e| unauthorized(e.to_string()))?;
        match challenge.scheme {
            Scheme::Basic => {
                let creds = self.credentials.as_ref().ok_or_else(|| {
                    unauthorized(format!(
                        "the registry wants a username and password; run `berth image login {}`",
                        self.registry
                    ))
                })?;
                self.auth_cache
                    .lock()
                    .expect("auth cache lock")
                    .insert("*".into(), creds.basic_header());
            }
            Scheme::Bearer => {
                let token = self.fetch_token(&challenge, scopes)?;
                self.auth_cache
                    .lock()
                    .expect("auth cache lock")
                    .insert(scopes.join(" "), format!("Bearer {token}"));
            }
        }
        Ok(())
    }

    /// GETs a token from the challenge's realm (with Basic credentials when we
    /// have them); if that is refused and we have credentials, tries the
    /// OAuth2 password grant by POST.
    fn fetch_token(&self, challenge: &Challenge, scopes: &Scopes) -> Result<String, RegistryError> {
        let realm = challenge.param("realm").unwrap_or("").to_string();
        let terr = |reason: String| RegistryError::Token {
            realm: realm.clone(),
            reason,
        };
        if !(realm.starts_with("http://") || realm.starts_with("https://")) {
            return Err(terr("challenge has no usable realm".into()));
        }
        let service = challenge.param("service");
        let mut query: Vec<(String, String)> = Vec::new();
        if let Some(s) = service {
            query.push(("service".into(), s.into()));
        }
        for s in scopes {
            query.push(("scope".into(), s.clone()));
        }
        if let Some(c) = &self.credentials {
            query.push(("account".into(), c.username.clone()));
        }
        let qs = form_encode(&query);
        let url = if realm.contains('?') {
            format!("{realm}&{qs}")
        } else {
            format!("{realm}?{qs}")
        };
        let mut req = self.agent.get(&url);
        if let Some(c) = &self.credentials {
            req = req.set("Authorization", &c.basic_header());
        }
        let transport = |t: ureq::Transport| terr(t.to_string());
        let first = match req.call() {
            Ok(r) => return parse_token(r).map_err(terr),
            Err(ureq::Error::Status(code, _)) => code,
            Err(ureq::Error::Transport(t)) => return Err(transport(t)),
        };
        let Some(c) = &self.credentials else {
            return Err(RegistryError::Unauthorized {
                registry: self.registry.clone(),
                what: scopes.join(" "),
                reason: format!("token server refused anonymous access (HTTP {first}); run `berth image login {}`", self.registry),
            });
        };
        let mut form = vec![
            ("grant_type".to_string(), "password".to_string()),
            ("username".into(), c.username.clone()),
            ("password".into(), c.password.clone()),
            ("client_id".into(), "berth".into()),
            ("scope".into(), scopes.join(" ")),
        ];
        if let Some(s) = service {
            form.push(("service".into(), s.into()));
        }
        match self.agent.post(&realm).set("Content-Type", "application/x-www-form-urlencoded").send_string(&form_encode(&form)) {
            Ok(r) => parse_token(r).map_err(terr),
            Err(ureq::Error::Status(code, _)) => Err(RegistryError::Unauthorized {
                registry: self.registry.clone(),
                what: scopes.join(" "),
                reason: format!("wrong username or password for {} (token server answered HTTP {first}, then {code})", c.username),
            }),
            Err(ureq::Error::Transport(t)) => Err(transport(t)),
        }
    }

    /// `GET /v2/`: checks the registry answers and the credentials work.
    pub fn ping(&self) -> Result<(), RegistryError> {
        let resp = self.call("GET", &self.url("/v2/"), &vec![], &[], Body::Empty, "/v2/")?;
        match resp.status() {
            200..=299 => Ok(()),
            401 if self.credentials.is_some() => Err(RegistryError::Unauthorized {
                registry: self.registry.clone(),
                what: "login".into(),
                reason: "wrong username or password".into(),
            }),
            _ => Err(self.status_error("/v2/", resp)),
        }
    }

    /// Fetches a manifest or index; returns its bytes, Content-Type and digest.
    /// When `reference` is a digest, the bytes are verified against it.
    pub fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<(Vec<u8>, Option<String>, Digest), RegistryError> {
        let what = format!("manifest {}/{repo}:{reference}", self.registry);
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        let resp = self.call(
            "GET",
            &url,
            &pull_scope(repo),
            &[("Accept", ACCEPT_MANIFESTS)],
            Body::Empty,
            &what,
        )?;
        if resp.status() != 200 {
            return Err(self.status_error(&what, resp));
        }
        let content_type = resp.header("content-type").map(str::to_string);
        let mut bytes = Vec::new();
        resp.into_reader()
            .take(MAX_MANIFEST_BYTES)
            .read_to_end(&mut bytes)
            .map_err(|source| RegistryError::Io {
                what: what.clone(),
                source,
            })?;
        let digest = Digest::of(&bytes);
        if let Ok(expected) = reference.parse::<Digest>() {
            expected
                .verify(&digest)
                .map_err(|source| RegistryError::Digest { what, source })?;
        }
        Ok((bytes, content_type, digest))
    }

    /// A blob small enough to hold in memory (configs), verified.
    pub fn get_blob_bytes(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        let what = format!("blob {digest}");
        let mut bytes = Vec::with_capacity(size.min(MAX_MANIFEST_BYTES) as usize);
        self.blob_reader(repo, digest, size, 0)
            .read_to_end(&mut bytes)
            .map_err(|source| RegistryError::Io {
                what: what.clone(),
                source,
            })?;
        digest
            .verify(&Digest::of(&bytes))
            .map_err(|source| RegistryError::Digest { what, source })?;
        Ok(bytes)
    }

    /// A reader over a blob from `offset` on that reconnects with `Range`
    /// when the connection breaks; it yields at most `size - offset` bytes.
    pub fn blob_reader<'a>(
        &'a self,
        repo: &str,
        digest: &Digest,
        size: u64,
        offset: u64,
    ) -> BlobReader<'a> {
        BlobReader {
            client: self,
            url: self.url(&format!("/v2/{repo}/blobs/{digest}")),
            scopes: pull_scope(repo),
            what: format!("blob {digest}"),
            size,
            offset,
            body: None,
            failures: 0,
        }
    }

    /// `HEAD` a blob: its size if the registry has it.
    pub fn blob_exists(&self, repo: &str, digest: &Digest) -> Result<Option<u64>, RegistryError> {
        let what = format!("blob {digest}");
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"));
        let resp = self.call("HEAD", &url, &push_scope(repo), &[], Body::Empty, &what)?;
        match resp.status() {
            200 => Ok(Some(
                resp.header("content-length")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(0),
            )),
            404 => Ok(None),
            _ => Err(self.status_error(&what, resp)),
        }
    }

    /// Opens an upload session, or mounts the blob from `mount_from` on the same registry.
    pub fn start_upload(
        &self,
        repo: &str,
        mount: Option<(&Digest, &str)>,
    ) -> Result<UploadStart, RegistryError> {
        let what = format!("upload to {}/{repo}", self.registry);
        let (url, scopes) = match mount {
            Some((d, from)) => (
                self.url(&format!(
                    "/v2/{repo}/blobs/uploads/?mount={}&from={}",
                    pct(&d.to_string()),
                    pct(from)
                )),
                vec![
                    format!("repository:{repo}:pull,push"),
                    format!("repository:{from}:pull"),
                ],
            ),
            None => (
                self.url(&format!("/v2/{repo}/blobs/uploads/")),
                push_scope(repo),
            ),
        };
        let resp = self.call("POST", &url, &scopes, &[], Body::Empty, &what)?;
        if mount.is_some() {
            // Further requests of this push reuse the token that can also mount.
            if let Some(a) = self.cached_auth(&scopes) {
                self.auth_cache
                    .lock()
                    .expect("auth cache lock")
                    .insert(push_scope(repo).join(" "), a);
            }
        }
        match resp.status() {
            201 if mount.is_some() => Ok(UploadStart::Mounted),
            202 => {
                let loc = resp
                    .header("location")
                    .ok_or_else(|| RegistryError::Status {
                        registry: self.registry.clone(),
                        what: what.clone(),
                        status: 202,
                        body: "no Location header".into(),
                    })?;
                Ok(UploadStart::Session(self.resolve_location(loc)))
            }
            _ => Err(self.status_error(&what, resp)),
        }
    }

    /// Uploads `len` bytes of `file` to an open session in one PUT, or in
    /// PATCH chunks of `chunk` bytes followed by a closing PUT.
    pub fn upload(
        &self,
        repo: &str,
        session: String,
        digest: &Digest,
        file: &File,
        len: u64,
        chunk: Option<u64>,
    ) -> Result<(), RegistryError> {
        let what = format!("upload of blob {digest} to {}/{repo}", self.registry);
        let scopes = push_scope(repo);
        let mut location = session;
        let octet = [("Content-Type", "application/octet-stream")];
        let body = match chunk {
            Some(chunk) if chunk > 0 => {
                let mut offset = 0;
                while offset < len {
                    let n = chunk.min(len - offset);
                    let range = format!("{}-{}", offset, offset + n - 1);
                    let headers = [octet[0], ("Content-Range", range.as_str())];
                    let resp = self.call(
                        "PATCH",
                        &location,
                        &scopes,
                        &headers,
                        Body::File {
                            file,
                            offset,
                            len: n,
                        },
                        &what,
                    )?;
                    if resp.status() != 202 {
                        return Err(self.status_error(&what, resp));
                    }
                    if let Some(loc) = resp.header("location") {
                        location = self.resolve_location(loc);
                    }
                    offset += n;
                }
                Body::Empty
            }
            _ => Body::File {
                file,
                offset: 0,
                len,
            },
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{sep}digest={}", pct(&digest.to_string()));
        let resp = self.call("PUT", &url, &scopes, &octet, body, &what)?;
        match resp.status() {
            201 | 204 => Ok(()),
            _ => Err(self.status_error(&what, resp)),
        }
    }

    /// PUTs a manifest under a tag or digest.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(), RegistryError> {
        let what = format!("manifest {}/{repo}:{reference}", self.registry);
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        let resp = self.call(
            "PUT",
            &url,
            &push_scope(repo),
            &[("Content-Type", media_type)],
            Body::Bytes(bytes),
            &what,
        )?;
        match resp.status() {
            200..=299 => Ok(()),
            _ => Err(self.status_error(&what, resp)),
        }
    }
}

fn backoff(attempt: u32) {
    std::thread::sleep(Duration::from_millis(100 << attempt.min(6)));
}

fn parse_token(resp: ureq::Response) -> Result<String, String> {
    #[derive(serde::Deserialize)]
    struct Token {
        token: Option<String>,
        access_token: Option<String>,
    }
    let mut body = Vec::new();
    resp.into_reader()
        .take(1 << 20)
        .read_to_end(&mut body)
        .map_err(|e| e.to_string())?;
    let t: Token = serde_json::from_slice(&body).map_err(|e| format!("bad token response: {e}"))?;
    t.token
        .or(t.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "token response has no token".to_string())
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn form_encode(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A replayable request body: bytes `pos..end` of a file, read with `pread`.
struct FileSlice<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for FileSlice<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min((self.end - self.pos) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "blob file shorter than its size",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// A blob download that survives dropped connections: on a read error or an
/// early end it asks again with `Range: bytes=OFFSET-` and carries on.
pub struct BlobReader<'a> {
    client: &'a Client,
    url: String,
    scopes: Scopes,
    what: String,
    size: u64,
    offset: u64,
    body: Option<Box<dyn Read + Send + Sync + 'static>>,
    failures: u32,
}

impl BlobReader<'_> {
    fn open(&mut self) -> io::Result<()> {
        let range = format!("bytes={}-", self.offset);
        let headers: Vec<(&str, &str)> = if self.offset > 0 {
            vec![("Range", range.as_str())]
        } else {
            vec![]
        };
        let resp = self
            .client
            .call(
                "GET",
                &self.url,
                &self.scopes,
                &headers,
                Body::Empty,
                &self.what,
            )
            .map_err(io::Error::other)?;
        let body = match resp.status() {
            200 | 206 => {
                let partial = resp.status() == 206;
                let r = resp.into_reader();
                if !partial && self.offset > 0 {
                    // The server ignored Range: skip what we already have.
                    let mut r = r;
                    io::copy(&mut (&mut r).take(self.offset), &mut io::sink())?;
                    r
                } else {
                    r
                }
            }
            _ => return Err(io::Error::other(self.client.status_error(&self.what, resp))),
        };
        self.body = Some(body);
        Ok(())
    }
}

impl Read for BlobReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let remaining = self.size.saturating_sub(self.offset);
            if remaining == 0 {
                return Ok(0);
            }
            if self.body.is_none() {
                self.open()?;
            }
            let want = buf.len().min(remaining.min(usize::MAX as u64) as usize);
            let result = self
                .body
                .as_mut()
                .expect("body is open")
                .read(&mut buf[..want]);
            match result {
                Ok(n) if n > 0 => {
                    self.offset += n as u64;
                    self.failures = 0;
                    return Ok(n);
                }
                Ok(_) | Err(_) => {
                    self.body = None;
                    self.failures += 1;
                    if self.failures >= MAX_ATTEMPTS {
                        let why = match result {
                            Err(e) => e.to_string(),
                            Ok(_) => format!(
                                "connection closed at byte {} of {}",
                                self.offset, self.size
                            ),
                        };
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!("{}: {why}", self.what),
                        ));
                    }
                    backoff(self.failures);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    #[test]
    fn loopback_detection() {
        for yes in [
            "localhost",
            "localhost:5000",
            "127.0.0.1",
            "127.1.2.3:80",
            "[::1]:5000",
            "[::1]",
        ] {
            assert!(is_loopback(yes), "{yes}");
        }
        for no in [
            "docker.io",
            "10.0.0.1:5000",
            "localhost.example.com",
            "[::2]:1",
            "128.0.0.1",
        ] {
            assert!(!is_loopback(no), "{no}");
        }
    }

    #[test]
    fn percent_encoding() {
        assert_eq!(
            pct("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
        assert_eq!(pct("a-b_c.d~"), "a-b_c.d~");
    }

    /// Serves `data` as a blob; the first response is cut after `cut` bytes,
    /// later ones honour `Range`. Returns the port and the Range headers seen.
    fn flaky_server(
        data: Vec<u8>,
        cut: usize,
        requests: usize,
    ) -> (u16, std::thread::JoinHandle<Vec<Option<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let mut ranges = vec![];
            for i in 0..requests {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut range = None;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if line == "\r\n" || line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                        range = Some(v.trim().trim_end_matches('-').to_string());
                    }
                }
                let start: usize = range.as_deref().map(|r| r.parse().unwrap()).unwrap_or(0);
                ranges.push(range.clone());
                let mut s = stream;
                let body = &data[start..];
                let status = if range.is_some() {
                    "206 Partial Content"
                } else {
                    "200 OK"
                };
                write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .unwrap();
                let n = if i == 0 { cut } else { body.len() };
                s.write_all(&body[..n]).unwrap();
            }
            ranges
        });
        (port, handle)
    }

    #[test]
    fn interrupted_blob_resumes_with_range() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let digest = Digest::of(&data);
        let (port, server) = flaky_server(data.clone(), 70_000, 2);
        let client = Client::new(&format!("127.0.0.1:{port}"), false, None);
        let got = client
            .get_blob_bytes("x/y", &digest, data.len() as u64)
            .unwrap();
        assert_eq!(got, data);
        assert_eq!(
            server.join().unwrap(),
            vec![None, Some("70000".to_string())]
        );
    }

    #[test]
    fn unreachable_registry_is_a_clear_error() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = Client::new(&format!("127.0.0.1:{port}"), false, None);
        let err = client.get_manifest("x", "latest").unwrap_err();
        assert!(matches!(err, RegistryError::Unreachable { .. }), "{err}");
        assert!(err.to_string().contains("cannot reach registry"), "{err}");
    }
}
