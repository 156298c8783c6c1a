"""Run every benchmark in this folder (`make bench`): each prints its table and writes JSON.

Usage:
    tools/venv/bin/python -m benchmarks.run_all [--only NAME ...] [--list]

Each `benchmarks/bench_<name>.py` is run as `python -m benchmarks.bench_<name>` in its own process,
so one benchmark's peak memory never colours another's.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=None, help="run only these names (e.g. rnnt_loss decode)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return parser


def main() -> int:
    args = get_parser().parse_args()
    names = sorted(p.stem[len("bench_"):] for p in Path(__file__).parent.glob("bench_*.py"))
    if args.list:
        print("\n".join(names))
        return 0
    if args.only:
        unknown = set(args.only) - set(names)
        if unknown:
            print(f"ERROR: unknown benchmark(s) {sorted(unknown)}; known: {names}", file=sys.stderr)
            return 2
        names = [n for n in names if n in args.only]
    failed = []
    for name in names:
        print(f"==== benchmarks.bench_{name}", flush=True)
        start = time.time()
        rc = subprocess.call([sys.executable, "-m", f"benchmarks.bench_{name}"])
        print(f"==== bench_{name}: exit {rc} in {time.time() - start:.0f} s", flush=True)
        if rc != 0:
            failed.append(name)
    if failed:
        print(f"ERROR: failed benchmarks: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
