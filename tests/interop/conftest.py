"""One fixture per target kind and server; the scenario runs once against each."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from provisioning.demo.scim_server import ScimServer
from provisioning.demo.slapd import SUFFIX, Slapd
from tests.interop.kinds import CanailleTarget, LdapTarget, ScimTarget, TargetUnderTest
from tests.support.canaille_server import CanailleServer
from tests.support.ldap_server import ou


@pytest.fixture(params=["scim2-server", "canaille", "slapd"])
def target_under_test(request: pytest.FixtureRequest, tmp_path) -> Iterator[TargetUnderTest]:
    if request.param == "scim2-server":
        with ScimServer(token="interop-token") as server:
            yield ScimTarget(server)
    elif request.param == "canaille":
        with CanailleServer() as server:
            yield CanailleTarget(server)
    elif request.param == "slapd":
        with Slapd(tmp_path / "slapd", ou(f"ou=people,{SUFFIX}") + ou(f"ou=groups,{SUFFIX}")) as server:
            yield LdapTarget(server)
