#!/usr/bin/env bash
# One-off container start-to-exit, side by side in one run (medians of
# interleaved rounds: bench/interleave.py):
#   hb container run --rm busybox true    (overlay rootfs, spec, hb-shim, crun, cleanup)
#   crun run of a pre-made bundle         (the floor: no rootfs to mount, no shim)
#   podman run --rm / docker run --rm     (where they run here)
# All without a network (a namespace with only lo); then, where the peers'
# scripts are beside the repo, hb with a bridged network against crun-floor.sh.
# Needs root, crun, umoci, skopeo, python3 and the test fixtures
# (tests/fixtures/images.sh build).
# Usage: bench/run.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
hb="$(scripts/build-release.sh)/hb"   # hb static, hb-shim and hb-proxy beside it
tests/fixtures/images.sh build >/dev/null
work=$(mktemp -d /var/tmp/hb-bench-run.XXXXXX)
export HB_ROOT="$work/root" HB_RUN="$work/run"
# The one-off network stays after its containers (as Docker's bridge does).
trap '"$hb" network prune >/dev/null; rm -rf "$work"' EXIT
skopeo copy -q "oci:${HB_TEST_CACHE:-/var/cache/hb-test}/oci:busybox" "oci:$work/layout:busybox"
"$hb" image import --name localhost/bench/busybox:1 "$work/layout" >/dev/null
umoci unpack --image "${HB_TEST_CACHE:-/var/cache/hb-test}/oci:busybox" "$work/bundle" >/dev/null
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["process"]["terminal"] = False; c["process"]["args"] = ["true"]
json.dump(c, open(p, "w"))
PY
# The peers, where they run here (../shared/peers/setup-all.sh installs them;
# docker-up.sh starts the dockerd they use), from the same image, offline.
peers=()
if command -v podman >/dev/null; then
  skopeo copy -q "oci:$work/layout:busybox" containers-storage:localhost/hb-bench/busybox:1
  peers+=("podman run --rm --network=none --pull=never localhost/hb-bench/busybox:1 true")
fi
export DOCKER_HOST=${DOCKER_HOST:-unix:///run/hb-docker.sock}
if docker version >/dev/null 2>&1; then
  skopeo copy -q "oci:$work/layout:busybox" "docker-archive:$work/busybox.tar:localhost/hb-bench/busybox:1"
  docker load -q -i "$work/busybox.tar" >/dev/null
  peers+=("docker run --rm --network=none localhost/hb-bench/busybox:1 true")
fi
echo "== no network: hb against crun run of a pre-made bundle and the peers that run here"
bench/interleave.py "$runs" 3 \
  "$hb container run --rm localhost/bench/busybox:1 true" \
  "crun run --bundle $work/bundle hb-bench-crun" \
  "${peers[@]}"

# Bridged: hb's one-off bridge network against ../shared/peers/crun-floor.sh
# (overlay + netns + veth on a bridge + crun run + teardown, by hand).
floor=../shared/peers/crun-floor.sh
if [ -x "$floor" ]; then
  echo "== bridged: hb against crun-floor.sh"
  bench/interleave.py "$runs" 3 \
    "$hb container run --rm --network bridge localhost/bench/busybox:1 true" \
    "$floor $work/bundle/rootfs"
  "$floor" --cleanup
fi
