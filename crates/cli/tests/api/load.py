"""Load on hb's API (Python's standard library only): 50 clients subscribed to
the events of 5 projects (10 each) while the 5 projects go up and down at once;
every client must see its project's container created and started, then gone
(die, destroy), in that order — and each also follows its project's logs,
getting the container's line and then the stream's end when it is gone.
Usage: load.py SOCKET PROJECT_DIR x5."""
import json
import socket
import sys
import threading

sock_path, dirs = sys.argv[1], sys.argv[2:]
failures = []


def connect():
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(sock_path)
    c.settimeout(60)
    return c, c.makefile("rw", encoding="utf-8", newline="\n")


class Subscriber:
    def __init__(self, project_dir):
        self.sock, self.f = connect()
        self.f.write(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "events.subscribe", "params": {"project_dir": project_dir}}) + "\n")
        self.f.flush()
        self.sub = json.loads(self.f.readline())["result"]["subscription"]
        self.actions = []
        self.started = threading.Event()
        self.done = threading.Event()
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        try:
            while True:
                note = json.loads(self.f.readline())
                if note["params"]["subscription"] != self.sub:
                    failures.append(f"a foreign subscription's event: {note}")
                ev = note["params"]["event"]
                if ev["type"] != "container":  # the project's image pull: not a container's life
                    continue
                self.actions.append(ev["action"])
                if "start" in self.actions:
                    self.started.set()
                if "destroy" in self.actions:
                    self.done.set()
                    return
        except Exception as e:  # noqa: BLE001 - any failure is reported
            failures.append(f"subscriber {self.sub}: {e}")
            self.started.set()
            self.done.set()


class LogFollower:
    """A service.logs stream with follow: its lines, until its end."""

    def __init__(self, project_dir):
        self.sock, self.f = connect()
        self.f.write(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "service.logs", "params": {"project_dir": project_dir, "follow": True}}) + "\n")
        self.f.flush()
        self.sub = json.loads(self.f.readline())["result"]["subscription"]
        self.lines = []
        self.ended = threading.Event()
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        try:
            while True:
                p = json.loads(self.f.readline())["params"]
                if p["subscription"] != self.sub:
                    failures.append(f"a foreign subscription's line: {p}")
                if p.get("end"):
                    self.ended.set()
                    return
                self.lines.append(p["line"])
        except Exception as e:  # noqa: BLE001 - any failure is reported
            failures.append(f"logs {self.sub}: {e}")
            self.ended.set()


def call(method, params):
    s, f = connect()
    f.write(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}) + "\n")
    f.flush()
    r = json.loads(f.readline())
    s.close()
    if "result" not in r:
        failures.append(f"{method}: {r}")


subs = [(d, Subscriber(d)) for d in dirs for _ in range(10)]
ups = [threading.Thread(target=call, args=("project.up", {"project_dir": d})) for d in dirs]
for t in ups:
    t.start()
for t in ups:
    t.join()
for _, s in subs:
    s.started.wait(60)
logs = [(d, LogFollower(d)) for d, _ in subs]
downs = [threading.Thread(target=call, args=("project.down", {"project_dir": d})) for d in dirs]
for t in downs:
    t.start()
for t in downs:
    t.join()
for _, s in subs:
    s.done.wait(60)
for d, s in subs:
    if s.actions[:2] != ["create", "start"] or s.actions[-2:] != ["die", "destroy"]:
        failures.append(f"{d}: subscriber {s.sub} saw {s.actions}")
for d, lf in logs:
    if not lf.ended.wait(60):
        failures.append(f"{d}: logs {lf.sub} never ended")
    want = "hello from " + d.rstrip("/").rsplit("/", 1)[-1]
    if lf.lines != [want]:
        failures.append(f"{d}: logs {lf.sub} got {lf.lines}, not [{want!r}]")
if failures:
    sys.exit("FAILED:\n" + "\n".join(failures[:10]))
print("ok")
