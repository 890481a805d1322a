//! The reconciler: what `hb up` must do to turn what runs into what the project
//! says, each step with its cause. Pure: the engine observes, this decides, the
//! executor does (as docker/compose's convergence does).

use std::collections::BTreeMap;

use serde::Serialize;

/// A container as observed (from the runtime and its labels).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// Its name.
    pub name: String,
    /// `dev.hb.service`.
    pub service: String,
    /// Its replica number (1-based).
    pub number: u32,
    /// `dev.hb.config-hash`.
    pub config_hash: String,
    /// What it is doing.
    pub state: State,
}

/// A container's state, as far as planning cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Supervised and running (or between restarts).
    Running,
    /// Created, exited, or its shim is gone.
    Stopped,
}

/// A service as the project wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// The service.
    pub service: String,
    /// How many containers.
    pub replicas: u32,
    /// The hash of everything that makes its containers (config and image).
    pub config_hash: String,
    /// The container name for replica `n` is `container_names[n-1]`.
    pub container_names: Vec<String>,
    /// Dependencies with `restart: true`: when one of them is created, recreated
    /// or started, a running container of this service is restarted.
    pub restart_with: Vec<String>,
}

/// `hb up`'s choices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// `--force-recreate`.
    pub force_recreate: bool,
    /// `--no-recreate`.
    pub no_recreate: bool,
    /// `--remove-orphans`.
    pub remove_orphans: bool,
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Make a new container and start it.
    Create {
        /// The service.
        service: String,
        /// The container.
        container: String,
        /// Its replica number.
        number: u32,
    },
    /// Remove the container and make it anew.
    Recreate {
        /// The service.
        service: String,
        /// The container.
        container: String,
        /// Its replica number.
        number: u32,
        /// Why.
        cause: String,
    },
    /// Start a stopped container as it is.
    Start {
        /// The service.
        service: String,
        /// The container.
        container: String,
    },
    /// Stop and start it as it is (a `restart: true` dependency changed).
    Restart {
        /// The service.
        service: String,
        /// The container.
        container: String,
        /// Why.
        cause: String,
    },
    /// Nothing to do: it runs as wanted.
    Keep {
        /// The service.
        service: String,
        /// The container.
        container: String,
    },
    /// Remove a container the project no longer wants.
    Remove {
        /// The service it belonged to.
        service: String,
        /// The container.
        container: String,
        /// Why.
        cause: String,
    },
}

impl Action {
    /// The service the action is about.
    pub fn service(&self) -> &str {
        match self {
            Action::Create { service, .. }
            | Action::Recreate { service, .. }
            | Action::Start { service, .. }
            | Action::Restart { service, .. }
            | Action::Keep { service, .. }
            | Action::Remove { service, .. } => service,
        }
    }

    /// The container the action is about.
    pub fn container(&self) -> &str {
        match self {
            Action::Create { container, .. }
            | Action::Recreate { container, .. }
            | Action::Start { container, .. }
            | Action::Restart { container, .. }
            | Action::Keep { container, .. }
            | Action::Remove { container, .. } => container,
        }
    }
}

/// What `up` does, service by service in start order (orphans first: they go
/// before anything starts, so a renamed service's ports are free).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The steps, in order.
    pub steps: Vec<Action>,
}

impl Plan {
    /// True when nothing needs doing.
    pub fn is_noop(&self) -> bool {
        self.steps.iter().all(|a| matches!(a, Action::Keep { .. }))
    }

    /// One line a step: `create  web  shop-web-1`, with the cause for a
    /// recreate or removal. Stable, for `hb up --dry-run` and golden tests.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for a in &self.steps {
            let (verb, cause) = match a {
                Action::Create { .. } => ("create", None),
                Action::Recreate { cause, .. } => ("recreate", Some(cause)),
                Action::Start { .. } => ("start", None),
                Action::Restart { cause, .. } => ("restart", Some(cause)),
                Action::Keep { .. } => ("keep", None),
                Action::Remove { cause, .. } => ("remove", Some(cause)),
            };
            s.push_str(&format!("{verb:<9} {:<16} {}", a.service(), a.container()));
            if let Some(c) = cause {
                s.push_str(&format!("  ({c})"));
            }
            s.push('\n');
        }
        s
    }
}

/// Decides. `desired` is in start order (the graph's waves flattened); services
/// of the project that were not asked for (`up web` without `db`) are in
/// `untouched` and keep their containers.
pub fn reconcile(
    desired: &[Desired],
    untouched: &[String],
    observed: &[Observed],
    opts: Options,
) -> Plan {
    let mut by_service: BTreeMap<&str, Vec<&Observed>> = BTreeMap::new();
    for o in observed {
        by_service.entry(o.service.as_str()).or_default().push(o);
    }
    let mut steps = Vec::new();
    // Orphans: containers of services the project no longer has.
    for o in observed {
        let known =
            desired.iter().any(|d| d.service == o.service) || untouched.contains(&o.service);
        if !known && opts.remove_orphans {
            steps.push(Action::Remove {
                service: o.service.clone(),
                container: o.name.clone(),
                cause: "orphan: its service is no longer in the project".into(),
            });
        }
    }
    // Services whose containers this plan makes or starts.
    let mut touched: Vec<&str> = Vec::new();
    for d in desired {
        let have = by_service.remove(d.service.as_str()).unwrap_or_default();
        let changed_dep = d
            .restart_with
            .iter()
            .find(|dep| touched.contains(&dep.as_str()));
        for n in 1..=d.replicas {
            let container = d
                .container_names
                .get(n as usize - 1)
                .cloned()
                .unwrap_or_else(|| format!("{}-{n}", d.service));
            let existing = have.iter().find(|o| o.number == n);
            let service = d.service.clone();
            steps.push(match existing {
                None => Action::Create {
                    service,
                    container,
                    number: n,
                },
                Some(o) => {
                    let changed = o.config_hash != d.config_hash;
                    if !opts.no_recreate && (opts.force_recreate || changed) {
                        Action::Recreate {
                            service,
                            container: o.name.clone(),
                            number: n,
                            cause: if opts.force_recreate {
                                "--force-recreate".into()
                            } else {
                                "its configuration or image changed".into()
                            },
                        }
                    } else if o.state == State::Running {
                        match changed_dep {
                            Some(dep) => Action::Restart {
                                service,
                                container: o.name.clone(),
                                cause: format!("{dep} changed (depends_on restart: true)"),
                            },
                            None => Action::Keep {
                                service,
                                container: o.name.clone(),
                            },
                        }
                    } else {
                        Action::Start {
                            service,
                            container: o.name.clone(),
                        }
                    }
                }
            });
        }
        if steps.iter().any(|a| {
            a.service() == d.service
                && matches!(
                    a,
                    Action::Create { .. } | Action::Recreate { .. } | Action::Start { .. }
                )
        }) {
            touched.push(&d.service);
        }
        // Scaled down: the highest numbers go.
        for o in have.iter().filter(|o| o.number > d.replicas) {
            steps.push(Action::Remove {
                service: d.service.clone(),
                container: o.name.clone(),
                cause: format!("scaled down to {}", d.replicas),
            });
        }
    }
    Plan { steps }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(service: &str, replicas: u32, hash: &str) -> Desired {
        Desired {
            service: service.into(),
            replicas,
            config_hash: hash.into(),
            container_names: (1..=replicas).map(|n| format!("p-{service}-{n}")).collect(),
            restart_with: Vec::new(),
        }
    }

    fn observed(service: &str, number: u32, hash: &str, state: State) -> Observed {
        Observed {
            name: format!("p-{service}-{number}"),
            service: service.into(),
            number,
            config_hash: hash.into(),
            state,
        }
    }

    #[test]
    fn creates_keeps_recreates_starts_and_scales() {
        let plan = reconcile(
            &[
                desired("db", 1, "h1"),
                desired("api", 1, "new"),
                desired("job", 1, "j"),
                desired("web", 2, "w"),
                desired("worker", 1, "k"),
            ],
            &[],
            &[
                observed("db", 1, "h1", State::Running),
                observed("api", 1, "old", State::Running),
                observed("job", 1, "j", State::Stopped),
                observed("web", 1, "w", State::Running),
                observed("worker", 1, "k", State::Running),
                observed("worker", 2, "k", State::Running),
                observed("gone", 1, "g", State::Running),
            ],
            Options::default(),
        );
        assert_eq!(
            plan.to_text(),
            "keep      db               p-db-1\n\
             recreate  api              p-api-1  (its configuration or image changed)\n\
             start     job              p-job-1\n\
             keep      web              p-web-1\n\
             create    web              p-web-2\n\
             keep      worker           p-worker-1\n\
             remove    worker           p-worker-2  (scaled down to 1)\n"
        );
        assert!(!plan.is_noop());
    }

    #[test]
    fn orphans_go_only_when_asked_and_first() {
        let obs = [observed("gone", 1, "g", State::Running)];
        let want = [desired("db", 1, "h")];
        let kept = reconcile(&want, &[], &obs, Options::default());
        assert!(!kept.to_text().contains("gone"));
        let opts = Options {
            remove_orphans: true,
            ..Options::default()
        };
        let plan = reconcile(&want, &[], &obs, opts);
        assert!(
            plan.to_text().starts_with("remove    gone"),
            "{}",
            plan.to_text()
        );
        // A service not asked for this time is not an orphan.
        let plan = reconcile(&want, &["gone".into()], &obs, opts);
        assert!(!plan.to_text().contains("remove"));
    }

    #[test]
    fn a_restart_true_dependency_restarts_its_dependents() {
        let mut api = desired("api", 1, "a");
        api.restart_with = vec!["db".into()];
        let web = desired("web", 1, "w");
        let obs = [
            observed("db", 1, "old", State::Running),
            observed("api", 1, "a", State::Running),
            observed("web", 1, "w", State::Running),
        ];
        let plan = reconcile(
            &[desired("db", 1, "new"), api, web],
            &[],
            &obs,
            Options::default(),
        );
        assert_eq!(
            plan.to_text(),
            "recreate  db               p-db-1  (its configuration or image changed)\n\
             restart   api              p-api-1  (db changed (depends_on restart: true))\n\
             keep      web              p-web-1\n"
        );
    }

    #[test]
    fn force_and_no_recreate() {
        let obs = [observed("db", 1, "old", State::Running)];
        let want = [desired("db", 1, "new")];
        let no = Options {
            no_recreate: true,
            ..Options::default()
        };
        assert!(reconcile(&want, &[], &obs, no).is_noop());
        let same = [desired("db", 1, "old")];
        let force = Options {
            force_recreate: true,
            ..Options::default()
        };
        assert!(reconcile(&same, &[], &obs, force)
            .to_text()
            .contains("(--force-recreate)"));
    }
}
