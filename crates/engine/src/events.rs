//! Container events (`hb events`), as `docker compose events --json` shapes
//! them: derived by comparing two snapshots of a project's containers. Nothing
//! is logged anywhere; whoever watches takes snapshots (the daemon will do the
//! same for its subscribers).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{Engine, LABEL_SERVICE};

/// What one container looks like at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Its service.
    pub service: String,
    /// Its image.
    pub image: String,
    /// `created`, `running`, `paused`, `restarting`, `exited`, `failed`.
    pub state: String,
    /// Exit code once exited.
    pub exit_code: Option<i32>,
    /// Health, if it has a healthcheck.
    pub health: Option<String>,
}

/// A project's containers by name.
pub type Snapshot = BTreeMap<String, Seen>;

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerEvent {
    /// RFC 3339 time it was noticed.
    pub time: String,
    /// Always `container`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `create`, `start`, `die`, `pause`, `unpause`, `health_status: healthy`, `destroy`.
    pub action: String,
    /// The container.
    pub id: String,
    /// Its service.
    pub service: String,
    /// `name`, `image`, `exitCode`.
    pub attributes: BTreeMap<String, String>,
}

impl Engine {
    /// The project's containers now.
    pub fn snapshot(&self, project: &str) -> Snapshot {
        self.containers(project)
            .into_iter()
            .map(|(c, l)| {
                let st = self.rt.status(&c);
                let mut state = st.as_ref().map_or("created".into(), |s| s.state.clone());
                if state == "running" && self.rt.paused(&c) {
                    state = "paused".into();
                }
                let seen = Seen {
                    service: l.get(LABEL_SERVICE).cloned().unwrap_or_default(),
                    image: self.rt.image_of(&c),
                    state,
                    exit_code: st.and_then(|s| s.exit_code),
                    health: self.rt.health(&c).map(|h| h.status),
                };
                (c.id, seen)
            })
            .collect()
    }
}

/// Now, as event times are written (RFC 3339, nanoseconds, UTC).
pub fn now() -> String {
    hb_runtime::cri::timestamp(std::time::SystemTime::now())
}

/// What happened between two snapshots, in a stable order.
pub fn diff(before: &Snapshot, after: &Snapshot, time: &str) -> Vec<ContainerEvent> {
    let mut out = Vec::new();
    let ev = |action: &str, id: &str, s: &Seen| {
        let mut attributes = BTreeMap::from([
            ("name".to_string(), id.to_string()),
            ("image".to_string(), s.image.clone()),
        ]);
        if action == "die" {
            attributes.insert("exitCode".into(), s.exit_code.unwrap_or(-1).to_string());
        }
        ContainerEvent {
            time: time.to_string(),
            kind: "container",
            action: action.to_string(),
            id: id.to_string(),
            service: s.service.clone(),
            attributes,
        }
    };
    for (id, now) in after {
        let was = before.get(id);
        if was.is_none() {
            out.push(ev("create", id, now));
        }
        let old_state = was.map_or("created", |w| w.state.as_str());
        let live = |s: &str| matches!(s, "running" | "paused");
        match (old_state, now.state.as_str()) {
            (o, "running") if !live(o) => out.push(ev("start", id, now)),
            ("running", "paused") => out.push(ev("pause", id, now)),
            ("paused", "running") => out.push(ev("unpause", id, now)),
            (o, n) if live(o) && !live(n) => out.push(ev("die", id, now)),
            _ => {}
        }
        if now.health.is_some() && was.and_then(|w| w.health.as_ref()) != now.health.as_ref() {
            let h = now.health.clone().unwrap_or_default();
            out.push(ev(&format!("health_status: {h}"), id, now));
        }
    }
    for (id, was) in before {
        if !after.contains_key(id) {
            if matches!(was.state.as_str(), "running" | "paused") {
                out.push(ev("die", id, was));
            }
            out.push(ev("destroy", id, was));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(state: &str, health: Option<&str>) -> Seen {
        Seen {
            service: "web".into(),
            image: "busybox".into(),
            state: state.into(),
            exit_code: (state == "exited").then_some(3),
            health: health.map(str::to_string),
        }
    }

    #[test]
    fn transitions_become_docker_events() {
        let actions = |a: &Snapshot, b: &Snapshot| -> Vec<String> {
            diff(a, b, "t").into_iter().map(|e| e.action).collect()
        };
        let empty = Snapshot::new();
        let up = Snapshot::from([("p-web-1".to_string(), seen("running", Some("starting")))]);
        assert_eq!(
            actions(&empty, &up),
            ["create", "start", "health_status: starting"]
        );
        let healthy = Snapshot::from([("p-web-1".to_string(), seen("running", Some("healthy")))]);
        assert_eq!(actions(&up, &healthy), ["health_status: healthy"]);
        let paused = Snapshot::from([("p-web-1".to_string(), seen("paused", Some("healthy")))]);
        assert_eq!(actions(&healthy, &paused), ["pause"]);
        let exited = Snapshot::from([("p-web-1".to_string(), seen("exited", Some("healthy")))]);
        let e = diff(&paused, &exited, "t");
        assert_eq!(e[0].action, "die");
        assert_eq!(e[0].attributes["exitCode"], "3");
        assert_eq!(actions(&exited, &empty), ["destroy"]);
        assert_eq!(actions(&healthy, &empty), ["die", "destroy"]);
        assert!(actions(&healthy, &healthy).is_empty());
    }
}
