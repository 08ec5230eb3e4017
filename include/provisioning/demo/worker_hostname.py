"""``[core] hostname_callable`` of the Celery tier's workers (provisioning.demo.celery_tier).

Two workers on one machine would both record the machine's name on their task instances; each
tier worker records its own name instead, so a task instance says which worker ran it.
"""

from __future__ import annotations

import os
import socket

VARIABLE = "PROVISIONING_WORKER_HOSTNAME"


def worker_hostname() -> str:
    return os.environ.get(VARIABLE) or socket.getfqdn()
