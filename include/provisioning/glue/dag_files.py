"""The naming contract between DAG files and app configs: dags/provision_<app>.py <- include/apps/<app>.yaml.

One DAG file per app (rather than one file generating all DAGs) is what makes a broken config an
import error of that app's DAG alone: Airflow records import errors per file.
"""

DAG_PREFIX = "provision_"
