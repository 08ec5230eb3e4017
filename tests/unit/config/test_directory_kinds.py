"""The ``directory`` section is chosen by ``kind``; files written before it had kinds keep working."""

import pytest

from provisioning.config import ConfigError, load_app_config
from provisioning.config.directory import DIRECTORY_KINDS
from provisioning.connectors.directory.registry import SOURCES
from tests.unit.config.test_loader import GOOD, write


def test_a_directory_without_kind_is_sql(tmp_path):
    assert load_app_config(write(tmp_path, GOOD)).directory.kind == "sql"
    explicit = GOOD.replace("{conn_id: hr_db}", "{kind: sql, conn_id: hr_db}")
    assert load_app_config(write(tmp_path, explicit)).directory.conn_id == "hr_db"


def test_an_unknown_kind_names_the_file_the_field_and_the_known_kinds(tmp_path):
    path = write(tmp_path, GOOD.replace("{conn_id: hr_db}", "{kind: ldap, conn_id: hr_db}"))
    with pytest.raises(ConfigError) as info:
        load_app_config(path)
    assert info.value.problems == [("directory.kind", "unknown kind 'ldap' (known kinds: sql)")]
    assert str(path) in str(info.value) and "directory.kind: unknown kind 'ldap'" in str(info.value)


def test_settings_of_a_kind_keep_their_field_paths(tmp_path):
    path = write(tmp_path, GOOD.replace("{conn_id: hr_db}", "{kind: sql, conn_id: '', colour: red}"))
    with pytest.raises(ConfigError) as info:
        load_app_config(path)
    found = dict(info.value.problems)
    assert set(found) == {"directory.conn_id", "directory.colour"}
    assert "unknown setting" in found["directory.colour"]


def test_every_kind_the_config_accepts_has_a_source():
    assert set(DIRECTORY_KINDS) == set(SOURCES)
