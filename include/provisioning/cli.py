"""``provisioning`` command line, for people writing and operating app configs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from provisioning.config import ConfigError, app_config_paths, apps_dir, load_app_config
from provisioning.glue.dag_files import DAG_PREFIX
from provisioning.glue.settings_import import import_settings


def validate(folder: Path, dags: Path | None) -> int:
    """Check every app config (and that each has its DAG file); print every problem."""
    paths = app_config_paths(folder)
    if not paths:
        print(f"no app configs (*.yaml) in {folder}", file=sys.stderr)
        return 1
    bad = valid = 0
    for path in paths:
        try:
            config = load_app_config(path)
        except ConfigError as exc:
            bad += 1
            print(exc, file=sys.stderr)
            continue
        if dags is not None and not (dags / f"{DAG_PREFIX}{config.app}.py").exists():
            bad += 1
            print(
                f"{path}: no DAG file {dags / f'{DAG_PREFIX}{config.app}.py'} "
                f"(copy another provision_*.py there: the file name selects the app)",
                file=sys.stderr,
            )
            continue
        valid += 1
        print(f"ok  {path} -> {config.dag_id}")
    if dags is not None:
        for stub in sorted(dags.glob(f"{DAG_PREFIX}*.py")):
            app = stub.stem.removeprefix(DAG_PREFIX)
            if not (folder / f"{app}.yaml").exists():
                bad += 1
                print(f"{stub}: no app config {folder / f'{app}.yaml'} for this DAG file", file=sys.stderr)
    print(f"{valid} valid, {bad} problem file(s)", file=sys.stderr if bad else sys.stdout)
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="provisioning", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("validate", help="validate every app config under include/apps")
    check.add_argument("--apps-dir", type=Path, default=None, help="default: include/apps")
    check.add_argument(
        "--dags-dir", type=Path, default=None, help="default: dags/ beside include/, if present"
    )
    settings = commands.add_parser("import-settings", help="load an Astro-style airflow_settings.yaml")
    settings.add_argument("file", type=Path, nargs="?", default=Path("airflow_settings.yaml"))
    args = parser.parse_args(argv)
    if args.command == "validate":
        folder = args.apps_dir or apps_dir()
        dags = args.dags_dir or (folder.resolve().parents[1] / "dags")
        return validate(folder, dags if dags.is_dir() else None)
    if args.command == "import-settings":
        counts = import_settings(args.file, args.file.resolve().parent)
        print(f"imported {counts} from {args.file}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
