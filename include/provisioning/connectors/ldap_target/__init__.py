"""The LDAP target (``target.kind: ldap``): users and groups written as entries of an LDAP directory.

errors.py maps python-ldap's results onto the cycle's errors, entries.py turns values and DNs
into LDAP's terms, access.py reaches the entries (a connection per thread, searches of the OUs),
members.py writes group members, connector.py carries out the other neutral verbs, hook.py opens
it from an Airflow connection of the ``ldap`` type. Nothing is re-exported, so the config does not
load python-ldap's connection code.
"""
