"""Run only the apply step of one cycle in its own process, so a test can SIGKILL it mid-way.

Usage: python -m tests.support.run_apply DIRECTORY_DB STATE_DB SCIM_URL TOKEN CYCLE_ID [groups]
(``groups``: the wiki provisions its department and division groups too)
"""

import sys
from pathlib import Path

from provisioning.cycle import steps
from tests.integration.cycle_helpers import DEPARTMENTS_AND_DIVISIONS, Harness


class _App:
    def __init__(self, url: str, token: str):
        self.url, self.token = url, token


def main() -> None:
    directory, state, url, token, cycle_id = sys.argv[1:6]
    harness = Harness(Path(directory), _App(url, token), Path(state))
    if sys.argv[6:] == ["groups"]:
        harness.configure(groups=DEPARTMENTS_AND_DIVISIONS)
    print(steps.apply(harness.context(cycle_id)), flush=True)


if __name__ == "__main__":
    main()
