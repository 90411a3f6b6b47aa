#!/usr/bin/env python3
"""Which functions of a berth binary its start path runs, in the order it first runs them:
the input of the linker's symbol-ordering file (bench/order/berth.order; see bench/README.md).

Usage (root, as `make bench-order` runs it):  collect.py BINARY WORKLOAD OUT
  BINARY    the static release binary (its symbol table is read; nothing of it is changed)
  WORKLOAD  a script run as `WORKLOAD BINARY`: the verbs whose code is wanted
  OUT       the ordering file to write: one symbol per line, first run first

How: a uprobe (tracefs) at the entry of every function of the binary. A uprobe costs a trap
per call, so hot functions would make the workload crawl: the workload is run in passes, and
after each pass the probes of every function seen so far are removed. A pass whose commands
are killed by the time limit still tells which functions ran first; the next pass gets further.
It ends with a pass in which no new function ran. The probes are removed on every exit.
"""

import os
import subprocess
import sys
import time

TRACEFS = "/sys/kernel/tracing"
GROUP = "berthorder"
PASSES = 12


def load_segments(binary):
    out = subprocess.check_output(["readelf", "-lW", binary], text=True)
    segs = []
    for line in out.splitlines():
        p = line.split()
        if p and p[0] == "LOAD" and "E" in "".join(p[6:-1]):
            segs.append((int(p[2], 16), int(p[1], 16), int(p[4], 16)))
    return segs


def load_functions(binary):
    """(file offset, name) of every defined function symbol in an executable segment."""
    segs = load_segments(binary)
    out = subprocess.check_output(["readelf", "-sW", binary], text=True)
    seen, funcs = set(), []
    for line in out.splitlines():
        p = line.split()
        if len(p) < 8 or p[3] != "FUNC" or p[6] == "UND":
            continue
        addr = int(p[1], 16)
        if addr in seen:
            continue
        for va, off, size in segs:
            if va <= addr < va + size:
                seen.add(addr)
                funcs.append((addr - va + off, p[7]))
    return funcs


def write(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def set_enabled(on):
    path = f"{TRACEFS}/events/{GROUP}/enable"
    if os.path.exists(path):
        write(path, "1" if on else "0")


def remove(probes):
    set_enabled(False)
    for i in probes:
        try:
            write(f"{TRACEFS}/uprobe_events", f"-:{GROUP}/f{i}\n")
        except OSError:
            pass


def main():
    binary, workload, out_path = os.path.abspath(sys.argv[1]), sys.argv[2], sys.argv[3]
    funcs = load_functions(binary)
    live = set()
    try:
        for i, (off, _) in enumerate(funcs):
            try:
                write(f"{TRACEFS}/uprobe_events", f"p:{GROUP}/f{i} {binary}:0x{off:x}\n")
                live.add(i)
            except OSError:
                pass
        print(f"collect: {len(live)} of {len(funcs)} functions probed", file=sys.stderr)
        order = []
        for n in range(PASSES):
            with open(f"{TRACEFS}/trace", "w"):
                pass
            set_enabled(True)
            t0 = time.monotonic()
            rc = subprocess.call([workload, binary])
            set_enabled(False)
            new = []
            with open(f"{TRACEFS}/trace") as t:
                for line in t:
                    if line.startswith("#"):
                        continue
                    for tok in line.split():
                        if tok.startswith("f") and tok.endswith(":") and tok[1:-1].isdigit():
                            i = int(tok[1:-1])
                            if i in live:
                                live.discard(i)
                                new.append(i)
                            break
            order.extend(new)
            remove(new)
            print(f"collect: pass {n + 1}: {len(new)} new functions, workload rc={rc}, "
                  f"{time.monotonic() - t0:.1f}s", file=sys.stderr)
            if not new and rc == 0:
                break
        with open(out_path, "w") as f:
            for i in order:
                f.write(funcs[i][1] + "\n")
        print(f"collect: {len(order)} functions written to {out_path}", file=sys.stderr)
    finally:
        remove(sorted(live))


if __name__ == "__main__":
    main()
