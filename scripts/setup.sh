#!/usr/bin/env bash
# Installs what nexcage's build, demo and tests need on Debian/Ubuntu.
# Run as root. Idempotent.
set -euo pipefail

packages=(
    lxc            # the pct test double runs real containers on LXC
    runc           # the oci backend's default runtime
    podman         # OCI client end-to-end tests
    containerd     # OCI client end-to-end tests (ctr)
    uidmap         # podman
    busybox-static # tiny root filesystems for every test
    bsdutils       # script(1), for tty tests
    iproute2
    hyperfine      # benchmarks (tests/bench)
    gcc            # cc for crates that build C
)

if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: run as root (it installs packages and the tests run containers)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup.sh: cargo not found: install Rust >= 1.89 (https://rustup.rs) and re-run" >&2
    exit 1
fi
echo "setup.sh: ok ($(cargo --version))"
