//! From `image run`'s flags and the image to a [`RunPlan`]: the first record, the
//! `config.json` and how stdio is wired. Every flag is parsed here, so a bad one fails before
//! anything exists; the monitor only carries the plan out.

use std::collections::HashMap;
use std::path::PathBuf;

use berth_image::bundle::{
    layer_dirs, IMAGE_DIGEST_ANNOTATION, IMAGE_NAME_ANNOTATION, OVERLAY_ANNOTATION,
};
use berth_image::manifest::ImageConfig;
use berth_image::store::Store;
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

use crate::mounts::{self, MountRequest, Source};
use crate::options::{self, NetworkMode, RunOptions};
use crate::record::{self, Network, Record, State, VolumeUse};
use crate::spec::{self, SpecInput};
use crate::{Engine, Error, Result};

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// How long `stop` waits after the stop signal, as Docker.
pub const DEFAULT_STOP_TIMEOUT: u64 = 10;

/// A stored image, ready to run (its layers are unpacked).
#[derive(Debug, Clone)]
pub struct ImageInfo {
    /// The name it is stored under.
    pub name: String,
    pub digest: String,
    pub config: ImageConfig,
    /// Its layer directories, top-most first.
    pub layers: Vec<PathBuf>,
}

impl ImageInfo {
    /// Reads a resolved image from the store.
    pub fn load(store: &Store, reference: &str) -> Result<ImageInfo> {
        let entry = store.resolve(reference)?;
        let image = store.load_image(&entry.manifest.digest)?;
        let layers = layer_dirs(store, &image);
        Ok(ImageInfo {
            name: entry.name,
            digest: image.manifest_digest.to_string(),
            config: image.config,
            layers,
        })
    }
}

/// How the container's stdio is wired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stdio {
    pub detach: bool,
    pub interactive: bool,
    pub tty: bool,
}

/// Everything the monitor needs to make and run the container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunPlan {
    /// The record as it is first written (state `creating`).
    pub record: Record,
    /// The bundle's `config.json`.
    pub spec: Spec,
    /// The image's layer directories, top-most first (the overlay's lower dirs).
    pub layers: Vec<PathBuf>,
    pub stdio: Stdio,
}

fn lookup_env(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

/// Sets `KEY=…` in `env`, replacing an earlier value of the same key.
fn set_env(env: &mut Vec<String>, kv: String) {
    let key = kv.split('=').next().unwrap_or_default().to_string();
    env.retain(|e| e.split('=').next() != Some(key.as_str()));
    env.push(kv);
}

fn has_env(env: &[String], key: &str) -> bool {
    env.iter().any(|e| e.split('=').next() == Some(key))
}

/// Builds the plan.
pub fn build(engine: &Engine, image: &ImageInfo, o: &RunOptions) -> Result<RunPlan> {
    let run = image.config.config.clone().unwrap_or_default();
    let network = match &o.network {
        Some(n) => options::parse_network(n)?,
        None => NetworkMode::Bridge,
    };
    if let Some(n) = &o.name {
        options::check_name(n)?;
    }
    if let Some(h) = &o.hostname {
        options::check_hostname(h)?;
    }

    // The command: --entrypoint replaces the image's and drops its Cmd, as docker does.
    let mut args: Vec<String> = match &o.entrypoint {
        Some(e) if e.is_empty() => Vec::new(),
        Some(e) => vec![e.clone()],
        None => run.entrypoint.clone().unwrap_or_default(),
    };
    if !o.command.is_empty() {
        args.extend(o.command.iter().cloned());
    } else if o.entrypoint.is_none() {
        args.extend(run.cmd.clone().unwrap_or_default());
    }
    if args.is_empty() {
        return Err(Error::flag(
            "COMMAND",
            "",
            "the image has no Entrypoint or Cmd: give a command",
        ));
    }

    let user_spec = o.user.clone().or(run.user.clone()).unwrap_or_default();
    let user_flag = if o.user.is_some() {
        "-u"
    } else {
        "the image's User"
    };
    let user = crate::user::in_image(user_flag, &user_spec, &image.layers)?;

    let id = record::random_hex(32);
    let short = id[..12].to_string();
    let hostname = match (&o.hostname, network) {
        (Some(h), _) => Some(h.clone()),
        (None, NetworkMode::Host) => None,
        (None, _) => Some(short.clone()),
    };
    let name = o.name.clone().unwrap_or_else(|| short.clone());

    // The environment: the image's, PATH if it has none, HOSTNAME, TERM for a tty, HOME,
    // then --env-file and -e in order.
    let mut env = run.env.clone().unwrap_or_default();
    if !has_env(&env, "PATH") {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    let shown_hostname = hostname
        .clone()
        .or_else(|| {
            nix::unistd::gethostname()
                .ok()
                .map(|h| h.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    set_env(&mut env, format!("HOSTNAME={shown_hostname}"));
    if o.tty && !has_env(&env, "TERM") {
        env.push("TERM=xterm".into());
    }
    if !has_env(&env, "HOME") {
        env.push(format!(
            "HOME={}",
            user.home.clone().unwrap_or_else(|| "/".into())
        ));
    }
    for f in &o.env_files {
        for kv in options::read_env_file(f, &lookup_env)? {
            set_env(&mut env, kv);
        }
    }
    for e in &o.env {
        if let Some(kv) = options::parse_env("-e", e, &lookup_env)? {
            set_env(&mut env, kv);
        }
    }

    let cwd = o
        .workdir
        .clone()
        .or(run.working_dir.clone())
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        return Err(Error::flag(
            "-w",
            &cwd,
            "the working directory must be absolute",
        ));
    }

    // Mounts.
    let cwd_host = std::env::current_dir().map_err(|e| Error::io("resolve", ".", e))?;
    let mut reqs: Vec<MountRequest> = Vec::new();
    for v in &o.volumes {
        reqs.push(mounts::parse_volume(v, &cwd_host)?);
    }
    for m in &o.mounts {
        reqs.push(mounts::parse_mount(m, &cwd_host)?);
    }
    for t in &o.tmpfs {
        reqs.push(mounts::parse_tmpfs(t)?);
    }
    // The image's VOLUMEs get an anonymous volume each, unless the user mounts something
    // there (as docker does).
    for dst in run.volumes.clone().unwrap_or_default().keys() {
        let r = mounts::parse_volume(dst, &cwd_host).map_err(|e| match e {
            Error::Flag { reason, .. } => Error::flag("the image's Volumes", dst, reason),
            e => e,
        })?;
        if !reqs.iter().any(|q| q.target == r.target) {
            reqs.push(r);
        }
    }
    mounts::check_unique(&reqs)?;
    let volumes: Vec<VolumeUse> = reqs
        .iter()
        .filter_map(|r| match &r.source {
            Source::Volume { name, anonymous } => Some(VolumeUse {
                name: name.clone(),
                anonymous: *anonymous,
            }),
            _ => None,
        })
        .collect();
    let oci_mounts = reqs
        .iter()
        .map(|r| mounts::oci_mount(r, &|n| engine.volume_data(n)))
        .collect();

    // Ports.
    let mut ports = Vec::new();
    for p in &o.publish {
        ports.push(crate::ports::parse_publish(p)?);
    }
    if o.publish_all {
        let exposed = run.exposed_ports.clone().unwrap_or_default();
        for p in crate::ports::publish_all(&exposed)? {
            if !ports
                .iter()
                .any(|q| q.container_port == p.container_port && q.protocol == p.protocol)
            {
                ports.push(p);
            }
        }
    }
    crate::ports::check_unique(&ports)?;
    if !ports.is_empty() && network != NetworkMode::Bridge {
        return Err(Error::flag(
            "-p",
            &crate::ports::display(&ports),
            "publishing ports needs --network bridge",
        ));
    }

    // Security.
    let caps = crate::capabilities::resolve(
        &o.cap_add,
        &o.cap_drop,
        &crate::capabilities::bounding_set(),
    )?;
    let security = options::parse_security_opts(&o.security_opt)?;
    let seccomp = crate::seccomp::for_container(&security.seccomp, &caps)?;

    // Resources.
    let memory = o.memory.as_deref().map(options::parse_memory).transpose()?;
    let memory_swap = o
        .memory_swap
        .as_deref()
        .map(|s| options::parse_memory_swap(s, memory))
        .transpose()?;
    let online = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu_quota = o
        .cpus
        .as_deref()
        .map(|c| options::parse_cpus(c, online))
        .transpose()?;
    let pids_limit = match &o.pids_limit {
        Some(p) => options::parse_pids_limit(p)?,
        None => None,
    };

    let stop_signal = match (&o.stop_signal, &run.stop_signal) {
        (Some(s), _) => options::parse_stop_signal("--stop-signal", s)?,
        (None, Some(s)) => options::parse_stop_signal("the image's StopSignal", s)?,
        (None, None) => "SIGTERM".to_string(),
    };

    let dir = engine.container_dir(&id);
    let bundle = dir.join("bundle");
    let mut annotations: HashMap<String, String> =
        run.labels.clone().unwrap_or_default().into_iter().collect();
    let lowers = if image.layers.is_empty() {
        vec![bundle.join("empty")]
    } else {
        image.layers.clone()
    };
    annotations.insert(
        OVERLAY_ANNOTATION.into(),
        berth_image::bundle::overlay_data(&lowers, &bundle),
    );
    annotations.insert(IMAGE_DIGEST_ANNOTATION.into(), image.digest.clone());
    annotations.insert(IMAGE_NAME_ANNOTATION.into(), image.name.clone());
    annotations.insert("dev.berth.engine.name".into(), name.clone());

    let etc_files = ["hosts", "hostname", "resolv.conf"]
        .iter()
        .map(|f| (PathBuf::from("/etc").join(f), dir.join(f)))
        .collect();
    let spec = spec::build(&SpecInput {
        args: args.clone(),
        env,
        cwd,
        user,
        tty: o.tty,
        hostname: hostname.clone(),
        network,
        netns: engine.netns_path(&id),
        capabilities: caps,
        seccomp,
        no_new_privileges: security.no_new_privileges,
        readonly_root: o.read_only,
        mounts: oci_mounts,
        etc_files,
        memory,
        memory_swap,
        cpu_quota,
        pids_limit,
        annotations,
    });

    let now = record::now_unix();
    let record = Record {
        id: id.clone(),
        name,
        image: image.name.clone(),
        image_digest: image.digest.clone(),
        command: args,
        created: crate::runtime::rfc3339_now(),
        created_unix: now,
        runtime_root: engine.runtime_root().to_path_buf(),
        auto_remove: o.remove,
        detach: o.detach,
        tty: o.tty,
        stop_signal,
        stop_timeout: o.stop_timeout.unwrap_or(DEFAULT_STOP_TIMEOUT),
        hostname: shown_hostname,
        network: Network {
            mode: network,
            ports,
            netns: false,
            attached: false,
            ip: None,
            gateway: None,
            mac: None,
            cni_result: None,
        },
        volumes,
        mounts: reqs,
        state: State::Creating,
        monitor: None,
        runtime_created: false,
        pid: None,
        started_unix: None,
        finished_unix: None,
        exit_code: None,
        oom_killed: false,
    };
    Ok(RunPlan {
        record,
        spec,
        layers: lowers,
        stdio: Stdio {
            detach: o.detach,
            interactive: o.interactive,
            tty: o.tty,
        },
    })
}
