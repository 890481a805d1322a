#!/usr/bin/env bash
# Runs every test of hb: formatting, lints, docs, unit, integration and
# privileged tests. Installs what it needs first; safe to run again.
# Usage: scripts/test.sh            (as root on Debian 12)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_rust
if [ "$(id -u)" = 0 ]; then
  cgroup_fixup
  # The fixtures: a real registry and images made by independent tools.
  apt_install docker-registry apache2-utils umoci skopeo debootstrap busybox-static jq curl openssl python3 zstd crun tini iproute2 nftables
  tests/fixtures/images.sh build
  registries=$(mktemp -d /tmp/hb-test-registry.XXXXXX)
  trap 'tests/fixtures/registry.sh stop "$registries"; rm -rf "$registries"' EXIT
  tests/fixtures/registry.sh start "$registries" >/dev/null
  tests/fixtures/images.sh push "$registries/env"
  set -a
  # shellcheck disable=SC1091
  . "$registries/env"
  set +a
fi

if have_lint_tools; then
  echo "==> cargo fmt --check"
  cargo fmt --all -- --check
  echo "==> cargo clippy"
  cargo clippy --workspace --all-targets --locked -- -D warnings
elif [ -n "${CI:-}" ]; then
  echo "error: rustfmt and clippy are missing for $(cargo --version); CI needs them" >&2
  exit 1
else
  echo "==> skipping fmt and clippy: this toolchain ($(cargo --version)) has no rustfmt/clippy of its own (install them with rustup)"
fi
echo "==> cargo doc"
RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps --locked --quiet
echo "==> cargo build (the CLI tests run hb and hb-shim)"
cargo build --workspace --locked --quiet
echo "==> cargo test (privileged tests included)"
# Under HB_TEST_PRIVILEGED=require a privileged test whose prerequisites are
# missing fails instead of passing silently.
HB_TEST_PRIVILEGED=require cargo test --workspace --locked -- --include-ignored
