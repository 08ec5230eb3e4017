"""App configs: one YAML file per app under include/apps/, validated into typed models."""

from provisioning.config.app import AppConfig
from provisioning.config.errors import ConfigError
from provisioning.config.loader import app_config_path, app_config_paths, apps_dir, load_app_config

__all__ = ["AppConfig", "ConfigError", "app_config_path", "app_config_paths", "apps_dir", "load_app_config"]
