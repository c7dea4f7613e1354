"""Web root stat cache snapshots: a root's file rows in a few compressed blobs, read by re-scans.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Empty at first: the next web-root scan of each root writes its snapshot.
    op.create_table(
        "webroot_snapshots",
        sa.Column("root_id", _BIG_ID, nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("format", sa.Integer(), nullable=False),
        sa.Column("files", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("plan", sa.String(length=64), nullable=False),
        sa.Column("quiet", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["root_id"], ["webroot_roots.id"], name="fk_webroot_snapshots_root_id_webroot_roots", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("root_id", "chunk", name="pk_webroot_snapshots"),
    )


def downgrade() -> None:
    op.drop_table("webroot_snapshots")
