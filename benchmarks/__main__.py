"""Run the benchmarks: ``python -m benchmarks [NAME ...]``.

Each ``benchmarks/bench_NAME.py`` runs in its own process (so one benchmark's memory
and threads do not disturb the next); with no NAME, all of them run in name order.
Exits nonzero if any benchmark fails.
"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main(names: list[str]) -> int:
    available = sorted(path.stem.removeprefix("bench_") for path in HERE.glob("bench_*.py"))
    unknown = sorted(set(names) - set(available))
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {available}", file=sys.stderr)
        return 2
    failed = []
    for name in names or available:
        print(f"== bench_{name}", flush=True)
        command = [sys.executable, "-m", f"benchmarks.bench_{name}"]
        if subprocess.run(command, cwd=HERE.parent).returncode:
            failed.append(name)
    if failed:
        print(f"failed: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
