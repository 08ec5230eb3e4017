"""Benchmark a partitioned apply on two workers against a distant app (not a test):
`make bench-partitions`.

What it measures (issue 12, part 3): how fast ``apply`` creates ``--users`` accounts (default
2,000, all in scope, groups off unless ``--groups``) in an app that is ``--latency`` seconds away
(50 ms: every request waits that long before the app sees it), when ``target.partitions`` is 1, 2
and 4 and the partitions run on ``--workers`` (2) worker processes at once; each with the default
``target.max_concurrency`` (8) and with a larger one (``--concurrency``, 32).

How: a real scim2-server behind the test proxy (tests/support/fault_proxy.py), which sleeps
``--latency`` before forwarding each request and counts the requests in flight. Two artefacts of
that test rig are removed so that they do not pass for the app's latency: the proxy answers
without Nagle's delay (40 ms more per request on a kept-alive connection) and both it and
scim2-server queue 1,024 connections instead of 5 (scim2-server closes every connection, and a
connection attempt dropped from a full queue is retried only a second later). The state store
is a fresh database on the machine's PostgreSQL (``--postgres``, created and dropped per
configuration) or a SQLite file (``--sqlite``). Every configuration starts from an empty app (a
new scim2-server) and a fresh store; extract_assignments, match and diff run once in this
process, as the DAG's operators call them. Then the worker processes start (spawned: nothing of
this process inherited); each builds a cycle context per partition of its share as the Airflow
glue does (``glue/resources.cycle_context``: a state store engine of its own, a
``StoreRateShare`` of the app's rate, the connector opened with the partition's share of the
limits as ``open_scim_connector`` does) and waits. All are released at once; each worker runs its
partitions concurrently, a thread each (in one process: a worker is worth one core at most).
Partitions are dealt round-robin: with 4 each worker runs 2, with 1 only the first worker has
work, and then ``apply`` is the plain unpartitioned step, as the DAG has a single ``apply`` task.
The clock runs from the release until the last partition finished and, partitioned, until
``apply_groups`` (nothing to do without groups) finished; ``report`` then checks that every
partition got through (not timed).

The columns: apply seconds and actions/s (succeeded actions: the user creates, with groups also
the groups and memberships), the speedup over one partition at the same max_concurrency, the
requests the app had in flight at once at most and their median time through the proxy (the
latency plus the app's time), requests of 0.9 s or more (stalls), and CPU busy as a share of one
core: the busiest worker process, the proxy (this process), scim2-server, and the whole machine
(share of all cores, from /proc/stat, other load on the machine included).

What they mean:

- ``max_concurrency`` is app-wide: each of N partitions gets ``max(1, max_concurrency // N)``
  connections (``Partition.share_of_slots``), so one partition and four keep the same 8
  requests in flight. On a latency-bound app the rate is about in-flight / request time
  (8 / 0.06 s = 130/s), whatever the number of partitions or workers: the shared concurrency
  budget is the bottleneck, and partitions cannot help (they cost a little: more processes).
- With a larger budget one worker already keeps that many requests in flight on its own (a
  sliding window of threads), so again partitions add no concurrency. They add CPU: a second
  worker process is a second core. That helps only where the single worker's CPU is the limit
  (worker CPU near 100%); when the app's (scim2-server near 100%) or the machine's (near 100%:
  the app, the proxy, PostgreSQL and both workers share its cores) is the limit, it cannot."""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import queue
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from benchmark import bench_config, build_directory
from sqlalchemy import create_engine, make_url, text

from provisioning.config import AppConfig
from provisioning.config.target import TargetSection
from provisioning.connectors.directory.sql import SqlDirectorySource
from provisioning.connectors.scim.client import ScimClient
from provisioning.connectors.scim.connector import ScimConnector
from provisioning.cycle import steps
from provisioning.cycle.context import CycleContext
from provisioning.demo.scim_server import ScimServer
from provisioning.engine.partitions import Partition
from provisioning.state import StateStore
from provisioning.state.rate_share import StoreRateShare
from provisioning.state.schema import upgrade as upgrade_schema

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the proxy lives with the tests
from tests.support.fault_proxy import FaultProxy

TOKEN = "bench"
CYCLE = "bench-cycle"
POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
BACKLOG = 1024  # connections the app and the proxy queue before accepting them
DEFAULT_CONCURRENCY = TargetSection.model_fields["max_concurrency"].default


class CountingProxy(FaultProxy):
    """The test proxy, remembering the most requests it had in flight at once. Its answers go out
    without Nagle's delay: on a kept-alive connection the body, written after the headers, would
    otherwise wait for the client's delayed ACK (40 ms more per request than ``delay``)."""

    def __init__(self, upstream: str):
        super().__init__(upstream)
        self.server.RequestHandlerClass.disable_nagle_algorithm = True
        self.server.socket.listen(BACKLOG)  # a burst of new connections is not dropped (a 1 s SYN retry)
        self.peak = 0
        self.durations: list[float] = []  # seconds from the request read to the answer sent

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        started = time.monotonic()
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            self._forward(handler)
        finally:
            with self._lock:
                self.active -= 1
                self.durations.append(time.monotonic() - started)


class BenchScimServer(ScimServer):
    """scim2-server with a deeper accept queue. Its HTTP/1.0 answers close every connection, so
    the proxy connects anew per request; with socketserver's queue of 5, a burst of 32 loses some
    connection attempts, each retried only after a second, and those stalls, not the latency,
    would bound the rate."""

    def launcher(self) -> list[str]:
        boot = (
            "from scim2_server.testserver import cli; "
            f"cli.ThreadingWSGIServer.request_queue_size = {BACKLOG}; cli.main()"
        )
        return [sys.executable, "-c", boot]


@dataclass(frozen=True)
class Job:
    """What one worker process runs: its partitions of one configuration."""

    worker: int
    partitions: tuple[int, ...]  # indexes; (0,) of 1: the plain apply
    count: int
    concurrency: int
    groups: bool
    state_url: str
    directory: str
    app_url: str


def app_config(concurrency: int, groups: bool, partitions: int) -> AppConfig:
    """The demo wiki for every user (``bench_config``), with ``partitions`` set."""
    config = bench_config(concurrency, groups)
    return config.model_copy(update={"target": config.target.model_copy(update={"partitions": partitions})})


def cycle_context(
    config: AppConfig, state_url: str, directory: str, app_url: str, partition: Partition | None
) -> CycleContext:
    """The context the Airflow glue builds for a step (``glue/resources.cycle_context``), without
    Airflow: a store of its own, the app's rate shared through it, the connector opened with the
    partition's share of the limits (``connectors/scim/hook.open_scim_connector``)."""
    store = StateStore(state_url)
    share = StoreRateShare(store.engine, config.app, partition.count if partition else 1)
    target = config.target

    def open_app() -> ScimConnector:
        rate = target.requests_per_second
        client = ScimClient(
            app_url,
            TOKEN,
            timeout=target.timeout_seconds,
            max_retries=target.max_retries,
            max_connections=partition.share_of_slots(target.max_concurrency)
            if partition
            else target.max_concurrency,
            page_size=target.page_size,
            requests_per_second=partition.share(rate) if partition and rate else rate,
            deadline=target.request_deadline_seconds,
            max_response_bytes=int(target.max_response_mib * 1024 * 1024),
            rate_share=share,
        )
        return ScimConnector.for_app(client, config)

    return CycleContext(
        config,
        CYCLE,
        store,
        lambda: SqlDirectorySource(create_engine(f"sqlite:///{directory}")),
        open_app,
    )


def run_worker(job: Job, start: Barrier, results: Queue) -> None:
    """One worker: contexts for its partitions, then (released with the others) their applies."""
    config = app_config(job.concurrency, job.groups, job.count)
    runs: list[tuple[CycleContext, Partition | None]] = []
    for index in job.partitions:
        partition = Partition(index, job.count) if job.count > 1 else None
        runs.append((cycle_context(config, job.state_url, job.directory, job.app_url, partition), partition))
    start.wait()
    cpu = time.process_time()
    summaries: list[dict[str, Any]] = []
    errors: list[str] = []

    def apply(ctx: CycleContext, partition: Partition | None) -> None:
        try:
            summaries.append(steps.apply(ctx, partition) if partition else steps.apply(ctx))
        except Exception as exc:  # reported by the parent, which then stops
            errors.append(f"worker {job.worker}: {type(exc).__name__}: {exc}")
        finally:
            ctx.close()

    threads = [threading.Thread(target=apply, args=run) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    finished, cpu = time.monotonic(), time.process_time() - cpu
    results.put({"finished": finished, "cpu": cpu, "summaries": summaries, "errors": errors})


@contextlib.contextmanager
def state_store(args: argparse.Namespace, work: Path, name: str) -> Iterator[str]:
    """A fresh state store's URL, at the current schema; a PostgreSQL database is dropped after."""
    if args.sqlite:
        url = f"sqlite:///{work / f'{name}.db'}"
        upgrade_schema(create_engine(url))
        yield url
        return
    admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    database = f"bench_partitions_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with admin.connect() as conn:
        conn.execute(text(f'create database "{database}"'))
    url = make_url(args.postgres).set(database=database).render_as_string(hide_password=False)
    try:
        engine = create_engine(url)
        upgrade_schema(engine)
        engine.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'drop database "{database}" with (force)'))
        admin.dispose()


def cpu_ticks(pid: int | None = None) -> tuple[int, int]:
    """(busy, total) clock ticks of the machine, or (busy, 0) of one process; (0, 0) off Linux."""
    try:
        if pid is None:
            fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
            idle = fields[3] + fields[4]  # idle + iowait
            return sum(fields[:8]) - idle, sum(fields[:8])
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(stat[11]) + int(stat[12]), 0  # utime + stime
    except (OSError, ValueError, IndexError):
        return 0, 0


def collect(results: Queue, workers: list[BaseProcess]) -> list[dict[str, Any]]:
    """Each worker's report, as they finish; stops if a worker died without one."""
    reports: list[dict[str, Any]] = []
    while len(reports) < len(workers):
        try:
            reports.append(results.get(timeout=1))
        except queue.Empty:
            if any(w.exitcode not in (None, 0) for w in workers):
                raise SystemExit("a worker process died: see its traceback above") from None
    return reports


def measure(args: argparse.Namespace, work: Path, count: int, concurrency: int) -> dict[str, Any]:
    """One configuration: a new app and store, the plan, then the partitions on the workers and
    (partitioned, with groups) ``apply_groups``; the figures cover both."""
    config = app_config(concurrency, args.groups, count)
    directory = str(work / "directory.db")
    deal = [tuple(range(w, count, args.workers)) for w in range(args.workers)]
    mp = multiprocessing.get_context("spawn")  # no engine, thread or socket of this process inherited
    with (
        state_store(args, work, f"state-{count}-{concurrency}") as state_url,
        BenchScimServer(token=TOKEN) as server,
        CountingProxy(server.url) as proxy,
    ):
        proxy.delay = args.latency
        with cycle_context(config, state_url, directory, proxy.url, None) as ctx:
            for step in (steps.extract_assignments, steps.match, steps.diff):
                step(ctx)
        jobs = [
            Job(w, mine, count, concurrency, args.groups, state_url, directory, proxy.url)
            for w, mine in enumerate(deal)
            if mine
        ]
        start = mp.Barrier(len(jobs) + 1)
        results = mp.Queue()
        workers = [mp.Process(target=run_worker, args=(job, start, results)) for job in jobs]
        for worker in workers:
            worker.start()
        start.wait(timeout=300)  # every worker has its contexts
        proxy.reset()
        proxy.peak, proxy.durations = 0, []
        machine, server_cpu, proxy_cpu = cpu_ticks(), cpu_ticks(server.process.pid), time.process_time()
        started = time.monotonic()
        reports = collect(results, workers)
        partitions_seconds = max(r["finished"] for r in reports) - started
        for worker in workers:
            worker.join()
        errors = [e for r in reports for e in r["errors"]]
        if errors:
            raise SystemExit(f"{count} partition(s), max_concurrency {concurrency}: {errors}")
        summaries = [s for r in reports for s in r["summaries"]]
        with cycle_context(config, state_url, directory, proxy.url, None) as ctx:
            if count > 1:
                summaries.append(steps.apply_groups(ctx, count))
            seconds = time.monotonic() - started
            machine_after, server_after = cpu_ticks(), cpu_ticks(server.process.pid)
            proxy_cpu = time.process_time() - proxy_cpu  # this process: the proxy, and apply_groups
            requests, peak, durations = len(proxy.requests), proxy.peak, sorted(proxy.durations)
            report = steps.report(ctx)
    if report.get("error") or report["not_applied"]:
        raise SystemExit(f"{count} partition(s), max_concurrency {concurrency}: {report}")
    busy = (machine_after[0] - machine[0]) / max(1, machine_after[1] - machine[1])
    return {
        "partitions": count,
        "concurrency": concurrency,
        "seconds": seconds,
        "groups_seconds": seconds - partitions_seconds if count > 1 else None,
        "succeeded": sum(s["succeeded"] for s in summaries),
        "failed": sum(s["failed"] for s in summaries),
        "requests": requests,
        "peak": peak,
        "median_ms": durations[len(durations) // 2] * 1000 if durations else 0.0,
        "stalls": sum(1 for d in durations if d >= 0.9),
        "worker_busy": max(r["cpu"] for r in reports) / partitions_seconds,
        "proxy_busy": proxy_cpu / seconds,
        "server_busy": (server_after[0] - server_cpu[0]) / os.sysconf("SC_CLK_TCK") / seconds,
        "machine_busy": busy,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument(
        "--latency", type=float, default=0.05, help="seconds before each request reaches the app"
    )
    parser.add_argument("--partitions", default="1,2,4", help="target.partitions to run, comma-separated")
    parser.add_argument("--workers", type=int, default=2, help="worker processes the partitions are dealt to")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=32,
        help=f"the larger target.max_concurrency, run besides the default {DEFAULT_CONCURRENCY}",
    )
    parser.add_argument(
        "--groups", action="store_true", help="also the demo's groups (apply_groups, timed apart)"
    )
    parser.add_argument(
        "--postgres", default=POSTGRES, help="admin URL of the PostgreSQL for the state stores"
    )
    parser.add_argument("--sqlite", action="store_true", help="a SQLite state store instead of PostgreSQL")
    args = parser.parse_args()

    counts = [int(p) for p in args.partitions.split(",")]
    budgets = sorted({DEFAULT_CONCURRENCY, args.concurrency})
    store = "SQLite" if args.sqlite else "PostgreSQL"
    print(
        f"{args.users} users, all in scope, groups {'on' if args.groups else 'off'}; "
        f"{args.latency * 1000:g} ms before each request reaches scim2-server; "
        f"{args.workers} worker processes; state store on {store}; {os.cpu_count()} CPUs"
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="provisioning-bench-partitions-") as tmp:
        work = Path(tmp)
        build_directory(work / "directory.db", args.users)
        for concurrency in budgets:
            for count in counts:
                row = measure(args, work, count, concurrency)
                rows.append(row)
                print(
                    f"  done: {count} partition(s), max_concurrency {concurrency}: {row['seconds']:.1f} s",
                    flush=True,
                )
    print_table(rows, counts[0], args.groups)


def print_table(rows: list[dict[str, Any]], first: int, groups: bool) -> None:
    """A Markdown table, speedups against ``first`` partitions at the same max_concurrency."""
    columns = ["max_concurrency", "partitions", "apply s"] + (["of which apply_groups"] if groups else [])
    columns += [
        "actions/s",
        "speedup",
        "max in flight",
        "requests/s",
        "median request ms",
        "requests ≥ 0.9 s",
    ]
    columns += ["worker CPU", "proxy CPU", "scim2-server CPU", "machine CPU", "failed"]
    print("\n| " + " | ".join(columns) + " |")
    print("|---" * len(columns) + "|")
    for row in rows:
        base = next(r for r in rows if r["concurrency"] == row["concurrency"] and r["partitions"] == first)
        cells = [row["concurrency"], row["partitions"], f"{row['seconds']:.1f}"]
        if groups:
            cells.append("-" if row["groups_seconds"] is None else f"{row['groups_seconds']:.1f}")
        cells += [
            f"{row['succeeded'] / row['seconds']:.0f}",
            f"{base['seconds'] / row['seconds']:.2f}x",
            row["peak"],
            f"{row['requests'] / row['seconds']:.0f}",
            f"{row['median_ms']:.0f}",
            row["stalls"],
            f"{row['worker_busy']:.0%}",
            f"{row['proxy_busy']:.0%}",
            f"{row['server_busy']:.0%}",
            f"{row['machine_busy']:.0%}",
            row["failed"],
        ]
        print("| " + " | ".join(str(c) for c in cells) + " |")


if __name__ == "__main__":
    main()
