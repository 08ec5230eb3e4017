"""Directory-to-SaaS user provisioning run as Apache Airflow DAGs.

Layers (see docs/architecture.md): ``config`` (typed app configs), ``engine`` (pure planning
logic, no Airflow, no network), ``connectors`` (directory reader and app hooks), ``state``
(the SQLAlchemy state store), ``cycle`` (one provisioning cycle's steps wiring the others) and
``glue`` (the Airflow DAG factory and operators).
"""
