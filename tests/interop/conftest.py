"""One fixture per target kind and server; the scenario runs once against each."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from provisioning.config.scim_profile import ScimProfile
from provisioning.demo.scim_server import ScimServer
from provisioning.demo.slapd import SUFFIX, Slapd
from tests.interop.kinds import (
    CanailleTarget,
    LdapTarget,
    ProfiledScimTarget,
    ScimTarget,
    SynapseTarget,
    TargetUnderTest,
)
from tests.support.app_behaviour_proxy import AppBehaviourProxy
from tests.support.canaille_server import CanailleServer
from tests.support.ldap_server import ou
from tests.support.synapse_server import SynapseServer

# apps behind their behaviour proxy, by profile; GitHub's rate (0.27 requests a second) raised so
# the scenario takes seconds: its pace is test_scim_profiles.py's business
PROFILED = {
    "aws_identity_center": {"preset": "aws_identity_center"},
    "github_emu": {"preset": "github_emu", "requests_per_second": 100},
}


@pytest.fixture(params=["scim2-server", *PROFILED, "canaille", "slapd", "synapse"])
def target_under_test(request: pytest.FixtureRequest, tmp_path) -> Iterator[TargetUnderTest]:
    if request.param == "scim2-server":
        with ScimServer(token="interop-token") as server:
            yield ScimTarget(server)
    elif request.param in PROFILED:
        profile = PROFILED[request.param]
        with (
            ScimServer(token="interop-token") as server,
            AppBehaviourProxy(server.url, ScimProfile.model_validate(profile)) as proxy,
        ):
            yield ProfiledScimTarget(server, proxy, profile)
    elif request.param == "canaille":
        with CanailleServer() as server:
            yield CanailleTarget(server)
    elif request.param == "slapd":
        with Slapd(tmp_path / "slapd", ou(f"ou=people,{SUFFIX}") + ou(f"ou=groups,{SUFFIX}")) as server:
            yield LdapTarget(server)
    elif request.param == "synapse":
        with SynapseServer() as server:
            yield SynapseTarget(server)
