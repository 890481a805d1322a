//! The socket: who may connect, the connection loop, and the daemon's state
//! (the bus, running watches).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hb_engine::Engine;
use serde_json::{json, Value};

use crate::bus::Bus;
use crate::{code, error_response, Error, MAX_FRAME};

/// A `project.watch.start` that runs.
pub(crate) struct Watching {
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) thread: std::thread::JoinHandle<()>,
}

/// What the daemon holds: the engine, the event bus and running watches.
pub struct Daemon {
    /// The engine every method runs on.
    pub engine: Arc<Engine>,
    /// Subscriptions to events.
    pub bus: Arc<Bus>,
    pub(crate) watches: Mutex<HashMap<String, Watching>>,
}

impl Daemon {
    /// A daemon over `engine`.
    pub fn new(engine: Arc<Engine>) -> Self {
        Daemon {
            engine,
            bus: Arc::default(),
            watches: Mutex::default(),
        }
    }

    /// Stops every watch (the daemon is going; containers stay).
    fn stop_watches(&self) {
        let all: Vec<Watching> = self
            .watches
            .lock()
            .map(|mut w| w.drain().map(|(_, v)| v).collect())
            .unwrap_or_default();
        for w in all {
            w.stop.store(true, Ordering::SeqCst);
            let _ = w.thread.join();
        }
    }
}

/// The writing half of a connection: answers and notifications, a line at a time.
pub(crate) type Out = Arc<Mutex<UnixStream>>;

/// Writes one JSON line; false when the client is gone.
pub(crate) fn send(out: &Out, v: &Value) -> bool {
    let Ok(mut w) = out.lock() else { return false };
    writeln!(w, "{v}").and_then(|_| w.flush()).is_ok()
}

/// Pending requests of a connection by id (as JSON text), for `$/cancel`.
pub(crate) type Pending = Arc<Mutex<HashMap<String, Arc<AtomicBool>>>>;

/// Serves the API on `path` until `stop` is set: a thread per client. Running
/// containers are left as they are when it stops.
pub fn serve(path: &Path, engine: Arc<Engine>, stop: Arc<AtomicBool>) -> Result<(), Error> {
    let sock_err = |source| Error::Socket {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(sock_err)?;
    }
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).map_err(sock_err)?;
    // Not world-writable: owner and group only.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(sock_err)?;
    let group = std::fs::metadata(path).map_err(sock_err)?.gid();
    listener.set_nonblocking(true).map_err(sock_err)?;
    let daemon = Arc::new(Daemon::new(engine));
    let observer = {
        let (d, stop) = (daemon.clone(), stop.clone());
        std::thread::spawn(move || crate::bus::observe(&d.engine, &d.bus, &stop))
    };
    let result = loop {
        if stop.load(Ordering::SeqCst) {
            break Ok(());
        }
        match listener.accept() {
            Ok((stream, _)) => {
                let d = daemon.clone();
                std::thread::spawn(move || {
                    let _ = client(&d, stream, group);
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => break Err(sock_err(e)),
        }
    };
    let _ = std::fs::remove_file(path);
    daemon.stop_watches();
    let _ = observer.join();
    result
}

/// True for root and for members of the socket's group.
fn allowed(stream: &UnixStream, group: u32) -> bool {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    match getsockopt(stream, PeerCredentials) {
        Ok(c) => c.uid() == 0 || c.gid() == group,
        Err(_) => false,
    }
}

/// The methods answered as streams: an answer with a subscription number,
/// then notifications.
const STREAMS: [&str; 3] = ["events.subscribe", "service.logs", "image.pull"];

/// Methods that only read, quickly: answered on the connection's own thread.
const QUICK: [&str; 7] = [
    "system.version",
    "system.info",
    "projects.list",
    "project.ps",
    "project.config",
    "project.graph",
    "image.list",
];

fn client(d: &Arc<Daemon>, stream: UnixStream, group: u32) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    if !allowed(&stream, group) {
        let e = error_response(
            Value::Null,
            code::APPLICATION,
            "permission denied: only root and the socket's group may use hb's API",
            Some("forbidden"),
        );
        writeln!(&stream, "{e}")?;
        return Ok(());
    }
    let out: Out = Arc::new(Mutex::new(stream.try_clone()?));
    let pending: Pending = Arc::default();
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        let n = reader
            .by_ref()
            .take(MAX_FRAME as u64 + 1)
            .read_line(&mut line)?;
        if n == 0 {
            // The client went: what it left running is cancelled.
            for flag in pending
                .lock()
                .map(|p| p.values().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
            {
                flag.store(true, Ordering::SeqCst);
            }
            return Ok(());
        }
        if n > MAX_FRAME && !line.ends_with('\n') {
            let e = error_response(
                Value::Null,
                code::INVALID_REQUEST,
                &format!("a request line is longer than {MAX_FRAME} bytes"),
                Some("frame_too_large"),
            );
            send(&out, &e);
            return Ok(());
        }
        let line = line.trim().to_string();
        if line.is_empty() {
            continue;
        }
        let v: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                send(
                    &out,
                    &error_response(
                        Value::Null,
                        code::PARSE_ERROR,
                        &format!("not JSON: {e}"),
                        None,
                    ),
                );
                continue;
            }
        };
        let method = v
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let is_v2 = v.get("jsonrpc").and_then(Value::as_str) == Some("2.0");
        if is_v2 && method == "$/cancel" {
            let target = v
                .pointer("/params/id")
                .map(Value::to_string)
                .unwrap_or_default();
            let found = pending.lock().ok().and_then(|p| p.get(&target).cloned());
            if let Some(flag) = &found {
                flag.store(true, Ordering::SeqCst);
            }
            if let Some(id) = v.get("id") {
                let result = crate::types::Cancelled {
                    cancelled: found.is_some(),
                };
                send(&out, &json!({"jsonrpc": "2.0", "id": id, "result": result}));
            }
            continue;
        }
        // A request with an id can be cancelled while it runs.
        let cancel = v.get("id").map(|id| {
            let flag = Arc::new(AtomicBool::new(false));
            if let Ok(mut p) = pending.lock() {
                p.insert(id.to_string(), flag.clone());
            }
            (id.to_string(), flag)
        });
        if is_v2 && STREAMS.contains(&method.as_str()) {
            // The answer goes out before the stream's first notification.
            let id = v.get("id").cloned().unwrap_or(Value::Null);
            let params = v.get("params").cloned().unwrap_or(Value::Null);
            let flag = cancel.as_ref().map(|(_, f)| f.clone()).unwrap_or_default();
            let (answer, start) = match method.as_str() {
                "service.logs" => crate::streams::logs(d, &out, id, &params),
                "image.pull" => crate::streams::pull(d, &out, id, &params, flag),
                _ => crate::streams::events(d, &out, id, &params, flag),
            };
            send(&out, &answer);
            if let Some(start) = start {
                start();
            }
            continue;
        }
        // Reads that answer in well under a millisecond run here; anything else
        // on a thread of its own, so that a long `project.up` holds up neither
        // this client's other requests nor its `$/cancel`.
        if QUICK.contains(&method.as_str()) {
            if let Some(resp) = crate::methods::handle_value(d, &v, None) {
                send(&out, &resp);
            }
            if let (Some((key, _)), Ok(mut p)) = (cancel, pending.lock()) {
                p.remove(&key);
            }
            continue;
        }
        let (d, out, pending) = (d.clone(), out.clone(), pending.clone());
        std::thread::spawn(move || {
            let flag = cancel.as_ref().map(|(_, f)| f.clone());
            if let Some(resp) = crate::methods::handle_value(&d, &v, flag) {
                send(&out, &resp);
            }
            if let (Some((key, _)), Ok(mut p)) = (cancel, pending.lock()) {
                p.remove(&key);
            }
        });
    }
}
