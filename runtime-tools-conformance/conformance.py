#!/usr/bin/env python3
"""berth's OCI runtime conformance suite: runs each case against a runtime and prints TAP.

    conformance.py --runtime PATH --probe PATH [--only SUBSTRING ...]

Needs root. Every case gets its own temp dir, state root (--root) and container ids, and
removes them whether it passes or not."""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cases import CASES  # noqa: E402
from harness import Runtime, run_cases  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runtime", required=True, help="the runtime binary under test")
    ap.add_argument("--probe", required=True, help="the static probe binary")
    ap.add_argument("--only", nargs="*", help="run only cases whose name contains one of these")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("conformance: needs root")
    for p in (a.runtime, a.probe):
        if not os.access(p, os.X_OK):
            sys.exit(f"conformance: {p} is not an executable")
    rt = Runtime(os.path.abspath(a.runtime), os.path.abspath(a.probe))
    print(f"# runtime {rt.path}; features: {'yes' if rt.features else 'none'}", flush=True)
    passed, failed, skipped, todo = run_cases(rt, CASES, a.only)
    print(f"{passed} passed, {failed} failed, {skipped} skipped, {todo} todo", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
