"""Builds ``provision_<app>`` from ``include/apps/<app>.yaml``. Parse-time work is reading one
YAML file: no network, no database."""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import DAG

from provisioning.config import AppConfig
from provisioning.config.loader import app_config_path, load_app_config
from provisioning.config.mappings import DirectMapping, ExpressionMapping, Mapping
from provisioning.glue.dag_files import DAG_PREFIX
from provisioning.glue.notifiers import ProvisioningNotifier
from provisioning.glue.operators import (
    ApplyGroupsOperator,
    ApplyOperator,
    DiffOperator,
    ExtractAssignmentsOperator,
    MatchOperator,
    ReportOperator,
)
from provisioning.glue.params import dag_params


def dag_for_file(dag_file: str) -> DAG:
    """The DAG of the app a stub file in dags/ is named after (``provision_<app>.py``)."""
    app = Path(dag_file).stem.removeprefix(DAG_PREFIX)
    dag = build_dag(load_app_config(app_config_path(app)))
    dag.fileloc = str(Path(dag_file).resolve())  # Airflow locates (and serializes) a DAG by its file
    return dag


def build_dag(config: AppConfig) -> DAG:
    with DAG(
        dag_id=config.dag_id,
        description=config.description or f"Provision users to {config.app}",
        schedule=config.schedule_value(),
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=config.timeouts.run,  # a timed-out run fails: on_failure_callback alerts
        tags=["provisioning", config.target.kind, *config.tags],
        doc_md=_doc(config),
        params=dag_params(),
        on_success_callback=ProvisioningNotifier(config.app),
        on_failure_callback=ProvisioningNotifier(config.app),
        default_args={
            "owner": config.owner,
            "retries": config.retries,
            "retry_delay": config.retry_delay_value(),
            "retry_exponential_backoff": True,
            "execution_timeout": config.timeouts.task,
            "pool": config.pool_name,
        },
    ) as dag:
        common = {"app": config.app}
        plan = (
            ExtractAssignmentsOperator(task_id="extract_assignments", **common)
            >> MatchOperator(task_id="match", **common)
            >> DiffOperator(task_id="diff", **common)
        )
        report = ReportOperator(
            task_id="report",
            on_success_callback=ProvisioningNotifier(config.app),
            on_failure_callback=ProvisioningNotifier(config.app),
            **common,
        )
        count = config.target.partitions
        if count == 1:
            plan >> ApplyOperator(task_id="apply", **common) >> report
        else:  # users by partition, on any workers; then groups and memberships
            partitions = ApplyOperator.partial(
                task_id="apply",
                partitions=count,
                map_index_template="partition {{ task.partition_index }}",
                **common,
            ).expand(partition=list(range(count)))
            (
                plan
                >> partitions
                >> ApplyGroupsOperator(task_id="apply_groups", partitions=count, **common)
                >> report
            )
    return dag


def _source(mapping: Mapping) -> str:
    if isinstance(mapping, DirectMapping):
        return f"`{mapping.source}`"
    if isinstance(mapping, ExpressionMapping):
        return "expression `" + mapping.expression.replace("|", "\\|") + "`"
    return f"constant `{mapping.value}`"


def _deprovision(config: AppConfig) -> str:
    policy = config.users.deprovision
    if policy.action == "skip":
        return "accounts are left alone (SkipOutOfScopeDeletions)"
    if policy.action == "delete":
        after = f" after {policy.delete_after_days} days disabled" if policy.delete_after_days else ""
        return f"accounts are deleted{after}"
    return "accounts are disabled, never deleted"


def _directory(config: AppConfig) -> str:
    section = config.directory
    where = f"connection `{section.conn_id}`" if section.conn_id else "no connection"
    return f"`{section.kind}` source, {where}"


def _groups(config: AppConfig) -> str:
    groups = config.groups
    if groups is None:
        return "not provisioned (the app's groups are left alone)."
    return (
        f"{groups.scope} groups in scope, members flattened, removal style `{groups.members.removal}`; "
        f"a group leaving scope is {'deleted' if groups.on_leave_scope == 'delete' else 'kept'}."
    )


def _safety(config: AppConfig) -> str:
    threshold = config.accidental_deletions
    held = (
        f"more than {threshold.max_count} removals or {threshold.max_percent:g}% of an object type "
        f"(accounts, groups, memberships) in one cycle or {threshold.window_hours:g} h are held until a "
        "run with `approve=<cycle id>`"
        if threshold.enabled
        else "accidental-deletion threshold off (a collapse of the directory is still held)"
    )
    return (
        f"{held}; quarantine when over {config.quarantine.failure_ratio:.0%} of actions fail or the app "
        "refuses us (a run with `restart=quarantine` clears it); pool "
        f"`{config.pool_name}`."
    )


def _doc(config: AppConfig) -> str:
    rows = "\n".join(f"| `{m.target}` | {_source(m)} | {m.apply} |" for m in config.users.mappings)
    count = config.target.partitions
    partitioned = f": users in {count} mapped partitions, then `apply_groups`" if count > 1 else ""
    matching = ", ".join(f"`{r.target}`" for r in config.users.matching)
    scope = "users assigned to the app (directly or via groups, nested included)"
    if config.users.scope == "all":
        scope = "every enabled directory user"
    return f"""\
### Provision users to `{config.app}`

{config.description}

- **Directory:** {_directory(config)}; in scope: {scope}.
- **App:** {config.target.kind.upper()} connection `{config.target.conn_id}`, up to
  {config.target.max_concurrency} requests at once.
- **Actions allowed:** {", ".join(config.users.actions)}. Leaving scope: {_deprovision(config)}.
- **Groups:** {_groups(config)}
- **Safety:** {_safety(config)}
- **Matching (precedence order):** {matching}.
- **Config file:** `include/apps/{config.app}.yaml`.

| target attribute | source | applied |
|---|---|---|
{rows}

Each run: `extract_assignments` (directory -> desired state) -> `match` (link existing accounts)
-> `diff` (the plan, XCom = counts per action) -> `apply` (the outbox{partitioned}) -> `report` (the
cycle summary). Clear a failed `apply` to resume its outbox; see docs/operations.md.
"""
