"""Which proxy the environment names for an app's base URL.

A client that sends through an httpx transport directly (the SCIM client, to spare the CPU of
``httpx.Client``'s per-request machinery) chooses its proxy itself, once: ``HTTPS_PROXY``,
``HTTP_PROXY`` or ``ALL_PROXY`` (either case) unless ``NO_PROXY`` exempts the host, read the way
the standard library reads them.
"""

from __future__ import annotations

from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass


def environment_proxy(url: str) -> str | None:
    """The proxy URL to reach ``url`` through, or None for a direct connection."""
    parts = urlsplit(url)
    proxies = getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy or not parts.hostname:
        return None
    host = f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname
    if proxy_bypass(host):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"
