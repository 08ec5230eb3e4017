"""Stub."""


def open_ldap_directory(section, get_connection, app):
    raise NotImplementedError
