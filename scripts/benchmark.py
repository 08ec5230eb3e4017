"""Benchmark a full provisioning cycle (not a test): `make bench BENCH_ARGS="--users 10000"`.

Builds a directory of N users (all in scope), starts a real scim2-server on 127.0.0.1, then runs
the cycle steps exactly as the DAG's operators call them: an initial cycle (creates), a cycle
with no directory change, and a cycle with 1% of users changed. Prints per-step wall seconds,
CPU seconds of this process, objects/s and peak RSS; a baseline of raw POSTs to the same server
shows whether the initial cycle is bound by the SCIM server or by our code.

`--profile` profiles apply's CPU in every thread with yappi (pyinstrument and cProfile see only
the thread that started them, and apply's requests run in a pool): the top functions are
printed and a pstats file per cycle is saved with the results. Profiling slows the run, so take
the timings from a run without it.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import yaml
import yappi
from sqlalchemy import create_engine, text

from provisioning.config import AppConfig
from provisioning.config.loader import DEFAULT_APPS_DIR
from provisioning.connectors.directory.sql import SqlDirectorySource
from provisioning.connectors.scim.client import ScimClient
from provisioning.connectors.scim.connector import ScimConnector
from provisioning.cycle import steps
from provisioning.cycle.context import CycleContext
from provisioning.demo.directory import build_sqlite
from provisioning.demo.scim_server import ScimServer
from provisioning.state import StateStore
from provisioning.state.schema import upgrade as upgrade_schema

STEPS = (steps.extract_assignments, steps.match, steps.diff, steps.apply, steps.report)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def profiled(call, name: str, output: Path, top: int = 25):
    """``call()`` under yappi's CPU clock in every thread; prints the ``top`` functions by own
    time and saves the whole profile as ``output/profile-<name>.pstat``."""
    yappi.set_clock_type("cpu")
    yappi.clear_stats()
    yappi.start()
    try:
        return call()
    finally:
        yappi.stop()
        stats = yappi.get_func_stats()
        output.mkdir(parents=True, exist_ok=True)
        stats.save(str(output / f"profile-{name}.pstat"), type="pstat")
        total = sum(s.tsub for s in stats)
        print(f"\n{name}: {total:.2f} CPU s profiled; top {top} by own time (tsub), with total (ttot)")
        for s in sorted(stats, key=lambda s: s.tsub, reverse=True)[:top]:
            where = f"{Path(s.module).name}:{s.lineno}"
            print(f"  {s.tsub:7.2f} {s.ttot:7.2f} {s.ncall:>8}  {s.name}  ({where})")


def build_directory(path: Path, users: int) -> None:
    """A demo directory of ``users`` people, every one of them in scope (the worst case)."""
    build_sqlite(path, users=users, seed=1)
    with create_engine(f"sqlite:///{path}").begin() as conn:
        conn.execute(text("update users set accountEnabled=1"))


def bench_raw_config(concurrency: int, groups: bool) -> dict:
    """The demo wiki's config file for every user, with or without its groups, as a mapping."""
    raw = yaml.safe_load((DEFAULT_APPS_DIR / "demo_wiki.yaml").read_text())
    raw.update(app="bench")
    raw["users"]["scope"] = "all"
    raw["target"]["max_concurrency"] = concurrency
    if not groups:
        raw.pop("groups")
    return raw


def bench_config(concurrency: int, groups: bool) -> AppConfig:
    """The demo wiki's config for every user, with or without its groups."""
    return AppConfig.model_validate(bench_raw_config(concurrency, groups))


def run_cycle(name: str, ctx: CycleContext, objects: int, profile: Path | None = None) -> list[dict]:
    rows = []
    for step in STEPS:
        wall, cpu = time.perf_counter(), cpu_seconds()
        if profile is not None and step is steps.apply:
            summary = profiled(lambda: steps.apply(ctx), f"{name}-apply", profile)
        else:
            summary = step(ctx)
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
        rows.append(
            {
                "cycle": name,
                "step": step.__name__,
                "seconds": round(wall, 3),
                "cpu_seconds": round(cpu, 3),
                "objects_per_s": round(objects / wall) if wall else None,
                "peak_rss_mb": round(peak_rss_mb()),
                "summary": summary,
            }
        )
    return rows


def raw_post_baseline(url: str, token: str, count: int, workers: int) -> float:
    """POSTs/s the server sustains with no provisioning logic at all (throwaway users)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    with httpx.Client(base_url=url, headers=headers, limits=httpx.Limits(max_connections=workers)) as client:

        def post(i: int) -> None:
            body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": f"baseline-{i}"}
            for attempt in range(3):  # the test server's listen backlog resets a connection now and then
                try:
                    client.post("/Users", json=body).raise_for_status()
                    return
                except httpx.TransportError:
                    if attempt == 2:
                        raise

        started = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(post, range(count)))
        return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--baseline", type=int, default=1000, help="raw POSTs for the server baseline")
    parser.add_argument("--output", type=Path, default=Path("bench-results"))
    parser.add_argument(
        "--groups", action="store_true", help="also provision the demo's department and division groups"
    )
    parser.add_argument(
        "--profile", action="store_true", help="profile apply's CPU in every thread (slows the run)"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="provisioning-bench-"))
    started = time.perf_counter()
    build_directory(work / "directory.db", args.users)
    print(f"directory of {args.users} users built in {time.perf_counter() - started:.1f}s")
    config = bench_config(args.concurrency, args.groups)
    store = StateStore(f"sqlite:///{work / 'state.db'}")
    upgrade_schema(store.engine)
    results: list[dict] = []
    with ScimServer(token="bench") as server:
        client = ScimConnector.for_app(
            ScimClient(server.url, "bench", max_connections=args.concurrency), config
        )

        def context(cycle_id: str) -> CycleContext:
            return CycleContext(
                config,
                cycle_id,
                store,
                lambda: SqlDirectorySource(create_engine(f"sqlite:///{work / 'directory.db'}")),
                lambda: client,
            )

        profile = args.output if args.profile else None
        results += run_cycle("initial", context("c1"), args.users, profile)
        results += run_cycle("no-change", context("c2"), args.users)
        with create_engine(f"sqlite:///{work / 'directory.db'}").begin() as conn:
            conn.execute(text("update users set jobTitle = jobTitle || ' II' where rowid % 100 = 0"))
        results += run_cycle("1%-changed", context("c3"), args.users, profile)
        baseline = raw_post_baseline(server.url, "bench", args.baseline, args.concurrency)

    print(f"\n{'cycle':<11} {'step':<20} {'wall s':>8} {'cpu s':>8} {'obj/s':>9} {'peak MB':>8}")
    for row in results:
        print(
            f"{row['cycle']:<11} {row['step']:<20} {row['seconds']:>8.2f} {row['cpu_seconds']:>8.2f} "
            f"{row['objects_per_s'] or 0:>9} {row['peak_rss_mb']:>8}"
        )
    for cycle in ("initial", "no-change", "1%-changed"):
        total = sum(r["seconds"] for r in results if r["cycle"] == cycle)
        print(f"{cycle}: {total:.2f}s in total")
    applied = next(r for r in results if r["cycle"] == "initial" and r["step"] == "apply")
    print(
        f"apply created {applied['summary']['succeeded']} users ({applied['summary']['failed']} failed) "
        f"at {applied['objects_per_s']}/s; "
        f"raw POST baseline on the same server (now holding {args.users} users): {baseline:.0f}/s"
    )
    for cycle, kind in (("initial", "create"), ("1%-changed", "update")):
        step = next(r for r in results if r["cycle"] == cycle and r["step"] == "apply")
        actions = step["summary"]["attempted"]
        if actions:
            per_action = step["cpu_seconds"] / actions * 1000
            print(f"apply CPU per {kind} ({cycle}, {actions} actions): {per_action:.2f} ms")
    args.output.mkdir(parents=True, exist_ok=True)
    out = args.output / f"bench-{args.users}{'-groups' if args.groups else ''}.json"
    out.write_text(
        json.dumps(
            {
                "users": args.users,
                "groups": args.groups,
                "concurrency": args.concurrency,
                "steps": results,
                "raw_post_per_s": round(baseline),
            },
            indent=1,
            default=str,
        )
    )
    print(f"results: {out}")


if __name__ == "__main__":
    main()
