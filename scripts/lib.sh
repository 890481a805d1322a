# Shared by scripts/demo.sh and scripts/test.sh: install what is missing, idempotently.

# Installs Debian packages that are not installed yet.
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "==> installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# Makes sure a Rust toolchain (>= 1.85, the workspace's rust-version) is on PATH:
# rustup's if present, else Debian's rustc-web/cargo-web (1.85 in bookworm).
ensure_rust() {
  [ -d "$HOME/.cargo/bin" ] && PATH="$HOME/.cargo/bin:$PATH"
  if ! command -v cargo >/dev/null 2>&1; then
    apt_install rustc-web cargo-web
  fi
}

# True when cargo has rustfmt and clippy of its own version. Debian only ships
# 1.63 ones beside rustc-web, which would lint with different rules.
have_lint_tools() {
  cargo fmt --version >/dev/null 2>&1 && cargo clippy --version >/dev/null 2>&1
}

# crun refuses to run while the hugetlb controller sits on cgroup v2 in a hybrid
# layout (see docs/troubleshooting.md); move it to its own v1 hierarchy. Needed once per boot.
cgroup_fixup() {
  if [ -d /sys/fs/cgroup/unified ] && ! mountpoint -q /sys/fs/cgroup/hugetlb 2>/dev/null \
     && grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; then
    mkdir -p /sys/fs/cgroup/hugetlb
    mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
    echo "==> moved the hugetlb controller to /sys/fs/cgroup/hugetlb (cgroup v1) so crun can run"
  fi
}
