#!/usr/bin/env bash
# The last step of `make test`: what the run did not check, one line per suite and kind.
#   - the skips and TODOs the suites appended to $BERTH_SKIP_LOG (a line each: suite, case,
#     "SKIP|TODO reason"): Rust tests that cannot run on this host (tests/harness/strict.rs),
#     conformance SKIPs and TODOs, client tests and suites;
#   - Rust tests marked #[ignore] (`cargo test -- --list --ignored`);
#   - the berth_only_* tests that test-runc leaves out (`--skip berth_only`).
# Under CI=true (strict mode) a skip fails its suite, so only TODOs, ignored and berth_only
# tests can be counted there.
set -euo pipefail
cd "$(dirname "$0")/.."
log=${BERTH_SKIP_LOG:?BERTH_SKIP_LOG names the skip log}
cargo=${CARGO:-cargo}

# The fault-injection counts (tests/runtime/faults.rs writes one file per kernel it ran on).
if compgen -G 'target/faults-*.txt' >/dev/null; then
	echo "== fault injection (SIGKILLed verbs)"
	sed 's/^/  /' target/faults-*.txt
fi
echo "== not checked in this run"
if [[ -s $log ]]; then
	awk -F'\t' '{ split($3, w, " "); n[$1 " " w[1]]++ }
		END { for (k in n) { split(k, p, " "); printf "  %-32s %3d %s\n", p[1], n[k], p[2] } }' "$log" | sort
	echo "  (cases: $log)"
else
	echo "  nothing skipped, no TODO"
fi
ignored=$($cargo test --workspace --tests -q -- --list --ignored 2>/dev/null | grep ': test$' | sed 's/: test$//' || true)
printf '  %-32s %3d %s\n' "Rust tests marked #[ignore]" "$(grep -c . <<<"$ignored" || true)" "$(echo $ignored)"
# berth-cgroups' systemd tests are #[ignore]d on the host and run by test-hosts in the systemd
# guests (cgroup v2 and v1): say whether that run passed them.
if [ -f target/hosts/results.tsv ]; then
	printf '  %-32s     %s\n' "(systemd driver tests)" "run by test-hosts: $(awk -F'\t' '$2 == "driver" {printf "%s cgroup %s: %s (%s); ", "guest", $1, $3, $5}' target/hosts/results.tsv)"
fi
berth_only=$($cargo test --test tests -q -- --list 2>/dev/null | grep -c '::berth_only_.*: test$' || true)
printf '  %-32s %3d (berth_only_*, skipped by test-runc)\n' "tests not run against runc" "$berth_only"
