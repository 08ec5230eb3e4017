"""Registers the Provisioning page with the Airflow API server and its navigation."""

from airflow.plugins_manager import AirflowPlugin

from provisioning.glue.ui.app import create_app


class ProvisioningUiPlugin(AirflowPlugin):
    name = "provisioning_ui"
    fastapi_apps = [{"app": create_app(), "url_prefix": "/provisioning", "name": "Provisioning"}]
    external_views = [
        {
            "name": "Provisioning",
            "href": "/provisioning/",
            "destination": "nav",
            "url_route": "provisioning",
            "category": "browse",
        }
    ]
