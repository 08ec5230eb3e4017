"""The Provisioning page of the Airflow UI: a FastAPI app the plugin in plugins/ mounts."""
