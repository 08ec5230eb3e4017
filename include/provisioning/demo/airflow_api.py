"""A small client of Airflow's REST API (v2): the calls the Celery tier and its tests make, as an
operator's script would -- log in, list DAGs, trigger a run, wait for it, read its task instances
and every try of one (where it ran: ``hostname``)."""

from __future__ import annotations

import time
from typing import Any

import httpx

FINISHED = ("success", "failed")


class AirflowApi:
    def __init__(self, url: str, username: str, password: str, timeout: float = 30):
        self.url = url.rstrip("/")
        self._credentials = {"username": username, "password": password}
        self._client = httpx.Client(base_url=self.url, timeout=timeout)

    def health(self) -> dict[str, Any] | None:
        """The monitor's health answer (no login needed), or None while the server is not up."""
        try:
            response = self._client.get("/api/v2/monitor/health")
        except httpx.TransportError:
            return None
        return response.json() if response.status_code == 200 else None

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        if "Authorization" not in self._client.headers:
            token = self._client.post("/auth/token", json=self._credentials)
            token.raise_for_status()
            self._client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        response = self._client.request(method, f"/api/v2{path}", **kwargs)
        if response.is_error:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json()

    def dags(self) -> dict[str, dict[str, Any]]:
        """Every DAG the DAG processor has parsed, by id."""
        return {d["dag_id"]: d for d in self._call("GET", "/dags", params={"limit": 1000})["dags"]}

    def import_errors(self) -> list[str]:
        errors = self._call("GET", "/importErrors")["import_errors"]
        return [f"{e['filename']}: {e['stack_trace'][-500:]}" for e in errors]

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """A manual run now; its run id."""
        run = self._call("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})
        return run["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self._call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 600) -> str:
        """The run's final state (success or failed); TimeoutError if it has none in time."""
        deadline = time.monotonic() + timeout
        while (state := self.run(dag_id, run_id)["state"]) not in FINISHED:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id} {run_id} still {state} after {timeout:g} s")
            time.sleep(1)
        return state

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        """The run's task instances (their latest try), by task id."""
        found = self._call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {ti["task_id"]: ti for ti in found}

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        """Every try of one task instance, oldest first (each with its hostname and state)."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries"
        return sorted(self._call("GET", path)["task_instances"], key=lambda t: t["try_number"])

    def close(self) -> None:
        self._client.close()
