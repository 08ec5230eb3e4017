"""Nothing unbounded: a response that drips or never ends, over-long values from the app or the
directory, and a regular expression that backtracks forever each fail one request or one object,
never the step for everyone (real scim2-server behind the fault proxy; PostgreSQL where VARCHAR
lengths would bite)."""

import json
import time

import pytest

from provisioning.connectors.scim.client import ScimClient
from provisioning.connectors.scim.errors import ScimError, ScimRejectedError, ScimTransientError
from provisioning.state import StateStore
from provisioning.state.bounds import MAX_CODE_LENGTH, MAX_ID_LENGTH
from provisioning.state.schema import upgrade as upgrade_schema
from tests.integration.cycle_helpers import Harness
from tests.support.fault_proxy import Fault

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
BODY = json.dumps({"schemas": [USER], "id": "dripping", "userName": "slow@x"}).encode()


def client(scim_app, **options) -> ScimClient:
    options = {"backoff_initial": 0.01, "max_retries": 0, "timeout": 5.0, **options}
    return ScimClient(scim_app.url, scim_app.token, **options)


def test_a_slow_drip_response_is_cut_at_the_deadline_naming_path_and_limit(scim_app):
    # one byte every 0.1 s: each read is well inside the 5 s read timeout, the whole body is not
    scim_app.proxy.inject(Fault(200, body=BODY, drip_seconds=0.1, methods=("GET",)))
    started = time.monotonic()
    with client(scim_app, deadline=1.0) as app, pytest.raises(ScimTransientError) as error:
        app.get_resource("user", "dripping")
    assert time.monotonic() - started < 2.5
    assert str(error.value) == (
        "no complete response within the 1 s deadline (target.request_deadline_seconds) "
        "(GET /Users/dripping) scimType=deadline"
    )


def test_a_request_past_its_deadline_is_retried_like_a_timeout(scim_app):
    with client(scim_app, max_retries=1, deadline=1.0) as app:
        created = app.create_resource("user", {"schemas": [USER], "userName": "ana@x"})
        scim_app.proxy.inject(Fault(200, body=BODY, drip_seconds=0.1, methods=("GET",)))
        assert app.get_resource("user", created["id"])["userName"] == "ana@x"
    assert scim_app.proxy.count("GET") == 2


@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "until-close"])
def test_a_response_over_the_size_cap_is_refused_for_that_request(scim_app, declare_length):
    body = b'{"Resources": [' + b'{"id": "x"},' * 10_000 + b'{"id": "x"}]}'
    scim_app.proxy.inject(Fault(200, body=body, declare_length=declare_length, methods=("GET",)))
    with client(scim_app, max_response_bytes=64 * 1024) as app:
        with pytest.raises(ScimError) as error:
            app.get_resource("user", "huge")
        assert type(error.value) is ScimRejectedError  # fails this request only, not the whole app
        assert str(error.value) == (
            "the app's response is larger than the limit of 65,536 bytes (target.max_response_mib); "
            "it was not read (GET /Users/huge) status=200 scimType=too_large"
        )
        assert app.create_resource("user", {"schemas": [USER], "userName": "next@x"})["id"]


def test_target_config_bounds_the_client_settings():
    from provisioning.config.target import ScimTargetConfig

    target = ScimTargetConfig(conn_id="c")
    assert (target.request_deadline_seconds, target.max_response_mib) == (120.0, 16)
    for field in ("request_deadline_seconds", "max_response_mib"):
        with pytest.raises(ValueError, match="greater than 0"):
            ScimTargetConfig(conn_id="c", **{field: 0})


@pytest.fixture
def pg_harness(pg_database, directory_db, scim_app, tmp_path):
    """The wiki's cycles with the state store on PostgreSQL, where VARCHAR(n) refuses longer values."""
    harness = Harness(directory_db, scim_app, tmp_path / "unused-state.db")
    harness.store = StateStore(pg_database)
    upgrade_schema(harness.store.engine)
    return harness


def failures(harness: Harness) -> list[dict]:
    return [r for r in harness.store.log("demo_wiki") if r["status"] == "failure"]


def test_a_10_kb_scim_type_fails_one_object_and_the_cycle_goes_on(pg_harness, scim_app):
    expected = len(pg_harness.expected_wiki_users())
    huge = {"schemas": [ERROR], "status": "400", "scimType": "x" * 10_000, "detail": "d" * 100_000}
    scim_app.proxy.inject(Fault(400, body=json.dumps(huge).encode(), methods=("POST",)))
    result = pg_harness.cycle()
    assert (result["apply"]["failed"], result["apply"]["succeeded"]) == (1, expected - 1)
    assert len(scim_app.users()) == expected - 1
    (row,) = failures(pg_harness)
    code = "400:" + "x" * (MAX_CODE_LENGTH - 4)
    assert row["error_code"] == f"{code}... [{10_004 - MAX_CODE_LENGTH} more characters]"
    assert row["error_message"].startswith("the app rejected the request (POST /Users) status=400")
    assert row["error_message"].endswith(" more characters]") and len(row["error_message"]) < 5000
    (escrowed,) = pg_harness.store.escrow("demo_wiki").values()
    assert escrowed["error_code"] == row["error_code"]


def test_an_over_long_id_from_the_app_fails_that_object_only(pg_harness, scim_app):
    expected = len(pg_harness.expected_wiki_users())
    created = {"schemas": [USER], "id": "i" * 10_000, "userName": "whoever"}
    scim_app.proxy.inject(
        Fault(201, body=json.dumps(created).encode(), methods=("POST",), after_upstream=True)
    )
    result = pg_harness.cycle()
    assert (result["apply"]["failed"], result["apply"]["succeeded"]) == (1, expected - 1)
    assert len(pg_harness.store.links("demo_wiki")) == expected - 1
    (row,) = failures(pg_harness)
    assert (row["error_code"], row["target_id"]) == ("InvalidAppId", None)
    assert row["error_message"] == (
        f"the app returned an id of 10000 characters (more than {MAX_ID_LENGTH}): not linked"
    )


def test_a_long_user_principal_name_is_provisioned_on_postgres(pg_harness, scim_app):
    (source_id,) = pg_harness.rows(
        "select id from users where accountEnabled = 1 and department = 'Engineering' order by id limit 1"
    )[0]
    upn = "a" * 290 + "@x.example"  # 300 characters: over the old VARCHAR(256)
    pg_harness.sql("update users set userPrincipalName = :upn where id = :id", upn=upn, id=source_id)
    result = pg_harness.cycle()
    assert result["report"]["status"] == "succeeded"
    assert upn in scim_app.by_username()
    (row,) = [r for r in pg_harness.store.log("demo_wiki") if r["source_id"] == source_id]
    assert (row["source_display"], row["status"]) == (upn, "success")


def test_a_scoping_regex_that_backtracks_skips_that_user_and_the_rest_is_provisioned(
    directory_db, scim_app, tmp_path
):
    harness = Harness(directory_db, scim_app, tmp_path / "state.db")
    (victim,) = harness.rows("select id from users where accountEnabled = 1 and department = 'Engineering'")[
        0
    ]
    harness.sql("update users set jobTitle = :t where id = :id", t="a" * 40 + "!", id=victim)
    users = harness.raw("users")
    users["scoping"] = [
        {
            "name": "no runaway titles",
            "clauses": [{"attribute": "jobTitle", "operator": "NOT REGEX MATCH", "value": "(a|aa)+$"}],
        }
    ]
    harness.configure(users=users)
    started = time.monotonic()
    result = harness.cycle()
    assert time.monotonic() - started < 60
    titled = harness.rows("select count(*) from users where jobTitle is not null")[0][0]
    assert 0 < result["apply"]["succeeded"] < titled and result["apply"]["failed"] == 0
    (row,) = [r for r in harness.store.log("demo_wiki") if r["source_id"] == victim]
    assert (row["status"], row["error_code"]) == ("skipped", "ScopingError")
    assert row["error_message"].startswith(
        "scoping filter 'no runaway titles', clause jobTitle NOT REGEX MATCH '(a|aa)+$': regular expression "
    )
    assert "0.5 s time limit" in row["error_message"]
    assert victim not in {u.get("externalId") for u in scim_app.users()}


def test_an_account_matched_under_an_over_long_id_is_skipped_not_linked_or_created(
    directory_db, scim_app, tmp_path
):
    harness = Harness(directory_db, scim_app, tmp_path / "state.db")
    expected = harness.expected_wiki_users()
    upn = expected.index[0]
    account = {"schemas": [USER], "id": "i" * 10_000, "userName": upn, "active": True}
    listing = {"schemas": [LIST], "totalResults": 1, "Resources": [account]}
    scim_app.proxy.inject(Fault(200, body=json.dumps(listing).encode(), methods=("GET",), path="/Users"))
    result = harness.cycle()
    assert result["apply"]["succeeded"] == len(expected) - 1 and result["apply"]["failed"] == 0
    assert upn not in scim_app.by_username() and len(harness.store.links("demo_wiki")) == len(expected) - 1
    (row,) = [r for r in harness.store.log("demo_wiki") if r["source_display"] == upn]
    assert (row["status"], row["error_code"]) == ("skipped", "InvalidAppId")
    assert row["error_message"].startswith("the app returned an id of 10000 characters")
