//! Which verb each container status accepts: one table, checked by every verb, with runc's
//! behaviour (and runc's wording, which scripts match) as the reference.

use std::fmt;

/// The status of a container, as `state` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// `create` is still setting it up.
    Creating,
    /// Set up, waiting for `start`.
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Creating,
        Status::Created,
        Status::Running,
        Status::Paused,
        Status::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The operations on an existing container whose permission depends on its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    Start,
    /// `kill` of the init.
    Kill,
    /// `kill --all`.
    KillAll,
    Delete,
    /// `delete --force`.
    ForceDelete,
    Pause,
    Resume,
    Exec,
    /// `exec --ignore-paused`.
    ExecIgnorePaused,
    Update,
    Events,
    Checkpoint,
}

impl Verb {
    pub const ALL: [Verb; 12] = [
        Verb::Start,
        Verb::Kill,
        Verb::KillAll,
        Verb::Delete,
        Verb::ForceDelete,
        Verb::Pause,
        Verb::Resume,
        Verb::Exec,
        Verb::ExecIgnorePaused,
        Verb::Update,
        Verb::Events,
        Verb::Checkpoint,
    ];
}

impl Status {
    /// Whether `verb` may be applied to a container in this status.
    pub fn allows(self, verb: Verb) -> bool {
        use Status::*;
        match verb {
            Verb::Start => self == Created,
            // runc signals a created, running or paused init; `--all` of a stopped container
            // succeeds and does nothing (containerd's shim calls it after the init exited).
            Verb::Kill => self != Stopped,
            Verb::KillAll => true,
            // A created container may be deleted without --force (runc kills its init).
            Verb::Delete => matches!(self, Created | Stopped),
            Verb::ForceDelete => true,
            Verb::Pause => matches!(self, Created | Running),
            Verb::Resume => self == Paused,
            Verb::Exec => matches!(self, Created | Running),
            Verb::ExecIgnorePaused => matches!(self, Created | Running | Paused),
            Verb::Update => matches!(self, Created | Running | Paused),
            Verb::Events => matches!(self, Created | Running | Paused),
            Verb::Checkpoint => self == Running,
        }
    }

    /// The status after `verb` succeeded, where the verb changes it.
    pub fn transition(self, verb: Verb) -> Status {
        match verb {
            Verb::Start => Status::Running,
            Verb::Pause => Status::Paused,
            Verb::Resume => Status::Running,
            Verb::Delete | Verb::ForceDelete => Status::Stopped,
            _ => self,
        }
    }
}

/// The message of a refused verb: berth names the container and its status, and keeps the
/// phrase of runc's message that scripts match ("container not running", ...).
pub fn refusal(verb: Verb, id: &str, status: Status) -> String {
    match verb {
        Verb::Start => match status {
            Status::Stopped => "cannot start a container that has stopped".into(),
            Status::Running => "cannot start an already running container".into(),
            s => format!("cannot start a container in the {s} state"),
        },
        Verb::Kill | Verb::KillAll | Verb::Update | Verb::Events | Verb::Checkpoint => {
            format!("container not running: {id} is {status}")
        }
        Verb::Delete | Verb::ForceDelete => {
            format!("cannot delete container {id} that is not stopped: {status}")
        }
        Verb::Pause => format!("container not running: cannot pause {id}, it is {status}"),
        Verb::Resume => format!("container not paused: cannot resume {id}, it is {status}"),
        Verb::Exec | Verb::ExecIgnorePaused => match status {
            Status::Paused => {
                "cannot exec in a paused container (use --ignore-paused to override)".into()
            }
            Status::Stopped => "cannot exec in a stopped container".into(),
            s => format!("cannot exec in a container in the {s} state"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// runc 1.1's answer for every (verb, status) pair: allowed or not.
    fn runc_allows(verb: Verb, status: Status) -> bool {
        use Status::*;
        use Verb::*;
        match (verb, status) {
            (Start, Created) => true,
            (Start, _) => false,
            (Kill, Stopped) => false,
            (Kill, _) => true,
            (KillAll, _) => true,
            (Delete, Created | Stopped) => true,
            (Delete, _) => false,
            (ForceDelete, _) => true,
            (Pause, Created | Running) => true,
            (Pause, _) => false,
            (Resume, Paused) => true,
            (Resume, _) => false,
            (Exec, Created | Running) => true,
            (Exec, _) => false,
            (ExecIgnorePaused, Created | Running | Paused) => true,
            (ExecIgnorePaused, _) => false,
            (Update | Events, Created | Running | Paused) => true,
            (Update | Events, _) => false,
            (Checkpoint, Running) => true,
            (Checkpoint, _) => false,
        }
    }

    #[test]
    fn every_verb_and_status_as_runc() {
        for v in Verb::ALL {
            for s in Status::ALL {
                assert_eq!(s.allows(v), runc_allows(v, s), "{v:?} on {s}");
            }
        }
    }

    #[test]
    fn refusals_keep_the_phrases_scripts_match() {
        assert_eq!(
            refusal(Verb::Start, "c", Status::Stopped),
            "cannot start a container that has stopped"
        );
        assert!(refusal(Verb::Kill, "c", Status::Stopped).contains("container not running"));
        assert!(refusal(Verb::Pause, "c", Status::Paused).contains("container not running"));
        assert!(refusal(Verb::Resume, "c", Status::Running).contains("container not paused"));
        assert!(refusal(Verb::Delete, "c", Status::Running).contains("that is not stopped"));
        assert!(refusal(Verb::Exec, "c", Status::Paused).contains("--ignore-paused"));
    }

    #[test]
    fn transitions() {
        assert_eq!(Status::Created.transition(Verb::Start), Status::Running);
        assert_eq!(Status::Running.transition(Verb::Pause), Status::Paused);
        assert_eq!(Status::Paused.transition(Verb::Resume), Status::Running);
        assert_eq!(
            Status::Running.transition(Verb::ForceDelete),
            Status::Stopped
        );
        assert_eq!(Status::Running.transition(Verb::Exec), Status::Running);
    }
}
