#!/usr/bin/env bash
# The demo: builds hb and shows what it makes of example projects, offline.
# Installs what it needs first; safe to run again.
# Usage: scripts/demo.sh            (as root on Debian 12)
#
# hb's runtime (pull, crun, `hb up`) is still being built; until it lands the
# demo shows the loader and planner on examples/webapp: the normalized project,
# its start order, and what hb detects in a project without a compose file.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_rust
echo "==> building hb"
cargo build --release --locked --quiet -p hb-cli
hb="$PWD/target/release/hb"

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
