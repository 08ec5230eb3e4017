"""Stopping a server process the demo or the tests started (slapd, scim2-server, Canaille,
Synapse): asked first, so it can shut down cleanly, then killed, and always waited for, so that
no zombie holds on to its port or files.
"""

from __future__ import annotations

import subprocess


def stop_process(process: subprocess.Popen | None, timeout: float = 15.0) -> None:
    """Terminate ``process`` if it still runs; kill it when it has not ended within ``timeout``."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)
