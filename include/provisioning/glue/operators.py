"""One operator per cycle step. Each reloads the app config at run time (workers see the current
file), builds the cycle context from Airflow connections, runs the step and returns its summary.

The step code (pandas, SQLAlchemy, the SCIM client) is imported in ``execute``, not here: this
module is imported whenever Airflow parses a DAG file, which must stay cheap.
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.sdk import BaseOperator, TriggerRule

from provisioning.config.loader import app_config_path, load_app_config


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
        from provisioning.cycle import steps
        from provisioning.glue.resources import cycle_context

        config = load_app_config(app_config_path(self.app))
        ctx = cycle_context(config, context["dag_run"].run_id)
        summary = getattr(steps, self.step)(ctx)
        self.log.info("%s: %s", self.task_id, summary)
        return self.check(summary, context)

    def check(self, summary: dict[str, Any], context: Any) -> dict[str, Any]:
        return summary


class ExtractAssignmentsOperator(ProvisioningStepOperator):
    step = "extract_assignments"


class MatchOperator(ProvisioningStepOperator):
    step = "match"


class DiffOperator(ProvisioningStepOperator):
    step = "diff"


class ApplyOperator(ProvisioningStepOperator):
    """Fails the task when any action failed, so clearing it (or its retries) resumes the outbox."""

    step = "apply"

    def check(self, summary: dict[str, Any], context: Any) -> dict[str, Any]:
        if summary["failed"] or summary.get("stopped"):
            context["ti"].xcom_push(key="return_value", value=summary)
            raise CycleFailed(
                f"{summary['failed']} action(s) failed"
                + (f"; stopped early: {summary['stopped']}" if summary.get("stopped") else "")
                + " (see the provisioning log)"
            )
        return summary


class ReportOperator(ProvisioningStepOperator):
    """Runs even when earlier steps failed; fails the DAG run when the cycle did not fully apply."""

    step = "report"

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("trigger_rule", TriggerRule.ALL_DONE)
        super().__init__(**kwargs)

    def check(self, summary: dict[str, Any], context: Any) -> dict[str, Any]:
        if summary["status"] != "succeeded":
            context["ti"].xcom_push(key="return_value", value=summary)
            raise CycleFailed(
                f"cycle {summary['cycle_id']} of {summary['app']} did not fully apply: "
                f"{summary['failed']} failed, {summary['not_applied']} not applied"
            )
        return summary
