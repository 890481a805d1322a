#!/usr/bin/env bash
# hb daemon: round-trip latency of system.version and project.ps (p50/p99 over
# N calls each, one connection, Python's standard library as the client) with
# a one-service project up, and the daemon's resident memory idle and after;
# then events delivered to 50 subscribers while a 100-replica project goes up
# and down (every subscriber must see all 400 events, in the same order).
# Needs root, crun, iproute2 and a registry with busybox:latest (HB_REGISTRY,
# default 127.0.0.1:5000). Usage: bench/api.sh [N (default 10000)]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
hb="$(scripts/build-release.sh)/hb"   # hb static, hb-shim and hb-proxy beside it
work=/var/tmp/hb-bench-api
rm -rf "$work"; mkdir -p "$work/p" "$work/ev"
export HB_ROOT=$work/root HB_RUN=$work/run
printf 'name: apibench\nservices:\n  box:\n    image: %s/busybox:latest\n    init: true\n    command: ["sleep", "1000"]\n' \
  "${HB_REGISTRY:-127.0.0.1:5000}" >"$work/p/compose.yaml"
printf 'name: evbench\nservices:\n  box:\n    image: %s/busybox:latest\n    init: true\n    command: ["sleep", "1000"]\n    deploy:\n      replicas: 100\n' \
  "${HB_REGISTRY:-127.0.0.1:5000}" >"$work/ev/compose.yaml"
"$hb" daemon 2>/dev/null &
pid=$!
trap '(cd "$work/p" && "$hb" down >/dev/null 2>&1); (cd "$work/ev" && "$hb" down -t 0 >/dev/null 2>&1); kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
while [ ! -S "$HB_RUN/hb.sock" ]; do sleep 0.01; done
sleep 0.5
idle=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
python3 - "$HB_RUN/hb.sock" "$work/p" "$N" <<'PY'
import json, socket, sys, time
sock, project, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = socket.socket(socket.AF_UNIX); c.connect(sock); f = c.makefile("rw")
def call(method, params=None):
    f.write(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}) + "\n"); f.flush()
    return json.loads(f.readline())
assert "result" in call("project.up", {"project_dir": project})
print("| method | calls | p50 | p99 |\n|---|---|---|---|")
for method, params in [("system.version", None), ("project.ps", {"project_dir": project})]:
    took = []
    for _ in range(n):
        t = time.perf_counter(); r = call(method, params); took.append((time.perf_counter() - t) * 1000)
        assert "result" in r, r
    took.sort()
    print(f"| {method} | {n} | {took[n // 2]:.3f} ms | {took[int(n * 0.99)]:.3f} ms |")
PY
after=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
echo
echo "daemon resident memory: idle $((idle / 1024)).$(( (idle % 1024) * 10 / 1024 )) MiB, after the calls $((after / 1024)).$(( (after % 1024) * 10 / 1024 )) MiB"
python3 - "$HB_RUN/hb.sock" "$work/ev" <<'PY'
import json, socket, sys, threading, time
sock, project = sys.argv[1], sys.argv[2]
SUBS, WANT = 50, 400  # 100 containers: create, start, die, destroy
class Sub(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.c = socket.socket(socket.AF_UNIX); self.c.connect(sock); self.f = self.c.makefile("rw")
        self.f.write(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "events.subscribe", "params": {"project_dir": project}}) + "\n"); self.f.flush()
        assert "result" in json.loads(self.f.readline())
        self.seen, self.last = [], None
    def run(self):
        while len(self.seen) < WANT:
            ev = json.loads(self.f.readline())["params"]["event"]
            if ev["type"] == "container":
                self.seen.append((ev["container"], ev["action"]))
        self.last = time.perf_counter()
subs = [Sub() for _ in range(SUBS)]
for s in subs: s.start()
c = socket.socket(socket.AF_UNIX); c.connect(sock); f = c.makefile("rw")
def call(method):
    f.write(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": {"project_dir": project, "timeout": 0}}) + "\n"); f.flush()
    return json.loads(f.readline())
time.sleep(0.2)
t0 = time.perf_counter()
assert "result" in call("project.up")
assert "result" in call("project.down")
for s in subs: s.join(120)
assert all(len(s.seen) == WANT for s in subs), [len(s.seen) for s in subs]
assert all(s.seen == subs[0].seen for s in subs), "subscribers disagree on the order"
took = max(s.last for s in subs) - t0
spread = (max(s.last for s in subs) - min(s.last for s in subs)) * 1000
print(f"\nevents: {SUBS} subscribers x {WANT} events = {SUBS * WANT} deliveries in {took:.2f} s "
      f"(up and down of 100 containers included): {SUBS * WANT / took:,.0f} events/s delivered, all in the same order; "
      f"the last event reached the last subscriber {spread:.1f} ms after the first")
PY

