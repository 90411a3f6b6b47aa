# Sourced by the fuzz targets' run-short.sh: picks the toolchain for cargo-fuzz.
# Its sanitizer flags need nightly; without it, stable with RUSTC_BOOTSTRAP=1 accepts them
# too. Without cargo-fuzz the run is skipped, except under CI=true, where a silent skip would
# pass for a fuzz run: there it fails.
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
