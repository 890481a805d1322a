#!/usr/bin/env bash
# Latency of `hb watch`: from a file write to the new content being served on
# the published port, for `sync` (busybox httpd), `sync+restart` (a small
# Python HTTP server) and `restart` (busybox reading a bind-mounted file at
# start); N edits each (default 30), p50 and p95. Polls the port every 2 ms.
# Prereqs: root, crun, a registry with busybox:latest and
# debian-python:bookworm (../shared/peers/setup-all.sh makes 127.0.0.1:5000;
# HB_REGISTRY names another). Usage: bench/watch.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-30}
hb="$(scripts/build-release.sh)/hb"   # hb static, hb-shim and hb-proxy beside it
work=/var/tmp/hb-bench-watch
rm -rf "$work"; mkdir -p "$work"
cp -r bench/watch-project "$work/project"
export HB_ROOT=$work/root HB_RUN=$work/run HB_REGISTRY=${HB_REGISTRY:-127.0.0.1:5000}
cd "$work/project"
"$hb" up -d 2>"$work/up.log" || { cat "$work/up.log" >&2; exit 1; }
"$hb" watch --no-up --quiet 2>"$work/watch.log" &
watch_pid=$!
trap 'kill -INT $watch_pid 2>/dev/null; wait $watch_pid 2>/dev/null; "$hb" down -v >/dev/null 2>&1' EXIT
python3 - "$N" <<'PY'
import http.client, os, statistics, sys, time

n = int(sys.argv[1])

def get(port):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        c.request("GET", "/")
        body = c.getresponse().read().decode()
        c.close()
        return body
    except (OSError, http.client.HTTPException):
        return ""  # restarting: the proxy closes the connection, try again

def wait_for(port, want, limit=10):
    t = time.monotonic()
    while time.monotonic() - t < limit:
        if want in get(port):
            return
        time.sleep(0.002)
    sys.exit(f"127.0.0.1:{port} never served {want!r}")

cases = [("sync", "site/index.html", 18101), ("sync+restart", "py/message.txt", 18102), ("restart", "conf/value.txt", 18103)]
for _, path, port in cases:
    wait_for(port, "v0", 30)
time.sleep(1)
print(f"| action | edits | p50 | p95 | max |\n|---|---|---|---|---|")
for name, path, port in cases:
    took = []
    for i in range(1, n + 1):
        want = f"{name} edit {i}\n"
        t = time.monotonic()
        with open(path + ".new", "w") as f:
            f.write(want)
        os.rename(path + ".new", path)
        wait_for(port, want.strip())
        took.append((time.monotonic() - t) * 1000)
        time.sleep(0.15)
    took.sort()
    p95 = took[max(0, int(round(0.95 * len(took))) - 1)]
    print(f"| {name} | {n} | {statistics.median(took):.0f} ms | {p95:.0f} ms | {took[-1]:.0f} ms |")
PY
