"""Load an Astro-style ``airflow_settings.yaml`` into a plain Airflow metadata DB.

Astro's CLI reads that file; plain Airflow cannot. We translate it into the JSON files that
Airflow's own ``connections import``, ``pools import`` and ``variables import`` commands take,
so the metadata DB is written by Airflow itself, with its validation.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

_CONN_FIELDS = {
    "conn_type": "conn_type",
    "conn_host": "host",
    "conn_login": "login",
    "conn_password": "password",
    "conn_port": "port",
    "conn_schema": "schema",
    "conn_extra": "extra",
    "conn_description": "description",
}


class SettingsError(ValueError):
    pass


def read_settings(path: Path, root: Path) -> dict[str, Any]:
    """Connections, pools and variables in the shape Airflow's import commands take."""
    raw = yaml.safe_load(path.read_text()) or {}
    section = raw.get("airflow") or {}
    connections: dict[str, dict] = {}
    for index, entry in enumerate(section.get("connections") or []):
        if not entry.get("conn_id") or not entry.get("conn_type"):
            raise SettingsError(f"{path}: airflow.connections[{index}] needs conn_id and conn_type")
        conn = {
            target: entry[key] for key, target in _CONN_FIELDS.items() if entry.get(key) not in (None, "")
        }
        if isinstance(conn.get("extra"), dict):
            conn["extra"] = json.dumps(conn["extra"])
        if conn["conn_type"] == "sqlite" and "host" in conn and not Path(conn["host"]).is_absolute():
            conn["host"] = str((root / conn["host"]).resolve())
        connections[entry["conn_id"]] = conn
    pools = {
        p["pool_name"]: {"slots": int(p.get("pool_slot", 1)), "description": p.get("pool_description", "")}
        for p in section.get("pools") or []
    }
    variables = {v["variable_name"]: v.get("variable_value") for v in section.get("variables") or []}
    return {"connections": connections, "pools": pools, "variables": variables}


def import_settings(
    path: Path, root: Path, airflow: str = "airflow", env: dict[str, str] | None = None
) -> dict[str, int]:
    """Write the settings into the metadata DB of the current AIRFLOW_HOME (overwriting)."""
    return write_settings(read_settings(path, root), airflow, env)


def write_settings(
    settings: dict[str, Any], airflow: str = "airflow", env: dict[str, str] | None = None
) -> dict[str, int]:
    """Write settings in ``read_settings``' shape (e.g. with hosts changed) into the metadata DB."""
    commands = {
        "connections": ["connections", "import", "--overwrite"],
        "pools": ["pools", "import"],
        "variables": ["variables", "import", "--action-on-existing-key", "overwrite"],
    }
    with tempfile.TemporaryDirectory() as folder:
        for kind, command in commands.items():
            if not settings[kind]:
                continue
            file = Path(folder) / f"{kind}.json"
            file.write_text(json.dumps(settings[kind]))
            result = subprocess.run([airflow, *command, str(file)], capture_output=True, text=True, env=env)
            if result.returncode != 0:
                raise SettingsError(f"airflow {' '.join(command[:2])} failed: {result.stderr.strip()[-500:]}")
    return {kind: len(values) for kind, values in settings.items()}
