"""Web root integrity and malware scan (``skimguard webroot``): roots, files (baseline and stat
cache), platform releases and their files.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "webroot_roots",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=200), nullable=False),
        sa.Column("root", sa.Text(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("platforms", sa.JSON(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("engine", sa.String(length=64), nullable=False),
        sa.Column("baseline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("baseline_by", sa.Text(), nullable=False),
        sa.Column("baseline_note", sa.Text(), nullable=False),
        sa.Column("baseline_files", sa.BigInteger(), nullable=False),
        sa.Column("last_scan_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webroot_roots"),
        sa.UniqueConstraint("site", "root_hash", name="uq_webroot_roots_site_root_hash"),
    )
    op.create_table(
        "webroot_files",
        sa.Column("root_id", _BIG_ID, nullable=False),
        sa.Column("path_hash", sa.String(length=64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mode", sa.Integer(), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("gid", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("ctime_ns", sa.BigInteger(), nullable=False),
        sa.Column("inode", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("flags", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("analysis", sa.JSON(), nullable=True),
        sa.Column("base_kind", sa.String(length=16), nullable=True),
        sa.Column("base_size", sa.BigInteger(), nullable=True),
        sa.Column("base_mode", sa.Integer(), nullable=True),
        sa.Column("base_uid", sa.BigInteger(), nullable=True),
        sa.Column("base_gid", sa.BigInteger(), nullable=True),
        sa.Column("base_mtime_ns", sa.BigInteger(), nullable=True),
        sa.Column("base_sha256", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["root_id"], ["webroot_roots.id"], name="fk_webroot_files_root_id_webroot_roots", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("root_id", "path_hash", name="pk_webroot_files"),
    )
    op.create_table(
        "webroot_releases",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("platform", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("files", sa.BigInteger(), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("built_by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webroot_releases"),
        sa.UniqueConstraint("platform", "version", name="uq_webroot_releases_platform_version"),
    )
    op.create_table(
        "webroot_release_files",
        sa.Column("release_id", _BIG_ID, nullable=False),
        sa.Column("path_hash", sa.String(length=64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["webroot_releases.id"],
            name="fk_webroot_release_files_release_id_webroot_releases",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("release_id", "path_hash", name="pk_webroot_release_files"),
    )


def downgrade() -> None:
    op.drop_table("webroot_release_files")
    op.drop_table("webroot_releases")
    op.drop_table("webroot_files")
    op.drop_table("webroot_roots")
