"""Soak the safety invariants (not a test): `.venv/bin/python scripts/soak_safety.py --examples 500`.

Runs tests/integration/test_safety_stateful.py with SAFETY_SOAK=1: random (not fixed-seed)
sequences of directory changes, config edits, faults, overlapping runs and approvals against two
real scim2-server processes. Violations are counted instead of stopping the run; at the end the
test prints one line of figures -- steps run, faults injected per kind, violations per invariant
-- and fails if any violation was found. ``--only`` enforces a subset of invariants, ``--shrink``
(with the fixed seed, not the soak) reduces the first failure to a minimal sequence.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEST = REPO / "tests" / "integration" / "test_safety_stateful.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200, help="state machine runs (default 200)")
    parser.add_argument("--steps", type=int, default=40, help="rules per run (default 40)")
    parser.add_argument("--only", help="comma-separated invariants to enforce (default: all)")
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="the state store: a SQLite file per run, or the machine's PostgreSQL",
    )
    parser.add_argument(
        "--shrink",
        action="store_true",
        help="no soak: the fixed-seed profile, stopping at the first violation and shrinking it",
    )
    args = parser.parse_args()
    os.environ.update(SAFETY_EXAMPLES=str(args.examples), SAFETY_STEPS=str(args.steps))
    os.environ["SAFETY_SHRINK" if args.shrink else "SAFETY_SOAK"] = "1"
    if args.only:
        os.environ["SAFETY_INVARIANTS"] = args.only
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return pytest.main(["-q", "-s", "-p", "no:cacheprovider", str(TEST), "-k", args.backend])


if __name__ == "__main__":
    sys.exit(main())
