//! A client of the API, for `hb --host`: one call, or one stream.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use serde_json::{json, Value};

fn connect(socket: &Path) -> Result<UnixStream, String> {
    UnixStream::connect(socket)
        .map_err(|e| format!("cannot reach hb daemon at {}: {e}", socket.display()))
}

fn failure(e: &Value) -> String {
    format!(
        "{} ({})",
        e["message"].as_str().unwrap_or("error"),
        e["data"]["kind"].as_str().unwrap_or("error")
    )
}

/// Calls `method` on the daemon at `socket`: the result, or the error's
/// message (with its `data.kind`).
pub fn request(socket: &Path, method: &str, params: Value) -> Result<Value, String> {
    let stream = connect(socket)?;
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
        (_, Some(e)) => Err(failure(e)),
        _ => Err("the daemon answered neither a result nor an error".into()),
    }
}

/// Calls a streaming `method` and hands each notification's params to
/// `on` until the stream's final `{end: true}` (returned), or until `on`
/// returns false. An `end` that carries an `error` is returned as `Err`.
pub fn stream(
    socket: &Path,
    method: &str,
    params: Value,
    on: &mut dyn FnMut(&Value) -> bool,
) -> Result<Value, String> {
    let stream = connect(socket)?;
    let req = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    writeln!(&stream, "{req}").map_err(|e| format!("{}: {e}", socket.display()))?;
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| format!("{}: {e}", socket.display()))?;
        if n == 0 {
            return Err("the daemon closed the stream before its end".into());
        }
        let v: Value = serde_json::from_str(&line)
            .map_err(|e| format!("the daemon's answer is not JSON: {e}"))?;
        if let Some(e) = v.get("error") {
            return Err(failure(e));
        }
        if v.get("id").is_some() {
            continue; // the answer: {subscription}
        }
        let p = &v["params"];
        if p.get("end").and_then(Value::as_bool) == Some(true) {
            return match p.get("error") {
                Some(e) => Err(failure(e)),
                None => Ok(p.clone()),
            };
        }
        if !on(p) {
            return Ok(Value::Null);
        }
    }
}
