#!/usr/bin/env bash
# The demo: builds hb and shows what it makes of example projects, offline.
# Installs what it needs first; safe to run again.
# Usage: scripts/demo.sh            (as root on Debian 12)
#
# It makes a busybox image offline from Debian's busybox-static, then brings up
# examples/webapp (web -> api -> db, a one-shot migration, a healthcheck, a
# named volume, a published port) with `hb up`, shows it answering on
# 127.0.0.1:8080 (WEBAPP_PORT to change it), and takes it down. On the way it
# shows the loader and planner: the canonical project, the start order, what hb
# detects in a project without a compose file.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_rust
apt_install busybox-static crun tini iproute2 curl
cgroup_fixup
echo "==> building hb"
hb="$(scripts/build-release.sh)/hb"
export HB_ROOT=${HB_ROOT:-/var/lib/hb-demo}

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

cd examples/webapp
OLDPWD_WEBAPP=$PWD
step "hb config --services"
"$hb" config --services
step "hb graph"
"$hb" graph
step "hb graph --format json"
"$hb" graph --format json
step "hb config   (the project in canonical form, as docker compose config prints it)"
"$hb" config

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'flask==3.0\npsycopg2-binary\nredis\n' >"$tmp/requirements.txt"
: >"$tmp/app.py"
cd "$tmp"
step "hb init --dry-run   (in a Flask project with no compose file)"
"$hb" init --dry-run
step "hb graph   (on the detected project)"
"$hb" graph

# An image made offline from a root filesystem directory: busybox with every applet.
rootfs="$tmp/rootfs"
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp"
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
step "hb image import --from-dir ROOTFS localhost/busybox:latest"
"$hb" image import --from-dir "$rootfs" localhost/busybox:latest
step "hb container run --rm localhost/busybox:latest sh -c '...'"
"$hb" container run --rm --hostname demo localhost/busybox:latest \
  sh -c 'echo "hello from a container: $(hostname), uid $(id -u), kernel $(uname -r)"'

# The stack, from the image just made (HB_REGISTRY names where the example's image lives).
# An image built from a Dockerfile, FROM the image just imported: hb's own builder.
mkdir -p "$tmp/built"
cd "$tmp/built"
printf '<h1>built by hb</h1>\n' >index.html
cat >Dockerfile <<'EOF_DOCKERFILE'
FROM localhost/busybox:latest
WORKDIR /srv
COPY index.html ./
RUN echo "<p>RUN at build time: $(uname -s)</p>" >> index.html
CMD ["httpd", "-f", "-p", "80", "-h", "/srv"]
EOF_DOCKERFILE
printf 'name: demo-build\nservices:\n  web:\n    build: .\n    init: true\n    ports: ["${DEMO_BUILD_PORT:-8081}:80"]\n' >compose.yaml
"$hb" down >/dev/null 2>&1 || true
step "hb build   (a Dockerfile in a project with build: .)"
"$hb" build --progress plain
step "hb up -d; curl"
"$hb" up -d
for _ in $(seq 50); do curl -sf "http://127.0.0.1:${DEMO_BUILD_PORT:-8081}/" && break; sleep 0.1; done
printf '<h1>built by hb, edited</h1>\n' >index.html
step "hb up --build -d   (after editing index.html: the cache keeps WORKDIR, the COPY and RUN rerun)"
time "$hb" up --build -d
for _ in $(seq 50); do curl -sf "http://127.0.0.1:${DEMO_BUILD_PORT:-8081}/" && break; sleep 0.1; done
"$hb" down >/dev/null

export HB_REGISTRY=localhost WEBAPP_PORT=${WEBAPP_PORT:-8080}
cd "$OLDPWD_WEBAPP"
"$hb" down -v >/dev/null 2>&1 || true
step "hb up -d   (in examples/webapp)"
time "$hb" up -d
step "curl http://127.0.0.1:$WEBAPP_PORT/   (web fetches from api by name, api from db)"
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$WEBAPP_PORT/" && break; sleep 0.1; done
step "hb ps"
"$hb" ps -a
step "hb exec web cat /etc/hosts"
"$hb" exec web cat /etc/hosts
step "hb up -d   (again: nothing changed, nothing to do)"
time "$hb" up -d
step "hb down -v"
time "$hb" down -v
step "hb doctor"
"$hb" doctor
