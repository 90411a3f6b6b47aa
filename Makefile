# berth: `make demo` runs a first container, `make test` runs the whole test suite.
SHELL := /bin/bash
CARGO ?= cargo
BERTH_DEBUG := target/debug/berth
# The release binary links glibc statically (static-pie): create and exec re-exec berth once
# (its helper; `run` forks its init instead), and a static binary starts about 0.35 ms sooner (no
# ld.so, no shared libraries to map). The target is named so that build scripts and
# proc-macros stay dynamic. build.rs lays its start path out first (see `bench-order`).
RELEASE_TARGET := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
BERTH_RELEASE := target/$(RELEASE_TARGET)/release/berth

.PHONY: all setup build release demo test lint test-workspace test-runc test-vm test-cgv2 test-hosts test-clients \
        test-shim conformance fuzz-short bench bench-smoke bench-image bench-shim bench-order shim-release clean \
        skip-log-reset test-summary

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

# Every suite appends what it skips (and conformance its TODOs) here; `make test` starts it
# empty and counts it at the end. Under CI=true (or BERTH_STRICT=1) a test that cannot run
# fails instead of being skipped.
export BERTH_SKIP_LOG ?= $(CURDIR)/target/skipped.tsv

# The whole suite, as CI runs it (serially: skip-log-reset first, the summary last).
test: setup skip-log-reset lint test-workspace test-runc test-vm test-cgv2 test-hosts test-clients test-shim conformance fuzz-short bench-smoke
	@bash tests/summary.sh

skip-log-reset:
	@mkdir -p $(dir $(BERTH_SKIP_LOG)) && : > $(BERTH_SKIP_LOG) && rm -f target/faults-*.txt

# What the last `make test` did not check (skips, TODOs, #[ignore], berth_only tests).
test-summary:
	@bash tests/summary.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Unit tests of every crate, the crates' root tests, and the runtime integration tests
# (tests/tests.rs: real containers from a busybox rootfs) against berth.
test-workspace: build
	$(CARGO) test --workspace

# The same integration tests (runtime:: and cgroups::) against runc, to prove the tests
# themselves right; berth_only_* tests check what only berth does.
test-runc:
	RUNTIME=/usr/sbin/runc $(CARGO) test --test tests -- --skip berth_only

# The qemu guest runner's self-test (integration/vm/run): a plain, a timed-out and a systemd
# guest, about a minute under TCG.
test-vm:
	integration/vm/selftest

# The cgroup and runtime tests in a pure cgroup v2 qemu guest (integration/vm/run): all of
# them with AppArmor, then the LSM tests with SELinux.
test-cgv2: build
	bash integration/cgv2/run.sh
	CGV2_LSM=selinux bash integration/cgv2/run.sh runtime::lsm runtime::bad_input
	bash integration/criu/run.sh runc podman-berth

# The hosts runc really runs on (issue 15), each workflow with berth and with runc: as nobody on
# this host, and in systemd guests (cgroup v2 and v1): the cgroup tests with --systemd-cgroup,
# the systemd driver, podman and dockerd with systemd managers, CRI with SystemdCgroup, rootless
# with the user's systemd instance and rootless podman. Prints the table of results.
test-hosts: build
	bash integration/hosts/run.sh

# containerd, podman and dockerd driving berth.
test-clients: build
	bash integration/clients/run.sh all

# containerd-shim-berth-v2 under containerd 1.6 (ctr workflows, faults, CRI with berth and
# runc handlers); then the ctr and fault suites through containerd-shim-runc-v2 + runc, to prove
# them right.
test-shim:
	$(CARGO) build --workspace
	bash integration/shim/run.sh
	SHIM_RUNTIME=runc bash integration/shim/run.sh ctr faults

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

# The release binary's layout (build.rs): bench/order/berth.order lists the functions the runtime
# verbs run, in the order they first run them, collected with uprobes on the release binary
# (root; ~30 min: every exec of the probed binary installs its probes). Regenerate it when the
# start path changed much; names it lists that no longer exist are skipped by the linker.
bench-order: release
	python3 bench/order/collect.py $(BERTH_RELEASE) bench/order/workload.sh bench/order/berth.order

# The shim: `ctr run --rm` latency (berth shim, runc shim + runc, runc shim + berth) and the
# shims' memory per idle container. The shim is linked static and not position-independent:
# nothing to relocate at start, so its read-only data stays shared between the shims instead
# of ~0.4 MiB of relocated copies per container.
SHIM_RELEASE := target/$(RELEASE_TARGET)/release/containerd-shim-berth-v2
shim-release:
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) rustc --release --target $(RELEASE_TARGET) \
		-p berth-shim --bin containerd-shim-berth-v2 -- -C relocation-model=static

bench-shim: release shim-release
	BERTH=$(CURDIR)/$(BERTH_RELEASE) SHIM=$(CURDIR)/$(SHIM_RELEASE) \
		bash bench/shim.sh

# The lifecycle benchmark's smoke mode (a few seconds, debug binary): keeps the script working.
bench-smoke: build
	SMOKE=1 BERTH=$(CURDIR)/$(BERTH_DEBUG) bash bench/lifecycle.sh

bench-image: release
	BERTH=$(CURDIR)/$(BERTH_RELEASE) bash crates/berth-image/bench/bench-image.sh

clean:
	$(CARGO) clean
