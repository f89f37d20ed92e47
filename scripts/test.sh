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

# Built-in backends: the same plugin crates linked into one binary. A
# separate target directory, because the `builtin` feature changes how the
# plugin crates are compiled.
CARGO_TARGET_DIR=target/builtin cargo test -p nexcage --features builtin-all --test builtin
