# berth: `make demo` runs a first container, `make test` runs the whole test suite.
SHELL := /bin/bash
CARGO ?= cargo
BERTH_DEBUG := target/debug/berth
# The release binary links glibc statically (static-pie): create, run and exec re-exec berth
# once (see exe_guard), and a static binary starts about 0.35 ms sooner (no ld.so, no shared
# libraries to map). The target is named so that build scripts and proc-macros stay dynamic.
RELEASE_TARGET := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
BERTH_RELEASE := target/$(RELEASE_TARGET)/release/berth

.PHONY: all setup build release demo test lint test-workspace test-runc test-cgv2 test-clients \
        conformance fuzz-short bench bench-smoke bench-image clean

all: build

# Debian packages and toolchain components the build, tests and benchmarks use (idempotent).
setup:
	bash integration/setup.sh

build:
	$(CARGO) build

release:
	bash integration/setup.sh minimal
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release --target $(RELEASE_TARGET) --bin berth

# Build berth, make a busybox bundle and run a container in it.
demo: release
	bash integration/demo.sh $(BERTH_RELEASE)

# The whole suite, as CI runs it.
test: setup lint test-workspace test-runc test-cgv2 test-clients conformance fuzz-short

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Unit tests of every crate, the crates' root tests, and the runtime integration tests
# (tests/tests.rs: real containers from a busybox rootfs) against berth.
test-workspace: build
	$(CARGO) test --workspace

# The same integration tests against runc, to prove the tests themselves right.
test-runc:
	RUNTIME=/usr/sbin/runc $(CARGO) test --test tests runtime::

# The cgroup and runtime tests in a pure cgroup v2 guest (qemu).
test-cgv2: build
	bash integration/cgv2/run.sh
	CGV2_LSM=selinux bash integration/cgv2/run.sh runtime::lsm runtime::bad_input

# containerd, podman and dockerd driving berth.
test-clients: build
	bash integration/clients/run.sh all

conformance: build
	$(MAKE) -C runtime-tools-conformance

# A short run of each fuzz target: the seccomp compiler and the config loader.
fuzz-short:
	FUZZ_SECONDS=30 sh crates/berth-seccomp/fuzz/run-short.sh
	FUZZ_SECONDS=30 sh crates/berth-runtime/fuzz/run-short.sh

# Benchmarks (not tests): the container lifecycle against crun, runc and the bare kernel (the
# floor), and image pull+unpack against skopeo+umoci; each prints issue 17's targets as met/missed.
bench: release
	BERTH=$(CURDIR)/$(BERTH_RELEASE) bash bench/lifecycle.sh

# The lifecycle benchmark's smoke mode (a few seconds, debug binary): keeps the script working.
bench-smoke: build
	SMOKE=1 BERTH=$(CURDIR)/$(BERTH_DEBUG) bash bench/lifecycle.sh

bench-image: release
	BERTH=$(CURDIR)/$(BERTH_RELEASE) bash crates/berth-image/bench/bench-image.sh

clean:
	$(CARGO) clean
