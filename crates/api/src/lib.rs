//! hb's API: JSON-RPC 2.0 (jsonrpc.org/specification) over a Unix socket, one
//! JSON value a line (NDJSON framing), served by `hb daemon` over the same
//! engine the CLI uses — so CLI and daemon can be used side by side on one
//! project (they share its lock and state).
//!
//! ```text
//! client ─ line ─► server::client (a thread per connection)
//!                    ├─ $/cancel             → sets the flag of a pending request
//!                    ├─ a stream             → answer {subscription}, then a thread that
//!                    │  (events, logs, pull)   sends notifications, ending with {end: true}
//!                    └─ anything else        → a thread per request: methods::handle
//! Bus: one observer thread diffs container snapshots every 50 ms and, with
//! watch actions, pulls and builds, fans events out to every subscription.
//! ```
//!
//! Requests, notifications and batches; the standard error codes plus
//! application errors with a machine-readable `data.kind`; frames capped at
//! [`MAX_FRAME`]; the socket created 0660 and each peer's credentials checked
//! (`SO_PEERCRED`: root, or the socket's group). A slow client holds up only
//! itself: requests run on their own threads and a subscription that falls
//! [`bus::BACKLOG`] events behind is ended.
//!
//! Non-goals here: talking to crun or the kernel (the engine does).

pub mod bus;
mod client;
mod doc;
mod methods;
mod server;
mod streams;
pub mod types;

use std::path::PathBuf;

use serde_json::{json, Value};

pub use client::{request, stream};
pub use doc::openrpc;
pub use methods::{handle, handle_line};
pub use server::{serve, Daemon};

/// The largest request line accepted (1 MiB): a longer one is answered with
/// an invalid-request error and the connection closed.
pub const MAX_FRAME: usize = 1 << 20;

/// JSON-RPC's own error codes, and the one for a cancelled request.
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
    /// The request was cancelled by `$/cancel` (the code LSP uses).
    pub const REQUEST_CANCELLED: i64 = -32800;
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
    /// For programs: `invalid_params`, `project`, `engine`, `cancelled`, …
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

    /// An engine error: `cancelled` when it stopped on `$/cancel`.
    fn engine(e: hb_engine::Error) -> Self {
        match e {
            hb_engine::Error::Cancelled => Failure {
                code: code::REQUEST_CANCELLED,
                message: "cancelled by $/cancel".into(),
                kind: "cancelled",
            },
            other => Failure::app("engine", other),
        }
    }

    fn to_json(&self) -> Value {
        json!({"code": self.code, "message": self.message, "data": {"kind": self.kind}})
    }
}

fn error_response(id: Value, code: i64, message: &str, kind: Option<&str>) -> Value {
    let mut e = json!({"code": code, "message": message});
    if let Some(k) = kind {
        e["data"] = json!({"kind": k});
    }
    json!({"jsonrpc": "2.0", "id": id, "error": e})
}
