#!/bin/sh
# Fuzzes berth_seccomp::compile from arbitrary JSON for about 60 seconds.
# Needs cargo-fuzz and a nightly toolchain; without them it says so and
# exits 0, so CI can call it unconditionally.
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

# New inputs go to a scratch corpus; the checked-in seeds stay as they are.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cargo +nightly fuzz run compile_json "$scratch" corpus/compile_json -- \
    -max_total_time="$SECONDS_TO_RUN" -max_len=4096
echo "fuzz: compile_json ran ${SECONDS_TO_RUN}s without a crash"
