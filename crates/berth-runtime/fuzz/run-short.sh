#!/bin/sh
# Fuzzes the config loader (berth_runtime::spec::parse + plan::build) for about 60 seconds.
# Needs cargo-fuzz (see below for the toolchain).
set -eu
cd "$(dirname "$0")"
SECONDS_TO_RUN=${FUZZ_SECONDS:-60}
# cargo-fuzz's sanitizer flags need nightly; without it, stable with RUSTC_BOOTSTRAP=1
# accepts them too. Without cargo-fuzz the run is skipped, except under CI=true, where a
# silent skip would pass for a fuzz run: there it fails.
if cargo +nightly --version >/dev/null 2>&1; then
    toolchain=+nightly
else
    toolchain=
    export RUSTC_BOOTSTRAP=1
fi
if ! cargo $toolchain fuzz --version >/dev/null 2>&1; then
    echo "fuzz: cargo-fuzz not installed (cargo install cargo-fuzz)"
    [ "${CI:-}" = true ] && exit 1
    echo "fuzz: skipped"
    exit 0
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch" /tmp/berth-fuzz-bundle-*' EXIT
cargo $toolchain fuzz run config_json "$scratch" corpus/config_json -- \
    -max_total_time="$SECONDS_TO_RUN" -max_len=16384
echo "fuzz: config_json ran ${SECONDS_TO_RUN}s without a crash"
