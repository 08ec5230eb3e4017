"""Finding and reading an HR export in object storage: the file (or the newest of a folder), its
header and its rows, all as text.

Everything that makes the whole export unusable is refused here with the file's URL: missing,
zero bytes, not CSV or JSON, no rows. A row with the wrong number of fields (a file cut in the
middle of its last line) is that row's problem only, kept with a note for the source.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provisioning.connectors.directory.base import DirectoryError

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

# the note a row carries when it does not have the header's shape (``Export.problems``)
MISSHAPEN = "the row has {got} fields where the header has {want} (a line cut short, or stray separators)"


@dataclass
class Export:
    """The rows of one export file, each a dict of column -> text (None when empty or absent)."""

    url: str
    header: list[str]
    rows: list[dict[str, str | None]]
    problems: dict[int, str]  # row index -> why the row is unusable


def locate(path: str, pattern: str | None, conn_id: str | None) -> ObjectStoragePath:
    """The export file: ``path`` itself, or the newest file in the folder ``path`` matching
    ``pattern`` (latest modification, then the name, so a day's re-run of the same second wins).
    Airflow's object storage is imported here, not with the module: the registry imports every
    source, and a process reading LDAP or SQL need not load the task SDK for it."""
    from airflow.sdk import ObjectStoragePath

    try:
        location = ObjectStoragePath(path, conn_id=conn_id)
        if pattern is None:
            if not location.exists():
                raise DirectoryError(f"the HR export {path} does not exist")
            if location.is_dir():
                raise DirectoryError(f"the HR export {path} is a folder: end path with / and set pattern")
            return location
        if not location.is_dir():
            raise DirectoryError(f"the HR export folder {path} does not exist")
        files = [f for f in location.glob(pattern) if f.is_file()]
        if not files:
            raise DirectoryError(f"the HR export folder {path} has no file matching {pattern!r}")
        return max(files, key=lambda f: (f.stat().st_mtime, f.name))
    except DirectoryError:
        raise
    except Exception as exc:  # any storage backend's error: the cycle must stop, saying where
        raise DirectoryError(f"cannot reach the HR export {path}: {type(exc).__name__}: {exc}") from None


def read_export(
    file: ObjectStoragePath, file_format: str, encoding: str, delimiter: str, records_key: str | None
) -> Export:
    url = str(file)
    try:
        data = file.read_bytes()
    except Exception as exc:
        raise DirectoryError(f"cannot read the HR export {url}: {type(exc).__name__}: {exc}") from None
    if not data.strip():
        raise DirectoryError(
            f"the HR export {url} is empty ({len(data)} bytes): refusing to treat every worker as gone"
        )
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DirectoryError(f"the HR export {url} is not {encoding} text: {exc}") from None
    export = _csv(url, text, delimiter) if file_format == "csv" else _json(url, text, records_key)
    if not export.rows:
        raise DirectoryError(
            f"the HR export {url} has a header but no rows: refusing to treat every worker as gone"
        )
    return export


def _csv(url: str, text: str, delimiter: str) -> Export:
    try:
        lines = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise DirectoryError(f"the HR export {url} is not readable as CSV: {exc}") from None
    lines = [line for line in lines if any(field.strip() for field in line)]
    header = [name.strip() for name in lines[0]] if lines else []
    rows, problems = [], {}
    for index, line in enumerate(lines[1:]):
        if len(line) != len(header):
            problems[index] = MISSHAPEN.format(got=len(line), want=len(header))
        rows.append({name: _text(value) for name, value in zip(header, line, strict=False)})
    return Export(url, header, rows, problems)


def _json(url: str, text: str, records_key: str | None) -> Export:
    """An array of objects, or the array under ``records_key`` (Workday's RaaS: Report_Entry).
    Workers omit the fields they have no value for, so the header is every key any row has."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DirectoryError(f"the HR export {url} is not valid JSON (cut short?): {exc}") from None
    records = document
    if records_key is not None:
        if not isinstance(document, dict) or records_key not in document:
            keys = (
                ", ".join(map(str, document)) if isinstance(document, dict) else "none: it is not an object"
            )
            raise DirectoryError(f"the HR export {url} has no key {records_key!r} (its keys: {keys})")
        records = document[records_key]
    if not isinstance(records, list):
        hint = (
            f" (set records_key to one of {', '.join(map(str, document))})"
            if isinstance(document, dict)
            else ""
        )
        raise DirectoryError(f"the HR export {url} is not a list of workers{hint}")
    header: dict[str, None] = {}
    rows, problems = [], {}
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            problems[index] = f"the row is a JSON {type(record).__name__}, not an object of fields"
            rows.append({})
            continue
        header.update(dict.fromkeys(record))
        rows.append({name: _text(value) for name, value in record.items()})
    return Export(url, list(header), rows, problems)


def _text(value: Any) -> str | None:
    """Every value as the text the export shows: ids stay ids (``123``, never ``123.0``)."""
    if value is None:
        return None
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False)
    text = str(value).strip()
    return text or None
