//! Requests and their answers: parsing a request object or batch, and every
//! method that is not a stream (`streams.rs` has those).

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use hb_engine::Event;
use serde_json::{json, Value};

use crate::bus::event;
use crate::{code, error_response, types, Daemon, Failure};

/// A result as JSON.
fn to_json<T: serde::Serialize>(v: &T) -> Result<Value, Failure> {
    serde_json::to_value(v).map_err(|e| Failure::app("engine", e))
}

/// Publishes what an engine operation reports that subscribers care about:
/// pulls and builds of a project's images.
fn publish(d: &Daemon, project: &str, e: &Event) {
    match e {
        Event::Pulling(image) => d.bus.publish(event("image", "pull", Some(project), json!({"name": image}))),
        Event::Built(b) => d.bus.publish(event(
            "image",
            "build",
            Some(project),
            json!({"name": b.image.name, "service": b.service, "steps": b.steps.0, "cached": b.steps.1}),
        )),
        _ => {}
    }
}

/// Answers one request object; `None` for a notification (no `id`).
pub fn handle(d: &Daemon, req: &Value, cancel: Option<Arc<AtomicBool>>) -> Option<Value> {
    let id = req.get("id").cloned();
    let Some(obj) = req.as_object() else {
        return Some(error_response(
            Value::Null,
            code::INVALID_REQUEST,
            "a request is a JSON object",
            None,
        ));
    };
    let method = match (
        obj.get("jsonrpc").and_then(Value::as_str),
        obj.get("method").and_then(Value::as_str),
    ) {
        (Some("2.0"), Some(m)) => m,
        _ => {
            return Some(error_response(
                id.unwrap_or(Value::Null),
                code::INVALID_REQUEST,
                "a request has \"jsonrpc\": \"2.0\" and a string \"method\"",
                None,
            ))
        }
    };
    let params = obj.get("params").cloned().unwrap_or(Value::Null);
    let result = call(d, method, &params, cancel);
    let id = id?;
    Some(match result {
        Ok(v) => json!({"jsonrpc": "2.0", "id": id, "result": v}),
        Err(f) => json!({"jsonrpc": "2.0", "id": id, "error": f.to_json()}),
    })
}

/// Answers a parsed line: a request or a batch (whose members run one after another).
pub(crate) fn handle_value(
    d: &Daemon,
    v: &Value,
    cancel: Option<Arc<AtomicBool>>,
) -> Option<Value> {
    match v {
        Value::Array(items) if items.is_empty() => Some(error_response(
            Value::Null,
            code::INVALID_REQUEST,
            "an empty batch",
            None,
        )),
        Value::Array(items) => {
            let out: Vec<Value> = items
                .iter()
                .filter_map(|r| handle(d, r, cancel.clone()))
                .collect();
            (!out.is_empty()).then_some(Value::Array(out))
        }
        other => handle(d, other, cancel),
    }
}

/// Answers one line: a request, a batch, or garbage.
pub fn handle_line(d: &Daemon, line: &str) -> Option<Value> {
    match serde_json::from_str::<Value>(line) {
        Ok(v) => handle_value(d, &v, None),
        Err(e) => Some(error_response(
            Value::Null,
            code::PARSE_ERROR,
            &format!("not JSON: {e}"),
            None,
        )),
    }
}

pub(crate) fn call(
    d: &Daemon,
    method: &str,
    params: &Value,
    cancel: Option<Arc<AtomicBool>>,
) -> Result<Value, Failure> {
    let engine = &*d.engine;
    match method {
        "system.version" => to_json(&types::Version {
            version: env!("CARGO_PKG_VERSION").into(),
            api: 1,
        }),
        "system.info" => to_json(&types::Info {
            root: engine.rt.root.clone(),
            run: engine.rt.run.clone(),
            crun: engine.rt.crun.clone(),
        }),
        "projects.list" => to_json(
            &engine
                .projects()
                .into_iter()
                .map(|(name, cs)| types::ProjectSummary {
                    running: cs.iter().filter(|c| engine.rt.running(c)).count(),
                    containers: cs.len(),
                    name,
                })
                .collect::<Vec<_>>(),
        ),
        "image.list" => {
            let images = engine.store.list().map_err(|e| Failure::app("store", e))?;
            serde_json::to_value(images).map_err(|e| Failure::app("engine", e))
        }
        "project.ps" => {
            let project = project(params)?;
            serde_json::to_value(engine.ps(project.name.as_str()))
                .map_err(|e| Failure::app("engine", e))
        }
        "project.up" => {
            let project = project(params)?;
            if params.get("detach").and_then(Value::as_bool) == Some(false) {
                return Err(Failure::params(
                    "detach: the daemon brings projects up detached; follow them with service.logs",
                ));
            }
            let opts = hb_engine::UpOptions {
                services: strings(params, "services")?,
                plan: hb_plan::reconcile::Options {
                    force_recreate: bool_param(params, "force_recreate")?,
                    ..hb_plan::reconcile::Options::default()
                },
                build: bool_param(params, "build")?,
                no_build: bool_param(params, "no_build")?,
                cancel,
                ..hb_engine::UpOptions::default()
            };
            let name = project.name.as_str();
            let report = engine
                .up(&project, &opts, &|e| publish(d, name, &e))
                .map_err(Failure::engine)?;
            to_json(&types::Up {
                plan: report.plan.to_text(),
                ports: report
                    .ports
                    .iter()
                    .map(|(c, p)| types::Published {
                        container: c.clone(),
                        host: p.host.to_string(),
                        target: p.target,
                        protocol: p.protocol.clone(),
                    })
                    .collect(),
            })
        }
        "project.build" => {
            let project = project(params)?;
            let args = match params.get("args") {
                None | Some(Value::Null) => Default::default(),
                Some(Value::Object(m)) => m
                    .iter()
                    .map(|(k, v)| match v.as_str() {
                        Some(v) => Ok((k.clone(), v.to_string())),
                        None => Err(Failure::params("args: a map of strings")),
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err(Failure::params("args: a map of strings")),
            };
            let opts = hb_engine::BuildOptions {
                no_cache: bool_param(params, "no_cache")?,
                pull: bool_param(params, "pull")?,
                args,
                cancel,
            };
            let name = project.name.as_str();
            let built = engine
                .build(&project, &strings(params, "services")?, &opts, &|e| {
                    publish(d, name, &e)
                })
                .map_err(Failure::engine)?;
            to_json(
                &built
                    .iter()
                    .map(|b| types::Built {
                        service: b.service.clone(),
                        image: b.image.name.clone(),
                        manifest: b.image.manifest.clone(),
                        steps: b.steps.0,
                        cached: b.steps.1,
                        elapsed_ms: b.elapsed.as_millis() as u64,
                    })
                    .collect::<Vec<_>>(),
            )
        }
        "project.kill" => {
            let project = project(params)?;
            let signal = opt_str(params, "signal")?.unwrap_or_else(|| "KILL".into());
            let containers = engine
                .kill_services(&project, &strings(params, "services")?, &signal)
                .map_err(Failure::engine)?;
            to_json(&types::Affected { containers })
        }
        "project.pause" | "project.unpause" => {
            let project = project(params)?;
            let containers = engine
                .pause_services(
                    &project,
                    &strings(params, "services")?,
                    method == "project.pause",
                )
                .map_err(Failure::engine)?;
            to_json(&types::Affected { containers })
        }
        "project.rm" => {
            let project = project(params)?;
            let services = strings(params, "services")?;
            if bool_param(params, "stop")? {
                engine
                    .stop_services(&project, &services, None, &|| false, &|_| {})
                    .map_err(Failure::engine)?;
            }
            let containers = engine
                .rm_services(&project, &services)
                .map_err(Failure::engine)?;
            to_json(&types::Affected { containers })
        }
        "project.top" | "project.stats" => {
            let project = project(params)?;
            let running: Vec<(String, hb_runtime::container::Container)> = engine
                .of_services(&project, &strings(params, "services")?)
                .map_err(Failure::engine)?
                .into_iter()
                .filter(|(_, c)| engine.rt.running(c))
                .collect();
            if method == "project.top" {
                let mut out = Vec::new();
                for (container, c) in running {
                    let processes = engine.rt.top(&c).map_err(|e| Failure::app("engine", e))?;
                    out.push(types::Top {
                        container,
                        processes,
                    });
                }
                to_json(&out)
            } else {
                let out: Vec<types::Sample> = running
                    .into_iter()
                    .filter_map(|(container, c)| {
                        engine
                            .rt
                            .stats(&c)
                            .ok()
                            .map(|stats| types::Sample { container, stats })
                    })
                    .collect();
                to_json(&out)
            }
        }
        "project.port" => {
            let project = project(params)?;
            let service = opt_str(params, "service")?
                .ok_or_else(|| Failure::params("service: the service"))?;
            let port = params
                .get("port")
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| Failure::params("port: the container port"))?;
            let protocol = opt_str(params, "protocol")?.unwrap_or_else(|| "tcp".into());
            let index = params.get("index").and_then(Value::as_u64).unwrap_or(1);
            let c = engine
                .container_of(&project, &service, u32::try_from(index).unwrap_or(u32::MAX))
                .map_err(|e| Failure::app("not_found", e))?;
            let found = hb_engine::read_ports(&c.dir)
                .into_iter()
                .find(|p| p.target == port && p.protocol == protocol)
                .ok_or_else(|| {
                    Failure::app(
                        "not_found",
                        format!("{service}: port {port}/{protocol} is not published"),
                    )
                })?;
            to_json(&types::Port {
                host: found.host.to_string(),
            })
        }
        "project.watch.start" => crate::streams::watch_start(d, params),
        "project.watch.stop" => crate::streams::watch_stop(d, params),
        "project.down" => {
            let project = project(params)?;
            let opts = hb_engine::DownOptions {
                volumes: bool_param(params, "volumes")?,
                ..hb_engine::DownOptions::default()
            };
            engine
                .down(&project, &opts, &|_| {})
                .map_err(Failure::engine)?;
            to_json(&types::Down {
                down: project.name.as_str().into(),
            })
        }
        "project.config" => {
            let project = project(params)?;
            serde_json::to_value(&project).map_err(|e| Failure::app("engine", e))
        }
        "project.graph" => {
            let project = project(params)?;
            let g = hb_plan::Graph::new(&project).map_err(|e| Failure::app("project", e))?;
            serde_json::to_value(g).map_err(|e| Failure::app("engine", e))
        }
        "project.start" | "project.stop" | "project.restart" => {
            let project = project(params)?;
            let services = strings(params, "services")?;
            if method != "project.start" {
                engine
                    .stop_services(&project, &services, None, &|| false, &|_| {})
                    .map_err(|e| Failure::app("engine", e))?;
            }
            if method != "project.stop" {
                engine
                    .start_services(&project, &services, &|_| {})
                    .map_err(|e| Failure::app("engine", e))?;
            }
            serde_json::to_value(engine.ps(project.name.as_str()))
                .map_err(|e| Failure::app("engine", e))
        }
        "container.exec" => {
            let project = project(params)?;
            let service = params
                .get("service")
                .and_then(Value::as_str)
                .ok_or_else(|| Failure::params("service: the service to run in"))?;
            let command = strings(params, "command")?;
            if command.is_empty() {
                return Err(Failure::params("command: the command and its arguments"));
            }
            // `KEY=VALUE` sets, a bare `KEY` unsets (as `docker exec -e`).
            let env: Vec<(String, Option<String>)> = strings(params, "env")?
                .into_iter()
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (kv, None),
                })
                .collect();
            let index = params.get("index").and_then(Value::as_u64).unwrap_or(1);
            let c = engine
                .container_of(&project, service, u32::try_from(index).unwrap_or(u32::MAX))
                .map_err(|e| Failure::app("not_found", e))?;
            let (code, out, err) = engine
                .rt
                .exec(
                    &c,
                    &command,
                    &env,
                    opt_str(params, "user")?.as_deref(),
                    opt_str(params, "workdir")?.as_deref(),
                )
                .map_err(|e| Failure::app("engine", e))?;
            to_json(&types::Exec {
                exit_code: code,
                stdout: String::from_utf8_lossy(&out).into_owned(),
                stderr: String::from_utf8_lossy(&err).into_owned(),
            })
        }
        other => Err(Failure {
            code: code::METHOD_NOT_FOUND,
            message: format!("no method {other}; docs/api.md lists those that exist"),
            kind: "method_not_found",
        }),
    }
}

/// An optional string param.
fn opt_str(params: &Value, key: &str) -> Result<Option<String>, Failure> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Failure::params(format!("{key}: a string"))),
    }
}

pub(crate) fn strings(params: &Value, key: &str) -> Result<Vec<String>, Failure> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| Failure::params(format!("{key}: a list of strings")))
            })
            .collect(),
        Some(_) => Err(Failure::params(format!("{key}: a list of strings"))),
    }
}

fn bool_param(params: &Value, key: &str) -> Result<bool, Failure> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(Failure::params(format!("{key}: true or false"))),
    }
}

/// The project a call names, loaded as the CLI loads it (`project_dir`,
/// `files`, `project_name`, `profiles`, `env_files`).
pub(crate) fn project(params: &Value) -> Result<hb_compose::Project, Failure> {
    let dir = params
        .get("project_dir")
        .and_then(Value::as_str)
        .ok_or_else(|| Failure::params("project_dir: the project's directory (absolute)"))?;
    let dir = PathBuf::from(dir);
    if !dir.is_absolute() {
        return Err(Failure::params(
            "project_dir must be absolute: the daemon has no working directory of yours",
        ));
    }
    let opts = hb_compose::Options {
        working_dir: dir,
        files: strings(params, "files")?
            .into_iter()
            .map(PathBuf::from)
            .collect(),
        stdin: None,
        project_directory: None,
        project_name: params
            .get("project_name")
            .and_then(Value::as_str)
            .map(str::to_string),
        env_files: strings(params, "env_files")?
            .into_iter()
            .map(PathBuf::from)
            .collect(),
        profiles: strings(params, "profiles")?,
        services: Vec::new(),
        environment: std::env::vars().collect(),
        skip_consistency: false,
        remote_loaders: Vec::new(),
    };
    hb_compose::load(&opts)
        .map(|l| l.project)
        .map_err(|e| Failure::app("project", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_method_is_answered() {
        let dir = std::env::temp_dir().join(format!("hb-api-test-{}", std::process::id()));
        let engine = hb_engine::Engine {
            rt: hb_runtime::container::Runtime::new(
                dir.clone(),
                dir.join("run"),
                "crun".into(),
                "hb-shim".into(),
            ),
            store: Arc::new(hb_image::Store::open(&dir).expect("store")),
            puller: None,
            proxy: "hb-proxy".into(),
            ip: Box::new(hb_net::RealIp),
        };
        let d = Daemon::new(Arc::new(engine));
        for m in crate::doc::methods() {
            if matches!(
                m.name,
                "events.subscribe" | "service.logs" | "image.pull" | "$/cancel"
            ) {
                continue; // streams: answered by the connection loop, tested end to end
            }
            if let Err(f) = call(&d, m.name, &Value::Null, None) {
                assert_ne!(
                    f.code,
                    code::METHOD_NOT_FOUND,
                    "{} is documented but not answered",
                    m.name
                );
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
