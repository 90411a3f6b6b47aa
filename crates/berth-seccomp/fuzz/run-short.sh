#!/bin/sh
# Fuzzes berth_seccomp::compile from arbitrary JSON for about 60 seconds.
# Needs cargo-fuzz; integration/fuzz-toolchain.sh picks the toolchain.
set -eu
cd "$(dirname "$0")"
SECONDS_TO_RUN=${FUZZ_SECONDS:-60}

. ../../../integration/fuzz-toolchain.sh

# New inputs go to a scratch corpus; the checked-in seeds stay as they are.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cargo $toolchain fuzz run compile_json "$scratch" corpus/compile_json -- \
    -max_total_time="$SECONDS_TO_RUN" -max_len=4096
echo "fuzz: compile_json ran ${SECONDS_TO_RUN}s without a crash"
