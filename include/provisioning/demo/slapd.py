"""Start and stop a real OpenLDAP ``slapd`` (Debian's package) on 127.0.0.1, with a generated
config and data, for the tests, the benchmark and the LDAP demo.

The database is loaded with ``slapadd`` before the server starts (offline loading is how large
directories are built; a 100,000-entry LDIF loads in seconds). The server enforces a size limit
of 1,000 entries per search, as Active Directory's MaxPageSize does, so only a client that pages
reads a large directory; a read-only ``cn=reader`` account is what the source binds as.

Besides the standard schemas, an Active-Directory-shaped schema (``AD_SCHEMA``) is loaded:
``user``, ``group`` and ``computer`` classes with ``objectGUID`` (binary), ``userAccountControl``,
``sAMAccountName``, ``userPrincipalName``, ``department``, ``employeeID`` and ``whenChanged``.
Samba's AD DC would need a realm, DNS and root-owned state beyond what a test may set up; AD's
conventions are data and schema, which slapd serves the same way, except ranged ``member``
values (AD-only), tested against a recorded answer shape in tests/unit.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import ldap

from provisioning.demo.processes import stop_process
from provisioning.demo.scim_server import free_port

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = "/usr/lib/ldap"
SUFFIX = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "admin-secret"
READER_DN = f"cn=reader,{SUFFIX}"
READER_PASSWORD = "reader-secret"

_OID = "1.3.6.1.4.1.55555.1"  # a private arc: these definitions are only for this test server
AD_SCHEMA = f"""
attributetype ( {_OID}.1 NAME 'objectGUID' EQUALITY octetStringMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
attributetype ( {_OID}.2 NAME 'userAccountControl' EQUALITY integerMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( {_OID}.3 NAME 'sAMAccountName' EQUALITY caseIgnoreMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( {_OID}.4 NAME 'userPrincipalName' EQUALITY caseIgnoreMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( {_OID}.5 NAME 'department' EQUALITY caseIgnoreMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( {_OID}.6 NAME 'employeeID' EQUALITY caseIgnoreMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( {_OID}.7 NAME 'whenChanged' EQUALITY generalizedTimeMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.24 SINGLE-VALUE )
objectclass ( {_OID}.100 NAME 'user' SUP inetOrgPerson STRUCTURAL
  MAY ( objectGUID $ userAccountControl $ sAMAccountName $ userPrincipalName $ department $
        employeeID $ whenChanged ) )
objectclass ( {_OID}.101 NAME 'computer' SUP user STRUCTURAL )
objectclass ( {_OID}.102 NAME 'group' SUP top STRUCTURAL MUST cn
  MAY ( member $ objectGUID $ sAMAccountName $ displayName $ description $ whenChanged ) )
"""


def slapd_installed() -> bool:
    return Path(SLAPD).exists() and Path(SLAPADD).exists()


class Slapd:
    """``with Slapd(tmp_path, ldif) as server: server.port`` -- a server with ``ldif`` loaded
    under ``dc=example,dc=org`` (the base entry and the reader account are added here).

    ``tls``: also serve ldaps on ``ldaps_port`` and StartTLS, with ``(cert, key)`` PEM files.
    ``access``: slapd.conf ``access to`` lines placed before the default ones (first match wins)."""

    def __init__(
        self,
        folder: Path,
        ldif: str = "",
        tls: tuple[Path, Path] | None = None,
        port: int | None = None,
        access: str = "",
    ):
        self.folder = folder
        self.ldif = ldif
        self.tls = tls
        self.access = access
        self.port = port or free_port()
        self.ldaps_port = free_port() if tls else None
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def start(self) -> Slapd:
        if not slapd_installed():
            raise RuntimeError(f"{SLAPD} is not installed (Debian package slapd; `make test` installs it)")
        data = self.folder / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        base = self.folder / "data.ldif"
        base.write_text(_base_entries() + self.ldif)
        subprocess.run(
            [SLAPADD, "-q", "-f", str(config), "-l", str(base)], check=True, capture_output=True, text=True
        )
        urls = self.url + (f" ldaps://127.0.0.1:{self.ldaps_port}" if self.tls else "")
        self.process = subprocess.Popen(
            [SLAPD, "-d", "0", "-f", str(config), "-h", urls],
            stdout=subprocess.DEVNULL,
            stderr=(self.folder / "slapd.log").open("w"),
        )
        self._wait()
        return self

    def stop(self) -> None:
        stop_process(self.process)

    def __enter__(self) -> Slapd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def admin(self) -> ldap.ldapobject.LDAPObject:
        """A connection bound as the root DN, for changing the directory as its admins would."""
        conn = ldap.initialize(self.url)
        conn.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
        return conn

    def _wait(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            if self.process and self.process.poll() is not None:
                log = (self.folder / "slapd.log").read_text()[-2000:]
                raise RuntimeError(f"slapd exited with {self.process.returncode}: {log}")
            try:
                conn = ldap.initialize(self.url)
                conn.simple_bind_s(READER_DN, READER_PASSWORD)
                conn.unbind_s()
                return
            except ldap.SERVER_DOWN:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _write_config(self) -> Path:
        schema = self.folder / "ad.schema"
        schema.write_text(AD_SCHEMA)
        includes = "\n".join(
            f"include {SCHEMA_DIR / name}.schema" for name in ("core", "cosine", "inetorgperson")
        )
        tls = ""
        if self.tls:
            cert, key = self.tls
            tls = f"TLSCertificateFile {cert}\nTLSCertificateKeyFile {key}\n"
        config = self.folder / "slapd.conf"
        config.write_text(f"""{includes}
include {schema}
pidfile {self.folder / "slapd.pid"}
modulepath {MODULE_DIR}
moduleload back_mdb
{tls}
sizelimit size.soft=1000 size.hard=1000 size.prtotal=unlimited
{self.access}
access to attrs=userPassword by anonymous auth by * none
access to * by dn.exact="{READER_DN}" read by * none

database mdb
maxsize 4294967296
suffix "{SUFFIX}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PASSWORD}
directory {self.folder / "data"}
index objectClass eq
index entryUUID eq
""")
        return config


def _base_entries() -> str:
    return f"""dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: {READER_DN}
objectClass: simpleSecurityObject
objectClass: organizationalRole
cn: reader
userPassword: {READER_PASSWORD}

"""
