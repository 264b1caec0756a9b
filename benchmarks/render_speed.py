"""Render rate of the Landscapes world, in one process and with a two-process pool.

python benchmarks/render_speed.py [--count 20000]
On a shared machine the pool row shows what the other processes leave over, not what the pool can do.
"""

from __future__ import annotations

import argparse
import time

import _common  # noqa: F401  (the repository on sys.path: runs from a checkout not installed)

from studio.training.dataset import render_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20000)
    args = parser.parse_args()
    render_dataset(50, seed=0)  # warm the caches before timing
    print(f"{'workers':>8} {'images':>8} {'seconds':>8} {'images/s':>9}")
    for workers in (1, 2):
        start = time.perf_counter()
        render_dataset(args.count, seed=1, workers=workers)
        seconds = time.perf_counter() - start
        print(f"{workers:>8} {args.count:>8} {seconds:>8.2f} {args.count / seconds:>9.0f}")


if __name__ == "__main__":
    main()
