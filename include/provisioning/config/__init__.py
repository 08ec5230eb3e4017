"""App configs: one YAML file per app under include/apps/, validated into typed models."""

from provisioning.config.errors import ConfigError
from provisioning.config.loader import APPS_DIR, app_config_paths, load_app_config
from provisioning.config.models import AppConfig

__all__ = ["APPS_DIR", "AppConfig", "ConfigError", "app_config_paths", "load_app_config"]
