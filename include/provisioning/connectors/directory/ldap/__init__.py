"""The LDAP and Active Directory source (``directory.kind: ldap``)."""

from provisioning.connectors.directory.ldap.source import open_ldap_directory

__all__ = ["open_ldap_directory"]
