"""Reading app config files. Cheap and local: safe to call at DAG-parse time."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import ValidationError

from provisioning.config.app import AppConfig, target_path_problems
from provisioning.config.directory import DIRECTORY_KINDS
from provisioning.config.errors import ConfigError
from provisioning.config.kinds import UNKNOWN_KIND
from provisioning.config.target import TARGET_MODELS

DEFAULT_APPS_DIR = Path(__file__).resolve().parents[2] / "apps"
MAPPING_TYPES = ("direct", "constant", "expression", "none")
# sections chosen by kind: pydantic puts the chosen kind after the section's name
KINDS_OF_SECTION = {"directory": DIRECTORY_KINDS, "target": tuple(TARGET_MODELS)}


def apps_dir() -> Path:
    """include/apps, unless PROVISIONING_APPS_DIR points elsewhere (read at call time)."""
    return Path(os.environ.get("PROVISIONING_APPS_DIR") or DEFAULT_APPS_DIR)


def app_config_path(app: str) -> Path:
    return apps_dir() / f"{app}.yaml"


def app_config_paths(folder: Path | None = None) -> list[Path]:
    """Every app config file, sorted so DAG order and validate output are stable."""
    folder = Path(folder or apps_dir())
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def load_app_config(path: Path | str) -> AppConfig:
    """Load and validate one app config; raise ConfigError naming the file and every problem."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(path, [("", f"cannot read file: {exc.strerror or exc}")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(path, [("", f"YAML syntax error at {where}{problem}")]) from None
    if not isinstance(raw, dict):
        raise ConfigError(path, [("", "the file must hold a mapping of settings, e.g. 'app: name'")])
    raw.setdefault("app", path.stem)
    if raw["app"] != path.stem:
        raise ConfigError(path, [("app", f"{raw['app']!r} must equal the file name {path.stem!r}")])
    try:
        config = AppConfig.model_validate(raw)
    except ValidationError as exc:
        found = [_problem(err) for err in exc.errors()]
        raise ConfigError(path, found + _raw_path_problems(raw)) from None
    problems = config.problems()
    if problems:
        raise ConfigError(path, problems)
    return config


def _problem(err: dict) -> tuple[str, str]:
    if err["type"] == UNKNOWN_KIND:
        kind = err["input"]["kind"]  # only a mapping with a kind gets here (config/kinds.py)
        return f"{_location(err['loc'])}.kind", f"unknown kind {kind!r} (known kinds: {err['ctx']['known']})"
    return _location(err["loc"]), _message(err)


def _location(loc: tuple[str | int, ...]) -> str:
    """pydantic's ('users', 'mappings', 2, 'direct', 'target') -> users.mappings[2].target."""
    text = ""
    previous: str | int | None = None
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(previous, int) and part in MAPPING_TYPES:
            pass  # the union branch tag pydantic puts after a list index, not a field name
        elif part in KINDS_OF_SECTION.get(previous, ()):
            pass  # the kind pydantic puts after a section chosen by kind, not a field name
        elif not part.startswith("function-"):
            text += f".{part}" if text else part
        previous = part
    return text


def _message(err: dict) -> str:
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return "unknown setting (check the spelling; see docs/configuration.md)"
    if err["type"] == "missing":
        return "required setting is missing"
    return message


def _raw_path_problems(raw: dict) -> list[tuple[str, str]]:
    target = raw.get("target")
    kind = target.get("kind", "scim") if isinstance(target, dict) else "scim"
    targets = {
        where: [m.get("target") if isinstance(m, dict) else None for m in section["mappings"]]
        for where in ("users", "groups")
        if isinstance(section := raw.get(where), dict) and isinstance(section.get("mappings"), list)
    }
    return target_path_problems(kind, targets)
