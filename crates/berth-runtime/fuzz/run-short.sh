#!/bin/sh
# Fuzzes the config loader (berth_runtime::spec::parse + plan::build) for about 60 seconds.
# Needs cargo-fuzz and a nightly toolchain; without them it says so and exits 0.
set -eu
cd "$(dirname "$0")"
SECONDS_TO_RUN=${FUZZ_SECONDS:-60}
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: skipped (no nightly toolchain; rustup toolchain install nightly)"
    exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz: skipped (cargo-fuzz not installed; cargo install cargo-fuzz)"
    exit 0
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch" /tmp/berth-fuzz-bundle-*' EXIT
cargo +nightly fuzz run config_json "$scratch" corpus/config_json -- \
    -max_total_time="$SECONDS_TO_RUN" -max_len=16384
echo "fuzz: config_json ran ${SECONDS_TO_RUN}s without a crash"
