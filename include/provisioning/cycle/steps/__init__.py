"""The five steps of a cycle, one module each, in the order the DAG runs them.

Each is safe to rerun: it recomputes from the state store (what the earlier steps stored there is
in ``artifacts``), so a cleared task or a retried attempt never depends on what a failed one left.
The operators call a step by its name on this package (``getattr(steps, "diff")``). A partitioned
apply adds ``apply_groups`` after its partitions (``apply.py``).
"""

from provisioning.cycle.steps.apply import apply, apply_groups
from provisioning.cycle.steps.diff import diff
from provisioning.cycle.steps.extract import extract_assignments
from provisioning.cycle.steps.match import match
from provisioning.cycle.steps.report import report

__all__ = ["apply", "apply_groups", "diff", "extract_assignments", "match", "report"]
