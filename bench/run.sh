#!/usr/bin/env bash
# One-off container start-to-exit, side by side in one run (hyperfine medians):
#   hb container run --rm busybox true    (overlay rootfs, spec, hb-shim, crun, cleanup)
#   crun run of a pre-made bundle         (the floor: no rootfs to mount, no shim)
# Both without a network (a namespace with only lo). Needs root, crun, umoci,
# skopeo, hyperfine and the test fixtures (tests/fixtures/images.sh build).
# Usage: bench/run.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
cargo build --release --locked --quiet -p hb-cli -p hb-runtime
hb="$PWD/target/release/hb"
tests/fixtures/images.sh build >/dev/null
work=$(mktemp -d /var/tmp/hb-bench-run.XXXXXX)
trap 'rm -rf "$work"' EXIT
export HB_ROOT="$work/root" HB_RUN="$work/run"
skopeo copy -q "oci:${HB_TEST_CACHE:-/var/cache/hb-test}/oci:busybox" "oci:$work/layout:busybox"
"$hb" image import --name localhost/bench/busybox:1 "$work/layout" >/dev/null
umoci unpack --image "${HB_TEST_CACHE:-/var/cache/hb-test}/oci:busybox" "$work/bundle" >/dev/null
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["process"]["terminal"] = False; c["process"]["args"] = ["true"]
json.dump(c, open(p, "w"))
PY
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/run.json" \
  "$hb container run --rm localhost/bench/busybox:1 true" \
  "crun run --bundle $work/bundle hb-bench-crun"
python3 - "$work/run.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
hb, crun = r[0]["median"], r[1]["median"]
print(f"hb {hb*1000:.1f} ms, crun run {crun*1000:.1f} ms, hb/crun = {hb/crun:.2f}")
PY
