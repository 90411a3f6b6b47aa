//! The shim binary's lifecycle as containerd drives it: `start` (find or launch the shim that
//! serves this container and print its address), the long-running server, and `delete` (clean
//! up after a shim that died).

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use containerd_shim::publisher::RemotePublisher;
use containerd_shim::{Config, DeleteResponse, ExitSignal, Flags, StartOpts};
use log::info;

use crate::events::Publisher;
use crate::options::BundleRecord;
use crate::runtime::Runtime;
use crate::service::Service;

/// The annotations that put several containers in one shim (CRI's pod sandbox id first).
const GROUP_ANNOTATIONS: [&str; 2] = [
    "io.kubernetes.cri.sandbox-id",
    "io.containerd.runc.v2.group",
];
/// The exit status reported for a container whose shim died (it is killed).
const KILLED: u32 = 128 + libc::SIGKILL as u32;

fn shim_error(e: crate::error::Error) -> containerd_shim::Error {
    containerd_shim::Error::Other(e.to_string())
}

/// The shim, in any of its roles.
pub struct Shim {
    namespace: String,
    id: String,
    bundle: PathBuf,
    /// containerd's gRPC address (`-address`).
    address: String,
    socket: String,
    exit: Arc<ExitSignal>,
    events: Mutex<Option<Arc<Publisher>>>,
}

/// The grouping key of the container whose bundle is `bundle`: its pod, or itself.
fn grouping(bundle: &Path, id: &str) -> String {
    let config = std::fs::read(bundle.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    let annotations = config.as_ref().and_then(|c| c.get("annotations"));
    GROUP_ANNOTATIONS
        .iter()
        .find_map(|k| annotations?.get(k)?.as_str().filter(|v| !v.is_empty()))
        .unwrap_or(id)
        .to_string()
}

fn socket_path(address: &str) -> &str {
    address.strip_prefix("unix://").unwrap_or(address)
}

/// Whether a shim answers on `address`.
fn serving(address: &str) -> bool {
    std::os::unix::net::UnixStream::connect(socket_path(address)).is_ok()
}

impl Shim {
    fn bundle(&self) -> PathBuf {
        if self.bundle.as_os_str().is_empty() {
            std::env::current_dir().unwrap_or_default()
        } else {
            self.bundle.clone()
        }
    }
}

impl containerd_shim::Shim for Shim {
    type T = Service;

    fn new(_runtime_id: &str, args: &Flags, _config: &mut Config) -> Self {
        Shim {
            namespace: args.namespace.clone(),
            id: args.id.clone(),
            bundle: PathBuf::from(&args.bundle),
            address: args.address.clone(),
            socket: args.socket.clone(),
            exit: Arc::new(ExitSignal::default()),
            events: Mutex::new(None),
        }
    }

    /// `start`: containerd runs it in the bundle and reads the address from its stdout. A
    /// container of a pod whose shim already serves joins it.
    fn start_shim(&mut self, opts: StartOpts) -> containerd_shim::Result<String> {
        let bundle = self.bundle();
        let group = grouping(&bundle, &opts.id);
        let address = containerd_shim::socket_address(&opts.address, &opts.namespace, &group);
        if serving(&address) {
            containerd_shim::util::write_address(&address)?;
            return Ok(address);
        }
        let exe = std::env::current_exe()
            .map_err(|e| containerd_shim::Error::Other(format!("the shim's own path: {e}")))?;
        // The runtime library puts processes into containers from its own read-only view of
        // this binary: the server itself runs from the file.
        let mut cmd = Command::new(&exe);
        cmd.arg0(&exe)
            .current_dir(&bundle)
            .args([
                "-namespace",
                &opts.namespace,
                "-id",
                &opts.id,
                "-address",
                &opts.address,
                "-socket",
                &address,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // Out of containerd's process group: a signal to containerd's group (^C) does not
            // reach the shims that keep its containers.
            .process_group(0);
        if !opts.ttrpc_address.is_empty() {
            cmd.env("TTRPC_ADDRESS", &opts.ttrpc_address);
        }
        if opts.debug {
            cmd.arg("-debug");
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| containerd_shim::Error::Other(format!("start {}: {e}", exe.display())))?;
        // The server closes its stdout once it listens (or exits on failure).
        if let Some(mut out) = child.stdout.take() {
            let mut sink = Vec::new();
            let _ = out.read_to_end(&mut sink);
        }
        containerd_shim::util::write_address(&address)?;
        info!("started shim for {} on {address}", opts.id);
        Ok(address)
    }

    /// `delete`: the shim of this container died; kill what is left of the container, remove
    /// its cgroup, state and rootfs mount, and report it killed.
    fn delete_shim(&mut self) -> containerd_shim::Result<DeleteResponse> {
        let bundle = self.bundle();
        let record = BundleRecord::load(&bundle).map_err(shim_error)?;
        let (root, mounted) = match &record {
            Some(r) => (r.root.clone(), r.rootfs_mounted),
            None => (
                BundleRecord::new(&Default::default(), &bundle, &self.namespace, false).root,
                false,
            ),
        };
        let rt = Runtime::new(root);
        let pid = rt.init_pid(&self.id).unwrap_or(0);
        let rootfs = mounted.then(|| bundle.join("rootfs"));
        rt.delete(&self.id, true, rootfs.as_deref())
            .map_err(shim_error)?;
        // The dead shim's socket, unless another shim of the pod serves on it.
        let group = grouping(&bundle, &self.id);
        if !self.address.is_empty() {
            let a = containerd_shim::socket_address(&self.address, &self.namespace, &group);
            if !serving(&a) {
                let _ = std::fs::remove_file(socket_path(&a));
            }
        }
        Ok(DeleteResponse {
            pid: pid.max(0) as u32,
            exit_status: KILLED,
            exited_at: Some(crate::process::timestamp(std::time::SystemTime::now())).into(),
            ..Default::default()
        })
    }

    /// The server's main thread: waits for `Shutdown`, lets the last events out, and exits.
    fn wait(&mut self) {
        self.exit.wait();
        if let Some(events) = self
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            events.flush(Duration::from_secs(5));
        }
        if !self.socket.is_empty() {
            let _ = std::fs::remove_file(socket_path(&self.socket));
        }
        info!("shim for {} exits", self.id);
        std::process::exit(0);
    }

    fn create_task_service(&self, publisher: RemotePublisher) -> Service {
        // The framework's publisher holds one connection for the shim's life; ours reconnects
        // (containerd restarts) and lets the connection go when idle.
        drop(publisher);
        let address = std::env::var("TTRPC_ADDRESS").unwrap_or_default();
        let events = Arc::new(Publisher::start(address, self.namespace.clone()));
        *self.events.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&events));
        Service::new(&self.namespace, events, Arc::clone(&self.exit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_share_a_shim_and_containers_alone_get_their_own() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(grouping(d.path(), "c1"), "c1");
        std::fs::write(
            d.path().join("config.json"),
            r#"{"annotations":{"io.kubernetes.cri.sandbox-id":"pod9","x":"y"}}"#,
        )
        .unwrap();
        assert_eq!(grouping(d.path(), "c1"), "pod9");
        std::fs::write(
            d.path().join("config.json"),
            r#"{"annotations":{"io.kubernetes.cri.sandbox-id":""}}"#,
        )
        .unwrap();
        assert_eq!(grouping(d.path(), "c1"), "c1");
    }
}
