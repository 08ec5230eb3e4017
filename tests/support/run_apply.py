"""Run only the apply step of one cycle in its own process, so a test can SIGKILL it mid-way.

Usage: python -m tests.support.run_apply DIRECTORY_DB STATE_DB SCIM_URL TOKEN CYCLE_ID [groups | CONFIG.json]
(``groups``: the wiki provisions its department and division groups too; a ``.json`` file: the
whole app config, as ``AppConfig.model_dump_json`` wrote it)
"""

import sys
from pathlib import Path

from provisioning.config import AppConfig
from provisioning.cycle import steps
from tests.integration.cycle_helpers import DEPARTMENTS_AND_DIVISIONS, Harness


class _App:
    def __init__(self, url: str, token: str):
        self.url, self.token = url, token


def main() -> None:
    directory, state, url, token, cycle_id = sys.argv[1:6]
    harness = Harness(Path(directory), _App(url, token), state if "://" in state else Path(state))
    if sys.argv[6:] == ["groups"]:
        harness.configure(groups=DEPARTMENTS_AND_DIVISIONS)
    elif sys.argv[6:] and sys.argv[6].endswith(".json"):
        harness.config = AppConfig.model_validate_json(Path(sys.argv[6]).read_text())
    print(steps.apply(harness.context(cycle_id)), flush=True)


if __name__ == "__main__":
    main()
