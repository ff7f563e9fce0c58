"""Run every benchmark one after another (each prints a markdown table and writes benchmarks/out/<name>.json).

    make bench        # or: .venv/bin/python benchmarks/run_all.py [--only regularizer engine]

They measure ratios side by side within one run; run them on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["scenes", "loading", "prepare_memory", "regularizer", "engine", "odsf"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=ORDER, help="run only these benchmarks")
    args = parser.parse_args()
    failed = []
    for name in args.only or ORDER:
        print(f"\n## {name}\n", flush=True)
        t0 = time.perf_counter()
        code = subprocess.call([sys.executable, str(HERE / f"bench_{name}.py")], cwd=HERE.parent)
        print(f"({name}: {time.perf_counter() - t0:.0f} s, exit {code})", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
