//! What `image run` was asked for, as the user typed it, and the parsers that turn each flag's
//! value into a typed one. Every error names the flag (docker's and podman's spelling).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The flags of `image run`, unparsed: [`crate::plan::build`] parses them, so a bad value is
/// reported with its flag.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The image reference.
    pub image: String,
    /// COMMAND ARG…: replaces the image's Cmd.
    pub command: Vec<String>,
    /// `--entrypoint`: replaces the image's Entrypoint (an empty string clears it).
    pub entrypoint: Option<String>,
    /// `--rm`.
    pub remove: bool,
    /// `-d`.
    pub detach: bool,
    /// `-i`.
    pub interactive: bool,
    /// `-t`.
    pub tty: bool,
    /// `--name`.
    pub name: Option<String>,
    /// `-e K=V` or `-e K` (taken from the caller's environment).
    pub env: Vec<String>,
    /// `--env-file`.
    pub env_files: Vec<PathBuf>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u USER[:GROUP]`.
    pub user: Option<String>,
    /// `-v SRC:DST[:OPTS]` or `-v DST`.
    pub volumes: Vec<String>,
    /// `--mount type=…,…`.
    pub mounts: Vec<String>,
    /// `--tmpfs DST[:OPTS]`.
    pub tmpfs: Vec<String>,
    /// `--network none|host|bridge`.
    pub network: Option<String>,
    /// `-p [IP:]HOSTPORT:PORT[/PROTO]` or `-p PORT`.
    pub publish: Vec<String>,
    /// `-P`: every port the image exposes, on a free host port.
    pub publish_all: bool,
    /// `--memory`.
    pub memory: Option<String>,
    /// `--memory-swap`.
    pub memory_swap: Option<String>,
    /// `--cpus`.
    pub cpus: Option<String>,
    /// `--pids-limit`.
    pub pids_limit: Option<String>,
    /// `--read-only`.
    pub read_only: bool,
    /// `--cap-add`.
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    pub cap_drop: Vec<String>,
    /// `--security-opt`.
    pub security_opt: Vec<String>,
    /// `--hostname`.
    pub hostname: Option<String>,
    /// `--stop-signal`.
    pub stop_signal: Option<String>,
    /// `--stop-timeout` in seconds.
    pub stop_timeout: Option<u64>,
    /// Allow plain HTTP to a registry when the image is pulled.
    pub insecure: bool,
}

/// How the container is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// Its own network namespace with only loopback.
    None,
    /// The host's network namespace.
    Host,
    /// Its own namespace, attached to the `berth0` bridge through CNI.
    Bridge,
}

/// `--network`.
pub fn parse_network(s: &str) -> Result<NetworkMode> {
    match s {
        "none" => Ok(NetworkMode::None),
        "host" => Ok(NetworkMode::Host),
        "bridge" | "berth" | "default" => Ok(NetworkMode::Bridge),
        _ => Err(Error::flag(
            "--network",
            s,
            "expected none, host or bridge (other networks are not supported)",
        )),
    }
}

/// `-e` values: `K=V` as given, `K` from `lookup` (dropped when unset, as docker does).
pub fn parse_env(
    flag: &'static str,
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<String>> {
    let (key, value) = match s.split_once('=') {
        Some((k, v)) => (k, Some(v.to_string())),
        None => (s, None),
    };
    if key.is_empty() || key.contains(char::is_whitespace) || key.contains('\0') {
        return Err(Error::flag(flag, s, "expected KEY=VALUE or KEY"));
    }
    Ok(match value {
        Some(v) => Some(format!("{key}={v}")),
        None => lookup(key).map(|v| format!("{key}={v}")),
    })
}

/// The variables of an `--env-file`: one `K=V` or `K` per line, `#` comments, blank lines.
pub fn read_env_file(path: &Path, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Flag {
        flag: "--env-file",
        value: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parsed = parse_env("--env-file", line, lookup).map_err(|_| Error::Flag {
            flag: "--env-file",
            value: path.display().to_string(),
            reason: format!("line {}: expected KEY=VALUE or KEY", n + 1),
        })?;
        out.extend(parsed);
    }
    Ok(out)
}

/// A size as docker takes it: a number with an optional unit `b`, `k`, `m`, `g`, `t`
/// (powers of 1024, any case, optionally followed by `b`/`ib`).
pub fn parse_size(flag: &'static str, s: &str) -> Result<i64> {
    let bad = || Error::flag(flag, s, "expected a size such as 512m or 1g");
    let lower = s.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let unit = unit
        .trim_end_matches("ib")
        .trim_end_matches('b')
        .to_string();
    let mul: f64 = match unit.as_str() {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    let bytes = n * mul;
    if !bytes.is_finite() || bytes < 1.0 || bytes > i64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as i64)
}

/// `--memory`: at least 6 MiB, as docker requires (less cannot start a process).
pub fn parse_memory(s: &str) -> Result<i64> {
    let n = parse_size("--memory", s)?;
    if n < 6 * 1024 * 1024 {
        return Err(Error::flag("--memory", s, "the minimum is 6m"));
    }
    Ok(n)
}

/// `--memory-swap`: memory plus swap, or `-1` for unlimited swap.
pub fn parse_memory_swap(s: &str, memory: Option<i64>) -> Result<i64> {
    if s == "-1" {
        return Ok(-1);
    }
    let n = parse_size("--memory-swap", s)?;
    match memory {
        None => Err(Error::flag(
            "--memory-swap",
            s,
            "needs --memory (it is memory plus swap)",
        )),
        Some(m) if n < m => Err(Error::flag(
            "--memory-swap",
            s,
            "must be at least --memory (it is memory plus swap)",
        )),
        Some(_) => Ok(n),
    }
}

/// The CFS period `--cpus` uses, as docker.
pub const CPU_PERIOD: u64 = 100_000;

/// `--cpus N`: the CFS quota for a period of [`CPU_PERIOD`], for at most `online` CPUs.
pub fn parse_cpus(s: &str, online: usize) -> Result<i64> {
    let n: f64 = s
        .parse()
        .map_err(|_| Error::flag("--cpus", s, "expected a number of CPUs such as 1.5"))?;
    if !n.is_finite() || n < 0.01 {
        return Err(Error::flag("--cpus", s, "the minimum is 0.01"));
    }
    if n > online as f64 {
        return Err(Error::flag(
            "--cpus",
            s,
            format!("this machine has {online} CPUs"),
        ));
    }
    Ok((n * CPU_PERIOD as f64).round() as i64)
}

/// `--pids-limit`: a positive number, or 0 / -1 for unlimited (`None`).
pub fn parse_pids_limit(s: &str) -> Result<Option<i64>> {
    match s.parse::<i64>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        Ok(0) | Ok(-1) => Ok(None),
        _ => Err(Error::flag(
            "--pids-limit",
            s,
            "expected a positive number (0 or -1: unlimited)",
        )),
    }
}

/// Where the seccomp profile comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seccomp {
    /// Docker's default profile.
    Default,
    /// No filter (`seccomp=unconfined`).
    Unconfined,
    /// A profile file: Docker's format or an OCI `linux.seccomp` object.
    Profile(PathBuf),
}

/// What `--security-opt` values add up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Security {
    pub seccomp: Seccomp,
    pub no_new_privileges: bool,
}

/// `--security-opt`: `seccomp=unconfined|PROFILE`, `no-new-privileges[=true|false]`
/// (docker also accepts `:` for `=`).
pub fn parse_security_opts(opts: &[String]) -> Result<Security> {
    let mut sec = Security {
        seccomp: Seccomp::Default,
        no_new_privileges: false,
    };
    for o in opts {
        let (k, v) = match o.split_once(['=', ':']) {
            Some((k, v)) => (k, Some(v)),
            None => (o.as_str(), None),
        };
        match (k, v) {
            ("seccomp", Some("unconfined")) => sec.seccomp = Seccomp::Unconfined,
            ("seccomp", Some(p)) if !p.is_empty() => {
                sec.seccomp = Seccomp::Profile(PathBuf::from(p))
            }
            ("no-new-privileges", None | Some("true")) => sec.no_new_privileges = true,
            ("no-new-privileges", Some("false")) => sec.no_new_privileges = false,
            ("apparmor" | "label" | "systempaths" | "mask" | "unmask" | "proc-opts", _) => {
                return Err(Error::flag(
                    "--security-opt",
                    o,
                    format!("`{k}` is not supported by berth image run"),
                ))
            }
            _ => {
                return Err(Error::flag(
                    "--security-opt",
                    o,
                    "expected seccomp=unconfined|PROFILE or no-new-privileges[=true|false]",
                ))
            }
        }
    }
    Ok(sec)
}

/// `--name`: docker's rule, `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 128 characters.
pub fn check_name(s: &str) -> Result<()> {
    let ok = s.len() <= 128
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::flag(
            "--name",
            s,
            "letters, digits and _ . - only, starting with a letter or digit",
        ))
    }
}

/// `--hostname`: an RFC 1123 host name of at most 64 characters.
pub fn check_hostname(s: &str) -> Result<()> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if s.len() <= 64 && s.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(Error::flag(
            "--hostname",
            s,
            "expected a host name (letters, digits, -, dot-separated labels; at most 64 characters)",
        ))
    }
}

/// A stop signal by name or number, in canonical form (`SIGTERM`).
pub fn parse_stop_signal(flag: &'static str, s: &str) -> Result<String> {
    crate::runtime::parse_signal(s)
        .map(|sig| sig.as_str().to_string())
        .ok_or_else(|| Error::flag(flag, s, "not a signal name or number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn sizes_as_docker_spells_them() {
        assert_eq!(parse_size("--memory", "512").unwrap(), 512);
        assert_eq!(parse_size("--memory", "32m").unwrap(), 32 << 20);
        assert_eq!(parse_size("--memory", "32MB").unwrap(), 32 << 20);
        assert_eq!(parse_size("--memory", "1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("--memory", "1.5k").unwrap(), 1536);
        for bad in ["", "m", "12x", "-5m", "0"] {
            let e = parse_size("--memory", bad).unwrap_err().to_string();
            assert!(e.starts_with("--memory"), "{e}");
        }
        assert!(parse_memory("4m").unwrap_err().to_string().contains("6m"));
        assert_eq!(parse_memory_swap("-1", Some(1)).unwrap(), -1);
        assert!(parse_memory_swap("1m", None).is_err());
        assert!(parse_memory_swap("8m", Some(16 << 20)).is_err());
    }

    #[test]
    fn cpus_pids_and_names() {
        assert_eq!(parse_cpus("1.5", 2).unwrap(), 150_000);
        assert_eq!(parse_cpus("0.01", 2).unwrap(), 1000);
        assert!(parse_cpus("3", 2)
            .unwrap_err()
            .to_string()
            .contains("2 CPUs"));
        assert!(parse_cpus("x", 2)
            .unwrap_err()
            .to_string()
            .starts_with("--cpus"));
        assert_eq!(parse_pids_limit("10").unwrap(), Some(10));
        assert_eq!(parse_pids_limit("-1").unwrap(), None);
        assert!(parse_pids_limit("-5").is_err());
        assert!(check_name("web-1.a_b").is_ok());
        assert!(check_name("-x").is_err() && check_name("a/b").is_err() && check_name("").is_err());
        assert!(check_hostname("web.local").is_ok());
        assert!(check_hostname("bad_host").is_err() && check_hostname("-a").is_err());
        assert_eq!(parse_network("bridge").unwrap(), NetworkMode::Bridge);
        assert!(parse_network("mynet")
            .unwrap_err()
            .to_string()
            .starts_with("--network `mynet`"));
        assert_eq!(
            parse_stop_signal("--stop-signal", "usr1").unwrap(),
            "SIGUSR1"
        );
        assert_eq!(parse_stop_signal("--stop-signal", "9").unwrap(), "SIGKILL");
        assert!(parse_stop_signal("--stop-signal", "NOPE").is_err());
    }

    #[test]
    fn environment_values_and_files() {
        let lookup = |k: &str| (k == "HOME").then(|| "/root".to_string());
        assert_eq!(
            parse_env("-e", "A=1=2", &lookup).unwrap().as_deref(),
            Some("A=1=2")
        );
        assert_eq!(
            parse_env("-e", "HOME", &lookup).unwrap().as_deref(),
            Some("HOME=/root")
        );
        assert_eq!(parse_env("-e", "UNSET", &lookup).unwrap(), None);
        assert!(parse_env("-e", "=x", &no_env).is_err());
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("env");
        std::fs::write(&f, "# comment\n\nA=1\n  B=two words\nHOME\n").unwrap();
        assert_eq!(
            read_env_file(&f, &lookup).unwrap(),
            vec!["A=1", "B=two words", "HOME=/root"]
        );
        std::fs::write(&f, "A=1\n=bad\n").unwrap();
        let e = read_env_file(&f, &no_env).unwrap_err().to_string();
        assert!(e.contains("--env-file") && e.contains("line 2"), "{e}");
        let e = read_env_file(&dir.path().join("missing"), &no_env)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("--env-file"), "{e}");
    }

    #[test]
    fn security_options() {
        let s =
            |v: &[&str]| parse_security_opts(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(s(&[]).unwrap().seccomp, Seccomp::Default);
        assert_eq!(
            s(&["seccomp=unconfined"]).unwrap().seccomp,
            Seccomp::Unconfined
        );
        assert_eq!(
            s(&["seccomp:/p.json"]).unwrap().seccomp,
            Seccomp::Profile("/p.json".into())
        );
        assert!(s(&["no-new-privileges"]).unwrap().no_new_privileges);
        assert!(!s(&["no-new-privileges=false"]).unwrap().no_new_privileges);
        let e = s(&["apparmor=x"]).unwrap_err().to_string();
        assert!(
            e.contains("--security-opt") && e.contains("not supported"),
            "{e}"
        );
        assert!(s(&["seccomp"]).is_err());
    }
}
