"""A deterministic demo directory: the same seed and size always give the same people.

Used by ``make run`` (a few thousand users), by the tests (small sizes) and by the benchmark
(``--users 100000``). It exercises what real directories contain: departments as groups,
divisions as groups of groups, a membership cycle, disabled accounts, names with diacritics.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, create_engine, delete, insert

from provisioning.connectors.directory import schema

FIRST = [
    "Ana",
    "Björn",
    "Chloé",
    "Dmitri",
    "Élodie",
    "Farah",
    "Gústav",
    "Hana",
    "Iñaki",
    "Jürgen",
    "Kenji",
    "Léa",
    "Mateo",
    "Nadia",
    "Øystein",
    "Priya",
    "Quentin",
    "Rosa",
    "Søren",
    "Tomás",
    "Uma",
    "Viktor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoë",
    "Amir",
    "Beatriz",
    "Carlos",
    "Dagny",
]
LAST = [
    "Andersson",
    "Byrne",
    "Castillo",
    "Dubois",
    "Eriksen",
    "Fernández",
    "García",
    "Hoffmann",
    "Ivanova",
    "Jansen",
    "Kowalski",
    "López",
    "Müller",
    "Nakamura",
    "O'Brien",
    "Petrović",
    "Quinn",
    "Rossi",
    "Schröder",
    "Tanaka",
    "Újvári",
    "Vasquez",
    "Weiß",
    "Xu",
    "Yilmaz",
    "Zhang",
]
DEPARTMENTS = [
    "Engineering",
    "Product",
    "Design",
    "Sales",
    "Marketing",
    "Finance",
    "HR",
    "Support",
    "Legal",
    "Operations",
]
TITLES = ["Associate", "Specialist", "Senior Specialist", "Lead", "Manager", "Director"]
DIVISIONS = {
    "g-division-tech": ["Engineering", "Product", "Design"],
    "g-division-business": ["Sales", "Marketing", "Finance"],
}
DOMAIN = "contoso.example"


def dept_group(department: str) -> str:
    return f"g-dept-{department.lower()}"


def user_id(index: int) -> str:
    return f"u{index:07d}"


def team_group(index: int) -> str:
    return f"g-team-{index:06d}"


def build(engine: Engine, users: int = 3000, seed: int = 7, teams: int = 0) -> dict[str, int]:
    """(Re)create the directory tables and fill them; returns row counts. ``teams`` adds that many
    flat groups with every user in one of them (user i in team i % teams): the benchmarks' way to a
    directory with as many groups as a large tenant (50,000 for 1,000,000 users). The rest of the
    directory is the same with or without them."""
    rng = random.Random(seed)
    schema.metadata.create_all(engine)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    user_rows, members = [], []
    for i in range(users):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        department = DEPARTMENTS[i % len(DEPARTMENTS)]
        alias = f"{first}.{last}{i}".lower().replace("'", "")
        user_rows.append(
            {
                "id": user_id(i),
                "userPrincipalName": f"{alias}@{DOMAIN}",
                "mail": f"{alias}@{DOMAIN}",
                "givenName": first,
                "surname": last,
                "displayName": f"{first} {last}",
                "department": department,
                "jobTitle": rng.choice(TITLES),
                "employeeId": f"E{100000 + i}",
                "accountEnabled": rng.random() > 0.03,
                "manager": user_id(i % len(DEPARTMENTS)) if i >= 10 else None,
                "updatedAt": base + timedelta(minutes=i),
            }
        )
        members.append({"group_id": dept_group(department), "member_id": user_id(i), "member_type": "user"})
    groups = [
        {"id": dept_group(d), "displayName": f"Department {d}", "description": None} for d in DEPARTMENTS
    ]
    for division, departments in DIVISIONS.items():
        groups.append(
            {
                "id": division,
                "displayName": division.removeprefix("g-").replace("-", " ").title(),
                "description": "division (group of department groups)",
            }
        )
        members += [
            {"group_id": division, "member_id": dept_group(d), "member_type": "group"} for d in departments
        ]
    # a membership cycle, as real directories have: project-x and project-y contain each other
    groups += [
        {"id": "g-project-x", "displayName": "Project X", "description": None},
        {"id": "g-project-y", "displayName": "Project Y", "description": None},
    ]
    members += [
        {"group_id": "g-project-x", "member_id": "g-project-y", "member_type": "group"},
        {"group_id": "g-project-y", "member_id": "g-project-x", "member_type": "group"},
    ]
    groups += [
        {"id": team_group(t), "displayName": f"Team {t:06d}", "description": None} for t in range(teams)
    ]
    if teams:
        members += [
            {"group_id": team_group(i % teams), "member_id": user_id(i), "member_type": "user"}
            for i in range(users)
        ]
    for i in range(0, users, 97):
        members.append(
            {
                "group_id": rng.choice(["g-project-x", "g-project-y"]),
                "member_id": user_id(i),
                "member_type": "user",
            }
        )
    assignments = [
        {"app": "demo_wiki", "principal_id": "g-division-tech", "principal_type": "group"},
        {"app": "demo_crm", "principal_id": "g-division-business", "principal_type": "group", "role": "User"},
        {"app": "demo_crm", "principal_id": "g-project-x", "principal_type": "group", "role": "Admin"},
    ]
    assignments += [
        {"app": "demo_wiki", "principal_id": user_id(i), "principal_type": "user"}
        for i in range(3, min(users, 60), 10)
    ]
    for row in assignments:  # one bulk insert takes its columns from the first row: give every row a role
        row.setdefault("role", None)
    with engine.begin() as conn:
        for table in (schema.app_assignments, schema.group_members, schema.groups, schema.users):
            conn.execute(delete(table))
        for table, rows in (
            (schema.users, user_rows),
            (schema.groups, groups),
            (schema.group_members, members),
            (schema.app_assignments, assignments),
        ):
            for start in range(0, len(rows), 5000):
                conn.execute(insert(table), rows[start : start + 5000])
    return {
        "users": len(user_rows),
        "groups": len(groups),
        "memberships": len(members),
        "assignments": len(assignments),
    }


def build_sqlite(path: Path | str, users: int = 3000, seed: int = 7, teams: int = 0) -> dict[str, int]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return build(create_engine(f"sqlite:///{path}"), users=users, seed=seed, teams=teams)
