"""App configs: one YAML file per app under include/apps/, validated into typed models."""

from provisioning.config.errors import ConfigError
from provisioning.config.loader import app_config_path, app_config_paths, apps_dir, load_app_config
from provisioning.config.models import AppConfig

__all__ = ["AppConfig", "ConfigError", "app_config_path", "app_config_paths", "apps_dir", "load_app_config"]
