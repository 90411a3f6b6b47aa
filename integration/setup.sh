#!/usr/bin/env bash
# Installs what berth's build, tests and benchmarks need on Debian 12; does nothing twice.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if ! command -v cargo >/dev/null; then
    echo "setup: no Rust toolchain: install one with rustup (https://rustup.rs), then re-run" >&2
    exit 1
fi
if command -v rustup >/dev/null; then
    rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi

packages=(
    busybox-static runc crun python3 jq time util-linux iproute2 openssl
    skopeo umoci docker-registry apache2-utils
    golang-github-containers-common
    qemu-system-x86 linux-image-amd64
    containerd podman conmon docker.io
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Debian starts these daemons on install; berth's tests run private instances only.
for svc in docker containerd docker-registry; do
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
done
echo "setup: ok"
