"""``provisioning`` command line, for people writing and operating app configs."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from provisioning.config import (
    AppConfig,
    ConfigError,
    app_config_path,
    app_config_paths,
    apps_dir,
    load_app_config,
)
from provisioning.engine.expressions import IGNORE, EvaluationError, ExpressionError, compile_expression
from provisioning.glue.dag_files import DAG_PREFIX
from provisioning.glue.settings_import import import_settings


def validate(folder: Path, dags: Path | None) -> int:
    """Check every app config (and that each has its DAG file); print every problem."""
    paths = app_config_paths(folder)
    if not paths:
        print(f"no app configs (*.yaml) in {folder}", file=sys.stderr)
        return 1
    bad = valid = 0
    writers: dict[tuple[str, str], list[AppConfig]] = defaultdict(list)
    for path in paths:
        try:
            config = load_app_config(path)
        except ConfigError as exc:
            bad += 1
            print(exc, file=sys.stderr)
            continue
        if dags is not None and not (dags / f"{DAG_PREFIX}{config.app}.py").exists():
            bad += 1
            print(
                f"{path}: no DAG file {dags / f'{DAG_PREFIX}{config.app}.py'} "
                f"(copy another provision_*.py there: the file name selects the app)",
                file=sys.stderr,
            )
            continue
        clash = _shared_endpoint(config, writers)
        if clash:
            bad += 1
            print(f"{path}: {clash}", file=sys.stderr)
            continue
        valid += 1
        print(f"ok  {path} -> {config.dag_id}")
    if dags is not None:
        for stub in sorted(dags.glob(f"{DAG_PREFIX}*.py")):
            app = stub.stem.removeprefix(DAG_PREFIX)
            if not (folder / f"{app}.yaml").exists():
                bad += 1
                print(f"{stub}: no app config {folder / f'{app}.yaml'} for this DAG file", file=sys.stderr)
    print(f"{valid} valid, {bad} problem file(s)", file=sys.stderr if bad else sys.stdout)
    return 1 if bad else 0


def _shared_endpoint(config: AppConfig, writers: dict[tuple[str, str], list[AppConfig]]) -> str | None:
    """Two apps writing one object type through one connection disable each other's objects
    (each sees the other's as not its own), unless both say they share it."""
    for object_type in ("users", "groups") if config.groups else ("users",):
        others = writers[(config.target.conn_id, object_type)]
        clash = [
            o.app
            for o in others
            if o.app not in config.target.shared_with or config.app not in o.target.shared_with
        ]
        others.append(config)
        if clash:
            return (
                f"target.conn_id {config.target.conn_id!r}: writes {object_type} to the same endpoint as "
                f"{', '.join(clash)}; each app would disable or overwrite the other's objects. If they "
                "really share it, list each other in target.shared_with"
            )
    return None


def evaluate(expression: str, source: str, now: str | None = None) -> int:
    """Print the expression's value for one source object as JSON (exit 0), or the error (exit 2)."""
    try:
        row = json.loads(source)
    except json.JSONDecodeError as exc:
        print(f"--source is not JSON: {exc}", file=sys.stderr)
        return 2
    if not isinstance(row, dict):
        print('--source must be a JSON object, e.g. \'{"givenName": "Zoë"}\'', file=sys.stderr)
        return 2
    clock = None
    if now is not None:
        try:
            fixed = datetime.fromisoformat(now)
        except ValueError:
            print(f"--now {now!r} is not an ISO 8601 date/time", file=sys.stderr)
            return 2
        fixed = fixed if fixed.tzinfo else fixed.replace(tzinfo=UTC)

        def clock() -> datetime:
            return fixed

    try:
        value = compile_expression(expression, clock=clock).evaluate(row)
    except ExpressionError as exc:
        print(f"error {exc}\n{exc.pointer()}", file=sys.stderr)
        return 2
    except EvaluationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(None if value is IGNORE else value, ensure_ascii=False))
    if value is IGNORE:
        print("(IgnoreFlowIfNullOrEmpty: the target attribute would be left unchanged)", file=sys.stderr)
    return 0


def preview_user(app: str, who: str, as_json: bool) -> int:
    """Provision-on-demand preview from the Airflow connections of this environment."""
    from airflow.sdk.exceptions import AirflowNotFoundException

    from provisioning.connectors.directory.base import DirectoryError
    from provisioning.connectors.errors import ConnectorError
    from provisioning.cycle.preview import PreviewError, preview, render
    from provisioning.glue.resources import StateStoreMissing, cycle_context
    from provisioning.state.schema import StateStoreNotReady

    try:
        config = load_app_config(app_config_path(app))
        with cycle_context(config, "preview") as ctx:
            report = preview(ctx, who)
    except (
        ConfigError,
        PreviewError,
        DirectoryError,
        ConnectorError,
        StateStoreMissing,
        StateStoreNotReady,
    ) as exc:
        print(exc, file=sys.stderr)
        return 2
    except AirflowNotFoundException as exc:
        print(
            f"{exc}: run this where the DAGs run (same AIRFLOW_HOME or AIRFLOW_CONN_* variables)",
            file=sys.stderr,
        )
        return 2
    print(json.dumps(report, indent=1, default=str, ensure_ascii=False) if as_json else render(report))
    return 0


def state_stores(folder: Path, conn_id: str | None) -> dict[str, str]:
    """Each state store the app configs name (or only ``conn_id``): its URL -> a connection id
    naming it (apps that name different ids for one database are upgraded once)."""
    from provisioning.glue.resources import state_store_url

    if conn_id:
        conn_ids = {conn_id}
    else:
        conn_ids = {"provisioning_state"}
        for path in app_config_paths(folder):
            try:
                conn_ids.add(load_app_config(path).state_conn_id)
            except ConfigError as exc:
                print(f"skipped (does not load): {exc}", file=sys.stderr)
    stores: dict[str, str] = {}
    for name in sorted(conn_ids):
        stores.setdefault(state_store_url(name).render_as_string(hide_password=False), name)
    return stores


def db(action: str, folder: Path, conn_id: str | None) -> int:
    """``upgrade``: bring every state store to this release's schema (once per deployment, before
    the scheduler and workers start). ``check``: exit 1 unless every store is at it."""
    from sqlalchemy import create_engine, make_url

    from provisioning.state import schema

    behind = 0
    for url, name in state_stores(folder, conn_id).items():
        engine = create_engine(url)
        shown = make_url(url).render_as_string(hide_password=True)
        try:
            if action == "upgrade":
                before, after = schema.upgrade(engine)
                change = "already at" if before == after else f"upgraded from {before or 'no version'} to"
                print(f"{name} ({shown}): {change} {after}")
            else:
                found, head = schema.current_revision(engine), schema.head_revision()
                behind += found != head
                print(f"{name} ({shown}): at {found or 'no version'}, this release needs {head}")
        finally:
            engine.dispose()
    return 1 if behind else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="provisioning", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("validate", help="validate every app config under include/apps")
    check.add_argument("--apps-dir", type=Path, default=None, help="default: include/apps")
    check.add_argument(
        "--dags-dir", type=Path, default=None, help="default: dags/ beside include/, if present"
    )
    expr = commands.add_parser("expr", help="evaluate an expression against a source object")
    expr.add_argument("expression")
    expr.add_argument("--now", help="fix the clock for Now(), ISO 8601 (default: the real UTC time)")
    expr.add_argument(
        "--source", default="{}", help='JSON object of attributes, e.g. \'{"givenName": "Zoë"}\''
    )
    show = commands.add_parser("preview", help="what a cycle would do for one user, writing nothing")
    show.add_argument("app")
    show.add_argument("user", help="directory id or userPrincipalName")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    settings = commands.add_parser("import-settings", help="load an Astro-style airflow_settings.yaml")
    settings.add_argument("file", type=Path, nargs="?", default=Path("airflow_settings.yaml"))
    database = commands.add_parser("db", help="the state store's schema (like `airflow db migrate`)")
    database.add_argument("action", choices=["upgrade", "check"])
    database.add_argument("--apps-dir", type=Path, default=None, help="default: include/apps")
    database.add_argument(
        "--conn-id", help="only this state store connection (default: every one the app configs name)"
    )
    args = parser.parse_args(argv)
    if args.command == "validate":
        folder = args.apps_dir or apps_dir()
        dags = args.dags_dir or (folder.resolve().parents[1] / "dags")
        return validate(folder, dags if dags.is_dir() else None)
    if args.command == "expr":
        return evaluate(args.expression, args.source, args.now)
    if args.command == "preview":
        return preview_user(args.app, args.user, args.json)
    if args.command == "db":
        # run where the metadata DB is reachable, as `airflow db migrate` is: read the state store
        # connections from it too (Airflow's task SDK looks there only in "server" processes)
        previous = os.environ.get("_AIRFLOW_PROCESS_CONTEXT")
        os.environ["_AIRFLOW_PROCESS_CONTEXT"] = previous or "server"
        try:
            return db(args.action, args.apps_dir or apps_dir(), args.conn_id)
        finally:  # called in-process (tests), the caller's later commands keep their own context
            if previous is None:
                del os.environ["_AIRFLOW_PROCESS_CONTEXT"]
    if args.command == "import-settings":
        counts = import_settings(args.file, args.file.resolve().parent)
        print(f"imported {counts} from {args.file}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
