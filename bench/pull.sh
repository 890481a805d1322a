#!/usr/bin/env bash
# Pull and unpack, hb against the independent tools, side by side in one run:
#   1. cold pull of debian-python:bookworm (60 MB gzip layer → 151 MiB) from a
#      local registry: `hb pull` into an empty store, against
#      `skopeo copy docker://… oci:…` followed by `umoci unpack`;
#   2. unpacking that layer from a local file: `hb image import` of an OCI
#      layout (verify + decompress + unpack), against `tar -xzf` of the blob.
# Medians of hyperfine runs. Needs root, hyperfine, skopeo, umoci, and the test
# fixtures (tests/fixtures/images.sh build). Usage: bench/pull.sh [RUNS]
# HB_BENCH_DIR (default /var/tmp) holds the stores and outputs: /dev/shm takes
# the disk (and ext4's inode allocator) out of the comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
hb="$(scripts/build-release.sh)/hb"   # as shipped: hb static
work=$(mktemp -d "${HB_BENCH_DIR:-/var/tmp}/hb-bench.XXXXXX")
trap 'tests/fixtures/registry.sh stop "$work/reg" >/dev/null; rm -rf "$work"' EXIT
tests/fixtures/images.sh build >/dev/null
tests/fixtures/registry.sh start "$work/reg" >/dev/null
tests/fixtures/images.sh push "$work/reg/env" >/dev/null
# shellcheck disable=SC1091
. "$work/reg/env"
image="$HB_TEST_REGISTRY/debian-python:bookworm"

echo "== cold pull + unpack of $image ($runs runs)"
hyperfine -N --runs "$runs" --export-json "$work/pull.json" \
  --prepare "rm -rf $work/hb-root $work/oci $work/bundle" \
  "env HB_ROOT=$work/hb-root $hb pull -q $image" \
  "sh -c 'skopeo copy -q --src-tls-verify=false docker://$image oci:$work/oci:img && umoci unpack --image $work/oci:img $work/bundle >/dev/null'"

echo "== unpack of the 60 MB layer from a local file ($runs runs)"
skopeo copy -q --src-tls-verify=false "docker://$image" "oci:$work/layout:img"
blob=$(jq -r '.layers[0].digest' "$work/layout/blobs/sha256/$(jq -r '.manifests[0].digest' "$work/layout/index.json" | cut -d: -f2)" | cut -d: -f2)
hyperfine -N --runs "$runs" --export-json "$work/unpack.json" \
  --prepare "sh -c 'rm -rf $work/hb-root2 $work/untar && mkdir -p $work/untar'" \
  "env HB_ROOT=$work/hb-root2 $hb image import --name bench/debian:1 $work/layout" \
  "tar -xzf $work/layout/blobs/sha256/$blob -C $work/untar"

python3 - "$work/pull.json" "$work/unpack.json" <<'PY'
import json, sys
for path, title in zip(sys.argv[1:], ["cold pull + unpack", "unpack from a local file"]):
    r = json.load(open(path))["results"]
    a, b = r[0]["median"], r[1]["median"]
    print(f"{title}: hb {a*1000:.0f} ms, peer {b*1000:.0f} ms, hb/peer = {a/b:.2f}")
PY
