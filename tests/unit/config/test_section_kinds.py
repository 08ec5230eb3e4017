"""Sections chosen by ``kind`` (the directory's source, the target's app API): files written before
they had kinds keep working, an unknown kind is named with the known ones, and every kind the
config accepts can be opened."""

import pytest

from provisioning.config import ConfigError, load_app_config
from provisioning.config.directory import DIRECTORY_KINDS
from provisioning.config.target import TARGET_MODELS
from provisioning.connectors.directory.registry import SOURCES
from provisioning.connectors.targets import TARGETS
from tests.unit.config.test_loader import GOOD, write

# section -> (its text in GOOD, the kind it has when none is given, the known kinds)
SECTIONS = {
    "directory": ("{conn_id: hr_db}", "sql", "sql, ldap, hr_file"),
    "target": ("{conn_id: scim_x}", "scim", "scim, ldap, synapse"),
}


def with_section(section: str, body: str) -> str:
    return GOOD.replace(SECTIONS[section][0], body)


@pytest.mark.parametrize("section", SECTIONS)
def test_a_section_without_kind_has_the_default_kind(tmp_path, section):
    _, default, _ = SECTIONS[section]
    assert getattr(load_app_config(write(tmp_path, GOOD)), section).kind == default
    explicit = with_section(section, f"{{kind: {default}, conn_id: named_here}}")
    assert getattr(load_app_config(write(tmp_path, explicit)), section).conn_id == "named_here"


@pytest.mark.parametrize("section", SECTIONS)
def test_an_unknown_kind_names_the_file_the_field_and_the_known_kinds(tmp_path, section):
    _, _, known = SECTIONS[section]
    path = write(tmp_path, with_section(section, "{kind: carrier_pigeon, conn_id: x}"))
    with pytest.raises(ConfigError) as info:
        load_app_config(path)
    message = f"unknown kind 'carrier_pigeon' (known kinds: {known})"
    assert info.value.problems == [(f"{section}.kind", message)]
    assert str(path) in str(info.value) and f"{section}.kind: {message}" in str(info.value)


@pytest.mark.parametrize("section", SECTIONS)
def test_settings_of_a_kind_keep_their_field_paths(tmp_path, section):
    _, default, _ = SECTIONS[section]
    path = write(tmp_path, with_section(section, f"{{kind: {default}, conn_id: '', colour: red}}"))
    with pytest.raises(ConfigError) as info:
        load_app_config(path)
    found = dict(info.value.problems)
    assert set(found) == {f"{section}.conn_id", f"{section}.colour"}
    assert "unknown setting" in found[f"{section}.colour"]


def test_every_kind_the_config_accepts_can_be_opened():
    assert set(DIRECTORY_KINDS) == set(SOURCES)
    assert set(TARGET_MODELS) == set(TARGETS)
