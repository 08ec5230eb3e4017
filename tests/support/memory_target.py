"""A second app target that lives in memory: every AppConnector verb over plain dicts.

Written from the interface alone (connectors/base.py, connectors/errors.py, engine/app_object.py,
engine/changes.py) without a line of SCIM: a full cycle of the real steps against it shows that the
cycle needs nothing SCIM-shaped from a target. It behaves as a strict app would: ids of its own
(``u-1``, ``g-1``), one attribute kept unique, unknown ids and member ids refused. Tests make it
fail on demand (one object, some verbs, or every call) and read back every call it received.

Not a mock of any real app: it stands for "some other API" and is used only by tests.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from provisioning.config import AppConfig
from provisioning.connectors.errors import AlreadyExists, ConnectorError, NotFound, QueryRefused, Rejected
from provisioning.engine.app_object import AppObject
from provisioning.engine.changes import AttributeUpdate
from provisioning.engine.vocabulary import ObjectType

ID_PREFIX = {ObjectType.USER: "u", ObjectType.GROUP: "g"}
READS = ("list", "find", "get")


@dataclass(frozen=True)
class Call:
    """One call the target received: ``id`` is the object's app id (a create's new id, when it
    succeeded); ``error`` the class name of what it raised."""

    verb: str
    object_type: str
    id: str | None
    arguments: dict[str, Any]
    error: str | None = None


@dataclass
class Failure:
    """Raise ``error`` on the calls it applies to, ``times`` times (None: until cleared)."""

    error: ConnectorError
    key: str | None  # an app id or a value of the unique attribute; None: any object
    verbs: tuple[str, ...] | None  # None: every verb, reads included
    times: int | None
    after_acting: bool = False  # the app carries the call out, then the answer is lost


@dataclass
class _Stored:
    attributes: dict[str, Any]
    active: bool | None
    members: set[str] = field(default_factory=set)


def mapped_paths(config: AppConfig) -> dict[str, list[str]]:
    """Object type -> the mapped target paths as the app config writes them."""
    paths = {ObjectType.USER: [m.target for m in config.users.mappings]}
    if config.groups:
        paths[ObjectType.GROUP] = [m.target for m in config.groups.mappings]
    return paths


class MemoryTarget:
    """``paths``: object type -> the path texts objects are read at; ``unique``: (object type,
    path) whose values the app keeps unique, compared case-insensitively; ``searchable``: object
    type -> the paths ``find`` accepts (default: every mapped path)."""

    def __init__(
        self,
        paths: dict[str, list[str]],
        *,
        unique: tuple[str, str] | None = (ObjectType.USER, "userName"),
        searchable: dict[str, set[str]] | None = None,
        endpoint: str = "memory://toy",
    ):
        self.endpoint = endpoint
        self.throttled = 0  # an in-memory app never throttles
        self.paths = paths
        self.unique = unique
        self.searchable = searchable
        self.calls: list[Call] = []
        self.closed = 0  # how often a step's context released it (the target itself outlives them)
        self.failures: list[Failure] = []
        self._objects: dict[str, dict[str, _Stored]] = {t: {} for t in ID_PREFIX}
        self._next_id = dict.fromkeys(ID_PREFIX, 1)
        self._lock = threading.RLock()

    # --- what tests do to it -------------------------------------------------------------------

    def fail(
        self,
        error: ConnectorError,
        *,
        key: str | None = None,
        verbs: tuple[str, ...] | None = None,
        times: int | None = None,
        after_acting: bool = False,
    ) -> None:
        """Make calls raise ``error``: those on the object with app id or unique value ``key`` (a
        create by the value it would hold), only ``verbs`` if given, ``times`` times; with
        ``after_acting``, once the app has carried the call out (a timeout, a lost answer)."""
        self.failures.append(Failure(error, key, verbs, times, after_acting))

    def seed(self, object_type: str, attributes: dict[str, Any], active: bool | None = True) -> AppObject:
        """An object someone else made in the app: not a call of ours, not recorded."""
        with self._lock:
            return self._record(object_type, self._insert(object_type, attributes, active))

    def edit(
        self,
        object_type: str,
        app_id: str,
        attributes: dict[str, Any] | None = None,
        *,
        active: bool | None = None,
        members: set[str] | None = None,
    ) -> None:
        """Someone changing an object directly in the app (drift): not recorded."""
        with self._lock:
            stored = self._objects[object_type][app_id]
            stored.attributes.update(copy.deepcopy(attributes or {}))
            if active is not None:
                stored.active = active
            if members is not None:
                stored.members = set(members)

    def remove(self, object_type: str, app_id: str) -> None:
        """Someone deleting an object directly in the app: not recorded."""
        with self._lock:
            self._drop(object_type, app_id)

    def reset(self) -> None:
        """Forget the calls received so far (the objects stay)."""
        with self._lock:
            self.calls.clear()

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.verb not in READS]

    def objects(self, object_type: str) -> dict[str, AppObject]:
        """App id -> the object as a read would return it (members included)."""
        with self._lock:
            return {i: self._record(object_type, i) for i in self._objects[object_type]}

    def by(self, object_type: str, path: str) -> dict[Any, AppObject]:
        """The objects by their value at ``path`` (e.g. users by userName)."""
        return {o.attributes.get(path): o for o in self.objects(object_type).values()}

    # --- reads ---------------------------------------------------------------------------------

    def list(self, object_type: str, *, members: bool = True) -> Iterator[AppObject]:
        with self._lock, self._recording("list", object_type, None, {"members": members}):
            found = [self._record(object_type, i, members) for i in self._objects[object_type]]
        yield from found

    def find(self, object_type: str, path: str, value: str) -> list[AppObject]:
        with self._lock, self._recording("find", object_type, None, {"path": path, "value": value}):
            allowed = (self.searchable or {}).get(object_type, set(self.paths.get(object_type, ())))
            if path not in allowed:
                raise QueryRefused(f"cannot search {object_type}s by {path}", attribute=path)
            wanted = _fold(value)
            return [
                self._record(object_type, i, members=False)
                for i, stored in self._objects[object_type].items()
                if _fold(stored.attributes.get(path)) == wanted
            ]

    def get(self, object_type: str, app_id: str) -> AppObject:
        with self._lock, self._recording("get", object_type, app_id, {}):
            self._existing(object_type, app_id)
            return self._record(object_type, app_id)

    # --- writes --------------------------------------------------------------------------------

    def create(self, object_type: str, attributes: dict[str, Any], active: bool | None) -> AppObject:
        arguments = {"attributes": copy.deepcopy(attributes), "active": active}
        with self._lock:
            try:
                self._fail_if("create", object_type, None, attributes)
                self._check_unique(object_type, None, attributes)
                app_id = self._insert(object_type, attributes, active)
                self._fail_if("create", object_type, None, attributes, acted=True)
            except ConnectorError as exc:
                self.calls.append(Call("create", object_type, None, arguments, type(exc).__name__))
                raise
            self.calls.append(Call("create", object_type, app_id, arguments))
            return self._record(object_type, app_id)

    def update(self, object_type: str, app_id: str, change: AttributeUpdate) -> None:
        with self._lock, self._recording("update", object_type, app_id, {"change": change}):
            stored = self._existing(object_type, app_id)
            self._check_unique(object_type, app_id, change.set)
            if change.active is not None:
                self._check_has_active(object_type)
                stored.active = change.active
            stored.attributes.update(copy.deepcopy(change.set))
            for path in change.clear:
                stored.attributes.pop(path, None)

    def set_active(self, object_type: str, app_id: str, active: bool) -> None:
        with self._lock, self._recording("set_active", object_type, app_id, {"active": active}):
            stored = self._existing(object_type, app_id)
            self._check_has_active(object_type)
            stored.active = active

    def delete(self, object_type: str, app_id: str) -> None:
        with self._lock, self._recording("delete", object_type, app_id, {}):
            self._existing(object_type, app_id)
            self._drop(object_type, app_id)

    def add_members(self, group_id: str, member_ids: list[str]) -> None:
        with self._lock, self._recording("add_members", ObjectType.GROUP, group_id, {"members": member_ids}):
            group = self._existing(ObjectType.GROUP, group_id)
            self._check_users(member_ids)
            group.members |= set(member_ids)

    def remove_members(self, group_id: str, member_ids: list[str]) -> None:
        arguments = {"members": list(member_ids)}
        with self._lock, self._recording("remove_members", ObjectType.GROUP, group_id, arguments):
            self._existing(ObjectType.GROUP, group_id).members -= set(member_ids)

    def replace_members(self, group_id: str, member_ids: list[str]) -> None:
        arguments = {"members": list(member_ids)}
        with self._lock, self._recording("replace_members", ObjectType.GROUP, group_id, arguments):
            group = self._existing(ObjectType.GROUP, group_id)
            self._check_users(member_ids)
            group.members = set(member_ids)

    def close(self) -> None:
        with self._lock:
            self.closed += 1

    # --- the app's own rules -------------------------------------------------------------------

    @contextmanager
    def _recording(
        self, verb: str, object_type: str, app_id: str | None, arguments: dict[str, Any]
    ) -> Iterator[None]:
        """Record the call with what it raised: a failure a test asked for, or the app's refusal."""
        try:
            stored = self._objects[object_type].get(app_id) if app_id else None
            self._fail_if(verb, object_type, app_id, stored.attributes if stored else {})
            yield
            self._fail_if(verb, object_type, app_id, stored.attributes if stored else {}, acted=True)
        except ConnectorError as exc:
            self.calls.append(Call(verb, object_type, app_id, arguments, type(exc).__name__))
            raise
        self.calls.append(Call(verb, object_type, app_id, arguments))

    def _fail_if(
        self,
        verb: str,
        object_type: str,
        app_id: str | None,
        attributes: dict[str, Any],
        *,
        acted: bool = False,
    ) -> None:
        held = self._unique_value(object_type, attributes)
        for failure in list(self.failures):
            if failure.after_acting != acted or (failure.verbs is not None and verb not in failure.verbs):
                continue
            if failure.key is not None and failure.key != app_id and _fold(failure.key) != held:
                continue
            if failure.times is not None:
                failure.times -= 1
                if failure.times == 0:
                    self.failures.remove(failure)
            raise failure.error

    def _check_unique(self, object_type: str, app_id: str | None, attributes: dict[str, Any]) -> None:
        value = self._unique_value(object_type, attributes)
        if value is None:
            return
        for other_id, other in self._objects[object_type].items():
            if other_id != app_id and self._unique_value(object_type, other.attributes) == value:
                raise AlreadyExists(f"{self.unique[1]} {attributes[self.unique[1]]!r} is taken by {other_id}")

    def _unique_value(self, object_type: str, attributes: dict[str, Any]) -> str | None:
        if self.unique is None or self.unique[0] != object_type:
            return None
        return _fold(attributes.get(self.unique[1]))

    def _existing(self, object_type: str, app_id: str) -> _Stored:
        stored = self._objects[object_type].get(app_id)
        if stored is None:
            raise NotFound(f"no {object_type} {app_id}")
        return stored

    def _check_users(self, member_ids: list[str]) -> None:
        unknown = sorted(set(member_ids) - set(self._objects[ObjectType.USER]))
        if unknown:
            raise Rejected(f"no such user(s): {', '.join(unknown)}", permanent=True)

    @staticmethod
    def _check_has_active(object_type: str) -> None:
        if object_type != ObjectType.USER:
            raise Rejected(f"a {object_type} has no active state", permanent=True)

    def _insert(self, object_type: str, attributes: dict[str, Any], active: bool | None) -> str:
        app_id = f"{ID_PREFIX[object_type]}-{self._next_id[object_type]}"
        self._next_id[object_type] += 1
        state = active if object_type == ObjectType.USER else None
        self._objects[object_type][app_id] = _Stored(copy.deepcopy(attributes), state)
        return app_id

    def _drop(self, object_type: str, app_id: str) -> None:
        del self._objects[object_type][app_id]
        if object_type == ObjectType.USER:
            for group in self._objects[ObjectType.GROUP].values():
                group.members.discard(app_id)

    def _record(self, object_type: str, app_id: str, members: bool = True) -> AppObject:
        stored = self._objects[object_type][app_id]
        return AppObject(
            id=app_id,
            attributes={p: copy.deepcopy(stored.attributes.get(p)) for p in self.paths.get(object_type, ())},
            active=stored.active,
            members=sorted(stored.members) if object_type == ObjectType.GROUP and members else None,
        )


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value
