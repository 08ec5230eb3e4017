"""Memory and time of extract_assignments, match and diff (not a test):
`make bench-memory BENCH_ARGS="--users 100000 --teams 5000"`.

Airflow runs every step as its own task, so each step here runs in a fresh spawned process and
its peak RSS is that task's peak, imports included. The peak is the kernel's VmHWM, not
ru_maxrss: Linux carries ru_maxrss over an exec, so a spawned child would report the parent's
peak (this script's, building a 1,000,000-user directory: 1.8 GB) as its own. The cycle is an
initial one: every user in scope and an empty app (a real scim2-server), so match links nothing
and diff plans a create for everyone -- the largest plan a cycle makes. ``--teams`` adds flat
groups with every user in one (issue 12 asks for 1,000,000 users and 50,000 groups); all groups
are in scope.
``--trace STEP`` reruns that step under memray (`uv pip install memray`; not a project
dependency) and prints what held its memory at the peak, per line of our code.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import yaml
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

STEPS = ("extract_assignments", "match", "diff")
CYCLE = "c1"
TOKEN = "bench"


def bench_config() -> dict[str, Any]:
    """The demo wiki with everyone and every group in scope: the worst case for memory."""
    raw = yaml.safe_load((DEFAULT_APPS_DIR / "demo_wiki.yaml").read_text())
    raw.update(app="bench")
    raw["users"]["scope"] = "all"
    raw["groups"].pop("scoping")
    return raw


def run_step(step: str, work: Path, app_url: str, trace: Path | None) -> dict[str, Any]:
    """One step in this (fresh) process, as an Airflow task runs it; ``trace``: where memray writes
    its capture (None: no tracing, which slows the step)."""
    config = AppConfig.model_validate(bench_config())
    store = StateStore(f"sqlite:///{work / 'state.db'}")
    ctx = CycleContext(
        config,
        CYCLE,
        store,
        lambda: SqlDirectorySource(create_engine(f"sqlite:///{work / 'directory.db'}")),
        lambda: ScimConnector.for_app(ScimClient(app_url, TOKEN), config),
    )
    start_rss = rss_mb("VmRSS")
    before = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter()
    if trace:
        import memray  # not a project dependency: `uv pip install memray` to trace

        with memray.Tracker(trace), ctx:
            summary = getattr(steps, step)(ctx)
    else:
        with ctx:
            summary = getattr(steps, step)(ctx)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {
        "step": step,
        "seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "start_rss_mb": start_rss,
        "peak_rss_mb": rss_mb("VmHWM"),
        "summary": summary,
    }


def rss_mb(field: str) -> int:
    """This process's resident memory now (VmRSS) or at its peak (VmHWM), in MB."""
    status = Path("/proc/self/status").read_text()
    return round(
        int(next(line for line in status.splitlines() if line.startswith(f"{field}:")).split()[1]) / 1024
    )


def in_own_process(step: str, work: Path, app_url: str, trace: Path | None = None) -> dict[str, Any]:
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as pool:
        return pool.submit(run_step, step, work, app_url, trace).result()


def held_at_peak(capture: Path, top: int = 20) -> list[tuple[str, int]]:
    """Bytes live at the step's peak per line of our code that allocated them (directly or through
    pandas, json, SQLAlchemy ...): what a bounded-memory design has to stream or drop."""
    from memray import FileReader  # see run_step

    held: Counter[str] = Counter()
    for record in FileReader(capture).get_high_watermark_allocation_records(merge_threads=True):
        frames = record.stack_trace()
        ours = [f for f in frames if "/provisioning/" in f[1]] or frames or [("?", "?", 0)]
        function, filename, line = ours[0]
        held[f"{filename.rsplit('/provisioning/', 1)[-1]}:{line} {function}"] += record.size
    return held.most_common(top)


def artifact_sizes(work: Path) -> dict[str, int]:
    with create_engine(f"sqlite:///{work / 'state.db'}").connect() as conn:
        sizes = text("select name, length(data) from artifacts where cycle_id = :cycle")
        return dict(conn.execute(sizes, {"cycle": CYCLE}).all())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--teams", type=int, default=5_000, help="extra flat groups (issue 12: 50,000 at 1M)")
    parser.add_argument("--trace", choices=STEPS, help="rerun this step under memray")
    parser.add_argument("--output", type=Path, default=Path("bench-results"))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="provisioning-bench-memory-"))
    started = time.perf_counter()
    counts = build_sqlite(work / "directory.db", users=args.users, seed=1, teams=args.teams)
    with create_engine(f"sqlite:///{work / 'directory.db'}").begin() as conn:
        conn.execute(text("update users set accountEnabled=1"))  # everyone in scope
    print(f"directory {counts} built in {time.perf_counter() - started:.1f}s ({work})")
    upgrade_schema(StateStore(f"sqlite:///{work / 'state.db'}").engine)

    with ScimServer(token=TOKEN) as server:  # empty: an initial cycle, match links nothing
        results = [in_own_process(step, work, server.url) for step in STEPS]
        sizes = artifact_sizes(work)
        capture = work / f"{args.trace}.memray"
        traced = in_own_process(args.trace, work, server.url, capture) if args.trace else None

    print(f"\n{'step':<20} {'wall s':>8} {'cpu s':>8} {'start MB':>9} {'peak MB':>8}")
    for row in results:
        print(
            f"{row['step']:<20} {row['seconds']:>8.2f} {row['cpu_seconds']:>8.2f} "
            f"{row['start_rss_mb']:>9} {row['peak_rss_mb']:>8}"
        )
    print(f"extract+match+diff: {sum(r['seconds'] for r in results):.1f}s wall")
    print("artifacts (gzip'd JSON): " + ", ".join(f"{n} {b / 2**20:.1f} MiB" for n, b in sizes.items()))
    if traced:
        print(f"\n{args.trace} under memray ({traced['peak_rss_mb']} MB peak RSS), held at its peak:")
        for site, size in held_at_peak(capture):
            print(f"{size / 2**20:>9.1f} MiB  {site}")
    args.output.mkdir(exist_ok=True)
    out = args.output / f"bench-memory-{args.users}-{args.teams}.json"
    report = {**counts, "steps": results, "artifact_bytes": sizes, "traced": traced}
    out.write_text(json.dumps(report, indent=1, default=str))
    print(f"results: {out}")


if __name__ == "__main__":
    main()
