#!/usr/bin/env bash
# The demo: builds hb and shows what it makes of example projects, offline.
# Installs what it needs first; safe to run again.
# Usage: scripts/demo.sh            (as root on Debian 12)
#
# `hb up` is still being built; until it lands the demo shows the loader and
# planner on examples/webapp (the normalized project, its start order, what hb
# detects in a project without a compose file), then makes an image offline from
# Debian's busybox-static and runs it as a container under crun.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_rust
apt_install busybox-static crun tini iproute2 curl
cgroup_fixup
echo "==> building hb"
cargo build --release --locked --quiet -p hb-cli -p hb-runtime
hb="${CARGO_TARGET_DIR:-$PWD/target}/release/hb"
export HB_ROOT=${HB_ROOT:-/var/lib/hb-demo}

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

cd examples/webapp
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

# An image made offline from a root filesystem directory, run under crun.
rootfs="$tmp/rootfs"
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp"
cp /bin/busybox "$rootfs/bin/busybox"
for applet in sh echo cat uname id hostname ip; do ln -sf busybox "$rootfs/bin/$applet"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
step "hb image import --from-dir ROOTFS localhost/demo-busybox:1"
"$hb" image import --from-dir "$rootfs" localhost/demo-busybox:1
step "hb container run --rm localhost/demo-busybox:1 sh -c '...'"
"$hb" container run --rm --hostname demo localhost/demo-busybox:1 \
  sh -c 'echo "hello from a container: $(hostname), uid $(id -u), kernel $(uname -r)"; echo "its network: $(ip -o link | cut -d: -f2 | tr -d " \n")"'
step "hb doctor"
"$hb" doctor
