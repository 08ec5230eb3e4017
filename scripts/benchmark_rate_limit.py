"""Benchmark apply against an app that rations requests (not a test): `make bench-rate-limit`.

A real scim2-server sits behind the test proxy's token bucket (``--rate`` requests a second,
``--burst`` saved up, 429 with ``Retry-After`` when it is empty); a directory of ``--users``
people, all in scope, goes through one real cycle, the steps called as the DAG's operators call
them, so apply creates every one of them. Prints how much of the app's allowed rate apply used
and how often the app refused it: the first 429s (two pauses: the second measures the rate) are
how the rate is found, later ones what it costs to run near it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from benchmark import bench_config, build_directory
from sqlalchemy import create_engine

from provisioning.connectors.directory.sql import SqlDirectorySource
from provisioning.connectors.scim.client import ScimClient
from provisioning.connectors.scim.connector import ScimConnector
from provisioning.cycle import steps
from provisioning.cycle.context import CycleContext
from provisioning.demo.scim_server import ScimServer
from provisioning.state import StateStore
from provisioning.state.schema import upgrade as upgrade_schema

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the proxy lives with the tests
from tests.support.fault_proxy import FaultProxy, RateLimit

TOKEN = "bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second the app allows")
    parser.add_argument("--burst", type=float, help="requests the app lets through at once (default: --rate)")
    parser.add_argument("--concurrency", type=int, default=8, help="target.max_concurrency")
    parser.add_argument("--cap", type=float, help="target.requests_per_second (default: none)")
    parser.add_argument("--no-retry-after", action="store_true", help="429s without Retry-After")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="provisioning-bench-rate-"))
    build_directory(work / "directory.db", args.users)
    config = bench_config(args.concurrency, groups=False)
    store = StateStore(f"sqlite:///{work / 'state.db'}")
    upgrade_schema(store.engine)
    limit = RateLimit(args.rate, args.burst, retry_after=not args.no_retry_after)
    with ScimServer(token=TOKEN) as server, FaultProxy(server.url) as proxy:
        client = ScimClient(proxy.url, TOKEN, max_connections=args.concurrency, requests_per_second=args.cap)
        connector = ScimConnector.for_app(client, config)
        ctx = CycleContext(
            config,
            "c1",
            store,
            lambda: SqlDirectorySource(create_engine(f"sqlite:///{work / 'directory.db'}")),
            lambda: connector,
        )
        proxy.rate_limit = limit
        for step in (steps.extract_assignments, steps.match, steps.diff):
            step(ctx)
        proxy.reset()
        started = time.monotonic()
        summary = steps.apply(ctx)
        seconds = time.monotonic() - started
        steps.report(ctx)
        created = len(server_users(server))
    refused = [r.at - started for r in proxy.requests if r.status == 429]
    accepted = len(proxy.requests) - len(refused)
    print(
        f"apply: {summary['succeeded']} succeeded, {summary['failed']} failed in {seconds:.1f} s; "
        f"{created} accounts in the app"
    )
    print(
        f"{summary['succeeded'] / seconds:.1f} actions/s; {accepted / seconds:.1f} accepted requests/s "
        f"= {accepted / seconds / args.rate:.0%} of the {args.rate:g}/s allowed"
    )
    print(f"429s: {len(refused)} in total, {sum(1 for at in refused if at > 1.0)} after the first second")


def server_users(server: ScimServer) -> list[dict]:
    """Every account in the app, read around the proxy."""
    with ScimClient(server.url, TOKEN) as client:
        return list(client.list_resources("user"))


if __name__ == "__main__":
    main()
