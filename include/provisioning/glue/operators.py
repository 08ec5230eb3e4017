"""One operator per cycle step. Each reloads the app config at run time (workers see the current
file), builds the cycle context from Airflow connections, runs the step and returns its summary."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from airflow.sdk import BaseOperator, TriggerRule

from provisioning.config.loader import app_config_path, load_app_config
from provisioning.cycle import steps
from provisioning.cycle.context import CycleContext
from provisioning.glue.resources import cycle_context


class ProvisioningStepOperator(BaseOperator):
    """Base: runs ``step`` for the app named ``app`` in the cycle identified by the DAG run id."""

    step: ClassVar[Callable[[CycleContext], dict[str, Any]]]
    template_fields = ("app",)
    ui_color = "#e8f0fe"

    def __init__(self, *, app: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.app = app

    def execute(self, context: Any) -> dict[str, Any]:
        config = load_app_config(app_config_path(self.app))
        ctx = cycle_context(config, context["dag_run"].run_id)
        summary = type(self).step(ctx)
        self.log.info("%s: %s", self.task_id, summary)
        return self.check(summary, context)

    def check(self, summary: dict[str, Any], context: Any) -> dict[str, Any]:
        return summary


class ExtractAssignmentsOperator(ProvisioningStepOperator):
    step = staticmethod(steps.extract_assignments)


class MatchOperator(ProvisioningStepOperator):
    step = staticmethod(steps.match)


class DiffOperator(ProvisioningStepOperator):
    step = staticmethod(steps.diff)


class ApplyOperator(ProvisioningStepOperator):
    """Fails the task when any action failed, so clearing it (or its retries) resumes the outbox."""

    step = staticmethod(steps.apply)

    def check(self, summary: dict[str, Any], context: Any) -> dict[str, Any]:
        if summary["failed"] or summary.get("stopped"):
            context["ti"].xcom_push(key="return_value", value=summary)
            raise steps.CycleFailed(
                f"{summary['failed']} action(s) failed"
                + (f"; stopped early: {summary['stopped']}" if summary.get("stopped") else "")
                + " (see the provisioning log)"
            )
        return summary


class ReportOperator(ProvisioningStepOperator):
    """Runs even when earlier steps failed; fails the DAG run when the cycle did not fully apply."""

    step = staticmethod(steps.report)

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("trigger_rule", TriggerRule.ALL_DONE)
        super().__init__(**kwargs)

    def check(self, summary: dict[str, Any], context: Any) -> dict[str, Any]:
        if summary["status"] != "succeeded":
            context["ti"].xcom_push(key="return_value", value=summary)
            raise steps.CycleFailed(
                f"cycle {summary['cycle_id']} of {summary['app']} did not fully apply: "
                f"{summary['failed']} failed, {summary['not_applied']} not applied"
            )
        return summary
