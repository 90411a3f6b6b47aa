#!/bin/sh
# Fuzzes berth_seccomp::compile from arbitrary JSON for about 60 seconds.
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

# New inputs go to a scratch corpus; the checked-in seeds stay as they are.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cargo $toolchain fuzz run compile_json "$scratch" corpus/compile_json -- \
    -max_total_time="$SECONDS_TO_RUN" -max_len=4096
echo "fuzz: compile_json ran ${SECONDS_TO_RUN}s without a crash"
