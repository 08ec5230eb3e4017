"""Time and peak memory of reading a large directory from a real slapd (not a test):
`make bench-ldap BENCH_ARGS="--users 100000 --teams 5000"`.

The directory is the demo's (scripts/generate_directory.py) with ``--teams`` team groups, each
team nested in its department group, written as Active-Directory-shaped LDIF (demo/ldif.py) and
loaded with slapadd. The read is the LDAP source's, as extract_assignments does it, in a fresh
spawned process (an Airflow task's memory, imports included): every user and group by paged
search (the server caps a search at 1,000 entries), member DNs resolved to ids, the demo wiki's
assignment group. The peak is the kernel's VmHWM (benchmark_memory.py says why not ru_maxrss).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
from benchmark_memory import rss_mb
from sqlalchemy import create_engine

from provisioning.config.ldap_directory import LdapDirectoryConfig
from provisioning.connectors.directory.registry import open_source
from provisioning.connectors.directory.sql import SqlDirectorySource
from provisioning.demo.directory import DEPARTMENTS, build_sqlite, dept_group, team_group
from provisioning.demo.ldif import GROUPS, PEOPLE, ad_ldif, group_dn
from provisioning.demo.slapd import READER_DN, READER_PASSWORD, Slapd


def read_once(port: int, page_size: int) -> dict[str, Any]:
    """One read in this (fresh) process."""
    config = LdapDirectoryConfig.model_validate(
        {
            "kind": "ldap",
            "conn_id": "bench_ldap",
            "flavor": "active_directory",
            "users": {"base_dn": PEOPLE},
            "groups": {"base_dn": GROUPS},
            "assignment": {"groups": [group_dn("g-division-tech")]},
            "group_attributes": {"displayName": "displayName"},
            "page_size": page_size,
        }
    )
    connection = SimpleNamespace(
        host="127.0.0.1", port=port, login=READER_DN, password=READER_PASSWORD, extra_dejson={"tls": "none"}
    )
    baseline = rss_mb("VmRSS")
    started = time.perf_counter()
    snapshot = open_source(config, lambda conn_id: connection, "demo_wiki").read()
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 1),
        "peak_rss_mb": rss_mb("VmHWM"),
        "rss_before_read_mb": baseline,
        "users": len(snapshot.users),
        "groups": len(snapshot.groups),
        "memberships": len(snapshot.memberships),
        "nested_memberships": int((snapshot.memberships["member_type"] == "group").sum()),
    }


def directory_ldif(users: int, teams: int, work: Path) -> str:
    """The demo directory with each team nested in its department group."""
    path = work / "directory.db"
    build_sqlite(path, users=users, teams=teams)
    snapshot = SqlDirectorySource(create_engine(f"sqlite:///{path}")).read()
    nested = pd.DataFrame(
        [(dept_group(DEPARTMENTS[t % len(DEPARTMENTS)]), team_group(t), "group") for t in range(teams)],
        columns=["group_id", "member_id", "member_type"],
    )
    snapshot.memberships = pd.concat([snapshot.memberships, nested], ignore_index=True)
    return ad_ldif(snapshot)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--teams", type=int, default=5_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output", type=Path, default=Path(".bench/ldap.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        started = time.perf_counter()
        ldif = directory_ldif(args.users, args.teams, work)
        built = time.perf_counter() - started
        started = time.perf_counter()
        with Slapd(work / "slapd", ldif) as server:
            loaded = time.perf_counter() - started
            print(f"LDIF of {args.users} users, {args.teams} teams: {built:.1f}s; loaded in {loaded:.1f}s")
            spawn = multiprocessing.get_context("spawn")
            runs = []
            for _ in range(args.repeat):
                with spawn.Pool(1) as pool:
                    runs.append(pool.apply(read_once, (server.port, args.page_size)))
                print(json.dumps(runs[-1]))
    result = {"users": args.users, "teams": args.teams, "page_size": args.page_size, "runs": runs}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    best = min(runs, key=lambda r: r["seconds"])
    print(f"read: best {best['seconds']}s, peak {max(r['peak_rss_mb'] for r in runs)} MB -> {args.output}")


if __name__ == "__main__":
    main()
