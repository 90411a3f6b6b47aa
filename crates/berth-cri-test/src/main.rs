//! `berth-cri-test`: a small CRI client (the `k8s-cri` crate over tonic) that runs one pod
//! through containerd's CRI plugin with a given runtime handler and checks what it sees:
//! sandbox with CNI networking, a container with a memory limit, ExecSync, an update of the
//! limit (checked in the cgroup file), stats, stop and removal, and that the pod's containers
//! share one shim.
//!
//! ```text
//! berth-cri-test --socket containerd.sock --handler berth --image docker.io/library/x:latest \
//!     --cgroup-parent /berth-cri-123 --log-dir /tmp/logs --shim containerd-shim-berth-v2
//! ```
//!
//! Output is TAP-like; the last line is `cri-HANDLER: N passed, M failed`, and the exit status
//! is non-zero when a check failed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, ensure, Context, Result};
use hyper_util::rt::TokioIo;
use k8s_cri::v1 as cri;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tonic::transport::{Channel, Endpoint, Uri};

const MIB: i64 = 1024 * 1024;
const RPC_TIMEOUT: Duration = Duration::from_secs(60);

struct Args {
    socket: PathBuf,
    handler: String,
    image: String,
    cgroup_parent: String,
    log_dir: PathBuf,
    shim: String,
}

fn parse_args() -> Result<Args> {
    let mut m: HashMap<String, String> = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let Some(name) = flag.strip_prefix("--") else {
            bail!("unexpected argument {flag:?} (flags are --name value)");
        };
        let value = it.next().ok_or_else(|| anyhow!("--{name} needs a value"))?;
        m.insert(name.to_string(), value);
    }
    let mut take = |k: &str| m.remove(k).ok_or_else(|| anyhow!("--{k} is required"));
    let a = Args {
        socket: take("socket")?.into(),
        handler: take("handler")?,
        image: take("image")?,
        cgroup_parent: take("cgroup-parent")?,
        log_dir: take("log-dir")?.into(),
        shim: take("shim")?,
    };
    if let Some(k) = m.keys().next() {
        bail!("unknown flag --{k}");
    }
    Ok(a)
}

async fn connect(socket: &Path) -> Result<Channel> {
    let path = socket.to_path_buf();
    Endpoint::try_from("http://[::]:0")?
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move {
                let s = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(TokioIo::new(s))
            }
        }))
        .await
        .with_context(|| format!("connect to {}", socket.display()))
}

fn req<T>(msg: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.set_timeout(RPC_TIMEOUT);
    r
}

/// Pass/fail bookkeeping, printed as it goes.
struct Report {
    n: usize,
    passed: usize,
    failed: usize,
}

impl Report {
    fn record(&mut self, name: &str, r: &Result<()>) {
        self.n += 1;
        match r {
            Ok(()) => {
                self.passed += 1;
                println!("ok {} - {name}", self.n);
            }
            Err(e) => {
                self.failed += 1;
                println!("not ok {} - {name}", self.n);
                for line in format!("{e:#}").lines() {
                    println!("#   {line}");
                }
            }
        }
    }
}

/// The host-side file of a process's memory limit: v1 `memory.limit_in_bytes` or v2
/// `memory.max`.
fn memory_limit_file(pid: u32) -> Result<PathBuf> {
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .with_context(|| format!("read /proc/{pid}/cgroup"))?;
    for line in cg.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or(""));
        if ctrls.split(',').any(|c| c == "memory") {
            return Ok(PathBuf::from(format!(
                "/sys/fs/cgroup/memory{path}/memory.limit_in_bytes"
            )));
        }
    }
    for line in cg.lines() {
        if let Some(path) = line.strip_prefix("0::") {
            return Ok(PathBuf::from(format!("/sys/fs/cgroup{path}/memory.max")));
        }
    }
    bail!("no memory cgroup for pid {pid} in {cg:?}")
}

/// The process's cgroup path (v2: the one hierarchy; v1: the memory controller's).
fn cgroup_path(pid: u32) -> Result<String> {
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .with_context(|| format!("read /proc/{pid}/cgroup"))?;
    let line = cg
        .lines()
        .find(|l| {
            l.split(':')
                .nth(1)
                .is_some_and(|c| c.split(',').any(|c| c == "memory"))
        })
        .or_else(|| cg.lines().find(|l| l.starts_with("0::")))
        .ok_or_else(|| anyhow!("no memory cgroup for pid {pid} in {cg:?}"))?;
    Ok(line.splitn(3, ':').nth(2).unwrap_or_default().to_string())
}

/// A property of a systemd unit, as `systemctl show` prints it.
fn unit_property(unit: &str, name: &str) -> Result<String> {
    let out = std::process::Command::new("systemctl")
        .args(["show", "-p", name, "--value", unit])
        .output()
        .context("run systemctl")?;
    ensure!(
        out.status.success(),
        "systemctl show {unit}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// With a systemd cgroup parent (a `.slice`), the container `id` (init `pid`) must be in the
/// transient scope `cri-containerd-ID.scope` of that slice, delegated, and systemd must know
/// it there. Returns the scope's name.
fn check_scope(parent: &str, id: &str, pid: u32) -> Result<String> {
    let path = cgroup_path(pid)?;
    let unit = format!("cri-containerd-{id}.scope");
    let (dir, last) = path.rsplit_once('/').unwrap_or_default();
    ensure!(last == unit, "cgroup {path}: not in {unit}");
    ensure!(
        dir.rsplit('/').next() == Some(parent),
        "cgroup {path}: not in the pod's slice {parent}"
    );
    let state = unit_property(&unit, "ActiveState")?;
    ensure!(state == "active", "{unit} is {state}");
    let cg = unit_property(&unit, "ControlGroup")?;
    ensure!(
        cg == path,
        "{unit}'s control group is {cg}, the init is in {path}"
    );
    let delegate = unit_property(&unit, "Delegate")?;
    ensure!(delegate == "yes", "{unit}: Delegate={delegate}");
    Ok(unit)
}

fn read_limit(pid: u32) -> Result<i64> {
    let p = memory_limit_file(pid)?;
    let s = std::fs::read_to_string(&p).with_context(|| format!("read {}", p.display()))?;
    s.trim()
        .parse()
        .with_context(|| format!("{}: {s:?}", p.display()))
}

/// Pids of processes named `shim` serving `-id ID`.
fn shims_for(shim: &str, id: &str) -> Vec<u32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
            args.first().is_some_and(|a| a.ends_with(shim.as_bytes()))
                && args
                    .windows(2)
                    .any(|w| w[0] == b"-id" && w[1] == id.as_bytes())
        })
        .collect()
}

/// The command lines of the processes whose arguments name `id` (for a failure's message).
fn naming(id: &str) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| {
        let pid = e.ok()?.file_name().to_str()?.parse::<u32>().ok()?;
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        cmd.contains(id).then(|| format!("{pid}: {cmd}"))
    })
    .collect()
}

struct Cri {
    rt: RuntimeServiceClient<Channel>,
    img: ImageServiceClient<Channel>,
    a: Args,
}

impl Cri {
    fn sandbox_config(&self) -> cri::PodSandboxConfig {
        cri::PodSandboxConfig {
            metadata: Some(cri::PodSandboxMetadata {
                name: format!("berth-pod-{}", self.a.handler),
                uid: format!("uid-{}-{}", self.a.handler, std::process::id()),
                namespace: "berth-test".into(),
                attempt: 0,
            }),
            hostname: "berthpod".into(),
            log_directory: self.a.log_dir.display().to_string(),
            linux: Some(cri::LinuxPodSandboxConfig {
                cgroup_parent: self.a.cgroup_parent.clone(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn container_config(&self) -> cri::ContainerConfig {
        cri::ContainerConfig {
            metadata: Some(cri::ContainerMetadata {
                name: "app".into(),
                attempt: 0,
            }),
            image: Some(cri::ImageSpec {
                image: self.a.image.clone(),
                ..Default::default()
            }),
            // SIGTERM ends it at once (pid 1 ignores signals it has no handler for).
            command: vec!["/bin/sh".into()],
            args: vec![
                "-c".into(),
                "trap 'exit 0' TERM; echo started; sleep 600 & wait".into(),
            ],
            log_path: "app.log".into(),
            linux: Some(cri::LinuxContainerConfig {
                resources: Some(cri::LinuxContainerResources {
                    memory_limit_in_bytes: 64 * MIB,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    async fn container_pid(&mut self, id: &str) -> Result<u32> {
        let st = self
            .rt
            .container_status(req(cri::ContainerStatusRequest {
                container_id: id.into(),
                verbose: true,
            }))
            .await?
            .into_inner();
        let info = st
            .info
            .get("info")
            .ok_or_else(|| anyhow!("no verbose info in ContainerStatus"))?;
        let v: serde_json::Value = serde_json::from_str(info)?;
        v["pid"]
            .as_u64()
            .map(|p| p as u32)
            .ok_or_else(|| anyhow!("no pid in the verbose info"))
    }

    async fn container_state(&mut self, id: &str) -> Result<cri::ContainerStatus> {
        self.rt
            .container_status(req(cri::ContainerStatusRequest {
                container_id: id.into(),
                verbose: false,
            }))
            .await?
            .into_inner()
            .status
            .ok_or_else(|| anyhow!("ContainerStatus without a status"))
    }

    async fn exec(&mut self, id: &str, cmd: &[&str]) -> Result<cri::ExecSyncResponse> {
        Ok(self
            .rt
            .exec_sync(req(cri::ExecSyncRequest {
                container_id: id.into(),
                cmd: cmd.iter().map(|s| s.to_string()).collect(),
                timeout: 20,
            }))
            .await?
            .into_inner())
    }
}

async fn run(a: Args, rep: &mut Report) -> Result<()> {
    std::fs::create_dir_all(&a.log_dir)?;
    let ch = connect(&a.socket).await?;
    let mut c = Cri {
        rt: RuntimeServiceClient::new(ch.clone()),
        img: ImageServiceClient::new(ch),
        a,
    };

    let r: Result<()> = async {
        let v =
            c.rt.version(req(cri::VersionRequest {
                version: "v1".into(),
            }))
            .await?
            .into_inner();
        ensure!(
            v.runtime_name == "containerd",
            "runtime {:?}",
            v.runtime_name
        );
        ensure!(
            v.runtime_api_version.starts_with("v1"),
            "api {:?}",
            v.runtime_api_version
        );
        let st = c
            .img
            .image_status(req(cri::ImageStatusRequest {
                image: Some(cri::ImageSpec {
                    image: c.a.image.clone(),
                    ..Default::default()
                }),
                verbose: false,
            }))
            .await?
            .into_inner();
        ensure!(
            st.image.is_some(),
            "image {} is not in CRI's store",
            c.a.image
        );
        Ok(())
    }
    .await;
    rep.record("Version is v1 containerd, ImageStatus finds the image", &r);
    r?;

    let sandbox_config = c.sandbox_config();
    let pod =
        c.rt.run_pod_sandbox(req(cri::RunPodSandboxRequest {
            config: Some(sandbox_config.clone()),
            runtime_handler: c.a.handler.clone(),
        }))
        .await
        .map(|r| r.into_inner().pod_sandbox_id)
        .map_err(anyhow::Error::from);
    rep.record(
        &format!("RunPodSandbox with handler {}", c.a.handler),
        &pod.as_ref().map(|_| ()).map_err(|e| anyhow!("{e:#}")),
    );
    let pod = pod?;
    let result = pod_workflow(&mut c, rep, &pod, &sandbox_config).await;
    let r: Result<()> = async {
        c.rt.stop_pod_sandbox(req(cri::StopPodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        }))
        .await?;
        c.rt.remove_pod_sandbox(req(cri::RemovePodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        }))
        .await?;
        let left =
            c.rt.list_pod_sandbox(req(cri::ListPodSandboxRequest { filter: None }))
                .await?
                .into_inner()
                .items;
        ensure!(
            !left.iter().any(|s| s.id == pod),
            "the sandbox is still listed"
        );
        // The shim exits once containerd shut it down after the sandbox's delete.
        for _ in 0..100 {
            if shims_for(&c.a.shim, &pod).is_empty() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the pod's shim is still running after 10s")
    }
    .await;
    rep.record("StopPodSandbox, RemovePodSandbox: gone, shim exited", &r);
    result
}

async fn pod_workflow(
    c: &mut Cri,
    rep: &mut Report,
    pod: &str,
    sandbox_config: &cri::PodSandboxConfig,
) -> Result<()> {
    let r: Result<()> = async {
        let st =
            c.rt.pod_sandbox_status(req(cri::PodSandboxStatusRequest {
                pod_sandbox_id: pod.into(),
                verbose: false,
            }))
            .await?
            .into_inner()
            .status
            .ok_or_else(|| anyhow!("no status"))?;
        ensure!(
            st.state == cri::PodSandboxState::SandboxReady as i32,
            "state {}",
            st.state
        );
        let ip = st.network.map(|n| n.ip).unwrap_or_default();
        ensure!(
            ip.starts_with("10.88.77."),
            "pod IP {ip:?} not from the CNI range"
        );
        Ok(())
    }
    .await;
    rep.record(
        "sandbox is ready with an IP from CNI bridge + host-local",
        &r,
    );

    let id =
        c.rt.create_container(req(cri::CreateContainerRequest {
            pod_sandbox_id: pod.into(),
            config: Some(c.container_config()),
            sandbox_config: Some(sandbox_config.clone()),
        }))
        .await
        .map(|r| r.into_inner().container_id)
        .map_err(anyhow::Error::from);
    let started = match &id {
        Ok(id) => {
            c.rt.start_container(req(cri::StartContainerRequest {
                container_id: id.clone(),
            }))
            .await
            .map(|_| ())
            .map_err(anyhow::Error::from)
        }
        Err(e) => Err(anyhow!("{e:#}")),
    };
    rep.record("CreateContainer, StartContainer", &started);
    started?;
    let id = id?;

    let r: Result<()> = async {
        let st = c.container_state(&id).await?;
        ensure!(
            st.state == cri::ContainerState::ContainerRunning as i32,
            "state {}",
            st.state
        );
        let listed =
            c.rt.list_containers(req(cri::ListContainersRequest {
                filter: Some(cri::ContainerFilter {
                    pod_sandbox_id: pod.into(),
                    ..Default::default()
                }),
            }))
            .await?
            .into_inner()
            .containers;
        ensure!(
            listed.len() == 1 && listed[0].id == id,
            "ListContainers: {listed:?}"
        );
        // One shim per pod: the sandbox's serves the container too.
        ensure!(
            shims_for(&c.a.shim, pod).len() == 1,
            "no {} serving the sandbox {pod}; processes naming it: {:?}",
            c.a.shim,
            naming(pod)
        );
        ensure!(
            shims_for(&c.a.shim, &id).is_empty(),
            "the container got a shim of its own"
        );
        Ok(())
    }
    .await;
    rep.record("container running, listed, in the pod's shim", &r);

    let systemd = c.a.cgroup_parent.ends_with(".slice");
    if systemd {
        let r: Result<()> = async {
            let pid = c.container_pid(&id).await?;
            check_scope(&c.a.cgroup_parent, &id, pid)?;
            Ok(())
        }
        .await;
        rep.record(
            "systemd: the container is in its scope in the pod's slice",
            &r,
        );
    }

    let r: Result<()> = async {
        let out = c
            .exec(
                &id,
                &["sh", "-c", "echo hello; hostname; echo oops >&2; exit 3"],
            )
            .await?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        ensure!(out.exit_code == 3, "exit code {}", out.exit_code);
        ensure!(stdout == "hello\nberthpod\n", "stdout {stdout:?}");
        ensure!(stderr == "oops\n", "stderr {stderr:?}");
        let out = c
            .exec(&id, &["ip", "-4", "-o", "addr", "show", "eth0"])
            .await?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        ensure!(
            out.exit_code == 0 && stdout.contains("inet 10.88.77."),
            "eth0 in the pod: {stdout:?}"
        );
        Ok(())
    }
    .await;
    rep.record("ExecSync: output, stderr, exit code, the pod's network", &r);

    let r: Result<()> = async {
        // containerd deletes a failed exec with a kill and waits for its exit (up to a
        // minute): the shim must report a process that never started as done.
        let t0 = std::time::Instant::now();
        let failed = c.exec(&id, &["/nonexistent-binary"]).await;
        let took = t0.elapsed();
        match failed {
            Err(e) => ensure!(
                format!("{e:#}").contains("nonexistent-binary"),
                "the error does not name the binary: {e:#}"
            ),
            Ok(out) => ensure!(out.exit_code != 0, "exec of a missing binary exited 0"),
        }
        ensure!(
            took < std::time::Duration::from_secs(15),
            "the failed exec took {took:?}"
        );
        let out = c.exec(&id, &["echo", "ok"]).await?;
        ensure!(
            out.exit_code == 0 && out.stdout == b"ok\n",
            "a later exec: {out:?}"
        );
        Ok(())
    }
    .await;
    rep.record(
        "ExecSync of a missing binary fails at once, the container goes on",
        &r,
    );

    let r: Result<()> = async {
        let pid = c.container_pid(&id).await?;
        let before = read_limit(pid)?;
        ensure!(before == 64 * MIB, "limit before update {before}");
        if systemd {
            let unit = format!("cri-containerd-{id}.scope");
            let max = unit_property(&unit, "MemoryMax")?;
            ensure!(
                max == (64 * MIB).to_string(),
                "{unit}: MemoryMax={max} before the update"
            );
        }
        c.rt.update_container_resources(req(cri::UpdateContainerResourcesRequest {
            container_id: id.clone(),
            linux: Some(cri::LinuxContainerResources {
                memory_limit_in_bytes: 32 * MIB,
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await?;
        let after = read_limit(pid)?;
        ensure!(after == 32 * MIB, "limit after update {after}");
        if systemd {
            // The scope's property changes too: else systemd would put the old limit back
            // at its next reload of the unit.
            let unit = format!("cri-containerd-{id}.scope");
            let max = unit_property(&unit, "MemoryMax")?;
            ensure!(
                max == (32 * MIB).to_string(),
                "{unit}: MemoryMax={max} after the update"
            );
        }
        Ok(())
    }
    .await;
    rep.record(
        if systemd {
            "UpdateContainerResources: memory 64M -> 32M in the cgroup file and the scope"
        } else {
            "UpdateContainerResources: memory 64M -> 32M in the cgroup file"
        },
        &r,
    );

    let r: Result<()> = async {
        let s =
            c.rt.container_stats(req(cri::ContainerStatsRequest {
                container_id: id.clone(),
            }))
            .await?
            .into_inner()
            .stats
            .ok_or_else(|| anyhow!("no stats"))?;
        let mem = s
            .memory
            .and_then(|m| m.working_set_bytes)
            .map(|v| v.value)
            .unwrap_or(0);
        ensure!(mem > 0, "memory working set {mem}");
        let cpu = s
            .cpu
            .and_then(|c| c.usage_core_nano_seconds)
            .map(|v| v.value)
            .unwrap_or(0);
        ensure!(cpu > 0, "cpu usage {cpu}");
        Ok(())
    }
    .await;
    rep.record("ContainerStats: memory working set and CPU usage", &r);

    let r: Result<()> = async {
        c.rt.stop_container(req(cri::StopContainerRequest {
            container_id: id.clone(),
            timeout: 10,
        }))
        .await?;
        let st = c.container_state(&id).await?;
        ensure!(
            st.state == cri::ContainerState::ContainerExited as i32,
            "state {}",
            st.state
        );
        ensure!(
            st.exit_code == 0,
            "exit code {} (the TERM trap exits 0)",
            st.exit_code
        );
        let log = std::fs::read_to_string(c.a.log_dir.join("app.log")).unwrap_or_default();
        ensure!(log.contains("stdout F started"), "container log {log:?}");
        Ok(())
    }
    .await;
    rep.record(
        "StopContainer: exited 0 through its TERM trap, log written",
        &r,
    );

    let r: Result<()> = async {
        c.rt.remove_container(req(cri::RemoveContainerRequest {
            container_id: id.clone(),
        }))
        .await?;
        let listed =
            c.rt.list_containers(req(cri::ListContainersRequest { filter: None }))
                .await?
                .into_inner()
                .containers;
        ensure!(
            !listed.iter().any(|x| x.id == id),
            "still listed after RemoveContainer"
        );
        Ok(())
    }
    .await;
    rep.record("RemoveContainer", &r);
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("berth-cri-test: {e:#}");
            std::process::exit(2);
        }
    };
    let handler = a.handler.clone();
    let mut rep = Report {
        n: 0,
        passed: 0,
        failed: 0,
    };
    if let Err(e) = run(a, &mut rep).await {
        rep.record("workflow could go on", &Err(e));
    }
    println!(
        "cri-{handler}: {} passed, {} failed",
        rep.passed, rep.failed
    );
    std::process::exit(if rep.failed == 0 { 0 } else { 1 });
}
