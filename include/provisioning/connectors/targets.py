"""Target kinds: ``target.kind`` in an app config -> how its connector is opened.

A new target is a package under connectors/ whose opener is registered here; the cycle only ever
sees the AppConnector it returns.
"""

from __future__ import annotations

from collections.abc import Callable

from provisioning.config import AppConfig
from provisioning.connectors.base import AppConnector
from provisioning.connectors.ldap_target.hook import open_ldap_target
from provisioning.connectors.rate_share import RateShare
from provisioning.connectors.scim.hook import open_scim_connector
from provisioning.connectors.synapse.hook import open_synapse_connector
from provisioning.engine.partitions import Partition

TARGETS: dict[str, Callable[[AppConfig, Partition | None, RateShare | None], AppConnector]] = {
    "scim": open_scim_connector,
    "ldap": open_ldap_target,
    "synapse": open_synapse_connector,
}


def open_target(
    config: AppConfig, partition: Partition | None = None, rate_share: RateShare | None = None
) -> AppConnector:
    """The app's connector, from its Airflow connection (opening it sends no request); for one
    partition of a partitioned apply, with that partition's share of the app's limits.
    ``rate_share``: where every client of the app learns its rate and 429 pauses together."""
    return TARGETS[config.target.kind](config, partition, rate_share)
