"""A real slapd for the LDAP tests, and the LDIF of the directories they load into it."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import uuid
from pathlib import Path
from types import SimpleNamespace

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from provisioning.demo.slapd import READER_DN, READER_PASSWORD, SUFFIX

PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"


def connection(port: int, **extra: object) -> SimpleNamespace:
    """The LDAP connection as Airflow gives it: the test server, bound as the read-only reader."""
    return SimpleNamespace(
        conn_type="ldap",
        host="127.0.0.1",
        port=port,
        login=READER_DN,
        password=READER_PASSWORD,
        schema=None,
        extra_dejson={"tls": "none", **extra},
    )


def entry(dn: str, **attributes: object) -> str:
    """One LDIF entry; a list value is several values, bytes are written base64."""
    lines = [f"dn: {dn}"]
    for name, value in attributes.items():
        for one in value if isinstance(value, list) else [value]:
            if isinstance(one, bytes):
                lines.append(f"{name}:: {base64.b64encode(one).decode()}")
            else:
                lines.append(f"{name}: {one}")
    return "\n".join(lines) + "\n\n"


def ou(dn: str) -> str:
    return entry(dn, objectClass="organizationalUnit", ou=dn.split(",")[0].split("=")[1])


def person(uid: str, **attributes: object) -> str:
    """A plain-LDAP user (inetOrgPerson) under ou=people."""
    return entry(
        f"uid={uid},{PEOPLE}",
        objectClass="inetOrgPerson",
        uid=uid,
        cn=uid.title(),
        sn=uid.title(),
        givenName=uid.title(),
        mail=f"{uid}@example.org",
        displayName=f"{uid.title()} Example",
        **attributes,
    )


def group_of_names(cn: str, members: list[str]) -> str:
    return entry(f"cn={cn},{GROUPS}", objectClass="groupOfNames", cn=cn, member=members)


def ad_user(cn: str, guid: uuid.UUID, **attributes: object) -> str:
    """An Active-Directory-shaped user: binary objectGUID, userAccountControl, userPrincipalName."""
    return entry(
        f"cn={cn},{PEOPLE}",
        objectClass="user",
        cn=cn,
        sn=cn.title(),
        objectGUID=guid.bytes_le,
        sAMAccountName=cn,
        userPrincipalName=f"{cn}@corp.example.org",
        mail=f"{cn}@corp.example.org",
        **attributes,
    )


def tls_files(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate it signed for 127.0.0.1: (ca, cert, key) PEM files."""
    now = datetime.datetime.now(datetime.UTC)

    def certificate(subject: str, key, issuer: str, issuer_key, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate("Test CA", ca_key, "Test CA", ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = certificate("127.0.0.1", key, "Test CA", ca_key, False)
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths
