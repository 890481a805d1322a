#!/usr/bin/env bash
# Builds hb's release binaries into one directory and prints its path:
#   hb        linked statically (glibc's crt-static, for this machine's target):
#             no shared libraries to map and relocate, 0.7 ms less for every
#             command on this VM (`hb --version` 1.7 -> 1.0 ms, hyperfine);
#             and at a fixed address (relocation-model=static, not a static
#             PIE), so that its ~30,000 relocations are not applied, page by
#             page, at every start: 1.2 -> 0.9 ms more. The price: its own code
#             and data are not moved by ASLR (its stack, heap and mappings are);
#             and mimalloc built not to free every page back to the kernel as
#             the process exits (MI_SKIP_COLLECT_ON_EXIT, a mimalloc build
#             option: "not needed for a stand-alone process"), ~0.08 ms;
#   hb-shim, hb-proxy   linked dynamically: they live as long as their
#             container and share libc's pages with the rest of the machine,
#             which keeps a shim's PSS under 1 MB (static: 1.4 MB); and built
#             for size (Cargo.toml's `companion` profile: opt-level s, LTO),
#             ~130 kB less PSS for a shim alone on the machine; hb-shim more
#             so (the `shim` profile: opt-level z, abort on a panic).
# hb finds the other two beside itself. Usage: hb=$(scripts/build-release.sh)/hb
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$PWD/target}
host=$(rustc -vV | sed -n 's/^host: //p')
cargo build --profile shim --locked --quiet -p hb-runtime --bin hb-shim
cargo build --profile companion --locked --quiet -p hb-net --bin hb-proxy
# --target keeps RUSTFLAGS off the build scripts and proc macros, which
# cannot be linked statically.
env RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" \
  "CFLAGS_$host=-DMI_SKIP_COLLECT_ON_EXIT" \
  cargo build --release --locked --quiet --target "$host" -p hb-cli --bin hb
out="$target/hb-release"
mkdir -p "$out"
for b in "$host/release/hb" shim/hb-shim companion/hb-proxy; do
  cp -f "$target/$b" "$out.tmp-$(basename "$b")"
  mv -f "$out.tmp-$(basename "$b")" "$out/$(basename "$b")"
done
echo "$out"
