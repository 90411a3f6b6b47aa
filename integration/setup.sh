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

# `setup.sh minimal`: only what `make demo` needs.
if [ "${1:-}" = minimal ]; then
    # The demo runs `berth image run` on the CNI bridge, with podman's copy of Docker's
    # seccomp profile (golang-github-containers-common).
    packages=(busybox-static python3 util-linux iproute2 iptables containernetworking-plugins
              golang-github-containers-common)
else
    packages=(
        busybox-static runc crun python3 jq time util-linux iproute2 openssl bsdutils
        skopeo umoci docker-registry apache2-utils
        golang-github-containers-common golang-github-docker-docker-dev gcc libc6-dev
        qemu-system-x86 linux-image-amd64 apparmor
        selinux-policy-default policycoreutils dbus criu
        containerd podman conmon docker.io
        iptables containernetworking-plugins protobuf-compiler
        uidmap slirp4netns fuse-overlayfs
    )
fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
    # Debian starts the daemons of packages it installs; berth's tests run private instances
    # only, so stop the ones this install just started (never ones that ran before).
    for pkg_svc in docker.io:docker containerd:containerd docker-registry:docker-registry; do
        pkg=${pkg_svc%%:*} svc=${pkg_svc#*:}
        if [[ " ${missing[*]} " == *" $pkg "* ]]; then
            systemctl disable --now "$svc" >/dev/null 2>&1 || true
        fi
    done
fi
# The fuzz targets need cargo-fuzz, and nightly if it can be had (stable with
# RUSTC_BOOTSTRAP=1 otherwise). fuzz-short fails under CI=true without cargo-fuzz.
if [ "${1:-}" != minimal ] && command -v rustup >/dev/null; then
    cargo +nightly --version >/dev/null 2>&1 || rustup toolchain install nightly --profile minimal >/dev/null 2>&1 || true
    cargo fuzz --version >/dev/null 2>&1 || cargo install --locked cargo-fuzz >/dev/null 2>&1 || true
fi
echo "setup: ok"
