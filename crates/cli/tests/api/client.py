"""An independent client of hb's API (Python's standard library only).
Usage: client.py SOCKET PROJECT_DIR [full|up|after-restart|refused|streams REGISTRY STALLING]
  full           the protocol's error paths, then up, exec, stop/start/restart,
                 config, graph, events on a second connection, down
  streams        image.pull's progress stream from REGISTRY; a pull from
                 STALLING (a registry that hangs mid-blob) cancelled with
                 $/cancel while other requests are answered; a subscription
                 to every project's events (the pull among them) ended with
                 $/cancel; project.watch.start, a sync seen as a watch event,
                 project.watch.stop
  up             only brings the project up (before the daemon is killed)
  after-restart  a restarted daemon reports the running container; then down
  refused        (run as another user) the daemon refuses the connection
Exits non-zero, saying why, on a failure."""
import json
import socket
import sys

sock_path, project_dir = sys.argv[1], sys.argv[2]
mode = sys.argv[3] if len(sys.argv) > 3 else "full"


class Lines:
    """A connection's lines: read through a buffer, written straight to the
    socket. Not `makefile("rw")`: its text layer drops the characters it has
    read ahead (the next notification, already arrived) whenever it writes."""

    def __init__(self, c):
        self.c, self.r = c, c.makefile("r", encoding="utf-8", newline="\n")

    def readline(self):
        return self.r.readline()

    def write(self, text):
        self.c.sendall(text.encode("utf-8"))

    def flush(self):
        pass


def connect():
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(sock_path)
    return c, Lines(c)


if mode == "refused":
    try:
        c, cf = connect()
        c.sendall(b'{"jsonrpc":"2.0","id":1,"method":"system.version"}\n')
        answer = json.loads(cf.readline())
    except OSError as e:
        print(f"refused: {e}")  # the socket's mode keeps strangers out
        sys.exit(0)
    if answer.get("error", {}).get("data", {}).get("kind") == "forbidden":
        print("refused: forbidden")
        sys.exit(0)
    sys.exit(f"FAILED: a stranger was served: {answer}")

s, f = connect()
next_id = 0


def read_until_end(fh, method):
    """The notifications of a stream until its end, and the end."""
    notes = []
    while True:
        note = json.loads(fh.readline())
        if "id" in note:
            continue  # an answer to another request on this connection
        check(note["method"] == method, f"a {method} stream: {note}")
        if note["params"].get("end"):
            return notes, note["params"]
        notes.append(note["params"])


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


project = {"project_dir": project_dir}
if mode == "streams":
    import os
    import time
    registry, stalling = sys.argv[4], sys.argv[5]
    next_id = 100  # call()'s ids, clear of those written by hand below
    # Every project's events, on a connection of their own.
    es, ef = connect()
    ef.write(json.dumps({"jsonrpc": "2.0", "id": 7, "method": "events.subscribe"}) + "\n")
    ef.flush()
    sub = json.loads(ef.readline())["result"]["subscription"]

    # A pull with its progress.
    f.write(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "image.pull", "params": {"image": f"{registry}/busybox:v2s2"}}) + "\n")
    f.flush()
    answer = json.loads(f.readline())
    check(isinstance(answer["result"]["subscription"], int), f"image.pull: {answer}")
    notes, end = read_until_end(f, "pull")
    statuses = [n["status"] for n in notes]
    check(statuses[0] == "resolved" and "done" in statuses, f"pull progress: {statuses}")
    check(end["image"]["name"] == f"{registry}/busybox:v2s2", f"pull end: {end}")

    # A pull that hangs, cancelled; meanwhile the connection still answers.
    f.write(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "image.pull", "params": {"image": f"{stalling}/stuck:v1"}}) + "\n")
    f.flush()
    check("result" in json.loads(f.readline()), "the stalled pull starts")
    while json.loads(f.readline())["params"].get("status") != "downloading":
        pass
    f.write(json.dumps({"jsonrpc": "2.0", "id": 3, "method": "system.version"}) + "\n")
    f.flush()
    r = json.loads(f.readline())
    while r.get("method") == "pull":  # the stalled pull's progress, interleaved
        check(not r["params"].get("end"), f"the stalled pull ended by itself: {r}")
        r = json.loads(f.readline())
    check(r.get("id") == 3 and r["result"]["api"] == 1, f"answered during a pull: {r}")
    f.write(json.dumps({"jsonrpc": "2.0", "id": 4, "method": "$/cancel", "params": {"id": 2}}) + "\n")
    f.flush()
    cancelled = None
    end = None
    while cancelled is None or end is None:
        note = json.loads(f.readline())
        if note.get("id") == 4:
            cancelled = note["result"]["cancelled"]
        elif note.get("method") == "pull" and note["params"].get("end"):
            end = note["params"]
    check(cancelled is True, "$/cancel found the pull")
    check(end["error"]["data"]["kind"] == "cancelled" and end["error"]["code"] == -32800, f"cancelled pull: {end}")
    r = call("image.list")
    check(all("stuck" not in i["name"] for i in r["result"]), f"nothing stored of the cancelled pull: {r}")

    # The subscription saw the first pull; $/cancel with its id ends it.
    es.settimeout(10)
    while True:
        ev = json.loads(ef.readline())["params"]["event"]
        if ev["type"] == "image":
            check(ev["action"] == "pull" and ev["attributes"]["name"].endswith("busybox:v2s2"), f"pull event: {ev}")
            break

    # A watch through the daemon: its sync arrives as a `watch` event.
    r = call("project.up", project)
    check("result" in r, f"project.up: {r}")
    r = call("project.watch.start", project)
    check(r.get("result", {}).get("watching") == "apitest" and r["result"]["rules"] == 1, f"project.watch.start: {r}")
    r = call("project.watch.start", project)
    check(r.get("error", {}).get("data", {}).get("kind") == "conflict", f"a second watch: {r}")
    time.sleep(0.5)
    with open(os.path.join(project_dir, "src", "page.txt"), "w") as out:
        out.write("watched\n")
    while True:
        ev = json.loads(ef.readline())["params"].get("event", {})
        if ev.get("type") == "watch":
            check(ev["action"] == "sync" and ev["service"] == "box" and "synced 1 file" in ev["attributes"]["what"], f"watch event: {ev}")
            break
    r = call("container.exec", {**project, "service": "box", "command": ["cat", "/src/page.txt"]})
    check(r["result"]["stdout"] == "watched\n", f"synced: {r}")
    r = call("project.watch.stop", project)
    check(r.get("result") == {"stopped": "apitest"}, f"project.watch.stop: {r}")
    r = call("project.watch.stop", project)
    check(r.get("error", {}).get("data", {}).get("kind") == "not_found", f"stop again: {r}")
    ef.write(json.dumps({"jsonrpc": "2.0", "method": "$/cancel", "params": {"id": 7}}) + "\n")
    ef.flush()
    while True:
        note = json.loads(ef.readline())
        if note["params"].get("end"):
            check(note["params"]["subscription"] == sub, f"the end of the subscription: {note}")
            break
    r = call("project.down", project)
    check(r.get("result") == {"down": "apitest"}, f"project.down: {r}")
    print("ok")
    sys.exit(0)
if mode == "up":
    r = call("project.up", project)
    if "result" not in r:
        sys.exit(f"FAILED: project.up: {r}")
    print("ok")
    sys.exit(0)
if mode == "after-restart":
    r = call("project.ps", project)
    if [c["state"] for c in r.get("result", [])] != ["running"]:
        sys.exit(f"FAILED: the restarted daemon does not see the container running: {r}")
    r = call("project.down", project)
    if r.get("result") != {"down": "apitest"}:
        sys.exit(f"FAILED: project.down: {r}")
    print("ok")
    sys.exit(0)

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
# An oversized line is refused and that connection closed; others are unharmed.
big, bigf = connect()
try:
    big.sendall(b'{"jsonrpc":"2.0","id":1,"method":"' + b"x" * (2 << 20) + b'"}\n')
except OSError:
    pass  # the daemon stops reading after 1 MiB and closes; its answer is already here
r = json.loads(bigf.readline())
check(r["error"]["data"]["kind"] == "frame_too_large", f"oversized frame: {r}")
check(bigf.readline() == "", "the oversized connection is closed")
# A client that subscribes and vanishes takes nothing down.
gone, gonef = connect()
gonef.write(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "events.subscribe", "params": {"project_dir": project_dir}}) + "\n")
gonef.flush()
check("result" in json.loads(gonef.readline()), "subscribed")
gone.close()
r = call("system.version")
check("result" in r, f"still serving after a client vanished: {r}")
# A notification gets no answer; a batch gets one answer per request in it.
f.write(json.dumps({"jsonrpc": "2.0", "method": "system.version"}) + "\n")
batch = send_raw(json.dumps([
    {"jsonrpc": "2.0", "id": "a", "method": "system.version"},
    {"jsonrpc": "2.0", "method": "system.version"},
    {"jsonrpc": "2.0", "id": "b", "method": "nope"},
]))
check(isinstance(batch, list) and [x["id"] for x in batch] == ["a", "b"], f"batch: {batch}")
check("result" in batch[0] and batch[1]["error"]["code"] == -32601, f"batch answers: {batch}")

# Events, on a connection of their own.
es, ef = connect()
ef.write(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "events.subscribe", "params": project}) + "\n")
ef.flush()
sub = json.loads(ef.readline())
check(isinstance(sub["result"]["subscription"], int), f"events.subscribe: {sub}")

r = call("project.up", project)
check("result" in r and "create" in r["result"]["plan"], f"project.up: {r}")

es.settimeout(10)
actions = []


def read_events_until(action):
    while action not in actions:
        note = json.loads(ef.readline())
        check(note["method"] == "events" and note["params"]["subscription"] == sub["result"]["subscription"], f"event: {note}")
        ev = note["params"]["event"]
        if ev["type"] == "image":  # up pulled the image: said once, before the container's events
            check(ev["action"] == "pull" and ev["project"] == "apitest" and not actions, f"event: {ev}")
            continue
        check(ev["type"] == "container", f"event: {ev}")
        check(ev["container"] == "apitest-box-1" and ev["project"] == "apitest", f"event: {ev}")
        actions.append(ev["action"])


# Events are noticed by looking every 50 ms: wait for the start before going on.
read_events_until("start")
check(actions == ["create", "start"], f"events after up: {actions}")
r = call("project.ps", project)
check([c["state"] for c in r["result"]] == ["running"], f"project.ps: {r}")
r = call("projects.list")
check(any(p["name"] == "apitest" and p["running"] == 1 for p in r["result"]), f"projects.list: {r}")
r = call("image.list")
check(len(r["result"]) >= 1, f"image.list: {r}")
# The log so far, as a stream that ends (asked again until the container's
# first line has been written: it runs as `up` returns).
import time

for _ in range(100):
    ls_, lf = connect()
    lf.write(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "service.logs", "params": {**project, "services": ["box"]}}) + "\n")
    lf.flush()
    lsub = json.loads(lf.readline())["result"]["subscription"]
    seen = []
    while True:
        note = json.loads(lf.readline())
        check(note["method"] == "logs" and note["params"]["subscription"] == lsub, f"logs: {note}")
        if note["params"].get("end"):
            break
        seen.append((note["params"]["container"], note["params"]["stream"], note["params"]["line"]))
    ls_.close()
    if seen:
        break
    time.sleep(0.02)
check(("apitest-box-1", "stdout", "hello from box") in seen, f"service.logs: {seen}")

r = call("container.exec", {**project, "service": "box", "command": ["sh", "-c", "echo hi; exit 3"]})
check(r["result"] == {"exit_code": 3, "stdout": "hi\n", "stderr": ""}, f"container.exec: {r}")
r = call("project.config", project)
check(r["result"]["name"] == "apitest" and "box" in r["result"]["services"], f"project.config: {r}")
r = call("project.graph", project)
check(r["result"]["waves"] == [["box"]], f"project.graph: {r}")
r = call("project.stop", project)
check([c["state"] for c in r["result"]] == ["exited"], f"project.stop: {r}")
r = call("project.start", project)
check([c["state"] for c in r["result"]] == ["running"], f"project.start: {r}")
r = call("project.restart", project)
check([c["state"] for c in r["result"]] == ["running"], f"project.restart: {r}")
r = call("project.down", project)
check(r.get("result") == {"down": "apitest"}, f"project.down: {r}")

# The subscription saw it go. (Between, a stop and start quicker than a look
# may pass unseen: the stream reports states it saw, not every transition.)
read_events_until("destroy")
check(actions[-2:] == ["die", "destroy"], f"events: {actions}")
r = call("project.ps", project)
check(r["result"] == [], f"project.ps after down: {r}")
print("ok")
