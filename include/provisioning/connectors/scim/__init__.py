"""SCIM 2.0 (RFC 7643/7644) target: client, paths, payloads, connector and hook, one module each.

Nothing is re-exported here, so that the config (which reads SCIM path rules) does not load the
HTTP client.
"""
