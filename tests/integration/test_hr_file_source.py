"""The HR file source in whole cycles: real export files on disk (through Airflow's object storage,
file://), the real state store and a real scim2-server. "Today" is the source's injected clock."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from provisioning.connectors.directory.base import DirectoryError
from provisioning.connectors.directory.hr_file.source import HrFileSource
from provisioning.cycle.context import CycleContext
from provisioning.engine.vocabulary import Action, LogStatus
from tests.integration.cycle_helpers import Harness

HEADER = [
    "Employee_ID",
    "Work_Email",
    "First_Name",
    "Last_Name",
    "Display_Name",
    "Department",
    "Business_Title",
    "Manager_ID",
    "Worker_Status",
    "Hire_Date",
    "Termination_Date",
]
DEPARTMENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"


def worker(number: int, status="Active", hire="2020-01-06", termination="", department="Sales") -> dict:
    return {
        "Employee_ID": f"E{number:03}",
        "Work_Email": f"w{number:03}@example.com",
        "First_Name": "Worker",
        "Last_Name": f"Number{number}",
        "Display_Name": f"Worker {number}",
        "Department": department,
        "Business_Title": "Clerk",
        "Manager_ID": "E001" if number != 1 else "",
        "Worker_Status": status,
        "Hire_Date": hire,
        "Termination_Date": termination,
    }


def write_csv(path: Path, workers: list[dict], header: list[str] = HEADER) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(workers)


class HrHarness(Harness):
    """Cycles of the demo wiki whose directory is an HR export, on the day ``self.today``."""

    def __init__(self, tmp_path: Path, scim_app, **directory):
        super().__init__(tmp_path / "unused.db", scim_app, tmp_path / "state.db")
        self.export = tmp_path / "workers.csv"
        self.configure(
            directory={
                "kind": "hr_file",
                "path": self.export.as_uri(),
                "timezone": "Europe/Paris",
                **directory,
            }
        )
        self.today = datetime(2031, 7, 1, 9, 0, tzinfo=UTC)

    def context(self, cycle_id: str) -> CycleContext:
        ctx = super().context(cycle_id)
        ctx.open_directory = lambda: HrFileSource(self.config.directory, self.config.app, lambda: self.today)
        return ctx

    def on(self, day: str, hour: int = 9) -> None:
        self.today = datetime.fromisoformat(f"{day}T{hour:02}:00:00+00:00")

    def accounts(self) -> dict[str, bool]:
        """userName -> active, as the app has them."""
        return {name: user.get("active", True) for name, user in self.scim_app.by_username().items()}

    def log_of(self, cycle: int) -> dict[str, dict]:
        return {r["source_display"]: r for r in self.store.log(self.config.app, f"cycle-{cycle}")}


@pytest.fixture
def hr(tmp_path, scim_app) -> HrHarness:
    return HrHarness(tmp_path, scim_app)


def test_pre_hires_join_in_their_window_and_leavers_leave_the_day_after_their_last(hr):
    staff = [worker(n) for n in range(1, 5)]
    prehire = worker(5, "Pre-Hire", hire="2031-07-15")
    leaver = worker(6, termination="2031-07-02")
    write_csv(hr.export, [*staff, prehire, leaver])

    hr.on("2031-07-01")
    hr.cycle()
    assert hr.accounts() == {f"w{n:03}@example.com": True for n in (1, 2, 3, 4, 6)}
    row = hr.log_of(1)["w001@example.com"]
    assert (row["action"], row["lifecycle"]) == (Action.CREATE, "joiner")

    hr.on("2031-07-02", hour=21)  # 23:00 in Paris on the termination day: still employed
    hr.cycle()
    assert hr.accounts()["w006@example.com"] is True

    hr.on("2031-07-02", hour=22)  # midnight in Paris: the day after
    hr.cycle()
    assert hr.accounts()["w006@example.com"] is False
    row = hr.log_of(3)["w006@example.com"]
    assert (row["action"], row["status"]) == (Action.DISABLE, LogStatus.SUCCESS)
    assert (row["detail"], row["lifecycle"]) == ("left on 2031-07-02 (terminationDate)", "leaver")

    hr.on("2031-07-07")  # eight days before the start: not yet
    hr.cycle()
    assert "w005@example.com" not in hr.accounts()
    hr.on("2031-07-08")  # seven days before the start: the window opens
    hr.cycle()
    assert hr.accounts()["w005@example.com"] is True
    assert hr.log_of(5)["w005@example.com"]["action"] == Action.CREATE
    assert sum(hr.accounts().values()) == 5


def test_a_mover_is_updated_with_the_new_department(hr):
    write_csv(hr.export, [worker(n) for n in range(1, 4)])
    hr.cycle()
    write_csv(hr.export, [worker(1), worker(2, department="Finance"), worker(3)])
    hr.cycle()
    row = hr.log_of(2)["w002@example.com"]
    assert (row["action"], row["status"], row["lifecycle"]) == (Action.UPDATE, LogStatus.SUCCESS, "mover")
    assert {m["path"]: m["new"] for m in row["modified_properties"]} == {DEPARTMENT: "Finance"}
    enterprise = DEPARTMENT.rpartition(":")[0]
    assert hr.scim_app.by_username()["w002@example.com"][enterprise]["department"] == "Finance"


def test_a_rehire_is_enabled_again(hr):
    write_csv(hr.export, [worker(1), worker(2)])
    hr.cycle()
    write_csv(hr.export, [worker(1), worker(2, "Terminated", termination="2031-06-30")])
    hr.cycle()
    assert hr.accounts()["w002@example.com"] is False
    write_csv(hr.export, [worker(1), worker(2, hire="2031-07-01", termination="2031-06-30")])
    hr.cycle()
    assert hr.accounts()["w002@example.com"] is True
    assert hr.log_of(3)["w002@example.com"]["action"] == Action.ENABLE
    assert hr.log_of(3)["w002@example.com"]["lifecycle"] == "joiner"
    write_csv(
        hr.export, [worker(1), worker(2, hire="2031-07-01", termination="2031-06-30") | {"First_Name": "Jo"}]
    )
    hr.cycle()
    assert hr.log_of(4)["w002@example.com"]["lifecycle"] is None  # a new first name: no mover


def test_bad_rows_are_their_own_problem_and_an_unreadable_termination_date_disables(hr):
    write_csv(hr.export, [worker(n) for n in range(1, 6)])
    hr.cycle()
    bad = [
        worker(1),
        worker(2, hire="someday"),  # the row is skipped: its account is left alone
        worker(3, termination="31.07.2031"),  # fail closed: no longer active
        {**worker(4), "Employee_ID": ""},  # no id: looks gone, so its account is disabled
        worker(5),
    ]
    write_csv(hr.export, bad)
    hr.cycle()
    accounts = hr.accounts()
    assert accounts == {
        "w001@example.com": True,
        "w002@example.com": True,
        "w003@example.com": False,
        "w004@example.com": False,
        "w005@example.com": True,
    }
    log = hr.log_of(2)
    assert log["w002@example.com"]["action"] == Action.SKIP
    assert log["w002@example.com"]["error_code"] == "InvalidDirectoryData"
    assert log["w002@example.com"]["error_message"] == (
        f"hireDate 'someday' is not a date (%Y-%m-%d) (row 2 of {hr.export.as_uri()})"
    )
    assert log["w003@example.com"]["detail"] == (
        "terminationDate '31.07.2031' is not a date (%Y-%m-%d): treated as left"
    )
    assert log["w004@example.com"]["error_code"] == "InvalidDirectoryData"
    assert log["E004"]["detail"] == "deleted from the directory"


def _refused(hr: HrHarness, message: str) -> None:
    """The cycle stopped in extract with ``message``; every account is still active."""
    results = hr.cycle_tolerant()
    error = results["extract_assignments"]
    assert isinstance(error, DirectoryError), results
    assert message in str(error)
    assert "diff" not in results
    assert all(hr.accounts().values()) and len(hr.accounts()) == 20


@pytest.fixture
def provisioned(hr) -> HrHarness:
    write_csv(hr.export, [worker(n) for n in range(1, 21)])
    hr.cycle()
    assert len(hr.accounts()) == 20
    return hr


def test_a_missing_export_is_refused(provisioned):
    provisioned.export.unlink()
    _refused(provisioned, f"the HR export {provisioned.export.as_uri()} does not exist")


def test_an_empty_export_is_refused(provisioned):
    provisioned.export.write_bytes(b"")
    _refused(provisioned, "is empty (0 bytes): refusing to treat every worker as gone")
    write_csv(provisioned.export, [])
    _refused(provisioned, "has a header but no rows: refusing to treat every worker as gone")


def test_a_truncated_export_is_refused_against_the_last_healthy_read(provisioned):
    write_csv(provisioned.export, [worker(n) for n in range(1, 18)])  # 17 of 20: below 90%
    _refused(provisioned, "has 17 users, fewer than 90% of the 20 of the last healthy cycle (cycle-1")
    write_csv(provisioned.export, [worker(n) for n in range(1, 20)])  # 19 of 20: a leaver, accepted
    accepted = provisioned.cycle()
    assert provisioned.accounts()["w020@example.com"] is False
    assert "held" not in accepted["diff"]  # one leaver is no hold: the healthy count moves
    assert provisioned.store.holds.latest_health("demo_wiki")["counts"]["users"] == 19


def test_an_export_whose_header_changed_is_refused_naming_the_columns(provisioned):
    header = [("HireDate" if c == "Hire_Date" else c) for c in HEADER if c != "Worker_Status"]
    rows = [{**w, "HireDate": w["Hire_Date"]} for w in (worker(n) for n in range(1, 21))]
    write_csv(provisioned.export, rows, header)
    _refused(
        provisioned,
        "it lacks 'Hire_Date' (hireDate; renamed to 'HireDate'?), 'Worker_Status' (status). It has",
    )


def test_a_folder_is_read_through_its_newest_export_and_json_works_alike(tmp_path, scim_app):
    folder = tmp_path / "hr"
    folder.mkdir()
    hr = HrHarness(
        tmp_path,
        scim_app,
        path=f"{folder.as_uri()}/",
        pattern="workers-*.json",
        records_key="Report_Entry",
    )
    older = folder / "workers-2031-06-30.json"
    older.write_text(json.dumps({"Report_Entry": [worker(1)]}))
    newer = folder / "workers-2031-07-01.json"
    entries = [{k: v for k, v in worker(n).items() if v} for n in (1, 2)]  # empty fields left out
    newer.write_text(json.dumps({"Report_Entry": entries}))
    (folder / "notes.txt").write_text("not an export")
    hr.cycle()
    assert set(hr.accounts()) == {"w001@example.com", "w002@example.com"}
