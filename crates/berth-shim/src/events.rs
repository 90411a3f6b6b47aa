//! Task events to containerd, in the order they happened, from one thread.
//!
//! The thread connects to containerd's ttrpc socket when it has something to send and lets the
//! connection go when its queue is empty (an idle shim holds no connection and no client
//! threads). When containerd is down (restarting), an event is retried with backoff for up to
//! [`RETRY_FOR`], so an exit that happens meanwhile still reaches the new containerd.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use containerd_shim::protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskOOM, TaskPaused,
    TaskResumed, TaskStart,
};
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::protobuf::Message;
use containerd_shim::protos::shim::event::Envelope;
use containerd_shim::protos::shim::events::ForwardRequest;
use containerd_shim::protos::ttrpc;
use containerd_shim::protos::EventsClient;
use log::{error, warn};

/// How long an event is retried while containerd cannot be reached.
const RETRY_FOR: Duration = Duration::from_secs(300);
/// The timeout of one forward call.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// A task event: its topic, and its protobuf type name as containerd's type registry knows it.
/// Spelled out, so that no protobuf reflection descriptors are built (they would cost every
/// shim a few hundred KiB of heap).
pub trait TaskEvent: Message {
    const TOPIC: &'static str;
    const TYPE: &'static str;
}

macro_rules! task_event {
    ($($t:ident $topic:literal;)*) => {
        $(impl TaskEvent for $t {
            const TOPIC: &'static str = $topic;
            const TYPE: &'static str = concat!("containerd.events.", stringify!($t));
        })*
    };
}

task_event! {
    TaskCreate "/tasks/create";
    TaskStart "/tasks/start";
    TaskExit "/tasks/exit";
    TaskDelete "/tasks/delete";
    TaskOOM "/tasks/oom";
    TaskExecAdded "/tasks/exec-added";
    TaskExecStarted "/tasks/exec-started";
    TaskPaused "/tasks/paused";
    TaskResumed "/tasks/resumed";
}

enum Msg {
    Event {
        topic: &'static str,
        event: Any,
        at: Timestamp,
    },
    Flush(Sender<()>),
}

/// The sending side; cheap to share between threads.
pub struct Publisher {
    tx: Mutex<Sender<Msg>>,
}

impl Publisher {
    /// Starts the sender thread for containerd's ttrpc `address` and `namespace`.
    pub fn start(address: String, namespace: String) -> Publisher {
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("events".into())
            .spawn(move || run(&address, &namespace, rx));
        if let Err(e) = spawned {
            error!("cannot start the events thread: {e}");
        }
        Publisher { tx: Mutex::new(tx) }
    }

    /// Queues `event`.
    pub fn publish<E: TaskEvent>(&self, event: E) {
        let value = match event.write_to_bytes() {
            Ok(v) => v,
            Err(e) => {
                error!("encode event {}: {e}", E::TOPIC);
                return;
            }
        };
        let msg = Msg::Event {
            topic: E::TOPIC,
            event: Any {
                type_url: E::TYPE.to_string(),
                value,
                ..Default::default()
            },
            at: crate::process::timestamp(std::time::SystemTime::now()),
        };
        let _ = self.tx.lock().unwrap_or_else(|e| e.into_inner()).send(msg);
    }

    /// Waits up to `timeout` for the events queued so far to be sent.
    pub fn flush(&self, timeout: Duration) {
        let (done_tx, done_rx) = mpsc::channel();
        let sent = self
            .tx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(Msg::Flush(done_tx));
        if sent.is_ok() {
            let _ = done_rx.recv_timeout(timeout);
        }
    }
}

fn connect(address: &str) -> Option<EventsClient> {
    let fd = containerd_shim::util::connect(address)
        .map_err(|e| warn!("connect to containerd at {address}: {e}"))
        .ok()?;
    let client = ttrpc::Client::new(fd)
        .map_err(|e| warn!("ttrpc client for {address}: {e}"))
        .ok()?;
    Some(EventsClient::new(client))
}

fn run(address: &str, namespace: &str, rx: Receiver<Msg>) {
    let address = address.strip_prefix("unix://").unwrap_or(address);
    let mut client: Option<EventsClient> = None;
    loop {
        // Hold the connection while events keep coming; drop it when idle.
        let msg = match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => {
                client = None;
                match rx.recv() {
                    Ok(m) => m,
                    Err(_) => return,
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let (topic, event, at) = match msg {
            Msg::Flush(done) => {
                let _ = done.send(());
                continue;
            }
            Msg::Event { topic, event, at } => (topic, event, at),
        };
        let req = ForwardRequest {
            envelope: Some(Envelope {
                timestamp: Some(at).into(),
                namespace: namespace.to_string(),
                topic: topic.to_string(),
                event: Some(event).into(),
                ..Default::default()
            })
            .into(),
            ..Default::default()
        };
        let deadline = Instant::now() + RETRY_FOR;
        let mut delay = Duration::from_millis(50);
        loop {
            if client.is_none() {
                client = connect(address);
            }
            if let Some(c) = &client {
                match c.forward(ttrpc::context::with_duration(CALL_TIMEOUT), &req) {
                    Ok(_) => break,
                    Err(e) => {
                        warn!("publish {topic}: {e}");
                        client = None;
                    }
                }
            }
            if Instant::now() >= deadline {
                error!("publish {topic}: containerd unreachable for {RETRY_FOR:?}, event dropped");
                break;
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_secs(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use containerd_shim::event::Event;
    use containerd_shim::protos::protobuf::MessageFull;

    fn check<E: TaskEvent + Event + MessageFull + Default>() {
        assert_eq!(E::TYPE, E::descriptor().full_name());
        assert_eq!(E::TOPIC, E::default().topic());
    }

    #[test]
    fn names_match_the_protos() {
        check::<TaskCreate>();
        check::<TaskStart>();
        check::<TaskExit>();
        check::<TaskDelete>();
        check::<TaskOOM>();
        check::<TaskExecAdded>();
        check::<TaskExecStarted>();
        check::<TaskPaused>();
        check::<TaskResumed>();
    }
}
