"""Airflow glue: the DAG factory and the operators. Thin: read config, call a cycle step, return a summary."""
