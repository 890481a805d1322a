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

# Makes sure a Rust toolchain with rustfmt and clippy is on PATH.
ensure_rust() {
  [ -d "$HOME/.cargo/bin" ] && PATH="$HOME/.cargo/bin:$PATH"
  if ! command -v cargo >/dev/null 2>&1; then
    apt_install cargo rustc rustfmt rust-clippy
  fi
  cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt 2>/dev/null || apt_install rustfmt
  cargo clippy --version >/dev/null 2>&1 || rustup component add clippy 2>/dev/null || apt_install rust-clippy
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
