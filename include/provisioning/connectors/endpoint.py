"""What identifies the app endpoint a link was made in: the same base URL written another way is
the same endpoint; another host, port, path or tenant is another one, whose ids mean nothing for
ours (and may be other people's accounts)."""

from __future__ import annotations

from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


def endpoint_id(base_url: str, tenant: str | None = None) -> str:
    parts = urlsplit(base_url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port or DEFAULT_PORTS.get(scheme)
    path = parts.path.rstrip("/")
    identity = f"{scheme}://{host}:{port}{path}"
    return f"{identity} tenant={tenant}" if tenant else identity
