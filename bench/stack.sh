#!/usr/bin/env bash
# A compose stack up and down, side by side in one run, on the same images:
#   hb up -d / hb down                     (this repo's release build)
#   docker-compose 1.29 on Debian's dockerd (when docker-compose and dockerd answer)
#   podman-compose 1.1 on Debian's podman   (when ../shared/peers/podman-setup.sh installed it)
# The stack is ../shared/peers/stacks/three-svc (init one-shot + db + python web
# reading db by service name), ready when http://127.0.0.1:18080/ answers
# "db says: seeded-…". Timed as ../shared/peers/peer-bench.sh times the peers:
# `up -d` until it returns, until the stack answers, and `down`; N iterations,
# medians. hb also gets a no-change `up -d` (the stack already up) and
# examples/webapp (hb only: docker-compose 1.29 rejects its `start_interval`).
# Prereqs: ../shared/peers/setup-all.sh (registry on 127.0.0.1:5000 with the
# images, podman, dockerd). Usage: bench/stack.sh [N (default 5)]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5}
PEERS=$(cd ../shared/peers 2>/dev/null && pwd) || { echo "needs ../shared/peers (the peer setup scripts)" >&2; exit 1; }
# Inside the peers' egress guard, as peer-bench.sh runs: nothing leaves by the uplink.
if [ -z "${HB_IN_GUARD:-}" ] && [ -x "$PEERS/egress-guard.sh" ]; then
  "$PEERS/egress-guard.sh" on >/dev/null
  HB_IN_GUARD=1 exec "$PEERS/egress-guard.sh" exec "$0" "$@"
fi
STACK=$PEERS/stacks/three-svc
URL=http://127.0.0.1:18080/
PROJ=hbpeer
export DOCKER_HOST=${DOCKER_HOST:-unix:///run/hb-docker.sock}
curl -sf -o /dev/null http://127.0.0.1:5000/v2/ || { echo "registry 127.0.0.1:5000 is down: run $PEERS/setup-all.sh" >&2; exit 1; }

hb="$(scripts/build-release.sh)/hb"   # hb static, hb-shim and hb-proxy beside it
work=/var/tmp/hb-bench-stack
mkdir -p "$work"
export HB_ROOT=$work/root HB_RUN=$work/run

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END{if(NR==0){print "n/a"; exit} if(NR%2) printf "%.3f\n", a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
ready() { # waits until $1 answers with $2; fails after 60 s
  local d=$(( $(date +%s) + 60 ))
  while [ "$(date +%s)" -lt "$d" ]; do
    curl -s -m 1 "$1" 2>/dev/null | grep -q "$2" && return 0
    sleep 0.005
  done; echo "not ready after 60 s: $1" >&2; return 1; }

# bench NAME DIR UP DOWN URL WANT: N rounds of up → ready → down; prints medians.
bench() {
  local name=$1 dir=$2 up=$3 down=$4 url=$5 want=$6 t0 t1 t2 t3 t4
  local tsv=$work/$name.tsv; : >"$tsv"
  (cd "$dir" && eval "$down") >/dev/null 2>&1 || true
  for _ in $(seq "$N"); do
    t0=$(now); (cd "$dir" && eval "$up") >>"$work/$name.log" 2>&1; t1=$(now)
    ready "$url" "$want"; t2=$(now)
    t3=$(now); (cd "$dir" && eval "$down") >>"$work/$name.log" 2>&1; t4=$(now)
    printf '%s\t%s\t%s\n' "$(echo "$t1-$t0" | bc)" "$(echo "$t2-$t0" | bc)" "$(echo "$t4-$t3" | bc)" >>"$tsv"
  done
  printf '%s\t%s\t%s\t%s\n' "$name" "$(cut -f1 "$tsv" | median)" "$(cut -f2 "$tsv" | median)" "$(cut -f3 "$tsv" | median)"
}

results=$work/results.tsv; : >"$results"
# Images pulled beforehand by every tool, so the rounds time up and down only.
"$hb" -p $PROJ -f "$STACK/compose.yaml" pull -q >/dev/null
bench hb "$STACK" "$hb -p $PROJ up -d" "$hb -p $PROJ down -v" "$URL" '^db says: seeded-' | tee -a "$results"

# hb, no-change `up -d` with the stack up.
"$hb" -p $PROJ -f "$STACK/compose.yaml" up -d >/dev/null 2>&1
ready "$URL" '^db says: seeded-'
: >"$work/noop.tsv"
for _ in $(seq $((N * 4))); do
  t0=$(now); (cd "$STACK" && "$hb" -p $PROJ up -d) >/dev/null 2>&1; t1=$(now)
  echo "$t1-$t0" | bc >>"$work/noop.tsv"
done
(cd "$STACK" && "$hb" -p $PROJ down -v) >/dev/null 2>&1
noop=$(median <"$work/noop.tsv")

if docker version >/dev/null 2>&1 && command -v docker-compose >/dev/null; then
  docker pull -q 127.0.0.1:5000/busybox:latest >/dev/null; docker pull -q 127.0.0.1:5000/debian-python:bookworm >/dev/null
  bench docker-compose "$STACK" "docker-compose -p $PROJ up -d" "docker-compose -p $PROJ down -v" "$URL" '^db says: seeded-' | tee -a "$results"
fi
PC=/var/tmp/hb-venv-podman-compose/bin/podman-compose
if command -v podman >/dev/null && [ -x $PC ]; then
  podman pull -q 127.0.0.1:5000/busybox:latest >/dev/null; podman pull -q 127.0.0.1:5000/debian-python:bookworm >/dev/null
  bench podman-compose "$STACK" "$PC -p $PROJ up -d" "$PC -p $PROJ down -v" "$URL" '^db says: seeded-' | tee -a "$results"
fi

# examples/webapp, hb only.
HB_REGISTRY=127.0.0.1:5000 WEBAPP_PORT=18081 bench hb-webapp examples/webapp \
  "HB_REGISTRY=127.0.0.1:5000 WEBAPP_PORT=18081 $hb up -d" "HB_REGISTRY=127.0.0.1:5000 WEBAPP_PORT=18081 $hb down -v" \
  http://127.0.0.1:18081/ seeded- | tee -a "$results"

echo
echo "| tool | \`up -d\` returns (s) | up to answering (s) | \`down\` (s) |"
echo "|---|---|---|---|"
awk -F'\t' '{printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4}' "$results"
echo
echo "hb no-change \`up -d\` (three-svc up): median $(awk -v t="$noop" 'BEGIN{printf "%.1f", t*1000}') ms over $((N * 4)) runs"
python3 - "$results" <<'PY'
import sys
rows = {l.split("\t")[0]: [float(x) for x in l.split("\t")[1:]] for l in open(sys.argv[1]) if l.strip()}
hb = rows["hb"]
peers = {k: v for k, v in rows.items() if k in ("docker-compose", "podman-compose")}
if peers:
    best_up = min(v[1] for v in peers.values()); best_down = min(v[2] for v in peers.values())
    print(f"up to answering: hb {hb[1]:.3f} s vs fastest peer {best_up:.3f} s = {best_up / hb[1]:.1f}x faster")
    print(f"down: hb {hb[2]:.3f} s vs fastest peer {best_down:.3f} s = {best_down / hb[2]:.1f}x faster")
PY
