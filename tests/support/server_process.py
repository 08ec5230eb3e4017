"""An app the tests run as a process of its own on 127.0.0.1 (Canaille, Synapse): a temporary
home for its config, database and log, a free port, waiting until it is ready, and stopping it
(terminate, then kill) and removing its home whatever happened -- a start that fails included, so
that a broken server leaves no process behind to hold its port.

A subclass says how its app is set up and launched (``_run``); the log's tail goes into every
error, since the app's own words are what tell why it did not come up.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Self

import httpx

from provisioning.demo.processes import stop_process
from provisioning.demo.scim_server import free_port


class ServerProcess:
    name = "server"  # the app, in messages and in the names of its home and log

    def __init__(self, startup_timeout: float = 120.0):
        self.startup_timeout = startup_timeout
        self.port = free_port()
        self.home = Path(tempfile.mkdtemp(prefix=f"{self.name}-"))
        self.log_file = self.home / f"{self.name}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        try:
            self._run()
        except BaseException:
            self.stop()
            raise
        return self

    def _run(self) -> None:
        """Set the app up in its home, launch it (``_launch``) and wait until it is ready (``_wait``)."""
        raise NotImplementedError

    def _launch(self, command: list[str], env: Mapping[str, str] | None = None) -> None:
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.home
            )

    def _wait(self, ready: Callable[[], bool]) -> None:
        """Until ``ready()`` (an HTTP error counts as not yet), within the startup timeout."""
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                code = self.process.returncode if self.process else None
                raise RuntimeError(f"{self.name} exited with {code}: {self.log_tail()}")
            try:
                if ready():
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} was not ready within {self.startup_timeout:g}s: {self.log_tail()}")

    def _answers(self, path: str) -> bool:
        """The app answers ``GET path`` with a success (a readiness test for ``_wait``)."""
        return httpx.get(f"{self.url}{path}", timeout=2).is_success

    def log_tail(self) -> str:
        return self.log_file.read_text(errors="replace")[-3000:] if self.log_file.exists() else ""

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None
        shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
