#!/usr/bin/env bash
# Image builds, hb against buildah (Debian's buildah, `buildah bud --layers`),
# side by side on examples/build (a busybox assets stage, then a Python app on
# debian-python: 2 FROMs, 4 COPY/RUN steps per stage): N runs (default 5) of
#   cold       every step run (hb build --no-cache; buildah bud --layers --no-cache)
#   edit       one source file changed (app/greeting.txt): the steps from its COPY on rerun
#   no-change  nothing changed: every step from the cache
# Base images are pulled into both stores first (pulls are bench/pull.sh's
# subject). buildah runs with --network none and vfs-free overlay storage in
# its own root, so neither tool sees the other's cache.
# Prereqs: root, crun, buildah, a registry with busybox:latest and
# debian-python:bookworm (../shared/peers/setup-all.sh makes 127.0.0.1:5000;
# HB_REGISTRY names another). Usage: bench/build.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5}
hb="$(scripts/build-release.sh)/hb"   # hb static, hb-shim and hb-proxy beside it
work=/var/tmp/hb-bench-build
rm -rf "$work"; mkdir -p "$work"
cp -r examples/build "$work/project"
export HB_ROOT=$work/root HB_RUN=$work/run HB_REGISTRY=${HB_REGISTRY:-127.0.0.1:5000}
bah=(buildah --root "$work/buildah" --runroot "$work/buildah-run" --storage-driver overlay)
bud=("${bah[@]}" bud --quiet --layers --network none --tls-verify=false
  --build-arg "REGISTRY=$HB_REGISTRY" -t bench-web -f Dockerfile)
trap '"$hb" down >/dev/null 2>&1 || true; "${bah[@]}" rm --all >/dev/null 2>&1 || true; "${bah[@]}" rmi --all --force >/dev/null 2>&1 || true; umount "$work/buildah/overlay" 2>/dev/null || true' EXIT
cd "$work/project"
for img in busybox:latest debian-python:bookworm; do
  "$hb" image pull "$HB_REGISTRY/$img" >/dev/null 2>&1
  "${bah[@]}" pull -q --tls-verify=false "$HB_REGISTRY/$img" >/dev/null
done
ms() { # command... → wall milliseconds
  local t0 t1
  t0=$(date +%s%N); "$@" >/dev/null 2>"$work/last.err" || { cat "$work/last.err" >&2; exit 1; }
  t1=$(date +%s%N); echo $(((t1 - t0) / 1000000))
}
declare -A hb_t bah_t
for i in $(seq 1 "$N"); do
  hb_t[cold]+="$(ms "$hb" build --no-cache --progress quiet) "
  bah_t[cold]+="$(ms "${bud[@]}" --no-cache .) "
  echo "edit $i" >app/greeting.txt
  hb_t[edit]+="$(ms "$hb" build --progress quiet) "
  bah_t[edit]+="$(ms "${bud[@]}" .) "
  hb_t[none]+="$(ms "$hb" build --progress quiet) "
  bah_t[none]+="$(ms "${bud[@]}" .) "
done
# The two images must agree: same files from the same Dockerfile.
"$hb" run --rm --no-deps web cat /srv/app/greeting.txt >"$work/hb.out" 2>/dev/null
ctr=$("${bah[@]}" from -q bench-web); mnt=$("${bah[@]}" mount "$ctr")
cmp -s "$work/hb.out" "$mnt/srv/app/greeting.txt" || { echo "images differ" >&2; exit 1; }
"${bah[@]}" umount "$ctr" >/dev/null; "${bah[@]}" rm "$ctr" >/dev/null
python3 - "${hb_t[cold]}" "${bah_t[cold]}" "${hb_t[edit]}" "${bah_t[edit]}" "${hb_t[none]}" "${bah_t[none]}" <<'PY'
import statistics, sys
a = [[int(x) for x in s.split()] for s in sys.argv[1:]]
print("| build | hb (median) | buildah bud --layers (median) | buildah / hb |\n|---|---|---|---|")
for name, h, b in zip(["cold (every step)", "edit (one file)", "no change"], a[0::2], a[1::2]):
    mh, mb = statistics.median(h), statistics.median(b)
    print(f"| {name} | {mh:.0f} ms | {mb:.0f} ms | {mb / max(mh, 1):.1f}× |")
print(f"\n{len(a[0])} runs each; all times: hb {a[0::2]}, buildah {a[1::2]}")
PY
