"""Airflow DAG for the app named after this file: provision_<app>.py <- include/apps/<app>.yaml."""

from provisioning.glue.dag_factory import dag_for_file

dag = dag_for_file(__file__)
