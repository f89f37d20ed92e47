#!/usr/bin/env bash
# Installs nexcage and a chosen set of plugins from target/release, for
# packagers: DESTDIR and PREFIX as usual.
#
#   cargo build --release --workspace
#   sudo scripts/install.sh                          # /usr/local, all plugins
#   DESTDIR=pkg PREFIX=/usr scripts/install.sh oci   # staged, only the oci plugin
#
# The binary finds its plugins in $PREFIX/lib/nexcage/plugins (relative to
# itself), so no config is needed for the default layout. Plugin files and
# their directory must not be group/world-writable, and must be owned by
# root or the user running nexcage, or nexcage refuses them.
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=${PREFIX:-/usr/local}
dest=${DESTDIR:-}
release=target/release
plugins=("$@")
if [ ${#plugins[@]} -eq 0 ]; then
    plugins=(oci proxmox-lxc)
fi

[ -x "$release/nexcage" ] || { echo "install.sh: build first: cargo build --release --workspace" >&2; exit 1; }

install -d -m 0755 "$dest$prefix/bin" "$dest$prefix/lib/nexcage/plugins" \
    "$dest$prefix/share/bash-completion/completions" "$dest/etc/nexcage"
install -m 0755 "$release/nexcage" "$dest$prefix/bin/nexcage"
for p in "${plugins[@]}"; do
    lib="libnexcage_${p//-/_}.so"
    [ -f "$release/$lib" ] || { echo "install.sh: no $release/$lib" >&2; exit 1; }
    install -m 0755 "$release/$lib" "$dest$prefix/lib/nexcage/plugins/$lib"
done
"$release/nexcage" completions bash > "$dest$prefix/share/bash-completion/completions/nexcage"
install -m 0644 examples/config.toml "$dest/etc/nexcage/config.toml.example"
echo "installed nexcage and ${plugins[*]} under $dest$prefix"
