#!/usr/bin/env bash
# The test suite: installs what it needs, builds every crate (plugins,
# fixtures and the pct double must exist before the tests run), then runs
# all tests. Needs root: the tests start real LXC containers, runc,
# podman and containerd.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cargo build --workspace --all-targets
cargo test --workspace --no-fail-fast
