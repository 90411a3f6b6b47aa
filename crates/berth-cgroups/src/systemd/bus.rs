//! The D-Bus side: systemd's `org.freedesktop.systemd1.Manager` through
//! zbus, driven synchronously (the caller is a CLI verb or a library call
//! that waits anyway).
//!
//! Starting and stopping a unit queues a job; the call returns the job's
//! object path and the outcome arrives later as a `JobRemoved` signal. The
//! signal is subscribed to before the call, so a job that finishes before
//! the call's reply is read is not missed.

use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use zbus::proxy::CacheProperties;
use zbus::zvariant::{self, OwnedObjectPath};

use super::error::SystemdError;
use super::properties::{Property, Value};
use super::unit::Instance;

/// How long a job may take (runc waits as long).
const JOB_TIMEOUT: Duration = Duration::from_secs(30);

type Result<T> = std::result::Result<T, SystemdError>;

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1",
    gen_blocking = false
)]
trait Systemd1 {
    fn start_transient_unit(
        &self,
        name: &str,
        mode: &str,
        properties: &[(&str, zvariant::Value<'_>)],
        aux: &[(&str, &[(&str, zvariant::Value<'_>)])],
    ) -> zbus::Result<OwnedObjectPath>;

    fn stop_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;

    fn reset_failed_unit(&self, name: &str) -> zbus::Result<()>;

    fn set_unit_properties(
        &self,
        name: &str,
        runtime: bool,
        properties: &[(&str, zvariant::Value<'_>)],
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    fn job_removed(
        &self,
        id: u32,
        job: zvariant::ObjectPath<'_>,
        unit: &str,
        result: &str,
    ) -> zbus::Result<()>;

    #[zbus(property)]
    fn version(&self) -> zbus::Result<String>;

    #[zbus(property)]
    fn control_group(&self) -> zbus::Result<String>;
}

/// A connection to one systemd instance.
pub(crate) struct Bus {
    proxy: Systemd1Proxy<'static>,
}

fn call_err(method: &'static str, unit: &str) -> impl FnOnce(zbus::Error) -> SystemdError {
    let unit = unit.to_string();
    move |source| SystemdError::Call {
        method,
        unit,
        source: Box::new(source),
    }
}

/// True if `e` is the D-Bus error `name` (systemd's own error names).
fn is_error(e: &zbus::Error, name: &str) -> bool {
    matches!(e, zbus::Error::MethodError(n, _, _) if n.as_str() == name)
}

const NO_SUCH_UNIT: &str = "org.freedesktop.systemd1.NoSuchUnit";
const UNIT_EXISTS: &str = "org.freedesktop.systemd1.UnitExists";

fn to_dbus(props: &[Property]) -> Vec<(&str, zvariant::Value<'static>)> {
    props
        .iter()
        .map(|p| {
            let v: zvariant::Value<'static> = match &p.value {
                Value::Bool(b) => (*b).into(),
                Value::Byte(n) => (*n).into(),
                Value::I16(n) => (*n).into(),
                Value::U16(n) => (*n).into(),
                Value::I32(n) => (*n).into(),
                Value::U32(n) => (*n).into(),
                Value::I64(n) => (*n).into(),
                Value::U64(n) => (*n).into(),
                Value::F64(n) => (*n).into(),
                Value::Str(s) => zvariant::Value::from(s.clone()),
                Value::Strs(v) => v.clone().into(),
                Value::Bytes(b) => b.clone().into(),
                Value::U32s(v) => v.clone().into(),
                Value::DeviceAllow(l) => l.clone().into(),
            };
            (p.name.as_ref(), v)
        })
        .collect()
}

/// The caller's euid as the parent user namespace sees it (`/proc/self/uid_map`): the user
/// whose systemd a rootless runtime talks to, also as root of the user's namespace.
pub(crate) fn outer_euid() -> u32 {
    let euid = nix::unistd::geteuid().as_raw();
    let map = std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
    map.lines()
        .find_map(|l| {
            let f: Vec<u32> = l
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            let [inside, outside, count] = f[..] else {
                return None;
            };
            (euid >= inside && euid - inside < count)
                .then(|| outside.checked_add(euid - inside))
                .flatten()
        })
        .unwrap_or(euid)
}

impl Bus {
    /// Connects to the system bus, or the session bus for the user
    /// instance (`$DBUS_SESSION_BUS_ADDRESS`, else `$XDG_RUNTIME_DIR/bus`).
    pub(crate) fn connect(instance: Instance) -> Result<Bus> {
        let err = |source| SystemdError::Connect {
            instance: instance.as_str(),
            source: Box::new(source),
        };
        async_io::block_on(async {
            let builder = match instance {
                Instance::System => zbus::connection::Builder::system(),
                // The bus checks the uid the client claims against the socket's peer
                // credentials, which it sees in its own namespace: root of the user's
                // namespace (rootless podman's runtime) must claim the user's uid.
                Instance::User => {
                    zbus::connection::Builder::session().map(|b| b.user_id(outer_euid()))
                }
            }
            .map_err(err)?;
            let conn = builder
                .method_timeout(JOB_TIMEOUT)
                .build()
                .await
                .map_err(err)?;
            let proxy = Systemd1Proxy::builder(&conn)
                .cache_properties(CacheProperties::No)
                .build()
                .await
                .map_err(err)?;
            Ok(Bus { proxy })
        })
    }

    /// Starts the transient unit `unit` with `props` and waits for the
    /// job. A failed unit of that name left from an earlier run is reset
    /// and the start retried once; a live one is [`SystemdError::InUse`].
    /// A unit that failed to start is reset so nothing is left.
    pub(crate) fn start_transient(&self, unit: &str, props: &[Property]) -> Result<()> {
        let props = to_dbus(props);
        async_io::block_on(async {
            let mut removed = self
                .proxy
                .receive_job_removed()
                .await
                .map_err(call_err("AddMatch JobRemoved", unit))?;
            let job = match self
                .proxy
                .start_transient_unit(unit, "replace", &props, &[])
                .await
            {
                Err(e) if is_error(&e, UNIT_EXISTS) => {
                    let _ = self.proxy.reset_failed_unit(unit).await;
                    match self
                        .proxy
                        .start_transient_unit(unit, "replace", &props, &[])
                        .await
                    {
                        // Still there: a live unit, someone else's.
                        Err(e) if is_error(&e, UNIT_EXISTS) => {
                            return Err(SystemdError::InUse {
                                unit: unit.to_string(),
                            })
                        }
                        r => r,
                    }
                }
                r => r,
            }
            .map_err(call_err("StartTransientUnit", unit))?;
            let outcome = wait_job(&mut removed, &job, unit, "start").await;
            if !matches!(outcome.as_deref(), Ok("done")) {
                let _ = self.proxy.reset_failed_unit(unit).await;
            }
            match outcome? {
                r if r == "done" => Ok(()),
                result => Err(SystemdError::Job {
                    verb: "start",
                    unit: unit.to_string(),
                    result,
                }),
            }
        })
    }

    /// Stops `unit` and waits for the job, then resets it if it failed so
    /// systemd forgets it. A unit systemd does not know is fine.
    pub(crate) fn stop(&self, unit: &str) -> Result<()> {
        async_io::block_on(async {
            let mut removed = self
                .proxy
                .receive_job_removed()
                .await
                .map_err(call_err("AddMatch JobRemoved", unit))?;
            match self.proxy.stop_unit(unit, "replace").await {
                Ok(job) => {
                    // Any result leaves the unit stopped or failed; a
                    // failed one is reset below.
                    wait_job(&mut removed, &job, unit, "stop").await?;
                }
                Err(e) if is_error(&e, NO_SUCH_UNIT) => {}
                Err(e) => return Err(call_err("StopUnit", unit)(e)),
            }
            match self.proxy.reset_failed_unit(unit).await {
                Ok(()) => Ok(()),
                Err(e) if is_error(&e, NO_SUCH_UNIT) => Ok(()),
                Err(e) => Err(call_err("ResetFailedUnit", unit)(e)),
            }
        })
    }

    /// Changes properties of a running unit (not persisted: `runtime`).
    pub(crate) fn set_properties(&self, unit: &str, props: &[Property]) -> Result<()> {
        let props = to_dbus(props);
        async_io::block_on(self.proxy.set_unit_properties(unit, true, &props))
            .map_err(call_err("SetUnitProperties", unit))
    }

    /// systemd's version number (`252` of `252.39-1~deb12u2`).
    pub(crate) fn version(&self) -> Result<u32> {
        let v = async_io::block_on(self.proxy.version()).map_err(call_err("Version", ""))?;
        parse_version(&v).ok_or(SystemdError::BadProperty {
            property: "Version",
            value: v,
        })
    }

    /// The manager's own cgroup: for the user instance
    /// `/user.slice/user-UID.slice/user@UID.service`.
    pub(crate) fn control_group(&self) -> Result<String> {
        async_io::block_on(self.proxy.control_group()).map_err(call_err("ControlGroup", ""))
    }
}

/// Waits for the `JobRemoved` signal of `job` and returns its result
/// (`done`, `canceled`, `timeout`, `failed`, `dependency`, `skipped`).
async fn wait_job(
    removed: &mut JobRemovedStream,
    job: &OwnedObjectPath,
    unit: &str,
    verb: &'static str,
) -> Result<String> {
    let deadline = Instant::now() + JOB_TIMEOUT;
    let timeout = || SystemdError::JobTimeout {
        verb,
        unit: unit.to_string(),
        secs: JOB_TIMEOUT.as_secs(),
    };
    loop {
        let next = futures_lite::future::or(async { Some(removed.next().await) }, async {
            async_io::Timer::at(deadline).await;
            None
        })
        .await;
        let signal = match next {
            None => return Err(timeout()),
            Some(None) => {
                return Err(SystemdError::Call {
                    method: "JobRemoved",
                    unit: unit.to_string(),
                    source: Box::new(zbus::Error::InputOutput(std::sync::Arc::new(
                        std::io::ErrorKind::UnexpectedEof.into(),
                    ))),
                })
            }
            Some(Some(s)) => s,
        };
        let Ok(args) = signal.args() else { continue };
        if args.job().as_str() == job.as_str() {
            return Ok(args.result().to_string());
        }
    }
}

/// The leading number of systemd's version string (`"v245.4-1.fc32"`,
/// `"252.39-1~deb12u2"`).
pub(crate) fn parse_version(v: &str) -> Option<u32> {
    let v = v.trim_start_matches(['"', 'v']);
    let end = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    v[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("252.39-1~deb12u2"), Some(252));
        assert_eq!(parse_version("v245.4-1.fc32"), Some(245));
        assert_eq!(parse_version("\"249\""), Some(249));
        assert_eq!(parse_version("x"), None);
    }

    #[test]
    fn values_get_their_dbus_signatures() {
        use super::super::properties::prop;
        let props = [
            prop("Delegate", Value::Bool(true)),
            prop("MemoryMax", Value::U64(1)),
            prop("Slice", Value::Str("system.slice".into())),
            prop("AllowedCPUs", Value::Bytes(vec![3])),
            prop("PIDs", Value::U32s(vec![7])),
            prop("DeviceAllow", Value::DeviceAllow(vec![])),
            prop(
                "DeviceAllow",
                Value::DeviceAllow(vec![("char-pts".into(), "rwm".into())]),
            ),
            prop("After", Value::Strs(vec!["a.service".into()])),
            prop("X", Value::I32(-1)),
            prop("X", Value::F64(0.5)),
        ];
        let sigs: Vec<String> = to_dbus(&props)
            .iter()
            .map(|(_, v)| v.value_signature().to_string())
            .collect();
        assert_eq!(
            sigs,
            ["b", "t", "s", "ay", "au", "a(ss)", "a(ss)", "as", "i", "d"]
        );
    }
}
