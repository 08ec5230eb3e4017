"""What the Airflow hooks of the HTTP targets (scim/hook.py, synapse/hook.py) share: the
transport options their client is made with -- the app config's target section, a partition's
share of its rate and connections, the overrides of the Airflow connection's extras -- and
holding and closing that one client. What is a protocol's own (a SCIM profile, OAuth, a tenant)
its hook adds.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from provisioning.config.target import TargetSection
from provisioning.connectors.http_exchange import MIB
from provisioning.connectors.rate_share import RateShare
from provisioning.engine.partitions import Partition

# what a connection's extras may override, for one endpoint
CONNECTION_KEYS = ("timeout", "max_retries", "page_size", "requests_per_second")


def transport_options(
    target: TargetSection, partition: Partition | None = None, rate_share: RateShare | None = None
) -> dict[str, Any]:
    """The client's keyword arguments from the target section; for a partition of a partitioned
    apply, with its share of the app's connections (its rate is shared by the hook, after the
    connection's overrides: ``HttpClientHook._options``)."""
    slots = target.max_concurrency
    return {
        "timeout": target.timeout_seconds,
        "max_retries": target.max_retries,
        "max_connections": partition.share_of_slots(slots) if partition else slots,
        "page_size": target.page_size,
        "requests_per_second": target.requests_per_second,
        "deadline": target.request_deadline_seconds,
        "max_response_bytes": int(target.max_response_mib * MIB),
        "rate_share": rate_share,
    }


class HttpClientHook(BaseHook):
    """The hook of an HTTP target: one client, made on first use from the connection."""

    def __init__(self, partition: Partition | None, client_options: dict[str, Any]):
        super().__init__()
        self.partition = partition  # one of several clients sharing the app's rate
        self.client_options = client_options
        self._client: Any = None

    def _options(self, extra: dict[str, Any]) -> dict[str, Any]:
        """The client options with the connection's extras over them (plain keys, or as a
        connection form saves its extra fields: ``extra__<conn_type>__timeout``), and a
        partition's share of the rate."""
        options = {**self.client_options}
        for key in CONNECTION_KEYS:
            value = extra.get(key, extra.get(f"extra__{self.conn_type}__{key}"))
            if value not in (None, ""):
                options[key] = int(value) if key in ("max_retries", "page_size") else float(value)
        if self.partition and options.get("requests_per_second"):
            options["requests_per_second"] = self.partition.share(options["requests_per_second"])
        return options

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
