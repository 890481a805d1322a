//! Streams — `events.subscribe`, `service.logs`, `image.pull` — and the
//! watches `project.watch.start` runs: each answers with a subscription
//! number, then sends notifications tied to it on its own thread, ending with
//! `{"subscription": N, "end": true}` (and an `error` when it failed).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::bus::event;
use crate::methods::{project, strings};
use crate::server::{send, Out, Watching};
use crate::{error_response, Daemon, Failure};

/// Starts a stream's thread (after its answer is written).
pub(crate) type Starter = Box<dyn FnOnce() + Send>;

/// Subscription numbers, unique in the daemon.
fn next() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::SeqCst)
}

fn refused(id: Value, f: Failure) -> (Value, Option<Starter>) {
    (error_response(id, f.code, &f.message, Some(f.kind)), None)
}

fn answer(id: Value, n: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": crate::types::Subscription { subscription: n }})
}

fn note(method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "method": method, "params": params})
}

/// Streams the log lines of a project's containers (of `services`, all when
/// none) as `logs` notifications (`{"subscription", "container", "service",
/// "stream", "time", "line"}`): what is there, then — with `follow` — what
/// comes, until every container has stopped; a final `{"subscription", "end":
/// true}` closes the stream.
pub(crate) fn logs(
    d: &Arc<Daemon>,
    out: &Out,
    id: Value,
    params: &Value,
) -> (Value, Option<Starter>) {
    let (project, services) =
        match project(params).and_then(|p| Ok((p, strings(params, "services")?))) {
            Ok(x) => x,
            Err(f) => return refused(id, f),
        };
    let follow = params
        .get("follow")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    // RFC 3339 UTC times, compared as text with the CRI log's own (same form).
    let bound = |k: &str| params.get(k).and_then(Value::as_str).map(str::to_string);
    let (since, until) = (bound("since"), bound("until"));
    // The last `tail` lines of each container there at the start (then all that comes).
    let tail = params
        .get("tail")
        .and_then(Value::as_u64)
        .map_or(usize::MAX, |t| usize::try_from(t).unwrap_or(usize::MAX));
    let n = next();
    let (engine, out) = (d.engine.clone(), out.clone());
    let name = project.name.as_str().to_string();
    let start: Starter = Box::new(move || {
        std::thread::spawn(move || {
            // Where each container's log was read to: each pass reads only what is new.
            let mut cursors: std::collections::BTreeMap<String, hb_runtime::container::LogCursor> =
                Default::default();
            let send = |v: Value| send(&out, &v);
            let mut first = true;
            loop {
                let cs: Vec<_> = engine
                    .containers(&name)
                    .into_iter()
                    .filter(|(_, l)| {
                        services.is_empty()
                            || l.get(hb_engine::LABEL_SERVICE)
                                .is_some_and(|s| services.contains(s))
                    })
                    .collect();
                let mut lines = Vec::new();
                // A container gone since lets go of its log (a removed file held open).
                cursors.retain(|id, _| cs.iter().any(|(c, _)| &c.id == id));
                for (c, l) in &cs {
                    let new = match cursors.get_mut(&c.id) {
                        Some(cursor) => cursor.next_lines().unwrap_or_default(),
                        None => {
                            // First seen: the last `tail` lines if it was there at
                            // the start, all of it if it came later.
                            let (all, cursor) = match engine.rt.logs_and_cursor(c) {
                                Ok(read) => read,
                                Err(_) => {
                                    (Vec::new(), hb_runtime::container::LogCursor::at_start(c))
                                }
                            };
                            cursors.insert(c.id.clone(), cursor);
                            let skip = if first {
                                all.len().saturating_sub(tail)
                            } else {
                                0
                            };
                            all.into_iter().skip(skip).collect()
                        }
                    };
                    for line in new.into_iter().filter(|l| {
                        since.as_ref().is_none_or(|s| &l.time >= s)
                            && until.as_ref().is_none_or(|u| &l.time < u)
                    }) {
                        lines.push((
                            line.time.clone(),
                            c.id.clone(),
                            l.get(hb_engine::LABEL_SERVICE).cloned().unwrap_or_default(),
                            line,
                        ));
                    }
                }
                first = false;
                lines.sort_by(|a, b| a.0.cmp(&b.0));
                for (_, container, service, l) in lines {
                    let line = note(
                        "logs",
                        json!({
                            "subscription": n, "container": container, "service": service,
                            "stream": l.stream, "time": l.time, "line": l.text,
                        }),
                    );
                    if !send(line) {
                        return; // the client went
                    }
                }
                if !follow || cs.iter().all(|(c, _)| !engine.rt.running(c)) {
                    send(note("logs", json!({"subscription": n, "end": true})));
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
    });
    (answer(id, n), Some(start))
}

/// `events.subscribe`: the bus's events for a project (all projects when the
/// params name none) as `events` notifications `{"subscription", "event"}`,
/// until the client goes or cancels the subscription (`$/cancel` with its id).
pub(crate) fn events(
    d: &Arc<Daemon>,
    out: &Out,
    id: Value,
    params: &Value,
    cancel: Arc<AtomicBool>,
) -> (Value, Option<Starter>) {
    let name = if params.get("project_dir").is_some() {
        match project(params) {
            Ok(p) => Some(p.name.as_str().to_string()),
            Err(f) => return refused(id, f),
        }
    } else {
        None
    };
    let n = next();
    let rx = d.bus.subscribe(n, name);
    let (d, out) = (d.clone(), out.clone());
    let start: Starter = Box::new(move || {
        std::thread::spawn(move || {
            loop {
                if cancel.load(Ordering::SeqCst) {
                    break;
                }
                match rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(e) => {
                        if !send(
                            &out,
                            &note("events", json!({"subscription": n, "event": e})),
                        ) {
                            d.bus.unsubscribe(n);
                            return; // the client went
                        }
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                        // Dropped by the bus: this client fell too far behind.
                        send(
                            &out,
                            &note(
                                "events",
                                json!({"subscription": n, "end": true,
                            "error": {"message": "this subscription fell too far behind and was ended", "data": {"kind": "overflow"}}}),
                            ),
                        );
                        return;
                    }
                }
            }
            d.bus.unsubscribe(n);
            send(
                &out,
                &note("events", json!({"subscription": n, "end": true})),
            );
        });
    });
    (answer(id, n), Some(start))
}

/// `image.pull`: pulls `image`, sending `pull` notifications — `resolved`
/// (manifest and layer count), `layer` (a layer's bytes so far, at most every
/// 100 ms per layer, and when done) — then a final `{end: true, image}` or
/// `{end: true, error}`. `$/cancel` with the request's id stops it.
pub(crate) fn pull(
    d: &Arc<Daemon>,
    out: &Out,
    id: Value,
    params: &Value,
    cancel: Arc<AtomicBool>,
) -> (Value, Option<Starter>) {
    let image = match params.get("image").and_then(Value::as_str) {
        Some(i) => i.to_string(),
        None => {
            return refused(
                id,
                Failure::params("image: the image to pull (`registry/name:tag`)"),
            )
        }
    };
    let r: hb_image::ImageRef = match image.parse() {
        Ok(r) => r,
        Err(e) => return refused(id, Failure::params(format!("image: {e}"))),
    };
    let Some(puller) = d.engine.puller.clone() else {
        return refused(id, Failure::app("engine", "this daemon may not pull"));
    };
    let n = next();
    let (d, out) = (d.clone(), out.clone());
    let start: Starter = Box::new(move || {
        std::thread::spawn(move || {
            let progress = Arc::new(PullNotes {
                out: out.clone(),
                n,
                last: std::sync::Mutex::default(),
            });
            let result = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Failure::app("engine", e))
                .and_then(|rt| {
                    rt.block_on(async {
                        let platform = hb_image::Platform::host();
                        let pulled = puller.pull(&r, &platform, progress);
                        let cancelled = async {
                            while !cancel.load(Ordering::SeqCst) {
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                        };
                        tokio::select! {
                            r = pulled => r.map_err(|e| Failure::app("image", e)),
                            () = cancelled => Err(Failure {
                                code: crate::code::REQUEST_CANCELLED,
                                message: "cancelled by $/cancel".into(),
                                kind: "cancelled",
                            }),
                        }
                    })
                });
            let end = match result {
                Ok(record) => {
                    d.bus
                        .publish(event("image", "pull", None, json!({"name": record.name})));
                    json!({"subscription": n, "end": true, "image": record})
                }
                Err(f) => json!({"subscription": n, "end": true, "error": f.to_json()}),
            };
            send(&out, &note("pull", end));
        });
    });
    (answer(id, n), Some(start))
}

/// Pull progress as notifications.
struct PullNotes {
    out: Out,
    n: u64,
    /// When each layer last reported.
    last: std::sync::Mutex<std::collections::HashMap<String, Instant>>,
}

impl hb_image::Progress for PullNotes {
    fn resolved(
        &self,
        image: &hb_image::ImageRef,
        manifest: &oci_spec::image::Digest,
        layers: usize,
    ) {
        send(
            &self.out,
            &note(
                "pull",
                json!({"subscription": self.n, "status": "resolved",
            "image": image.to_string(), "manifest": manifest.to_string(), "layers": layers}),
            ),
        );
    }
    fn layer_started(&self, layer: &oci_spec::image::Digest, size: u64, cached: bool) {
        send(
            &self.out,
            &note(
                "pull",
                json!({"subscription": self.n, "status": if cached { "cached" } else { "downloading" },
            "layer": layer.to_string(), "size": size, "received": 0}),
            ),
        );
    }
    fn layer_progress(&self, layer: &oci_spec::image::Digest, received: u64) {
        let key = layer.to_string();
        let due = self.last.lock().map(|mut l| {
            let now = Instant::now();
            let due = l
                .get(&key)
                .is_none_or(|t| now.duration_since(*t) >= Duration::from_millis(100));
            if due {
                l.insert(key.clone(), now);
            }
            due
        });
        if due.unwrap_or(false) {
            send(
                &self.out,
                &note(
                    "pull",
                    json!({"subscription": self.n, "status": "downloading",
                "layer": key, "received": received}),
                ),
            );
        }
    }
    fn layer_done(&self, layer: &oci_spec::image::Digest, stats: hb_image::unpack::Stats) {
        send(
            &self.out,
            &note(
                "pull",
                json!({"subscription": self.n, "status": "done",
            "layer": layer.to_string(), "entries": stats.entries, "bytes": stats.bytes}),
            ),
        );
    }
}

/// `project.watch.start`: keeps the project's services in step with its
/// source tree (as `hb watch --no-up`), publishing each action on the bus as
/// a `watch` event, until `project.watch.stop` or the daemon stops.
pub(crate) fn watch_start(d: &Daemon, params: &Value) -> Result<Value, Failure> {
    let p = project(params)?;
    let services = strings(params, "services")?;
    let (rules, chosen) = hb_engine::watch::rules(&p, &services).map_err(Failure::engine)?;
    let name = p.name.as_str().to_string();
    let mut watches = d
        .watches
        .lock()
        .map_err(|_| Failure::app("engine", "watch table poisoned"))?;
    if let Some(w) = watches.get(&name) {
        if !w.thread.is_finished() {
            return Err(Failure::app(
                "conflict",
                format!("{name} is watched already; project.watch.stop it first"),
            ));
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let rule_count = rules.len();
    let thread = {
        let (engine, bus, stop) = (d.engine.clone(), d.bus.clone(), stop.clone());
        let name = name.clone();
        std::thread::spawn(move || {
            let on = |e: hb_engine::watch::WatchEvent| {
                let action = if e.failed {
                    "failed"
                } else if e.what.starts_with("rebuilt") {
                    "rebuild"
                } else if e.what.contains("restarted") {
                    "restart"
                } else if e.what.contains("ran ") {
                    "exec"
                } else {
                    "sync"
                };
                bus.publish(json!({
                    "type": "watch", "action": action, "project": name, "service": e.service,
                    "time": hb_engine::events::now(),
                    "attributes": {"what": e.what, "took_ms": e.took.as_millis() as u64},
                }));
            };
            if let Err(e) = engine.watch(&p, &rules, &stop, &on) {
                bus.publish(event(
                    "watch",
                    "failed",
                    Some(&name),
                    json!({"what": e.to_string()}),
                ));
            }
        })
    };
    watches.insert(name.clone(), Watching { stop, thread });
    serde_json::to_value(crate::types::Watching {
        watching: name,
        rules: rule_count,
        chosen,
    })
    .map_err(|e| Failure::app("engine", e))
}

/// `project.watch.stop`.
pub(crate) fn watch_stop(d: &Daemon, params: &Value) -> Result<Value, Failure> {
    let p = project(params)?;
    let name = p.name.as_str();
    let w = d
        .watches
        .lock()
        .map_err(|_| Failure::app("engine", "watch table poisoned"))?
        .remove(name)
        .ok_or_else(|| Failure::app("not_found", format!("{name} is not watched")))?;
    w.stop.store(true, Ordering::SeqCst);
    let _ = w.thread.join();
    serde_json::to_value(crate::types::Stopped {
        stopped: name.into(),
    })
    .map_err(|e| Failure::app("engine", e))
}
