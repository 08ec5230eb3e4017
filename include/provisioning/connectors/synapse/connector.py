"""The Synapse target: the neutral connector verbs over Synapse's admin API.

Users are local Matrix accounts, identified by their user id (``@localpart:server``, the app id
links keep). Groups are rooms that the connection's admin account created, identified by room id;
a room's alias (``#alias:server``) is its unique name, members are its joined users.

What Synapse does differently from a SCIM app, and how the verbs keep the cycle's promises:

- One ``PUT`` both creates and modifies an account, so a create looks first and raises
  ``AlreadyExists`` rather than silently taking over an account it did not make.
- Disabling is, by default (``target.disable: lock``), the admin API's ``locked: true``: the
  account cannot log in and its tokens stop working, but it keeps its rooms, e-mail addresses and
  password, and ``locked: false`` gives it all back. ``target.disable: deactivate`` uses Matrix's
  deactivation (``erase: false``) instead: the account also leaves every room and loses its
  password. Synapse drops the account's e-mail addresses when it deactivates; the connector puts
  them back at once (not atomically: see docs/targets/synapse.md).
- Synapse never deletes an account: a delete (opt-in twice in the app config) deactivates it with
  ``erase: true`` (profile and messages hidden from new members, the localpart never reusable). A
  group delete shuts the room down and purges it.
- Joining and kicking are one request per member; a membership change tries every member, then
  raises the first error (joins and kicks are idempotent, so the retried action is harmless).
- The connection's own account is never listed, found, matched nor reported as a member, and
  every write to it is refused: disabling it or kicking it from its rooms would lock the connector
  out for good.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator
from typing import Any

from provisioning.config import AppConfig
from provisioning.connectors.http_connector import HttpConnector
from provisioning.connectors.synapse.client import SynapseClient
from provisioning.connectors.synapse.errors import (
    SynapseConflict,
    SynapseError,
    SynapseMisconfigured,
    SynapseNotFound,
    SynapseProtocolError,
    SynapseQueryRefused,
    SynapseRejected,
)
from provisioning.connectors.synapse.fields import (
    ADMIN,
    ALIAS,
    DISPLAYNAME,
    EMAIL,
    LOCALPART,
    NAME,
    TOPIC,
)
from provisioning.engine.app_object import AppObject
from provisioning.engine.changes import AttributeUpdate
from provisioning.engine.mapping import compile_mappings, sensitive_paths
from provisioning.engine.vocabulary import ObjectType

KICK_REASON = "removed by directory provisioning"
# what re-enables an account, whichever way it was disabled (``target.disable`` may have changed)
ENABLE = {"deactivated": False, "locked": False}
TRUE_TEXTS = ("true", "1", "yes", "y", "on")


class SynapseConnector(HttpConnector):
    """``fields``: object type -> the mapped fields (lower case, as fields.py names them);
    ``server_name``: what the config expects the server to be called (None: whatever it says)."""

    def __init__(
        self,
        client: SynapseClient,
        fields: dict[str, list[str]],
        server_name: str | None = None,
        sensitive: dict[str, frozenset[str]] | None = None,
        room_preset: str = "private_chat",
        disable: str = "lock",
    ):
        self.client = client
        self.endpoint = client.endpoint
        self._fields = {kind: [f.strip().lower() for f in names] for kind, names in fields.items()}
        self._expected_server = server_name
        self._sensitive = sensitive or {}
        self.room_preset = room_preset
        self.disable_mode = disable
        self._me: str | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_app(cls, client: SynapseClient, config: AppConfig) -> SynapseConnector:
        sections = {ObjectType.USER: config.users}
        if config.groups:
            sections[ObjectType.GROUP] = config.groups
        fields = {kind: [m.target for m in section.mappings] for kind, section in sections.items()}
        sensitive = {kind: sensitive_paths(compile_mappings(s.mappings)) for kind, s in sections.items()}
        target = config.target
        return cls(client, fields, target.server_name, sensitive, target.room_preset, target.disable)

    # --- who we are ----------------------------------------------------------------------------

    @property
    def me(self) -> str:
        """The token's account, asked once (``whoami``); its server name must be the configured one."""
        with self._lock:
            if self._me is None:
                me = self.client.whoami()
                server = me.split(":", 1)[1]
                if self._expected_server and server != self._expected_server:
                    raise SynapseMisconfigured(
                        f"the connection's server is {server!r}, the app config says "
                        f"target.server_name {self._expected_server!r}: is the connection pointing at "
                        "the right homeserver?"
                    )
                self._me = me
            return self._me

    @property
    def server_name(self) -> str:
        return self.me.split(":", 1)[1]

    def user_id(self, localpart: Any) -> str:
        return self._qualified("@", localpart, "a Matrix localpart", "jdoe", "M_INVALID_USERNAME")

    def alias(self, name: Any) -> str:
        return self._qualified("#", name, "a room alias localpart", "sales", "M_INVALID_PARAM")

    def _qualified(self, sigil: str, value: Any, what: str, example: str, errcode: str) -> str:
        """``<sigil><value>:<server name>`` from the mapped part before the ':'; a whole id or an
        empty value is that object's permanent error, not a request Synapse would refuse."""
        text = str(value).strip()
        if not text or text.startswith(sigil) or ":" in text:
            raise SynapseRejected(
                f"{text!r} is not {what} (map the part before ':' without '{sigil}', e.g. '{example}')",
                errcode=errcode,
                permanent=True,
            )
        return f"{sigil}{text}:{self.server_name}"

    def _not_me(self, user_id: str) -> None:
        """Refuse any change to the connection's own account (permanently: it is never ours to
        change), whoever in the directory it was matched or linked to."""
        if user_id == self.me:
            raise SynapseRejected(
                f"{user_id} is the account this connection acts as (the admin token's owner); it is "
                "never changed by provisioning (map the directory user to another localpart, or use "
                "another account for the connection)",
                errcode="M_FORBIDDEN",
                permanent=True,
            )

    def fields(self, object_type: str) -> list[str]:
        return self._fields.setdefault(object_type, [])

    def _hidden(self, object_type: str, values: dict[str, Any]) -> list[str]:
        sensitive = self._sensitive.get(object_type, frozenset())
        return [str(v) for p, v in values.items() if p in sensitive and v not in (None, "")]

    # --- records -------------------------------------------------------------------------------

    def user_record(self, user: dict[str, Any]) -> AppObject:
        values = {
            LOCALPART: user["name"].split(":", 1)[0].removeprefix("@"),
            DISPLAYNAME: user.get("displayname") or None,
            EMAIL: _email(user.get("threepids")),
            ADMIN: bool(user.get("admin")),
        }
        return AppObject(
            id=user["name"],
            attributes={f: values.get(f) for f in self.fields(ObjectType.USER)},
            active=not user.get("deactivated", False) and not user.get("locked", False),
        )

    def room_record(self, room: dict[str, Any], members: list[str] | None) -> AppObject:
        alias = room.get("canonical_alias")
        values = {
            ALIAS: alias.split(":", 1)[0].removeprefix("#") if isinstance(alias, str) else None,
            NAME: room.get("name") or None,
            TOPIC: room.get("topic") or None,
        }
        return AppObject(
            id=room["room_id"],
            attributes={f: values.get(f) for f in self.fields(ObjectType.GROUP)},
            members=None if members is None else [m for m in members if m != self.me],
        )

    # --- reads ---------------------------------------------------------------------------------

    def list(self, object_type: str, *, members: bool = True) -> Iterator[AppObject]:
        if object_type == ObjectType.USER:
            # the listing has no e-mail addresses: each account is read when they are mapped
            detailed = EMAIL in self.fields(ObjectType.USER)
            for user in self.client.list_users():
                if user.get("name") == self.me or user.get("user_type"):  # us, bots and support accounts
                    continue
                yield self.user_record(self.client.get_user(user["name"]) if detailed else user)
            return
        # the rooms the connection's account created are the groups; the listing has no topics
        detailed = TOPIC in self.fields(ObjectType.GROUP)
        for room in self.client.list_rooms():
            if room.get("creator") != self.me or not isinstance(room.get("room_id"), str):
                continue
            if detailed:
                room = self.client.get_room(room["room_id"])
            yield self.room_record(room, self.client.room_members(room["room_id"]) if members else None)

    def find(self, object_type: str, path: str, value: str) -> list[AppObject]:
        field = path.strip().lower()
        if object_type == ObjectType.USER and field in (LOCALPART, EMAIL):
            # Synapse keeps localparts and addresses in lower case
            user_id = (
                self.user_id(value.lower())
                if field == LOCALPART
                else self.client.user_by_email(value.lower())
            )
            if not user_id or user_id == self.me:  # the connection's own account is never matched
                return []
            user = self._user_or_none(user_id)
            return [self.user_record(user)] if user else []
        if object_type == ObjectType.GROUP and field == ALIAS:
            room_id = self.client.room_by_alias(self.alias(value))
            return [self.room_record(self.client.get_room(room_id), None)] if room_id else []
        raise SynapseQueryRefused(f"Synapse cannot look {object_type}s up by {path!r}", attribute=path)

    def _user_or_none(self, user_id: str) -> dict[str, Any] | None:
        try:
            return self.client.get_user(user_id)
        except SynapseNotFound:
            return None

    def get(self, object_type: str, app_id: str) -> AppObject:
        if object_type == ObjectType.USER:
            self._not_me(app_id)
            return self.user_record(self.client.get_user(app_id))
        return self.room_record(self.client.get_room(app_id), None)

    # --- writes: users -------------------------------------------------------------------------

    def create(self, object_type: str, attributes: dict[str, Any], active: bool | None) -> AppObject:
        values = _canonical(attributes)
        if object_type == ObjectType.GROUP:
            return self._create_room(values)
        user_id = self.user_id(values.get(LOCALPART, ""))
        self._not_me(user_id)
        if self._user_or_none(user_id) is not None:
            raise SynapseConflict(
                f"the account {user_id} exists already; it is matched, not created (it may be "
                "deactivated: Synapse never frees a localpart)",
                errcode="M_USER_IN_USE",
            )
        body = _user_body(values, [])
        if active is False and self.disable_mode == "lock":
            body["locked"] = True  # made locked in the same request
        created = self.client.put_user(user_id, body, self._hidden(ObjectType.USER, attributes))
        if active is False and self.disable_mode != "lock":
            self._deactivate(user_id)
            created = self.client.get_user(user_id)
        if created.get("name") != user_id:
            raise SynapseProtocolError(
                f"creating {user_id} answered with another account ({created.get('name')!r})",
                method="PUT",
                path=f"/_synapse/admin/v2/users/{user_id}",
            )
        return self.user_record(created)

    def update(self, object_type: str, app_id: str, change: AttributeUpdate) -> None:
        values = _canonical(change.set)
        cleared = [c.strip().lower() for c in change.clear]
        if object_type == ObjectType.GROUP:
            self._update_room(app_id, values, cleared)
            return
        self._not_me(app_id)
        if LOCALPART in values or LOCALPART in cleared:
            raise SynapseRejected(
                f"{app_id}: a Matrix user id cannot change (localpart {values.get(LOCALPART)!r} asked); "
                "deprovision the account and create a new one",
                errcode="M_INVALID_USERNAME",
                permanent=True,
            )
        body = _user_body(values, cleared)
        if EMAIL in values or EMAIL in cleared:
            previous = _canonical(change.previous).get(EMAIL)
            body["threepids"] = _replace_email(
                self.client.get_user(app_id).get("threepids"), previous, values.get(EMAIL)
            )
        if change.active is True:
            body.update(ENABLE)
        if body:
            self.client.put_user(app_id, body, self._hidden(ObjectType.USER, change.set))

    def set_active(self, object_type: str, app_id: str, active: bool) -> None:
        if object_type != ObjectType.USER:
            raise SynapseRejected(f"a {object_type} has no active state in Synapse", permanent=True)
        self._not_me(app_id)
        if active:
            self.client.put_user(app_id, dict(ENABLE))
        elif self.disable_mode == "lock":
            self.client.put_user(app_id, {"locked": True})
        else:
            self._deactivate(app_id)

    def _deactivate(self, user_id: str, erase: bool = False) -> None:
        """Deactivate, then give back the e-mail addresses Synapse drops on deactivation."""
        user = self.client.get_user(user_id)
        if user.get("deactivated") and not erase:
            return
        self.client.deactivate(user_id, erase=erase)
        threepids = [
            {"medium": t["medium"], "address": t["address"]}
            for t in user.get("threepids") or []
            if isinstance(t, dict) and t.get("medium") and t.get("address")
        ]
        if threepids and not erase:
            self.client.put_user(user_id, {"threepids": threepids})

    def delete(self, object_type: str, app_id: str) -> None:
        if object_type == ObjectType.GROUP:
            self.client.delete_room(app_id)
        else:
            self._not_me(app_id)
            self.client.deactivate(app_id, erase=True)  # Synapse cannot delete an account

    # --- writes: rooms -------------------------------------------------------------------------

    def _create_room(self, values: dict[str, Any]) -> AppObject:
        alias = values.get(ALIAS)
        self.alias(alias or "")  # checked before anything is sent
        body: dict[str, Any] = {
            "preset": self.room_preset,
            "visibility": "private",
            "room_alias_name": str(alias).strip(),
        }
        if values.get(NAME):
            body["name"] = str(values[NAME])
        if values.get(TOPIC):
            body["topic"] = str(values[TOPIC])
        room_id = self.client.create_room(body)
        return AppObject(
            id=room_id, attributes={f: values.get(f) for f in self.fields(ObjectType.GROUP)}, members=[]
        )

    def _update_room(self, room_id: str, values: dict[str, Any], cleared: list[str]) -> None:
        if ALIAS in values or ALIAS in cleared:
            raise SynapseRejected(
                f"{room_id}: the room's alias is its unique name and is not changed by provisioning "
                f"(asked: {values.get(ALIAS)!r}); map a stable value to 'alias'",
                errcode="M_INVALID_PARAM",
                permanent=True,
            )
        for field, event, key in ((NAME, "m.room.name", "name"), (TOPIC, "m.room.topic", "topic")):
            if field in values or field in cleared:
                self.client.set_state(room_id, event, {key: str(values.get(field) or "")})

    def add_members(self, group_id: str, member_ids: list[str]) -> None:
        self._each(member_ids, lambda user_id: self.client.join(group_id, user_id))

    def remove_members(self, group_id: str, member_ids: list[str]) -> None:
        present = set(self.client.room_members(group_id))
        self._each([m for m in member_ids if m in present], lambda user_id: self._kick(group_id, user_id))

    def replace_members(self, group_id: str, member_ids: list[str]) -> None:
        present = [m for m in self.client.room_members(group_id) if m != self.me]
        wanted = set(member_ids)
        self._each(
            [m for m in member_ids if m not in present], lambda user_id: self.client.join(group_id, user_id)
        )
        self._each([m for m in present if m not in wanted], lambda user_id: self._kick(group_id, user_id))

    def _kick(self, room_id: str, user_id: str) -> None:
        """Kick; a user who left meanwhile (a deactivation parts its rooms) is gone, as asked."""
        try:
            self.client.kick(room_id, user_id, KICK_REASON)
        except SynapseRejected:
            if user_id in self.client.room_members(room_id):
                raise

    @staticmethod
    def _each(user_ids: Collection[str], act: Any) -> None:
        """Act on every member, then raise the first failure: one bad member does not hold the rest."""
        first: SynapseError | None = None
        for user_id in user_ids:
            try:
                act(user_id)
            except SynapseError as exc:
                if exc.stops_cycle:
                    raise
                first = first or exc
        if first is not None:
            raise first


def _canonical(values: dict[str, Any]) -> dict[str, Any]:
    return {key.strip().lower(): value for key, value in values.items()}


def _email(threepids: Any) -> str | None:
    for threepid in threepids or []:
        if isinstance(threepid, dict) and threepid.get("medium") == "email" and threepid.get("address"):
            return threepid["address"]
    return None


def _user_body(values: dict[str, Any], cleared: list[str]) -> dict[str, Any]:
    """The admin API's PUT body for the fields set or cleared."""
    body: dict[str, Any] = {}
    if DISPLAYNAME in values:
        body["displayname"] = str(values[DISPLAYNAME])
    elif DISPLAYNAME in cleared:
        body["displayname"] = ""
    if values.get(EMAIL):
        body["threepids"] = [{"medium": "email", "address": str(values[EMAIL]).strip()}]
    if ADMIN in values or ADMIN in cleared:
        value = values.get(ADMIN)
        body["admin"] = value if isinstance(value, bool) else str(value or "").strip().lower() in TRUE_TEXTS
    return body


def _replace_email(threepids: Any, previous: Any, new: Any) -> list[dict[str, str]]:
    """The account's addresses with the one provisioning applied (``previous``; when unknown, the
    first e-mail address, the one the cycle reads as the account's) replaced by ``new`` (or removed
    when there is none): phone numbers and other addresses stay, as the PUT replaces the whole set."""
    kept = [
        {"medium": t["medium"], "address": t["address"]}
        for t in threepids or []
        if isinstance(t, dict) and isinstance(t.get("medium"), str) and isinstance(t.get("address"), str)
    ]
    emails = [t["address"] for t in kept if t["medium"] == "email"]
    old = str(previous).strip().lower() if previous not in (None, "") else None
    if old is None or old not in emails:
        old = emails[0] if emails else None
    result = [t for t in kept if not (t["medium"] == "email" and t["address"] == old)]
    address = str(new).strip().lower() if new not in (None, "") else None
    if address and not any(t["medium"] == "email" and t["address"] == address for t in result):
        result.append({"medium": "email", "address": address})
    return result
