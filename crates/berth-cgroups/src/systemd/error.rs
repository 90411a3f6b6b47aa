//! Errors of the systemd driver's D-Bus side.

/// What can go wrong while talking to systemd.
#[derive(Debug, thiserror::Error)]
pub enum SystemdError {
    /// The bus could not be reached (no systemd, no D-Bus daemon, no
    /// session bus for the user instance).
    #[error("connect to the systemd {instance} instance over D-Bus: {source}")]
    Connect {
        /// `system` or `user`.
        instance: &'static str,
        /// What zbus reported.
        #[source]
        source: Box<zbus::Error>,
    },
    /// A call to systemd's manager failed (systemd's own error name and
    /// message are in `source`).
    #[error("systemd {method} `{unit}`: {source}")]
    Call {
        /// The D-Bus method, e.g. `StartTransientUnit`.
        method: &'static str,
        /// The unit concerned (empty for manager properties).
        unit: String,
        /// What zbus or systemd reported.
        #[source]
        source: Box<zbus::Error>,
    },
    /// systemd ran the job but it did not succeed (`failed`, `timeout`,
    /// `dependency`, ...; the unit's journal says why).
    #[error("systemd job to {verb} `{unit}` ended with `{result}`")]
    Job {
        /// `start` or `stop`.
        verb: &'static str,
        /// The unit.
        unit: String,
        /// systemd's job result.
        result: String,
    },
    /// The scope exists and is live: another container's (or anyone's).
    /// Not ours to stop when the create fails.
    #[error("the systemd unit `{unit}` already exists: the cgroups path is in use")]
    InUse {
        /// The unit.
        unit: String,
    },
    /// The job's `JobRemoved` signal did not come in time.
    #[error("timed out after {secs} s waiting for systemd to {verb} `{unit}`")]
    JobTimeout {
        /// `start` or `stop`.
        verb: &'static str,
        /// The unit.
        unit: String,
        /// How long was waited.
        secs: u64,
    },
    /// `create()` without a process: a scope cannot exist empty.
    #[error("the systemd driver creates `{unit}` around the container's first process: call create_with_pid")]
    NeedsPid {
        /// The scope unit.
        unit: String,
    },
    /// The user instance of systemd can only delegate on cgroup v2.
    #[error("the systemd user instance cannot delegate cgroups on a cgroup v1 host (`{unit}`)")]
    UserInstanceOnV1 {
        /// The scope unit.
        unit: String,
    },
    /// systemd reported a manager property in an unexpected form.
    #[error("systemd's {property} property is `{value}`, which cannot be used")]
    BadProperty {
        /// The property, e.g. `ControlGroup`.
        property: &'static str,
        /// Its value.
        value: String,
    },
}
