//! The Bearer token dance against Debian's `docker-registry` configured with
//! `auth: token`. The token server is written here: it checks the password,
//! grants the scopes asked for, and signs an RS256 JWT with a key whose
//! self-signed certificate is the registry's `rootcertbundle` (the JWT carries
//! the certificate in `x5c`), so the registry really verifies what it gets.

use crate::harness::*;
use base64::Engine as _;
use berth_image::auth::{AuthFile, Credentials};
use berth_image::registry::Client;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SERVICE: &str = "berth-test-registry";
const ISSUER: &str = "berth-test-issuer";
const USER: &str = "alice";
const PASSWORD: &str = "s3cret";

/// How the token server behaves.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum Mode {
    /// GET with Basic and the OAuth2 POST form both get a token.
    Both = 0,
    /// GET is refused (as servers that only do OAuth2 do): POST only.
    PostOnly = 1,
    /// Tokens are signed with a key the registry does not trust.
    WrongKey = 2,
}

/// An RSA key and its self-signed certificate, made with `openssl`.
struct Signer {
    key: PathBuf,
    cert_pem: PathBuf,
    cert_der_b64: String,
}

impl Signer {
    fn generate(dir: &Path, name: &str) -> Signer {
        let key = dir.join(format!("{name}.key"));
        let cert_pem = dir.join(format!("{name}.pem"));
        run(Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", &format!("/CN=berth test token issuer {name}")])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert_pem)
            .stderr(Stdio::null()));
        let der = Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert_pem)
            .output()
            .unwrap();
        assert!(der.status.success());
        Signer {
            key,
            cert_pem,
            cert_der_b64: base64::engine::general_purpose::STANDARD.encode(der.stdout),
        }
    }

    /// An RS256 JWT granting `access` for the registry's service.
    fn token(&self, subject: &str, access: serde_json::Value) -> String {
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5c": [self.cert_der_b64]});
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": subject, "aud": SERVICE,
            "exp": now + 300, "nbf": now - 60, "iat": now,
            "jti": format!("{now}-{}", std::process::id()),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            b64(&serde_json::to_vec(&header).unwrap()),
            b64(&serde_json::to_vec(&claims).unwrap())
        );
        let mut child = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&self.key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(signing_input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "openssl dgst -sign failed");
        format!("{signing_input}.{}", b64(&out.stdout))
    }
}

/// The token server: a thread on 127.0.0.1 answering `/token`, stopped on drop.
struct TokenServer {
    port: u16,
    mode: Arc<AtomicU8>,
    /// One line per request: `GET basic=alice scope=…` or `POST grant=password …`.
    log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TokenServer {
    fn start(trusted: Signer, untrusted: Signer) -> TokenServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(Mode::Both as u8));
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, l, s) = (mode.clone(), log.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let mode = match m.load(Ordering::Relaxed) {
                            0 => Mode::Both,
                            1 => Mode::PostOnly,
                            _ => Mode::WrongKey,
                        };
                        let signer = if mode == Mode::WrongKey {
                            &untrusted
                        } else {
                            &trusted
                        };
                        if let Err(e) = serve(stream, mode, signer, &l) {
                            l.lock().unwrap().push(format!("error {e}"));
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(e) => panic!("token server accept: {e}"),
                }
            }
        });
        TokenServer {
            port,
            mode,
            log,
            stop,
            thread: Some(thread),
        }
    }

    fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    fn set_mode(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::Relaxed);
    }

    fn take_log(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn form_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (url_decode(k), url_decode(v))
        })
        .collect()
}

/// The `access` claim for scopes like `repository:NAME:pull,push`.
fn access_for(scopes: &[String]) -> serde_json::Value {
    let mut out = Vec::new();
    for scope in scopes.iter().flat_map(|s| s.split(' ')) {
        let mut parts = scope.splitn(3, ':');
        let (Some(kind), Some(name), Some(actions)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let actions: Vec<&str> = actions.split(',').collect();
        out.push(serde_json::json!({"type": kind, "name": name, "actions": actions}));
    }
    serde_json::Value::Array(out)
}

fn respond(mut s: &TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    s.flush()
}

fn serve(
    stream: TcpStream,
    mode: Mode,
    signer: &Signer,
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut basic = None;
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').unwrap_or((line, ""));
        match k.to_ascii_lowercase().as_str() {
            "authorization" => {
                basic = v.trim().strip_prefix("Basic ").and_then(|b| {
                    let raw = base64::engine::general_purpose::STANDARD.decode(b).ok()?;
                    let raw = String::from_utf8(raw).ok()?;
                    let (u, p) = raw.split_once(':')?;
                    Some((u.to_string(), p.to_string()))
                })
            }
            "content-length" => length = v.trim().parse().unwrap_or(0),
            _ => {}
        }
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    if path != "/token" {
        return respond(&stream, "404 Not Found", "{}");
    }
    let (user, password, params, line) = if method == "GET" {
        let params = form_pairs(query);
        let (u, p) = basic.clone().unzip();
        let line = format!(
            "GET basic={} {}",
            u.clone().unwrap_or_default(),
            params
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        (u, p, params, line)
    } else if method == "POST" {
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let params = form_pairs(&String::from_utf8_lossy(&body));
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let line = format!(
            "POST grant={} username={} service={} scope={}",
            get("grant_type").unwrap_or_default(),
            get("username").unwrap_or_default(),
            get("service").unwrap_or_default(),
            get("scope").unwrap_or_default()
        );
        (get("username"), get("password"), params, line)
    } else {
        return respond(&stream, "405 Method Not Allowed", "{}");
    };
    log.lock().unwrap().push(line);
    let service_ok = params.iter().any(|(k, v)| k == "service" && v == SERVICE);
    let creds_ok = user.as_deref() == Some(USER) && password.as_deref() == Some(PASSWORD);
    if (method == "GET" && mode == Mode::PostOnly) || !creds_ok || !service_ok {
        return respond(&stream, "401 Unauthorized", r#"{"details":"refused"}"#);
    }
    let scopes: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone())
        .collect();
    let token = signer.token(USER, access_for(&scopes));
    let body = if method == "POST" {
        serde_json::json!({"access_token": token, "expires_in": 300})
    } else {
        serde_json::json!({"token": token, "expires_in": 300})
    };
    respond(&stream, "200 OK", &body.to_string())
}

#[test]
fn bearer_token_registry_get_and_post_flows() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !ready("bearer_token_registry_get_and_post_flows") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let trusted = Signer::generate(w, "trusted");
    let untrusted = Signer::generate(w, "untrusted");
    let cert = trusted.cert_pem.clone();
    let tokens = TokenServer::start(trusted, untrusted);
    let auth = format!(
        "auth:\n  token:\n    realm: {}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
        tokens.realm(),
        cert.display()
    );
    let secured = Registry::start(Some(&auth));
    let open = Registry::start(None);
    let auth_file = w.join("auth.json");
    let _env = EnvGuard::set("REGISTRY_AUTH_FILE", &auth_file);

    build_busybox_image(w);
    let src = format!("{}/test/bb:1", open.host());
    skopeo_push(&format!("{}:bb", w.join("oci").display()), &src);
    let store = w.join("store");
    berth(&store, &["pull", &src]).unwrap();
    let dst = format!("{}/private/bb:1", secured.host());
    berth(&store, &["tag", &src, &dst]).unwrap();

    // No credentials: the token server refuses, and the error says what to do.
    let err = berth(&store, &["push", &dst]).unwrap_err().to_string();
    assert!(
        err.contains("authentication failed") && err.contains("berth image login"),
        "{err}"
    );
    assert!(tokens
        .take_log()
        .iter()
        .any(|l| l.starts_with("GET basic= ")));

    // A wrong password is reported as such (GET refused, then POST refused).
    let client = |password: &str| {
        Client::new(
            &secured.host(),
            false,
            Some(Credentials {
                username: USER.into(),
                password: password.into(),
            }),
        )
    };
    let err = client("nope").ping().unwrap_err().to_string();
    assert!(err.contains("wrong username or password"), "{err}");
    client(PASSWORD).ping().unwrap();
    tokens.take_log();

    // GET with Basic credentials.
    let mut f = AuthFile::load(&auth_file).unwrap();
    f.set(
        &secured.host(),
        &Credentials {
            username: USER.into(),
            password: PASSWORD.into(),
        },
    );
    f.save().unwrap();
    berth(&store, &["push", &dst]).unwrap();
    let log = tokens.take_log();
    assert!(
        log.iter().any(|l| l.starts_with("GET basic=alice")
            && l.contains(&format!("service={SERVICE}"))
            && l.contains("scope=repository:private/bb:pull,push")
            && l.contains("account=alice")),
        "{log:#?}"
    );
    assert!(!log.iter().any(|l| l.starts_with("POST")), "{log:#?}");
    let store2 = w.join("store2");
    berth(&store2, &["pull", &dst]).unwrap();
    // What berth pushed through the token flow is a whole image to skopeo too.
    skopeo_copy(
        &format!("docker://{dst}"),
        &format!("oci:{}:x", w.join("back").display()),
        Some(&format!("{USER}:{PASSWORD}")),
    );

    // The OAuth2 password grant by POST, when GET is refused.
    tokens.set_mode(Mode::PostOnly);
    let store3 = w.join("store3");
    berth(&store3, &["pull", &dst]).unwrap();
    let log = tokens.take_log();
    assert!(
        log.iter()
            .any(|l| l.starts_with("POST grant=password username=alice")
                && l.contains(&format!("service={SERVICE}"))
                && l.contains("scope=repository:private/bb:pull")),
        "{log:#?}"
    );
    let pulled = berth_image::store::Store::open(&store3)
        .unwrap()
        .list()
        .unwrap();
    assert_eq!(pulled.len(), 1, "the POST-flow pull stored nothing");

    // A token the registry cannot verify is not accepted.
    tokens.set_mode(Mode::WrongKey);
    let err = berth(&w.join("store4"), &["pull", &dst])
        .unwrap_err()
        .to_string();
    assert!(err.contains("authentication failed"), "{err}");
    let log = tokens.take_log();
    assert!(
        log.iter().any(|l| l.starts_with("GET basic=alice")),
        "no token was handed out, so the registry was not what refused: {log:#?}"
    );
}
