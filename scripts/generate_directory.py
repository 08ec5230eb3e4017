"""Build the demo directory (SQLite): `python scripts/generate_directory.py --users 100000 --output x.db`."""

import argparse
import time

from provisioning.demo.directory import build_sqlite


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--output", default=".demo/directory.db")
    args = parser.parse_args()
    started = time.perf_counter()
    counts = build_sqlite(args.output, users=args.users, seed=args.seed)
    print(f"{args.output}: {counts} in {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main()
