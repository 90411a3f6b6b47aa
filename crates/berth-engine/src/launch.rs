//! What the monitor does to bring a planned container up: record, volumes, network, bundle,
//! stdio, runtime create and start. Each step is in the record before it is taken; on an
//! error the caller tears down whatever the record says exists.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use berth_image::digest::{Digest, DigestError};
use nix::fcntl::OFlag;

use crate::monitor::proto::Attached;
use crate::plan::RunPlan;
use crate::record::{Owner, State};
use crate::{runtime, Engine, Error, Result};

/// The host ends of a started container's stdio.
pub struct Launched {
    pub pid: i32,
    pub warnings: Vec<String>,
    /// What goes to the client with `Started` (in this order), and what it is.
    pub to_client: Vec<OwnedFd>,
    pub attached: Attached,
    /// What the monitor itself reads for the log (`-d`): stdout, stderr (or the pty master).
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    /// Held so the container's stdin stays open (`-d -i`).
    pub stdin_keep: Option<OwnedFd>,
}

fn pipe(what: &str) -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::sys("pipe", what, e))
}

/// Puts `fd` on our stdio slot `target` (0, 1 or 2), which the runtime hands to the init.
pub fn dup_onto(fd: &OwnedFd, target: i32) -> Result<()> {
    match target {
        0 => nix::unistd::dup2_stdin(fd),
        1 => nix::unistd::dup2_stdout(fd),
        _ => nix::unistd::dup2_stderr(fd),
    }
    .map_err(|e| Error::sys("dup2", format!("fd {target}"), e))
}

/// Points our fds 0, 1 and 2 back at /dev/null once the init has its copies.
fn reset_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        let null = OwnedFd::from(null);
        for t in 0..3 {
            let _ = dup_onto(&null, t);
        }
    }
}

/// Writes the bundle: `config.json` and the overlay's directories.
fn write_bundle(dir: &Path, plan: &RunPlan) -> Result<()> {
    for sub in ["rootfs", "upper", "work"] {
        let p = dir.join(sub);
        std::fs::create_dir_all(&p).map_err(|e| Error::io("create", &p, e))?;
    }
    for l in &plan.layers {
        if l.starts_with(dir) {
            std::fs::create_dir_all(l).map_err(|e| Error::io("create", l, e))?;
        }
    }
    let path = dir.join("config.json");
    let data = serde_json::to_vec_pretty(&plan.spec).expect("specs serialise");
    std::fs::write(&path, data).map_err(|e| Error::io("write", &path, e))
}

/// Registers the container's bundle as a hold on its image in the store, so that `image gc`
/// keeps the layers its overlay is made of until [`crate::teardown::remove`] releases it.
fn hold_image(engine: &Engine, plan: &RunPlan, bundle: &Path) -> Result<()> {
    let r = &plan.record;
    std::fs::create_dir_all(bundle).map_err(|e| Error::io("create", bundle, e))?;
    let digest: Digest = r
        .image_digest
        .parse()
        .map_err(|e: DigestError| Error::Corrupt {
            what: "image digest of the plan for",
            path: bundle.to_path_buf(),
            reason: e.to_string(),
        })?;
    let store = engine.image_store()?;
    let _writer = store.writer_lock()?;
    let user = format!("container {} ({})", &r.id[..12.min(r.id.len())], r.name);
    store.add_hold(bundle, &digest, &user)?;
    // `image run` held the writer lock since it unpacked them; a plan from elsewhere may
    // come too late.
    for l in plan.layers.iter().filter(|l| !l.starts_with(bundle)) {
        if !l.is_dir() {
            return Err(Error::io(
                "find the image's layer",
                l,
                std::io::ErrorKind::NotFound.into(),
            ));
        }
    }
    Ok(())
}

/// Brings the container up; returns its stdio ends.
pub fn launch(engine: &Engine, plan: &RunPlan) -> Result<Launched> {
    let mut record = plan.record.clone();
    let id = record.id.clone();
    record.monitor = Some(Owner::me());
    engine.create_record(&record)?;
    let bundle = engine.container_dir(&id).join("bundle");
    hold_image(engine, plan, &bundle)?;
    for v in &record.volumes {
        engine.volume_create(&v.name, v.anonymous)?;
    }
    crate::network::setup(engine, &id)?;
    write_bundle(&bundle, plan)?;

    // stdio: a terminal comes back from the runtime; otherwise pipes on 0, 1 and 2.
    let s = plan.stdio;
    let mut l = Launched {
        pid: 0,
        warnings: Vec::new(),
        to_client: Vec::new(),
        attached: Attached::None,
        stdout: None,
        stderr: None,
        stdin_keep: None,
    };
    let mut container_ends = Vec::new();
    if !s.tty {
        let (in_r, in_w) = pipe("stdin")?;
        let (out_r, out_w) = pipe("stdout")?;
        let (err_r, err_w) = pipe("stderr")?;
        dup_onto(&in_r, 0)?;
        dup_onto(&out_w, 1)?;
        dup_onto(&err_w, 2)?;
        container_ends.extend([in_r, out_w, err_w]);
        if s.detach {
            if s.interactive {
                l.stdin_keep = Some(in_w);
            }
            l.stdout = Some(out_r);
            l.stderr = Some(err_r);
        } else {
            l.attached = Attached::Pipes {
                stdin: s.interactive,
            };
            if s.interactive {
                l.to_client.push(in_w);
            }
            l.to_client.extend([out_r, err_r]);
        }
    }
    engine.update(&id, |r| r.runtime_created = true)?;
    let created = runtime::create(engine.runtime_root(), &id, &bundle);
    reset_stdio();
    drop(container_ends);
    let created = created?;
    l.pid = created.pid;
    l.warnings = created.warnings;
    if let Some(master) = created.master {
        if s.detach {
            l.stdout = Some(master);
        } else {
            l.attached = Attached::Tty;
            l.to_client.push(master);
        }
    }
    l.warnings
        .extend(runtime::start(engine.runtime_root(), &id)?);
    engine.update(&id, |r| {
        r.state = State::Running;
        r.pid = Some(l.pid);
        r.started_unix = Some(crate::record::now_unix());
    })?;
    Ok(l)
}

/// Makes `fd` non-blocking (the monitor drains pipes after the exit).
pub fn set_nonblocking(fd: &OwnedFd) {
    let flags = nix::fcntl::fcntl(fd.as_fd(), nix::fcntl::FcntlArg::F_GETFL)
        .map(OFlag::from_bits_truncate)
        .unwrap_or(OFlag::empty());
    let _ = nix::fcntl::fcntl(
        fd.as_fd(),
        nix::fcntl::FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK),
    );
}
