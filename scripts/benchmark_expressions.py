"""Benchmark expression mappings (not a test): `python scripts/benchmark_expressions.py --users 100000`.

Maps N directory users through ten expression mappings on the real extract path
(``desired_users``: scope, mapping, null handling) and prints the time and users per second.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine

from provisioning.config.mappings import ExpressionMapping
from provisioning.connectors.directory.sql import SqlDirectorySource
from provisioning.demo.directory import build_sqlite
from provisioning.engine.desired import desired_users
from provisioning.engine.mapping import compile_mappings

EXPRESSIONS = {
    "userName": 'ToLower(Join("@", NormalizeDiacritics(StripSpaces(Join(".", [givenName], [surname]))), '
    '"contoso.com"))',
    "displayName": 'PCase(Join(" ", [givenName], [surname]))',
    "nickName": "Append(Mid([givenName], 1, 3), Mid([surname], 1, 5))",
    "title": 'Switch([jobTitle], [jobTitle], "Director", "Head of", "Lead", "Team lead")',
    "externalId": "ConvertToUTF8Hex([employeeId])",
    "locale": 'IIF([department]="Sales", "en-US", "en-GB")',
    "profileUrl": 'Join("/", "https://wiki.example/u", Word([userPrincipalName], 1, "@"))',
    "userType": 'Coalesce([employeeId], "Contractor")',
    "preferredLanguage": "IgnoreFlowIfNullOrEmpty(Left([department], 2))",
    "name.formatted": 'Join(", ", [surname], ToUpper([givenName]))',
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    args = parser.parse_args()
    path = Path(tempfile.mkdtemp(prefix="provisioning-bench-expr-")) / "directory.db"
    build_sqlite(path, users=args.users, seed=1)
    snapshot = SqlDirectorySource(create_engine(f"sqlite:///{path}")).read()
    started = time.perf_counter()
    mappings = compile_mappings([ExpressionMapping(target=t, expression=e) for t, e in EXPRESSIONS.items()])
    compiled = time.perf_counter() - started
    started = time.perf_counter()
    desired = desired_users(
        "bench", "all", snapshot.users, snapshot.assignments, snapshot.memberships, mappings
    )
    elapsed = time.perf_counter() - started
    mapped = sum(d.in_scope for d in desired)
    print(f"compiled {len(mappings)} expressions in {compiled * 1000:.1f} ms")
    print(
        f"mapped {mapped} users x {len(mappings)} expression mappings in {elapsed:.2f}s "
        f"({mapped / elapsed:,.0f} users/s, {mapped * len(mappings) / elapsed:,.0f} evaluations/s)"
    )
    sample = next(d for d in desired if d.in_scope)
    print("sample:", sample.attributes)


if __name__ == "__main__":
    main()
