#!/usr/bin/env bash
# hb daemon: round-trip latency of system.version and project.ps (p50/p99 over
# N calls each, one connection, Python's standard library as the client) with
# a one-service project up, and the daemon's resident memory idle and after.
# Needs root, crun, iproute2 and a registry with busybox:latest (HB_REGISTRY,
# default 127.0.0.1:5000). Usage: bench/api.sh [N (default 10000)]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
cargo build --release --locked --quiet -p hb-cli -p hb-runtime -p hb-net
hb="$PWD/target/release/hb"
work=/var/tmp/hb-bench-api
rm -rf "$work"; mkdir -p "$work/p"
export HB_ROOT=$work/root HB_RUN=$work/run
printf 'name: apibench\nservices:\n  box:\n    image: %s/busybox:latest\n    init: true\n    command: ["sleep", "1000"]\n' \
  "${HB_REGISTRY:-127.0.0.1:5000}" >"$work/p/compose.yaml"
"$hb" daemon 2>/dev/null &
pid=$!
trap '(cd "$work/p" && "$hb" down >/dev/null 2>&1); kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
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
