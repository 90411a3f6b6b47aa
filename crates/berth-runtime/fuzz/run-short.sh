#!/bin/sh
# Fuzzes the config loader (berth_runtime::spec::parse + plan::build) for about 60 seconds.
# Needs cargo-fuzz; integration/fuzz-toolchain.sh picks the toolchain.
set -eu
cd "$(dirname "$0")"
SECONDS_TO_RUN=${FUZZ_SECONDS:-60}
. ../../../integration/fuzz-toolchain.sh

scratch=$(mktemp -d)
trap 'rm -rf "$scratch" /tmp/berth-fuzz-bundle-*' EXIT
cargo $toolchain fuzz run config_json "$scratch" corpus/config_json -- \
    -max_total_time="$SECONDS_TO_RUN" -max_len=16384
echo "fuzz: config_json ran ${SECONDS_TO_RUN}s without a crash"
