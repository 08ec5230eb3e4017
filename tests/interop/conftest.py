"""One fixture per target kind and server; the scenario runs once against each."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from provisioning.demo.scim_server import ScimServer
from tests.interop.kinds import ScimTarget, TargetUnderTest


@pytest.fixture(params=["scim2-server"])
def target_under_test(request: pytest.FixtureRequest) -> Iterator[TargetUnderTest]:
    if request.param == "scim2-server":
        with ScimServer(token="interop-token") as server:
            yield ScimTarget(server)
