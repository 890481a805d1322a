//! The OpenRPC document (spec.open-rpc.org, 1.2.6) of the API: the method
//! table below, result schemas generated from the Rust types that produce the
//! results (`types.rs`, the engine's, the store's); `schemas/hb-api.openrpc.json`
//! is checked against it in CI.

use schemars::gen::{SchemaGenerator, SchemaSettings};
use schemars::schema::Schema;
use schemars::JsonSchema;
use serde_json::{json, Value};

use crate::types;

/// A method, as the OpenRPC document describes it.
pub(crate) struct MethodDoc {
    pub(crate) name: &'static str,
    summary: &'static str,
    /// (name, JSON Schema, required)
    params: Vec<(&'static str, &'static str, bool)>,
    result: fn(&mut SchemaGenerator) -> Schema,
}

fn schema<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

fn any_object(_: &mut SchemaGenerator) -> Schema {
    serde_json::from_value(json!({
        "type": "object",
        "description": "the project in canonical form, as `hb config --format json` prints it (compose-spec)",
    }))
    .unwrap_or(Schema::Bool(true))
}

const STRINGS: &str = r#"{"type": "array", "items": {"type": "string"}}"#;
const BOOL: &str = r#"{"type": "boolean"}"#;

/// The inputs every project method takes, as the CLI's flags.
fn project(
    extra: &[(&'static str, &'static str, bool)],
) -> Vec<(&'static str, &'static str, bool)> {
    let mut v = vec![
        (
            "project_dir",
            r#"{"type": "string", "description": "the project's directory, absolute"}"#,
            true,
        ),
        ("files", STRINGS, false),
        ("project_name", r#"{"type": "string"}"#, false),
        ("profiles", STRINGS, false),
        ("env_files", STRINGS, false),
    ];
    v.extend_from_slice(extra);
    v
}

/// Every method the server answers (streams included), for the OpenRPC document.
pub(crate) fn methods() -> Vec<MethodDoc> {
    use hb_engine::ContainerInfo;
    let services = ("services", STRINGS, false);
    let m = |name, summary, params, result| MethodDoc {
        name,
        summary,
        params,
        result,
    };
    vec![
        m("system.version", "hb's version and the API's", vec![], schema::<types::Version>),
        m("system.info", "hb's root and runtime directories and crun", vec![], schema::<types::Info>),
        m("projects.list", "projects with containers", vec![], schema::<Vec<types::ProjectSummary>>),
        m("project.config", "the project in canonical form", project(&[]), any_object),
        m("project.graph", "start order: waves and edges", project(&[]), schema::<hb_plan::Graph>),
        m("project.ps", "the project's containers", project(&[]), schema::<Vec<ContainerInfo>>),
        m(
            "project.up",
            "bring the project up, detached (building and pulling what it needs); cancellable with $/cancel",
            project(&[
                services,
                ("force_recreate", BOOL, false),
                ("build", BOOL, false),
                ("no_build", BOOL, false),
                ("detach", r#"{"type": "boolean", "description": "true or absent: the daemon brings projects up detached"}"#, false),
            ]),
            schema::<types::Up>,
        ),
        m("project.down", "take the project down", project(&[("volumes", BOOL, false)]), schema::<types::Down>),
        m("project.start", "start stopped containers", project(&[services]), schema::<Vec<ContainerInfo>>),
        m("project.stop", "stop containers", project(&[services]), schema::<Vec<ContainerInfo>>),
        m("project.restart", "restart containers", project(&[services]), schema::<Vec<ContainerInfo>>),
        m(
            "project.build",
            "build the images of services with build: (all, or `services`); cancellable with $/cancel",
            project(&[
                services,
                ("no_cache", BOOL, false),
                ("pull", BOOL, false),
                ("args", r#"{"type": "object", "additionalProperties": {"type": "string"}, "description": "build args over the file's"}"#, false),
            ]),
            schema::<Vec<types::Built>>,
        ),
        m(
            "project.kill",
            "send a signal (default KILL) to the running containers; no restart follows",
            project(&[services, ("signal", r#"{"type": "string"}"#, false)]),
            schema::<types::Affected>,
        ),
        m("project.pause", "freeze the running containers", project(&[services]), schema::<types::Affected>),
        m("project.unpause", "thaw the paused containers", project(&[services]), schema::<types::Affected>),
        m(
            "project.rm",
            "remove the stopped containers (with `stop`, stop them first)",
            project(&[services, ("stop", BOOL, false)]),
            schema::<types::Affected>,
        ),
        m("project.top", "the processes of the running containers", project(&[services]), schema::<Vec<types::Top>>),
        m(
            "project.stats",
            "one sample of the running containers' resource use (take two for CPU %)",
            project(&[services]),
            schema::<Vec<types::Sample>>,
        ),
        m(
            "project.port",
            "where the host serves a published container port",
            project(&[
                ("service", r#"{"type": "string"}"#, true),
                ("port", r#"{"type": "integer"}"#, true),
                ("protocol", r#"{"type": "string", "enum": ["tcp", "udp"]}"#, false),
                ("index", r#"{"type": "integer"}"#, false),
            ]),
            schema::<types::Port>,
        ),
        m(
            "project.watch.start",
            "keep the project's services in step with its source tree (develop.watch); actions arrive as `watch` events",
            project(&[services]),
            schema::<types::Watching>,
        ),
        m("project.watch.stop", "stop watching the project", project(&[]), schema::<types::Stopped>),
        m(
            "container.exec",
            "run a command in a service's container (no terminal)",
            project(&[
                ("service", r#"{"type": "string"}"#, true),
                ("command", STRINGS, true),
                ("index", r#"{"type": "integer"}"#, false),
                ("env", r#"{"type": "array", "items": {"type": "string"}, "description": "KEY=VALUE sets, KEY unsets"}"#, false),
                ("user", r#"{"type": "string"}"#, false),
                ("workdir", r#"{"type": "string"}"#, false),
            ]),
            schema::<types::Exec>,
        ),
        m(
            "events.subscribe",
            "stream events (containers, watch actions, pulls, builds) as `events` notifications {subscription, event} (see the Event schema), of one project or, without project_dir, of all; $/cancel with the request's id ends it with {subscription, end: true}",
            vec![
                ("project_dir", r#"{"type": "string", "description": "the project's directory, absolute; absent: every project"}"#, false),
                ("files", STRINGS, false),
                ("project_name", r#"{"type": "string"}"#, false),
            ],
            schema::<types::Subscription>,
        ),
        m(
            "service.logs",
            "stream log lines as `logs` notifications {subscription, container, service, stream, time, line}, ending with {subscription, end: true}",
            project(&[
                services,
                ("follow", BOOL, false),
                ("tail", r#"{"type": "integer", "description": "only the last N lines of each container there at the start"}"#, false),
                ("since", r#"{"type": "string", "description": "RFC 3339 UTC, as the log's times: only lines at or after it"}"#, false),
                ("until", r#"{"type": "string", "description": "RFC 3339 UTC: only lines before it"}"#, false),
            ]),
            schema::<types::Subscription>,
        ),
        m("image.list", "stored images", vec![], schema::<Vec<hb_image::ImageRecord>>),
        m(
            "image.pull",
            "pull an image, streaming `pull` notifications {subscription, status: resolved|downloading|cached|done, layer, size, received} and ending with {subscription, end: true, image} or {…, error}; cancellable with $/cancel",
            vec![("image", r#"{"type": "string", "description": "registry/name:tag"}"#, true)],
            schema::<types::Subscription>,
        ),
        m(
            "$/cancel",
            "cancel a pending request (or end a stream) of this connection, by its id; a notification, or a request answered with {cancelled}",
            vec![("id", r#"{"type": ["integer", "string"]}"#, true)],
            schema::<types::Cancelled>,
        ),
    ]
}

/// The OpenRPC document of this API (`schemas/hb-api.openrpc.json`; `hb daemon --openrpc`).
pub fn openrpc() -> Value {
    let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
    let mut settings = SchemaSettings::draft07();
    settings.definitions_path = "#/components/schemas/".into();
    let mut g = settings.into_generator();
    // Notifications carry these; listed so that clients can generate them.
    let _ = g.subschema_for::<types::Event>();
    let methods: Vec<Value> = methods()
        .iter()
        .map(|m| {
            let result = serde_json::to_value((m.result)(&mut g)).unwrap_or(Value::Null);
            json!({
                "name": m.name,
                "summary": m.summary,
                "paramStructure": "by-name",
                "params": m.params.iter().map(|(n, schema, required)| json!({"name": n, "required": required, "schema": parse(schema)})).collect::<Vec<_>>(),
                "result": {"name": "result", "schema": result},
            })
        })
        .collect();
    let schemas = serde_json::to_value(g.take_definitions()).unwrap_or(Value::Null);
    json!({
        "openrpc": "1.2.6",
        "info": {"title": "hb", "version": env!("CARGO_PKG_VERSION"), "description": "hb's JSON-RPC 2.0 API over a Unix socket, one JSON value a line (docs/api.md)"},
        "methods": methods,
        "components": {"schemas": schemas},
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
    fn every_result_schema_is_a_reference_or_a_type() {
        let doc = openrpc();
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        for m in doc["methods"].as_array().expect("methods") {
            let r = &m["result"]["schema"];
            match r.get("$ref").and_then(Value::as_str) {
                Some(path) => {
                    let name = path.trim_start_matches("#/components/schemas/");
                    assert!(
                        schemas.contains_key(name),
                        "{} refers to a missing {name}",
                        m["name"]
                    );
                }
                None => assert!(r.get("type").is_some(), "{}: {r}", m["name"]),
            }
        }
        assert!(schemas.contains_key("ContainerInfo") && schemas.contains_key("Event"));
    }
}
