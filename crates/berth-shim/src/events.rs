//! Task events to containerd, in the order they happened, from one thread.
//!
//! The thread connects to containerd's ttrpc socket when it has something to send and lets the
//! connection go when its queue is empty (an idle shim holds no connection and no client
//! threads). When containerd is down (restarting), an event is retried with backoff for up to
//! [`RETRY_FOR`], so an exit that happens meanwhile still reaches the new containerd.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use containerd_shim::event::Event;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::protobuf::MessageDyn;
use containerd_shim::protos::shim::event::Envelope;
use containerd_shim::protos::shim::events::ForwardRequest;
use containerd_shim::protos::ttrpc;
use containerd_shim::protos::EventsClient;
use log::{error, warn};

/// How long an event is retried while containerd cannot be reached.
const RETRY_FOR: Duration = Duration::from_secs(300);
/// The timeout of one forward call.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

enum Msg {
    Event {
        topic: String,
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
    pub fn publish(&self, event: impl Event) {
        let m: &dyn MessageDyn = &event;
        let any = Any {
            type_url: m.descriptor_dyn().full_name().to_string(),
            value: match m.write_to_bytes_dyn() {
                Ok(v) => v,
                Err(e) => {
                    error!("encode event {}: {e}", event.topic());
                    return;
                }
            },
            ..Default::default()
        };
        let msg = Msg::Event {
            topic: event.topic(),
            event: any,
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
                topic: topic.clone(),
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
