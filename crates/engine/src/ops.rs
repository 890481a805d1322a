//! Verbs on a project's containers besides up and down — kill, pause and
//! unpause, rm, and finding a service's containers — shared by the CLI and
//! the API, so that both do exactly the same.

use hb_compose::Project;
use hb_runtime::container::Container;

use crate::{Engine, Error, Result, LABEL_NUMBER, LABEL_SERVICE};

fn no_service(project: &Project, s: &str) -> Error {
    Error::Service {
        service: s.to_string(),
        message: format!(
            "no such service in project {}; `hb config --services` lists them",
            project.name.as_str()
        ),
    }
}

impl Engine {
    /// The project's containers of `services` (all when empty), each with its
    /// `service-n` label; an unknown service is an error.
    pub fn of_services(
        &self,
        project: &Project,
        services: &[String],
    ) -> Result<Vec<(String, Container)>> {
        if let Some(s) = services.iter().find(|s| !project.services.contains_key(*s)) {
            return Err(no_service(project, s));
        }
        Ok(self
            .containers(project.name.as_str())
            .into_iter()
            .filter(|(_, l)| {
                services.is_empty() || l.get(LABEL_SERVICE).is_some_and(|s| services.contains(s))
            })
            .map(|(c, l)| {
                let label = match (l.get(LABEL_SERVICE), l.get(LABEL_NUMBER)) {
                    (Some(s), Some(n)) => format!("{s}-{n}"),
                    _ => c.id.clone(),
                };
                (label, c)
            })
            .collect())
    }

    /// Container `index` (1-based) of `service`.
    pub fn container_of(&self, project: &Project, service: &str, index: u32) -> Result<Container> {
        if !project.services.contains_key(service) {
            return Err(no_service(project, service));
        }
        let index = index.to_string();
        self.containers(project.name.as_str())
            .into_iter()
            .find(|(_, l)| {
                l.get(LABEL_SERVICE).is_some_and(|s| s == service)
                    && l.get(LABEL_NUMBER) == Some(&index)
            })
            .map(|(c, _)| c)
            .ok_or_else(|| Error::Service {
                service: service.to_string(),
                message: format!("it has no container {index}; is the project up? (`hb ps`)"),
            })
    }

    /// Sends `signal` to the running containers of `services` (none restarts
    /// after it, as Docker's restart policies read a manual kill); their labels.
    pub fn kill_services(
        &self,
        project: &Project,
        services: &[String],
        signal: &str,
    ) -> Result<Vec<String>> {
        let mut done = Vec::new();
        for (label, c) in self.of_services(project, services)? {
            if self.rt.running(&c) {
                self.rt.request_stop(&c);
                self.rt.kill(&c, signal).map_err(|source| Error::Runtime {
                    container: c.id.clone(),
                    source,
                })?;
                done.push(label);
            }
        }
        Ok(done)
    }

    /// Freezes (`freeze`) or thaws the running containers of `services` that
    /// are not so already; their labels.
    pub fn pause_services(
        &self,
        project: &Project,
        services: &[String],
        freeze: bool,
    ) -> Result<Vec<String>> {
        let mut done = Vec::new();
        for (label, c) in self.of_services(project, services)? {
            if !self.rt.running(&c) || self.rt.paused(&c) == freeze {
                continue;
            }
            let r = if freeze {
                self.rt.pause(&c)
            } else {
                self.rt.unpause(&c)
            };
            r.map_err(|source| Error::Runtime {
                container: c.id.clone(),
                source,
            })?;
            done.push(label);
        }
        Ok(done)
    }

    /// Removes the stopped containers of `services` (running ones stay, as
    /// Compose's `rm` leaves them); their labels.
    pub fn rm_services(&self, project: &Project, services: &[String]) -> Result<Vec<String>> {
        let mut done = Vec::new();
        for (label, c) in self.of_services(project, services)? {
            if self.rt.running(&c) {
                continue;
            }
            self.remove_container(&c, "KILL", std::time::Duration::ZERO)?;
            done.push(label);
        }
        Ok(done)
    }
}
