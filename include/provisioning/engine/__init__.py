"""Pure provisioning logic over pandas frames and plain records: no Airflow, no network."""
