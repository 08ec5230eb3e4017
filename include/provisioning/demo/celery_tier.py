"""The distributed tier on one machine: Airflow with the CeleryExecutor on this machine's Redis and
PostgreSQL, the demo directory and the demo SCIM apps. ``make run-distributed`` starts it for a
person; tests/distributed start the same thing for CI.

Every Airflow component is its own process, as it would be on its own machine: the API server
(UI, REST API and the execution API the workers call), the scheduler, the DAG processor and two
Celery workers, each with its own hostname and log-server port. They share only what a real
deployment shares: the metadata DB and the broker, one JWT secret and one Fernet key, the
execution API's URL, the installed code, the DAG files and the apps folder. Tasks hand data to
each other through the state store (PostgreSQL), never through a worker's disk.

A worker that dies is noticed by the scheduler when its task instances stop heartbeating; the
default timeout is 5 minutes, this tier uses ``heartbeat_timeout`` (20 s), and the apps retry a
failed task after ``retry_delay`` (5 s), so a killed worker's task runs again on the other
worker within about half a minute.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import redis
import yaml
from celery import Celery
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from provisioning.config import AppConfig, app_config_paths, load_app_config
from provisioning.demo import worker_hostname
from provisioning.demo.airflow_api import AirflowApi
from provisioning.demo.directory import build_sqlite
from provisioning.demo.ldap_directory import start_demo_ldap
from provisioning.demo.scim_apps import seed_existing_accounts, start_scim_apps
from provisioning.demo.scim_server import ScimServer, free_port
from provisioning.demo.slapd import Slapd
from provisioning.glue.settings_import import read_settings, write_settings

REDIS = "redis://127.0.0.1:6379"
POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432"
ADMIN = ("admin", "admin")
WORKERS = ("worker-1", "worker-2")
AIRFLOW = Path(sys.executable).parent / "airflow"  # the CLI of the environment running this
PROVISIONING = AIRFLOW.with_name("provisioning")

log = logging.getLogger(__name__)


class TierUnavailable(RuntimeError):
    """Redis or PostgreSQL cannot be reached, or a component did not come up."""


@dataclass(frozen=True)
class TierOptions:
    project: Path  # dags/, plugins/, include/apps/ and airflow_settings.yaml come from here
    home: Path  # AIRFLOW_HOME, the apps folder, the directory, every process's log
    api_port: int = 8080
    redis_db: int = 5
    airflow_db: str = "airflow_tier"
    state_db: str = "provisioning_tier"
    directory_users: int = 3000
    fixed_scim_ports: bool = True  # the ports airflow_settings.yaml names (else free ones)
    app_overrides: dict[str, Any] = field(default_factory=lambda: {"retry_delay": "5s"})
    worker_concurrency: int = 1  # task slots per worker (two cores here)
    heartbeat_timeout: int = 20  # seconds without a heartbeat before a task instance is failed
    keep_databases: bool = True  # False: stop() drops both databases and empties the broker


class CeleryTier:
    """``with CeleryTier(options) as tier: tier.api.trigger(...)`` -- fresh databases each start."""

    def __init__(self, options: TierOptions, front: Callable[[str, str], str] | None = None):
        self.options = options
        self.front = front  # (conn_id, SCIM server URL) -> the URL the connection uses
        self.processes: dict[str, subprocess.Popen] = {}
        self.servers: dict[str, ScimServer] = {}  # the demo apps by connection id
        self.ldap_servers: list[Slapd] = []  # the demo Active Directory, when an app reads it
        self.settings: dict[str, Any] = {}
        self.api: AirflowApi | None = None
        self._fernet_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
        self._jwt_secret = secrets.token_urlsafe(32)
        self._log_ports: dict[str, int] = {}
        self._created = False  # the databases exist (a start got past the service check)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.options.api_port}"

    @property
    def broker_url(self) -> str:
        return f"{REDIS}/{self.options.redis_db}"

    @property
    def airflow_db_url(self) -> str:
        return f"{POSTGRES}/{self.options.airflow_db}"

    @property
    def state_url(self) -> str:
        return f"{POSTGRES}/{self.options.state_db}"

    @property
    def directory(self) -> Path:
        return self.options.home / "directory.db"

    @property
    def apps(self) -> Path:
        return self.options.home / "apps"

    def log_file(self, name: str) -> Path:
        return self.options.home / "logs" / f"{name}.log"

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> CeleryTier:
        try:
            self._prepare()
            for name in ("api-server", "scheduler", "dag-processor", *WORKERS):
                self._spawn(name)
            self.wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every process this tier started; drop what it created unless ``keep_databases``."""
        for process in self.processes.values():
            if process.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for name, process in self.processes.items():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within 30 s; killing it", name)
                _kill_tree(process)
        self.processes.clear()
        for server in [*self.servers.values(), *self.ldap_servers]:
            server.stop()
        self.servers.clear()
        self.ldap_servers.clear()
        if self.api:
            self.api.close()
        if self._created and not self.options.keep_databases:
            self._drop_databases()
            self._created = False

    def _drop_databases(self) -> None:
        """Remove what a start creates outside ``home``: both databases and the broker's keys."""
        admin = create_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in (self.options.airflow_db, self.options.state_db):
                conn.execute(text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()
        with redis.Redis.from_url(self.broker_url) as broker:
            broker.flushdb()

    def __enter__(self) -> CeleryTier:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- workers ---------------------------------------------------------------------------------

    def kill_worker(self, name: str) -> None:
        """SIGKILL a worker and every process under it -- its task supervisors and the task
        processes, which run in process groups of their own: the machine died."""
        _kill_tree(self.processes[name])

    def restart_worker(self, name: str) -> None:
        if self.processes[name].poll() is None:
            raise RuntimeError(f"{name} is still running")
        self._spawn(name)
        self._wait(self._workers_answer, f"{name} to answer the broker", 120)

    def worker_names(self) -> set[str]:
        """The workers answering a ping through the broker (their Celery hostnames)."""
        app = Celery(broker=self.broker_url)
        try:
            replies = app.control.ping(timeout=1.0)
        finally:
            app.close()
        return {name.split("@")[0] for reply in replies for name in reply}

    # --- start-up --------------------------------------------------------------------------------

    def _prepare(self) -> None:
        self._check_services()
        for folder in ("airflow", "apps", "logs"):
            (self.options.home / folder).mkdir(parents=True, exist_ok=True)
        self._fresh_databases()
        log.info("demo directory: %s", build_sqlite(self.directory, users=self.options.directory_users))
        configs = self._write_apps()
        self.settings = self._settings(configs)
        self.servers = start_scim_apps(
            self.settings,
            self.options.home / "logs",
            fixed_ports=self.options.fixed_scim_ports,
            front=self.front,
        )
        self.ldap_servers = start_demo_ldap(
            self.settings, self.directory, self.options.home, fixed_ports=self.options.fixed_scim_ports
        )
        if any(c.app == "demo_crm" for c in configs):
            seeded = seed_existing_accounts(self.settings, self.directory, self.apps / "demo_crm.yaml")
            log.info("seeded %d pre-existing CRM accounts (the first cycle links them)", seeded)
        env = self.environment()
        (self.options.home / "airflow" / "passwords.json").write_text(json.dumps(dict([ADMIN])))
        migrate = subprocess.run([str(AIRFLOW), "db", "migrate"], env=env, capture_output=True, text=True)
        if migrate.returncode:
            raise TierUnavailable(f"airflow db migrate failed: {migrate.stderr[-2000:]}")
        log.info("loaded airflow_settings.yaml: %s", write_settings(self.settings, str(AIRFLOW), env))
        # the state store's schema, as a deployment prepares it: once, before any Airflow process
        upgrade = subprocess.run(
            [str(PROVISIONING), "db", "upgrade"], env=env, capture_output=True, text=True
        )
        if upgrade.returncode:
            raise TierUnavailable(f"provisioning db upgrade failed: {upgrade.stderr[-2000:]}")
        log.info("state store: %s", upgrade.stdout.strip())
        self.api = AirflowApi(self.url, *ADMIN)

    def _check_services(self) -> None:
        try:
            with redis.Redis.from_url(self.broker_url, socket_connect_timeout=5) as broker:
                broker.ping()
        except redis.RedisError as exc:
            raise TierUnavailable(f"the Celery tier needs Redis at {REDIS} as its broker: {exc}") from exc
        engine = create_engine(f"{POSTGRES}/postgres", connect_args={"connect_timeout": 5})
        try:
            with engine.connect() as conn:
                conn.execute(text("select 1"))
        except OperationalError as exc:
            raise TierUnavailable(
                f"the Celery tier needs PostgreSQL at {POSTGRES} (user postgres, trust auth): {exc}"
            ) from exc
        finally:
            engine.dispose()

    def _fresh_databases(self) -> None:
        self._drop_databases()
        self._created = True
        admin = create_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in (self.options.airflow_db, self.options.state_db):
                conn.execute(text(f'create database "{name}"'))
        admin.dispose()

    def _write_apps(self) -> list[AppConfig]:
        """The project's app configs, with the tier's overrides, into the apps folder every
        process reads (PROVISIONING_APPS_DIR)."""
        configs = []
        for path in app_config_paths(self.options.project / "include" / "apps"):
            raw = {**yaml.safe_load(path.read_text()), **self.options.app_overrides}
            (self.apps / path.name).write_text(yaml.safe_dump(raw, sort_keys=False))
            configs.append(load_app_config(self.apps / path.name))
        return configs

    def _settings(self, configs: list[AppConfig]) -> dict[str, Any]:
        """airflow_settings.yaml with the SQL directory at the tier's file and the state store
        connection(s) at the tier's PostgreSQL database."""
        project = self.options.project
        settings = read_settings(project / "airflow_settings.yaml", project)
        for config in configs:
            if config.directory.kind == "sql":
                settings["connections"][config.directory.conn_id]["host"] = str(self.directory)
            settings["connections"][config.state_conn_id] = {
                "conn_type": "postgres",
                "host": "127.0.0.1",
                "port": 5432,
                "login": "postgres",
                "schema": self.options.state_db,
                "description": "Provisioning state store (the Celery tier's PostgreSQL database)",
            }
        return settings

    def environment(self) -> dict[str, str]:
        """What every process of the tier is configured with (workers add their own name and
        log-server port). No other AIRFLOW_* variable of the caller leaks in."""
        options = self.options
        home = options.home / "airflow"
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        return {
            **inherited,
            "PATH": f"{AIRFLOW.parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.airflow_db_url,
            "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{self.airflow_db_url}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(options.worker_concurrency),
            "AIRFLOW__CORE__FERNET_KEY": self._fernet_key,
            "AIRFLOW__API_AUTH__JWT_SECRET": self._jwt_secret,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__PORT": str(options.api_port),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(options.heartbeat_timeout),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "AIRFLOW__CORE__DAGS_FOLDER": str(options.project / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(options.project / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN[0]}:admin",  # user:role
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "PROVISIONING_APPS_DIR": str(self.apps),
        }

    def _spawn(self, name: str) -> None:
        env = self.environment()
        command = {
            "api-server": ["api-server", "--port", str(self.options.api_port)],
            "scheduler": ["scheduler"],
            "dag-processor": ["dag-processor"],
        }.get(name)
        if command is None:  # a worker
            port = self._log_ports.setdefault(name, free_port())
            env |= {
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(port),
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{worker_hostname.__name__}.worker_hostname",
                worker_hostname.VARIABLE: name,
            }
            command = ["celery", "worker", "--celery-hostname", f"{name}@%h"]
        output = open(self.log_file(name), "ab")  # noqa: SIM115 -- the child keeps it open
        with output:
            self.processes[name] = subprocess.Popen(
                [str(AIRFLOW), *command],
                env=env,
                cwd=self.options.project,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        log.info("started %s (pid %d, log %s)", name, self.processes[name].pid, self.log_file(name))

    # --- readiness -------------------------------------------------------------------------------

    def wait_until_ready(self, timeout: float = 300) -> None:
        """Until the API server, scheduler and DAG processor are healthy, both workers answer,
        and every app's DAG is parsed."""
        self._wait(self._healthy, "the API server, scheduler and DAG processor to be healthy", timeout)
        self._wait(self._workers_answer, "both Celery workers to answer the broker", timeout)
        self._wait(
            self._dags_parsed,
            "every app's DAG to be parsed",
            timeout,
            explain=lambda: "import errors: " + "\n".join(self.api.import_errors()),
        )

    def _healthy(self) -> bool:
        health = self.api.health()
        return bool(health) and all(
            health.get(part, {}).get("status") == "healthy"
            for part in ("metadatabase", "scheduler", "dag_processor")
        )

    def _workers_answer(self) -> bool:
        return self.worker_names() >= set(WORKERS)

    def _dags_parsed(self) -> bool:
        expected = {f"provision_{path.stem}" for path in self.apps.glob("*.yaml")}
        return expected <= set(self.api.dags())

    def _wait(
        self,
        ready: Callable[[], bool],
        what: str,
        timeout: float,
        explain: Callable[[], str] | None = None,
    ) -> None:
        """Until ``ready()``; fail early with the log of a process that exited, or with
        ``explain()`` on timeout."""
        deadline = time.monotonic() + timeout
        while not ready():
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise TierUnavailable(
                        f"{name} exited with {process.returncode} while waiting for {what}; "
                        f"its log ends:\n{self.log_file(name).read_text()[-3000:]}"
                    )
            if time.monotonic() > deadline:
                detail = f"\n{explain()}" if explain else ""
                raise TierUnavailable(f"timed out after {timeout:g} s waiting for {what}{detail}")
            time.sleep(1)


def _kill_tree(process: subprocess.Popen) -> None:
    """SIGKILL a process and all its descendants (in whatever process group they are)."""
    with suppress(psutil.NoSuchProcess):
        root = psutil.Process(process.pid)
        for victim in [root, *root.children(recursive=True)]:
            with suppress(psutil.NoSuchProcess):
                victim.kill()
    process.wait()
