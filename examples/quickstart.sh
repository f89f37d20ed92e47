#!/usr/bin/env bash
# The main job, end to end on a fresh Debian/Ubuntu machine (as root):
# install what is needed, build nexcage and its plugins, then run a real
# container through nexcage twice:
#   1. as a Proxmox user would, with the proxmox-lxc backend (pct), here
#      against the pct test double, which runs the container on real LXC;
#   2. as an OCI runtime, with the oci backend (runc) and a busybox bundle.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cargo build --release --workspace --quiet
bin=$PWD/target/release

work=$(mktemp -d /tmp/nexcage-quickstart.XXXXXX)
cleanup() {
    for c in "$work"/pve/lxc/*/; do
        [ -d "$c" ] || continue
        lxc-stop -P "$work/pve/lxc" -n "$(basename "$c")" --kill >/dev/null 2>&1 || true
    done
    "$bin/nexcage" --config "$work/nexcage.toml" --root "$work/state" delete --force demo-oci >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

export PVE_DOUBLE_ROOT=$work/pve
mkdir -p "$PVE_DOUBLE_ROOT"
"$bin/pve-double-mktemplate" "$PVE_DOUBLE_ROOT" >/dev/null

cat >"$work/nexcage.toml" <<TOML
[routing]
default = "proxmox-lxc"

[[routing.rules]]
match = "demo-oci"
backend = "runc"

[backends.proxmox-lxc]
pct = "$bin/pct"
pveam = "$bin/pveam"
pvesh = "$bin/pvesh"
node = "pve"
storage = "local-lvm"
rootfs_gib = 1
bridge = ""
template_dir = "$PVE_DOUBLE_ROOT/var/lib/vz/template/cache"

[backends.runc]
plugin = "oci"
binary = "runc"
TOML

nexcage() {
    echo "\$ nexcage $*"
    "$bin/nexcage" --config "$work/nexcage.toml" --root "$work/state" "$@"
}

echo "== 1. Proxmox LXC (pct double on real LXC)"
nexcage plugins
nexcage create web1 --image busybox --memory 256
nexcage start web1
nexcage list
nexcage exec web1 -- sh -c 'echo "hello from $(hostname), pid 1 is $(cat /proc/1/comm)"'
nexcage stop web1
nexcage delete web1

echo
echo "== 2. OCI runtime (runc) with a busybox bundle"
bundle=$work/bundle
mkdir -p "$bundle/rootfs/bin"
cp /bin/busybox "$bundle/rootfs/bin/"
for a in sh echo hostname; do ln -s busybox "$bundle/rootfs/bin/$a"; done
(cd "$bundle" && runc spec)
# terminal off and a command that prints
sed -i -e 's/"terminal": true/"terminal": false/' \
       -e 's/"sh"$/"sh", "-c", "echo hello from an OCI container"/' "$bundle/config.json"
nexcage route create demo-oci
nexcage run --bundle "$bundle" demo-oci
