"""An independent client of hb's API (Python's standard library only): drives
a project up, reads it, and down, and checks the protocol's error paths.
Usage: client.py SOCKET PROJECT_DIR. Exits non-zero, saying why, on a failure."""
import json
import socket
import sys

sock_path, project_dir = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sock_path)
f = s.makefile("rw", encoding="utf-8", newline="\n")
next_id = 0


def send_raw(line):
    f.write(line + "\n")
    f.flush()
    return json.loads(f.readline())


def call(method, params=None):
    global next_id
    next_id += 1
    req = {"jsonrpc": "2.0", "id": next_id, "method": method}
    if params is not None:
        req["params"] = params
    resp = send_raw(json.dumps(req))
    assert resp.get("id") == next_id, resp
    return resp


def check(cond, what):
    if not cond:
        sys.exit(f"FAILED: {what}")


r = call("system.version")
check(r["result"]["api"] == 1 and r["result"]["version"], f"system.version: {r}")

r = send_raw("this is not json")
check(r["error"]["code"] == -32700 and r["id"] is None, f"malformed JSON: {r}")
r = call("no.such.method")
check(r["error"]["code"] == -32601 and r["error"]["data"]["kind"] == "method_not_found", f"unknown method: {r}")
r = call("project.ps", {"project_dir": "relative/dir"})
check(r["error"]["code"] == -32602 and r["error"]["data"]["kind"] == "invalid_params", f"wrong params: {r}")
r = send_raw(json.dumps({"id": 7, "method": "system.version"}))
check(r["error"]["code"] == -32600, f"no jsonrpc member: {r}")
# A notification gets no answer; a batch gets one answer per request in it.
f.write(json.dumps({"jsonrpc": "2.0", "method": "system.version"}) + "\n")
batch = send_raw(json.dumps([
    {"jsonrpc": "2.0", "id": "a", "method": "system.version"},
    {"jsonrpc": "2.0", "method": "system.version"},
    {"jsonrpc": "2.0", "id": "b", "method": "nope"},
]))
check(isinstance(batch, list) and [x["id"] for x in batch] == ["a", "b"], f"batch: {batch}")
check("result" in batch[0] and batch[1]["error"]["code"] == -32601, f"batch answers: {batch}")

project = {"project_dir": project_dir}
r = call("project.up", project)
check("result" in r and "create" in r["result"]["plan"], f"project.up: {r}")
r = call("project.ps", project)
check([c["state"] for c in r["result"]] == ["running"], f"project.ps: {r}")
r = call("projects.list")
check(any(p["name"] == "apitest" and p["running"] == 1 for p in r["result"]), f"projects.list: {r}")
r = call("image.list")
check(len(r["result"]) >= 1, f"image.list: {r}")
r = call("project.down", project)
check(r.get("result") == {"down": "apitest"}, f"project.down: {r}")
r = call("project.ps", project)
check(r["result"] == [], f"project.ps after down: {r}")
print("ok")
