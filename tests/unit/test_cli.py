"""``provisioning validate``: run as the installed console script, as users run it."""

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

SCRIPT = str(Path(sys.executable).parent / "provisioning")


def run(*args):
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=60)


def test_shipped_configs_validate():
    result = run("validate", "--apps-dir", str(REPO / "include" / "apps"), "--dags-dir", str(REPO / "dags"))
    assert result.returncode == 0, result.stderr
    assert "provision_demo_wiki" in result.stdout and "3 valid, 0 problem file(s)" in result.stdout


def test_bad_configs_fail_with_every_problem_and_missing_dag_files(tmp_path):
    apps, dags = tmp_path / "apps", tmp_path / "dags"
    shutil.copytree(REPO / "include" / "apps", apps)
    shutil.copytree(REPO / "dags", dags)
    text = (apps / "demo_crm.yaml").read_text()
    (apps / "demo_crm.yaml").write_text(
        text.replace("max_concurrency: 4", "max_concurrency: 99").replace("page_size: 200", "page_size: 0")
    )
    (apps / "orphan.yaml").write_text((apps / "demo_wiki.yaml").read_text())
    shutil.copy(dags / "provision_demo_wiki.py", dags / "provision_gone.py")
    result = run("validate", "--apps-dir", str(apps), "--dags-dir", str(dags))
    assert result.returncode == 1
    assert f"{apps / 'demo_crm.yaml'}: invalid app config (2 problem(s))" in result.stderr
    assert "target.max_concurrency: Input should be less than or equal to 64" in result.stderr
    assert "target.page_size: Input should be greater than or equal to 1" in result.stderr
    assert "2 valid, 3 problem file(s)" in result.stderr
    assert "no DAG file" in result.stderr and "provision_orphan.py" in result.stderr
    assert f"{dags / 'provision_gone.py'}: no app config" in result.stderr
    assert "ok  " in result.stdout and "provision_demo_wiki" in result.stdout  # the good one still reported


def test_two_apps_writing_users_through_one_connection_are_refused_unless_shared(tmp_path):
    apps, dags = tmp_path / "apps", tmp_path / "dags"
    shutil.copytree(REPO / "include" / "apps", apps)
    shutil.copytree(REPO / "dags", dags)
    crm = (apps / "demo_crm.yaml").read_text()
    (apps / "demo_crm.yaml").write_text(crm.replace("conn_id: scim_demo_crm", "conn_id: scim_demo_wiki"))
    result = run("validate", "--apps-dir", str(apps), "--dags-dir", str(dags))
    assert result.returncode == 1
    assert (
        f"{apps / 'demo_wiki.yaml'}: target.conn_id 'scim_demo_wiki': writes users to the same endpoint as "
        "demo_crm; each app would disable or overwrite the other's objects"
    ) in result.stderr
    (apps / "demo_crm.yaml").write_text(
        crm.replace("conn_id: scim_demo_crm", "conn_id: scim_demo_wiki\n  shared_with: [demo_wiki]")
    )
    wiki = (apps / "demo_wiki.yaml").read_text()
    (apps / "demo_wiki.yaml").write_text(
        wiki.replace("conn_id: scim_demo_wiki", "conn_id: scim_demo_wiki\n  shared_with: [demo_crm]")
    )
    assert run("validate", "--apps-dir", str(apps), "--dags-dir", str(dags)).returncode == 0


def test_expr_prints_the_value_as_json():
    result = run(
        "expr",
        'Join("@", NormalizeDiacritics(StripSpaces([givenName])), "contoso.com")',
        "--source",
        '{"givenName": "Zoë Anne"}',
    )
    assert result.returncode == 0 and result.stdout.strip() == '"ZoeAnne@contoso.com"'
    result = run("expr", 'Split([x], ",")', "--source", '{"x": "a, b"}')
    assert result.stdout.strip() == '["a", "b"]'


def test_expr_errors_point_at_the_position():
    result = run("expr", 'Join("@", Tolower([givenName]))')
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error at position 11: unknown function 'Tolower' "
        "(function names are case-sensitive: did you mean ToLower?)",
        'Join("@", Tolower([givenName]))',
        "          ^",
    ]
    assert run("expr", "[x]", "--source", "[1]").returncode == 2
    assert run("expr", "[x]", "--source", "{nope").returncode == 2
