//! The daemon's event bus: container events (one observer thread diffs every
//! project's snapshot every 50 ms while anyone listens, so 50 subscribers cost
//! what one does, and all see the same events in the same order), watch
//! actions, pulls and builds, fanned out to each subscription's channel.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Mutex;
use std::time::Duration;

use hb_engine::events::Snapshot;
use hb_engine::Engine;
use serde_json::{json, Value};

/// Events a subscription may fall behind by before it is ended (its client
/// reads too slowly); the others never wait for it.
pub const BACKLOG: usize = 100_000;

struct Sub {
    n: u64,
    project: Option<String>,
    tx: SyncSender<Value>,
}

/// Subscriptions, and what is published to them.
#[derive(Default)]
pub struct Bus {
    subs: Mutex<Vec<Sub>>,
}

impl Bus {
    fn subs(&self) -> std::sync::MutexGuard<'_, Vec<Sub>> {
        self.subs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new subscription `n` to the events of `project` (all when `None`).
    pub fn subscribe(&self, n: u64, project: Option<String>) -> Receiver<Value> {
        let (tx, rx) = mpsc::sync_channel(BACKLOG);
        self.subs().push(Sub { n, project, tx });
        rx
    }

    /// Ends subscription `n`.
    pub fn unsubscribe(&self, n: u64) {
        self.subs().retain(|s| s.n != n);
    }

    /// True while anyone listens.
    pub fn listened(&self) -> bool {
        !self.subs().is_empty()
    }

    /// Sends `event` to the subscriptions of its `project` (an event without
    /// one, an image pull, goes to all). A subscription whose channel is full
    /// or gone is dropped: its thread sees the channel close and ends it.
    pub fn publish(&self, event: Value) {
        let project = event
            .get("project")
            .and_then(Value::as_str)
            .map(str::to_string);
        self.subs().retain(|s| {
            let wanted = match (&s.project, &project) {
                (Some(want), Some(p)) => want == p,
                _ => true,
            };
            if !wanted {
                return true;
            }
            match s.tx.try_send(event.clone()) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
            }
        });
    }
}

/// An event as `docker events --format json` shapes it, for the bus.
pub fn event(kind: &str, action: &str, project: Option<&str>, attributes: Value) -> Value {
    json!({
        "type": kind,
        "action": action,
        "project": project,
        "time": hb_engine::events::now(),
        "attributes": attributes,
    })
}

/// Diffs every project's containers every 50 ms while the bus has listeners,
/// publishing what changed, until `stop`.
pub fn observe(engine: &Engine, bus: &Bus, stop: &AtomicBool) {
    let mut before: BTreeMap<String, Snapshot> = BTreeMap::new();
    let mut listening = false;
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
        if !bus.listened() {
            listening = false;
            continue;
        }
        let mut names: Vec<String> = engine.projects().into_keys().collect();
        names.extend(before.keys().cloned());
        names.sort();
        names.dedup();
        let mut after = BTreeMap::new();
        for name in names {
            let now_seen = engine.snapshot(&name);
            // The first look after a quiet spell is the baseline: what already
            // runs is not news.
            if listening {
                let empty = Snapshot::new();
                let was = before.get(&name).unwrap_or(&empty);
                let now = hb_engine::events::now();
                for e in hb_engine::events::diff(was, &now_seen, &now) {
                    bus.publish(json!({
                        "type": e.kind, "action": e.action, "project": name, "service": e.service,
                        "container": e.id, "time": e.time, "attributes": e.attributes,
                    }));
                }
            }
            if !now_seen.is_empty() {
                after.insert(name, now_seen);
            }
        }
        before = after;
        listening = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_go_to_their_project_and_image_events_to_all() {
        let bus = Bus::default();
        let a = bus.subscribe(1, Some("a".into()));
        let all = bus.subscribe(2, None);
        bus.publish(event("container", "start", Some("b"), json!({})));
        bus.publish(event("container", "start", Some("a"), json!({})));
        bus.publish(event("image", "pull", None, json!({"name": "x"})));
        let got: Vec<String> = a.try_iter().map(|e| e["type"].to_string()).collect();
        assert_eq!(got, ["\"container\"", "\"image\""]);
        assert_eq!(all.try_iter().count(), 3);
        drop(a);
        bus.publish(event("container", "die", Some("a"), json!({})));
        assert_eq!(bus.subs().len(), 1, "a gone subscriber is dropped");
    }
}
