"""lifecycle: the joiner / mover / leaver label of a user action, planned with the outbox row and
shown with its provisioning log row (engine/lifecycle.py). Nullable: most actions have none, and
rows written before this release keep none.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("lifecycle", sa.String(length=8), nullable=True))
    with op.batch_alter_table("provisioning_log") as batch:
        batch.add_column(sa.Column("lifecycle", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("provisioning_log") as batch:
        batch.drop_column("lifecycle")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("lifecycle")
