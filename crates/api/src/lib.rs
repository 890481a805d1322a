//! hb's API: JSON-RPC 2.0 (jsonrpc.org/specification) over a Unix socket, one
//! JSON value a line (NDJSON framing), served by `hb daemon` over the same
//! engine the CLI uses — so CLI and daemon can be used side by side on one
//! project (they share its lock and state).
//!
//! This first slice (issue #8): requests, notifications and batches; the
//! standard error codes plus application errors with a machine-readable
//! `data.kind`; frames capped at [`MAX_FRAME`]; the socket created 0660 and each
//! peer's credentials checked (`SO_PEERCRED`: root, or the socket's group);
//! a thread per client, so a slow client holds up only itself. Methods:
//! `system.version`, `system.info`, `projects.list`, `project.ps`,
//! `project.up` (detached), `project.down`, `image.list`.
//!
//! Non-goals here: talking to crun or the kernel (the engine does).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hb_engine::Engine;
use serde_json::{json, Value};

/// The largest request line accepted (1 MiB): a longer one is answered with
/// an invalid-request error and the connection closed.
pub const MAX_FRAME: usize = 1 << 20;

/// JSON-RPC's own error codes.
pub mod code {
    /// Not JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// JSON, but not a request.
    pub const INVALID_REQUEST: i64 = -32600;
    /// No such method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// The params do not fit the method.
    pub const INVALID_PARAMS: i64 = -32602;
    /// The method failed; `data.kind` says how.
    pub const APPLICATION: i64 = -32000;
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The socket could not be made.
    #[error("{}: {source}", path.display())]
    Socket {
        /// The socket path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// A method's failure: JSON-RPC code, message, and a stable `data.kind`.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The JSON-RPC error code.
    pub code: i64,
    /// For people.
    pub message: String,
    /// For programs: `invalid_params`, `project`, `engine`, …
    pub kind: &'static str,
}

impl Failure {
    fn params(message: impl Into<String>) -> Self {
        Failure {
            code: code::INVALID_PARAMS,
            message: message.into(),
            kind: "invalid_params",
        }
    }

    fn app(kind: &'static str, message: impl std::fmt::Display) -> Self {
        Failure {
            code: code::APPLICATION,
            message: message.to_string(),
            kind,
        }
    }
}

fn error_response(id: Value, code: i64, message: &str, kind: Option<&str>) -> Value {
    let mut e = json!({"code": code, "message": message});
    if let Some(k) = kind {
        e["data"] = json!({"kind": k});
    }
    json!({"jsonrpc": "2.0", "id": id, "error": e})
}

/// Answers one request object; `None` for a notification (no `id`).
pub fn handle(engine: &Engine, req: &Value) -> Option<Value> {
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
    let result = call(engine, method, &params);
    let id = id?;
    Some(match result {
        Ok(v) => json!({"jsonrpc": "2.0", "id": id, "result": v}),
        Err(f) => error_response(id, f.code, &f.message, Some(f.kind)),
    })
}

/// Answers one line: a request, a batch, or garbage.
pub fn handle_line(engine: &Engine, line: &str) -> Option<Value> {
    let v: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => {
            return Some(error_response(
                Value::Null,
                code::PARSE_ERROR,
                &format!("not JSON: {e}"),
                None,
            ))
        }
    };
    match v {
        Value::Array(items) if items.is_empty() => Some(error_response(
            Value::Null,
            code::INVALID_REQUEST,
            "an empty batch",
            None,
        )),
        Value::Array(items) => {
            let out: Vec<Value> = items.iter().filter_map(|r| handle(engine, r)).collect();
            (!out.is_empty()).then_some(Value::Array(out))
        }
        other => handle(engine, &other),
    }
}

fn call(engine: &Engine, method: &str, params: &Value) -> Result<Value, Failure> {
    match method {
        "system.version" => Ok(json!({"version": env!("CARGO_PKG_VERSION"), "api": 1})),
        "system.info" => Ok(json!({
            "root": engine.rt.root,
            "run": engine.rt.run,
            "crun": engine.rt.crun,
        })),
        "projects.list" => Ok(Value::Array(
            engine
                .projects()
                .into_iter()
                .map(|(name, cs)| {
                    let running = cs.iter().filter(|c| engine.rt.running(c)).count();
                    json!({"name": name, "containers": cs.len(), "running": running})
                })
                .collect(),
        )),
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
            let opts = hb_engine::UpOptions {
                services: strings(params, "services")?,
                plan: hb_plan::reconcile::Options {
                    force_recreate: bool_param(params, "force_recreate")?,
                    ..hb_plan::reconcile::Options::default()
                },
                ..hb_engine::UpOptions::default()
            };
            let report = engine
                .up(&project, &opts, &|_| {})
                .map_err(|e| Failure::app("engine", e))?;
            Ok(json!({
                "plan": report.plan.to_text(),
                "ports": report.ports.iter().map(|(c, p)| json!({"container": c, "host": p.host, "target": p.target, "protocol": p.protocol})).collect::<Vec<_>>(),
            }))
        }
        "project.down" => {
            let project = project(params)?;
            let opts = hb_engine::DownOptions {
                volumes: bool_param(params, "volumes")?,
                ..hb_engine::DownOptions::default()
            };
            engine
                .down(&project, &opts, &|_| {})
                .map_err(|e| Failure::app("engine", e))?;
            Ok(json!({"down": project.name.as_str()}))
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
            let index = params
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .to_string();
            let c = engine
                .containers(project.name.as_str())
                .into_iter()
                .find(|(_, l)| {
                    l.get(hb_engine::LABEL_SERVICE)
                        .is_some_and(|s| s == service)
                        && l.get(hb_engine::LABEL_NUMBER) == Some(&index)
                })
                .map(|(c, _)| c)
                .ok_or_else(|| {
                    Failure::app(
                        "not_found",
                        format!("service {service} has no container {index}"),
                    )
                })?;
            let (code, out, err) = engine
                .rt
                .exec(&c, &command, &[], None, None)
                .map_err(|e| Failure::app("engine", e))?;
            Ok(json!({
                "exit_code": code,
                "stdout": String::from_utf8_lossy(&out),
                "stderr": String::from_utf8_lossy(&err),
            }))
        }
        other => Err(Failure {
            code: code::METHOD_NOT_FOUND,
            message: format!("no method {other}; docs/api.md lists those that exist"),
            kind: "method_not_found",
        }),
    }
}

fn strings(params: &Value, key: &str) -> Result<Vec<String>, Failure> {
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
fn project(params: &Value) -> Result<hb_compose::Project, Failure> {
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

/// Serves the API on `path` until `stop` is set: a thread per client.
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
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let engine = engine.clone();
                std::thread::spawn(move || {
                    let _ = client(&engine, stream, group);
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(sock_err(e)),
        }
    }
    let _ = std::fs::remove_file(path);
    Ok(())
}

/// True for root and for members of the socket's group.
fn allowed(stream: &UnixStream, group: u32) -> bool {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    match getsockopt(stream, PeerCredentials) {
        Ok(c) => c.uid() == 0 || c.gid() == group,
        Err(_) => false,
    }
}

fn client(engine: &Arc<Engine>, stream: UnixStream, group: u32) -> std::io::Result<()> {
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
    // Answers and stream notifications share the connection: one writer at a time.
    let out = Arc::new(std::sync::Mutex::new(stream.try_clone()?));
    let write = |v: &Value| -> std::io::Result<()> {
        let mut w = out
            .lock()
            .map_err(|_| std::io::Error::other("writer poisoned"))?;
        writeln!(w, "{v}")?;
        w.flush()
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        let n = reader
            .by_ref()
            .take(MAX_FRAME as u64 + 1)
            .read_line(&mut line)?;
        if n == 0 {
            return Ok(()); // the client went
        }
        if n > MAX_FRAME && !line.ends_with('\n') {
            let e = error_response(
                Value::Null,
                code::INVALID_REQUEST,
                &format!("a request line is longer than {MAX_FRAME} bytes"),
                Some("frame_too_large"),
            );
            write(&e)?;
            return Ok(());
        }
        if line.trim().is_empty() {
            continue;
        }
        // A stream's first notification must not overtake its answer: the
        // stream starts once the answer is out.
        let (resp, start) = match subscription(line.trim()) {
            Some((method, id, params)) if method == "service.logs" => {
                let (v, s) = logs(engine, &out, id, &params);
                (Some(v), s)
            }
            Some((_, id, params)) => {
                let (v, s) = subscribe(engine, &out, id, &params);
                (Some(v), s)
            }
            None => (handle_line(engine, line.trim()), None),
        };
        if let Some(resp) = resp {
            write(&resp)?;
        }
        if let Some(start) = start {
            start();
        }
    }
}

/// Starts a stream's thread (after its answer is written).
type Starter = Box<dyn FnOnce() + Send>;

/// A streaming request (`events.subscribe`, `service.logs`; alone on its
/// line): its method, id and params.
fn subscription(line: &str) -> Option<(String, Value, Value)> {
    let v: Value = serde_json::from_str(line).ok()?;
    let method = v.get("method")?.as_str()?;
    let is = matches!(method, "events.subscribe" | "service.logs")
        && v.get("jsonrpc")?.as_str()? == "2.0";
    is.then(|| {
        (
            method.to_string(),
            v.get("id").cloned().unwrap_or(Value::Null),
            v.get("params").cloned().unwrap_or(Value::Null),
        )
    })
}

/// Streams the log lines of a project's containers (of `services`, all when
/// none) as `logs` notifications (`{"subscription", "container", "service",
/// "stream", "time", "line"}`): what is there, then — with `follow` — what
/// comes, until every container has stopped; a final `{"subscription", "end":
/// true}` closes the stream.
fn logs(
    engine: &Arc<Engine>,
    out: &Arc<std::sync::Mutex<UnixStream>>,
    id: Value,
    params: &Value,
) -> (Value, Option<Starter>) {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1 << 32);
    let (project, services) =
        match project(params).and_then(|p| Ok((p, strings(params, "services")?))) {
            Ok(x) => x,
            Err(f) => return (error_response(id, f.code, &f.message, Some(f.kind)), None),
        };
    let follow = params
        .get("follow")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let (engine, out) = (engine.clone(), out.clone());
    let name = project.name.as_str().to_string();
    let start: Starter = Box::new(move || {
        std::thread::spawn(move || {
            let mut shown: std::collections::BTreeMap<String, usize> = Default::default();
            let send = |v: Value| -> bool {
                let Ok(mut w) = out.lock() else { return false };
                writeln!(w, "{v}").and_then(|_| w.flush()).is_ok()
            };
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
                for (c, l) in &cs {
                    let all = engine.rt.logs(c).unwrap_or_default();
                    let from = shown.entry(c.id.clone()).or_insert(0);
                    for line in all.iter().skip(*from) {
                        lines.push((
                            line.time.clone(),
                            c.id.clone(),
                            l.get(hb_engine::LABEL_SERVICE).cloned().unwrap_or_default(),
                            line.clone(),
                        ));
                    }
                    *from = all.len();
                }
                lines.sort_by(|a, b| a.0.cmp(&b.0));
                for (_, container, service, l) in lines {
                    let note = json!({"jsonrpc": "2.0", "method": "logs", "params": {
                        "subscription": n, "container": container, "service": service,
                        "stream": l.stream, "time": l.time, "line": l.text,
                    }});
                    if !send(note) {
                        return; // the client went
                    }
                }
                if !follow || cs.iter().all(|(c, _)| !engine.rt.running(c)) {
                    send(
                        json!({"jsonrpc": "2.0", "method": "logs", "params": {"subscription": n, "end": true}}),
                    );
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
    });
    (
        json!({"jsonrpc": "2.0", "id": id, "result": {"subscription": n}}),
        Some(start),
    )
}
/// Starts streaming a project's container events to this client as `events`
/// notifications (`{"subscription": N, "event": {…}}`, the fields of
/// `docker events --format json`), noticed by looking every 50 ms, until the
/// client goes. Answers with the subscription's number.
fn subscribe(
    engine: &Arc<Engine>,
    out: &Arc<std::sync::Mutex<UnixStream>>,
    id: Value,
    params: &Value,
) -> (Value, Option<Starter>) {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let project = match project(params) {
        Ok(p) => p,
        Err(f) => return (error_response(id, f.code, &f.message, Some(f.kind)), None),
    };
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let (engine, out) = (engine.clone(), out.clone());
    let name = project.name.as_str().to_string();
    let mut before = engine.snapshot(&name);
    let start: Starter = Box::new(move || {
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(50));
            let after = engine.snapshot(&name);
            let now = hb_engine::events::now();
            for e in hb_engine::events::diff(&before, &after, &now) {
                let note = json!({"jsonrpc": "2.0", "method": "events", "params": {
                    "subscription": n,
                    "event": {
                        "type": e.kind, "action": e.action, "project": name, "service": e.service,
                        "container": e.id, "time": e.time, "attributes": e.attributes,
                    },
                }});
                let Ok(mut w) = out.lock() else { return };
                if writeln!(w, "{note}").and_then(|_| w.flush()).is_err() {
                    return; // the client went: the subscription ends with it
                }
            }
            before = after;
        });
    });
    (
        json!({"jsonrpc": "2.0", "id": id, "result": {"subscription": n}}),
        Some(start),
    )
}

/// Calls `method` on the daemon at `socket` (a client for `hb --host`): the
/// result, or the error's message (with its `data.kind`).
pub fn request(socket: &Path, method: &str, params: Value) -> Result<Value, String> {
    let stream = UnixStream::connect(socket)
        .map_err(|e| format!("cannot reach hb daemon at {}: {e}", socket.display()))?;
    let req = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    writeln!(&stream, "{req}").map_err(|e| format!("{}: {e}", socket.display()))?;
    let mut line = String::new();
    BufReader::new(&stream)
        .read_line(&mut line)
        .map_err(|e| format!("{}: {e}", socket.display()))?;
    let v: Value =
        serde_json::from_str(&line).map_err(|e| format!("the daemon's answer is not JSON: {e}"))?;
    match (v.get("result"), v.get("error")) {
        (Some(r), _) => Ok(r.clone()),
        (_, Some(e)) => Err(format!(
            "{} ({})",
            e["message"].as_str().unwrap_or("error"),
            e["data"]["kind"].as_str().unwrap_or("error")
        )),
        _ => Err("the daemon answered neither a result nor an error".into()),
    }
}

/// A method, as the OpenRPC document describes it.
struct MethodDoc {
    name: &'static str,
    summary: &'static str,
    /// (name, JSON Schema, required)
    params: &'static [(&'static str, &'static str, bool)],
    result: &'static str,
}

const PROJECT: [(&str, &str, bool); 5] = [
    (
        "project_dir",
        r#"{"type": "string", "description": "the project's directory, absolute"}"#,
        true,
    ),
    (
        "files",
        r#"{"type": "array", "items": {"type": "string"}}"#,
        false,
    ),
    ("project_name", r#"{"type": "string"}"#, false),
    (
        "profiles",
        r#"{"type": "array", "items": {"type": "string"}}"#,
        false,
    ),
    (
        "env_files",
        r#"{"type": "array", "items": {"type": "string"}}"#,
        false,
    ),
];

/// Every method the server answers (streams included), for the OpenRPC document.
fn methods() -> Vec<MethodDoc> {
    let obj = r#"{"type": "object"}"#;
    let list = r#"{"type": "array"}"#;
    let with_project = |extra: &'static [(&'static str, &'static str, bool)]| -> &'static [(&'static str, &'static str, bool)] {
        let mut v: Vec<(&'static str, &'static str, bool)> = PROJECT.to_vec();
        v.extend_from_slice(extra);
        Box::leak(v.into_boxed_slice())
    };
    let services: &'static [(&'static str, &'static str, bool)] = &[(
        "services",
        r#"{"type": "array", "items": {"type": "string"}}"#,
        false,
    )];
    vec![
        MethodDoc {
            name: "system.version",
            summary: "hb's version and the API's",
            params: &[],
            result: obj,
        },
        MethodDoc {
            name: "system.info",
            summary: "hb's root and runtime directories and crun",
            params: &[],
            result: obj,
        },
        MethodDoc {
            name: "projects.list",
            summary: "projects with containers",
            params: &[],
            result: list,
        },
        MethodDoc {
            name: "project.config",
            summary: "the project in canonical form",
            params: with_project(&[]),
            result: obj,
        },
        MethodDoc {
            name: "project.graph",
            summary: "start order: waves and edges",
            params: with_project(&[]),
            result: obj,
        },
        MethodDoc {
            name: "project.ps",
            summary: "the project's containers",
            params: with_project(&[]),
            result: list,
        },
        MethodDoc {
            name: "project.up",
            summary: "bring the project up (detached)",
            params: with_project(&[
                (
                    "services",
                    r#"{"type": "array", "items": {"type": "string"}}"#,
                    false,
                ),
                ("force_recreate", r#"{"type": "boolean"}"#, false),
            ]),
            result: obj,
        },
        MethodDoc {
            name: "project.down",
            summary: "take the project down",
            params: with_project(&[("volumes", r#"{"type": "boolean"}"#, false)]),
            result: obj,
        },
        MethodDoc {
            name: "project.start",
            summary: "start stopped containers",
            params: with_project(services),
            result: list,
        },
        MethodDoc {
            name: "project.stop",
            summary: "stop containers",
            params: with_project(services),
            result: list,
        },
        MethodDoc {
            name: "project.restart",
            summary: "restart containers",
            params: with_project(services),
            result: list,
        },
        MethodDoc {
            name: "container.exec",
            summary: "run a command in a service's container (no terminal)",
            params: with_project(&[
                ("service", r#"{"type": "string"}"#, true),
                (
                    "command",
                    r#"{"type": "array", "items": {"type": "string"}}"#,
                    true,
                ),
                ("index", r#"{"type": "integer"}"#, false),
            ]),
            result: obj,
        },
        MethodDoc {
            name: "events.subscribe",
            summary: "stream container events as `events` notifications",
            params: with_project(&[]),
            result: obj,
        },
        MethodDoc {
            name: "service.logs",
            summary: "stream log lines as `logs` notifications, ending with {end: true}",
            params: with_project(&[
                (
                    "services",
                    r#"{"type": "array", "items": {"type": "string"}}"#,
                    false,
                ),
                ("follow", r#"{"type": "boolean"}"#, false),
            ]),
            result: obj,
        },
        MethodDoc {
            name: "image.list",
            summary: "stored images",
            params: &[],
            result: list,
        },
    ]
}

/// The OpenRPC document of this API (`schemas/hb-api.openrpc.json`; `hb daemon --openrpc`).
pub fn openrpc() -> Value {
    let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
    let methods: Vec<Value> = methods()
        .iter()
        .map(|m| {
            json!({
                "name": m.name,
                "summary": m.summary,
                "paramStructure": "by-name",
                "params": m.params.iter().map(|(n, schema, required)| json!({"name": n, "required": required, "schema": parse(schema)})).collect::<Vec<_>>(),
                "result": {"name": "result", "schema": parse(m.result)},
            })
        })
        .collect();
    json!({
        "openrpc": "1.2.6",
        "info": {"title": "hb", "version": env!("CARGO_PKG_VERSION"), "description": "hb's JSON-RPC 2.0 API over a Unix socket, one JSON value a line (docs/api.md)"},
        "methods": methods,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openrpc_document_is_current() {
        let text = serde_json::to_string_pretty(&openrpc()).unwrap_or_default() + "\n";
        let file = include_str!("../../../schemas/hb-api.openrpc.json");
        assert!(
            text == file,
            "schemas/hb-api.openrpc.json is stale: regenerate it with `hb daemon --openrpc > schemas/hb-api.openrpc.json`"
        );
    }

    #[test]
    fn every_documented_method_is_answered() {
        let dir = std::env::temp_dir().join(format!("hb-api-test-{}", std::process::id()));
        let engine = Engine {
            rt: hb_runtime::container::Runtime {
                root: dir.clone(),
                run: dir.join("run"),
                crun: "crun".into(),
                shim: "hb-shim".into(),
            },
            store: Arc::new(hb_image::Store::open(&dir).expect("store")),
            puller: None,
            proxy: "hb-proxy".into(),
            ip: Box::new(hb_net::RealIp),
        };
        for m in methods() {
            if matches!(m.name, "events.subscribe" | "service.logs") {
                continue; // streams: answered by the connection loop, tested end to end
            }
            if let Err(f) = call(&engine, m.name, &Value::Null) {
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
