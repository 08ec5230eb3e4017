"""`make run-distributed`: the product on the distributed tier CI tests (tests/distributed).

Airflow with the CeleryExecutor on this machine's Redis (127.0.0.1:6379) and PostgreSQL
(127.0.0.1:5432, user postgres): the API server, scheduler, DAG processor and two Celery workers
as separate processes, the demo directory and demo SCIM apps (provisioning.demo.celery_tier says
what is shared and how). Each start is fresh: the databases `airflow_tier` and
`provisioning_tier` and the Redis database are recreated. Ctrl-C stops every process it started.
"""

from __future__ import annotations

import argparse
import logging
import signal
import time
from pathlib import Path

from provisioning.demo.celery_tier import ADMIN, WORKERS, CeleryTier, TierOptions, TierUnavailable

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--port", type=int, default=8080, help="the API server's (and UI's) port")
    parser.add_argument("--redis-db", type=int, default=5, help="the Redis database used as broker")
    parser.add_argument("--users", type=int, default=3000, help="people in the demo directory")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="  %(message)s")
    logging.getLogger("provisioning").setLevel(logging.INFO)
    options = TierOptions(
        project=REPO,
        home=REPO / ".distributed",
        api_port=args.port,
        redis_db=args.redis_db,
        directory_users=args.users,
    )

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)  # also when started with SIGINT ignored (nohup, &)
    signal.signal(signal.SIGTERM, interrupted)
    tier = CeleryTier(options)
    try:
        print("starting the Celery tier (about a minute)...")
        tier.start()
        print(f"""
Airflow UI:  {tier.url}   (login {ADMIN[0]} / {ADMIN[1]})
Processes:   api-server, scheduler, dag-processor, {", ".join(WORKERS)}; logs in {options.home / "logs"}
Metadata DB: {tier.airflow_db_url}
State store: {tier.state_url}
Broker:      {tier.broker_url}
The DAGs are unpaused and run every 10 minutes; trigger one from the UI to see it at once.
Each task instance shows the worker it ran on (Details -> Hostname).
Press Ctrl-C to stop everything.""")
        while all(p.poll() is None for p in tier.processes.values()):
            time.sleep(1)
        stopped = [name for name, p in tier.processes.items() if p.poll() is not None]
        print(f"{', '.join(stopped)} exited; see {options.home / 'logs'}")
    except TierUnavailable as exc:
        raise SystemExit(str(exc)) from exc
    except KeyboardInterrupt:
        print("\nstopping...")
    finally:
        tier.stop()


if __name__ == "__main__":
    main()
