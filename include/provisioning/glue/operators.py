"""One operator per cycle step. Each reloads the app config at run time (workers see the current
file), builds the cycle context from Airflow connections, runs the step and returns its summary.

The step code (pandas, SQLAlchemy, the app clients) is imported in ``execute``, not here: this
module is imported whenever Airflow parses a DAG file, which must stay cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator, TriggerRule
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException, AirflowTaskTimeout

from provisioning.config.loader import app_config_path, load_app_config

if TYPE_CHECKING:
    from provisioning.engine.partitions import Partition


class CycleFailed(RuntimeError):
    """Raised after a step recorded its work, so Airflow marks the task (and the run) failed."""


class ProvisioningStepOperator(BaseOperator):
    """Base: runs the cycle step ``step`` for the app ``app``; the cycle id is the DAG run id."""

    step: ClassVar[str]  # a function name in provisioning.cycle.steps
    template_fields = ("app",)
    ui_color = "#e8f0fe"

    def __init__(self, *, app: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.app = app

    def execute(self, context: Any) -> dict[str, Any]:
        from provisioning.connectors.errors import ConnectorError
        from provisioning.cycle import guards, steps
        from provisioning.cycle.options import InvalidRunOptions
        from provisioning.glue.params import run_options
        from provisioning.glue.resources import StateStoreMissing, cycle_context
        from provisioning.state.leases import LeaseLost
        from provisioning.state.schema import StateStoreNotReady

        config = load_app_config(app_config_path(self.app))
        dag_run = context["dag_run"]
        triggered_by = getattr(dag_run, "triggering_user_name", None) or str(dag_run.run_type)
        options = run_options(context.get("params") or {}, triggered_by)
        try:
            ctx = cycle_context(config, dag_run.run_id, options, self.partition())
        except (StateStoreMissing, StateStoreNotReady) as exc:  # an operator must act; retries cannot
            raise AirflowFailException(str(exc)) from None
        try:
            summary = getattr(steps, self.step)(ctx, **self.step_arguments())
        except guards.CycleSkipped as skipped:
            raise AirflowSkipException(str(skipped)) from None
        except AirflowTaskTimeout:
            # not an Exception: recorded here so that report and the alerts name it
            timed_out = TimeoutError(f"timed out after {self.execution_timeout} (timeouts.task_minutes)")
            guards.record_failure(ctx, self.task_id, timed_out)
            raise
        except Exception as exc:
            guards.record_failure(ctx, self.task_id, exc)
            # retries cannot fix credentials, a run's params, a refusal or a lost lease
            if isinstance(exc, InvalidRunOptions | guards.CycleRefused | LeaseLost) or (
                isinstance(exc, ConnectorError) and exc.stops_cycle
            ):
                raise AirflowFailException(str(exc)) from None
            raise
        finally:
            ctx.close()
        self.log.info("%s: %s", self.task_id, summary)
        return self.check(summary, context)

    def check(self, summary: dict[str, Any], context: Any) -> dict[str, Any]:
        return summary

    def partition(self) -> Partition | None:
        """The partition of a partitioned apply this task runs (None: the whole step)."""
        return None

    def step_arguments(self) -> dict[str, Any]:
        return {}


class ExtractAssignmentsOperator(ProvisioningStepOperator):
    step = "extract_assignments"


class MatchOperator(ProvisioningStepOperator):
    step = "match"


class DiffOperator(ProvisioningStepOperator):
    step = "diff"


class ApplyOperator(ProvisioningStepOperator):
    """Fails the task when any action failed, so clearing it (or its retries) resumes the outbox.
    Mapped over ``partition`` (0 .. ``partitions`` - 1) when the app's apply is partitioned."""

    step = "apply"

    def __init__(self, *, partition: int | None = None, partitions: int = 1, **kwargs: Any):
        super().__init__(**kwargs)
        self.partition_index = partition
        self.partitions = partitions

    def partition(self) -> Partition | None:
        from provisioning.engine.partitions import Partition

        if self.partition_index is None:
            return None
        return Partition(self.partition_index, self.partitions)

    def step_arguments(self) -> dict[str, Any]:
        return {"partition": self.partition()} if self.partition_index is not None else {}

    def check(self, summary: dict[str, Any], context: Any) -> dict[str, Any]:
        if summary["failed"] or summary.get("stopped"):
            context["ti"].xcom_push(key="return_value", value=summary)
            raise CycleFailed(
                f"{summary['failed']} action(s) failed"
                + (f"; stopped early: {summary['stopped']}" if summary.get("stopped") else "")
                + " (see the provisioning log)"
            )
        return summary


class ApplyGroupsOperator(ApplyOperator):
    """After the partitions of a partitioned apply, whatever their outcome (the step itself checks
    that every partition got through): groups, then memberships. Skipped, like ``report``, only
    when the cycle was (quarantine, another run holding the lease)."""

    step = "apply_groups"

    def __init__(self, *, partitions: int, **kwargs: Any):
        kwargs.setdefault("trigger_rule", TriggerRule.NONE_SKIPPED)
        super().__init__(partitions=partitions, **kwargs)

    def step_arguments(self) -> dict[str, Any]:
        return {"count": self.partitions}


class ReportOperator(ProvisioningStepOperator):
    """Runs even when earlier steps failed (not when the cycle was skipped by quarantine); fails
    the DAG run -- so Airflow's failure alerts fire -- when the cycle did not fully apply or
    held removals for approval (at once: a retry cannot approve anything)."""

    step = "report"

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("trigger_rule", TriggerRule.NONE_SKIPPED)
        super().__init__(**kwargs)

    def check(self, summary: dict[str, Any], context: Any) -> dict[str, Any]:
        if summary["status"] in ("succeeded", "dry_run"):
            return summary
        context["ti"].xcom_push(key="return_value", value=summary)
        if summary["status"] == "staged":
            raise AirflowFailException(
                f"cycle {summary['cycle_id']} of {summary['app']} held {summary['staged']} removal "
                "action(s) for approval (disables, deletes or member removals): check the staged rows "
                f"of the provisioning log, then trigger the DAG with approve={summary['cycle_id']} to "
                "approve exactly that set, or fix the cause"
            )
        raise CycleFailed(
            f"cycle {summary['cycle_id']} of {summary['app']} did not fully apply: "
            f"{summary['failed']} failed, {summary['not_applied']} not applied"
            + (f"; {summary['error']}" if summary.get("error") else "")
            + (f"; {'; '.join(summary['alerts'])}" if summary.get("alerts") else "")
        )
