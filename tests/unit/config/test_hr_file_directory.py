"""The ``directory`` section of ``kind: hr_file``: defaults, and every bad setting named with its field."""

import pytest

from provisioning.config import load_app_config
from tests.unit.config.test_loader import GOOD, problems, write


def with_directory(body: str) -> str:
    return GOOD.replace("directory: {conn_id: hr_db}", f"directory: {{kind: hr_file, {body}}}")


def test_a_file_url_is_enough_and_the_defaults_are_workday_like(tmp_path):
    directory = load_app_config(
        write(tmp_path, with_directory("path: 'file:///data/hr/workers.csv'"))
    ).directory
    assert directory.kind == "hr_file" and directory.conn_id is None
    assert (
        directory.file_format() == "csv" and directory.prehire_days == 7 and directory.min_rows_ratio == 0.9
    )
    columns = directory.column_map()
    assert (columns["id"], columns["status"], columns["terminationDate"]) == (
        "Employee_ID",
        "Worker_Status",
        "Termination_Date",
    )


def test_a_folder_with_a_pattern_and_overridden_columns(tmp_path):
    body = (
        "path: 's3://hr-bucket/exports/', pattern: 'workers-*.json', conn_id: aws_hr, "
        "timezone: Europe/Paris, columns: {id: Worker_ID, displayName: null}, records_key: Report_Entry"
    )
    directory = load_app_config(write(tmp_path, with_directory(body))).directory
    assert directory.file_format() == "json" and directory.zone().key == "Europe/Paris"
    assert directory.column_map()["id"] == "Worker_ID" and directory.column_map()["displayName"] is None


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ("path: /data/workers.csv", "directory.path", "'/data/workers.csv' is not an object storage URL"),
        (
            "path: 'file:///w.csv', timezone: Europe/Pariss",
            "directory.timezone",
            "'Europe/Pariss' is not an IANA",
        ),
        (
            "path: 'file:///w.csv', date_format: '%Y-%m'",
            "directory.date_format",
            "'%Y-%m' does not read a date",
        ),
        (
            "path: 'file:///w.csv', encoding: klingon",
            "directory.encoding",
            "'klingon' is not a text encoding",
        ),
        ("path: 'file:///w.csv', prehire_days: -1", "directory.prehire_days", "greater than or equal to 0"),
        ("path: 'file:///w.csv', min_rows_ratio: 1.5", "directory.min_rows_ratio", "less than or equal to 1"),
        ("path: 'file:///w.csv', format: xml", "directory.format", "'csv' or 'json'"),
        ("path: 'file:///w.csv', columns: {costCenter: CC}", "directory", "columns: costCenter are not"),
        ("path: 'file:///w.csv', columns: {status: null}", "directory", "columns: status must name a column"),
        (
            "path: 'file:///w.csv', columns: {accountEnabled: X}",
            "directory",
            "accountEnabled comes from status",
        ),
        ("path: 'file:///hr/'", "directory", "pattern: a folder path (ending in /) needs"),
        ("path: 'file:///w.csv', pattern: '*.csv'", "directory", "pattern: only with a folder path"),
        ("path: 'file:///hr/', pattern: 'workers-*'", "directory", "format: cannot tell csv or json"),
        ("path: 'file:///w.txt'", "directory", "format: cannot tell csv or json from 'file:///w.txt'"),
        (
            "path: 'file:///w.csv', inactive_statuses: [Active]",
            "directory",
            "inactive_statuses: 'Active' is also in active_statuses",
        ),
        ("path: 'file:///w.csv', colums: {}", "directory.colums", "unknown setting"),
    ],
)
def test_a_bad_setting_is_named_with_its_field(tmp_path, body, field, message):
    found = problems(write(tmp_path, with_directory(body)))
    assert any(path == field and message in text for path, text in found), found
