"""Catalog tables: publishers and keys, plugins (search vector, trigram index), versions and
their declared dependencies, permissions and hooks, artifacts, downloads, moderation log, and the
install-count projection.

Revision ID: catalog_0002
Revises: catalog_0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# As in models.SEARCH_VECTOR_SQL at the time of this revision.
SEARCH_VECTOR_SQL = (
    "setweight(to_tsvector('simple'::regconfig, coalesce(name, '')), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, catalog_tags_text(tags)), 'B') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'C')"
)

revision: str = "catalog_0002"
down_revision: str | None = "catalog_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # pg_trgm gives the typo-tolerant name index (the stack also creates it in template1).
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(
        "CREATE FUNCTION catalog_tags_text(tags varchar[]) RETURNS text "
        "LANGUAGE sql IMMUTABLE PARALLEL SAFE "
        "AS $$ SELECT coalesce(array_to_string(tags, ' '), '') $$"
    )
    op.create_table(
        "artifacts",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("location", sa.String(length=512), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_artifacts")),
    )
    op.create_table(
        "installation_projection",
        sa.Column("installation_id", sa.UUID(), nullable=False),
        sa.Column("plugin_id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("installation_id", name=op.f("pk_installation_projection")),
    )
    op.create_table(
        "publishers",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publishers")),
    )
    op.create_table(
        "plugins",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("publisher_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("tags", postgresql.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column("pricing", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("is_free", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("verified", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("featured_rank", sa.Integer(), nullable=True),
        sa.Column("featured_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("banned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ban_reason", sa.Text(), nullable=True),
        sa.Column("deprecated", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("deprecation_reason", sa.Text(), nullable=True),
        sa.Column("replacement_slug", sa.String(length=64), nullable=True),
        sa.Column("latest_version", sa.String(length=256), nullable=True),
        sa.Column("latest_published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("compat", postgresql.INT8MULTIRANGE(), nullable=True),
        sa.Column("rating_average", sa.Float(), server_default="0", nullable=False),
        sa.Column("rating_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rating_bayesian", sa.Float(), server_default="3", nullable=False),
        sa.Column("rating_histogram", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("install_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("download_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "search_vector",
            postgresql.TSVECTOR(),
            sa.Computed(
                SEARCH_VECTOR_SQL,
                persisted=True,
            ),
            nullable=True,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["publisher_id"], ["publishers.id"], name=op.f("fk_plugins_publisher_id_publishers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plugins")),
        sa.UniqueConstraint("slug", name=op.f("uq_plugins_slug")),
    )
    op.create_index("ix_plugins_category", "plugins", ["category"], unique=False)
    op.create_index(
        "ix_plugins_install_count",
        "plugins",
        [sa.literal_column("install_count DESC"), "id"],
        unique=False,
    )
    op.create_index(
        "ix_plugins_latest_published_at",
        "plugins",
        [sa.literal_column("latest_published_at DESC"), "id"],
        unique=False,
    )
    op.create_index("ix_plugins_name", "plugins", ["name", "id"], unique=False)
    op.create_index(
        "ix_plugins_name_trgm",
        "plugins",
        ["name"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )
    op.create_index("ix_plugins_publisher_id", "plugins", ["publisher_id"], unique=False)
    op.create_index(
        "ix_plugins_rating_bayesian",
        "plugins",
        [sa.literal_column("rating_bayesian DESC"), "id"],
        unique=False,
    )
    op.create_index(
        "ix_plugins_search_vector",
        "plugins",
        ["search_vector"],
        unique=False,
        postgresql_using="gin",
    )
    op.create_index("ix_plugins_tags", "plugins", ["tags"], unique=False, postgresql_using="gin")
    op.create_table(
        "publisher_keys",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("publisher_id", sa.String(length=128), nullable=False),
        sa.Column("algorithm", sa.String(length=16), server_default="ed25519", nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["publisher_id"],
            ["publishers.id"],
            name=op.f("fk_publisher_keys_publisher_id_publishers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publisher_keys")),
        sa.UniqueConstraint("publisher_id", "fingerprint", name="uq_publisher_keys_fingerprint"),
    )
    op.create_index(
        "ix_publisher_keys_publisher_id", "publisher_keys", ["publisher_id"], unique=False
    )
    op.create_table(
        "moderation_log",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("plugin_id", sa.UUID(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("version", sa.String(length=256), nullable=True),
        sa.Column("actor_id", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["plugin_id"], ["plugins.id"], name=op.f("fk_moderation_log_plugin_id_plugins")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_log")),
    )
    op.create_index(
        "ix_moderation_log_plugin_id", "moderation_log", ["plugin_id", "created_at"], unique=False
    )
    op.create_table(
        "plugin_versions",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("plugin_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.String(length=256), nullable=False),
        sa.Column("manifest", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=True),
        sa.Column("signing_key_id", sa.UUID(), nullable=True),
        sa.Column("compatibility", sa.String(length=256), nullable=True),
        sa.Column("compat", postgresql.INT8MULTIRANGE(), nullable=True),
        sa.Column("changelog", sa.Text(), nullable=True),
        sa.Column(
            "published_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("yanked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("yank_reason", sa.Text(), nullable=True),
        sa.Column("download_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["digest"], ["artifacts.digest"], name=op.f("fk_plugin_versions_digest_artifacts")
        ),
        sa.ForeignKeyConstraint(
            ["plugin_id"], ["plugins.id"], name=op.f("fk_plugin_versions_plugin_id_plugins")
        ),
        sa.ForeignKeyConstraint(
            ["signing_key_id"],
            ["publisher_keys.id"],
            name=op.f("fk_plugin_versions_signing_key_id_publisher_keys"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plugin_versions")),
        sa.UniqueConstraint("plugin_id", "version", name="uq_plugin_versions_plugin_version"),
    )
    op.create_table(
        "downloads",
        sa.Column("version_id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["plugin_versions.id"],
            name=op.f("fk_downloads_version_id_plugin_versions"),
        ),
        sa.PrimaryKeyConstraint("version_id", "tenant_id", "day", name=op.f("pk_downloads")),
    )
    op.create_table(
        "plugin_dependencies",
        sa.Column("version_id", sa.UUID(), nullable=False),
        sa.Column("depends_on_slug", sa.String(length=64), nullable=False),
        sa.Column("version_range", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["plugin_versions.id"],
            name=op.f("fk_plugin_dependencies_version_id_plugin_versions"),
        ),
        sa.PrimaryKeyConstraint(
            "version_id", "depends_on_slug", name=op.f("pk_plugin_dependencies")
        ),
    )
    op.create_index(
        "ix_plugin_dependencies_depends_on_slug",
        "plugin_dependencies",
        ["depends_on_slug"],
        unique=False,
    )
    op.create_table(
        "plugin_hooks",
        sa.Column("version_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("handler", sa.String(length=256), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["plugin_versions.id"],
            name=op.f("fk_plugin_hooks_version_id_plugin_versions"),
        ),
        sa.PrimaryKeyConstraint("version_id", "name", name=op.f("pk_plugin_hooks")),
    )
    op.create_table(
        "plugin_permissions",
        sa.Column("version_id", sa.UUID(), nullable=False),
        sa.Column("permission", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["plugin_versions.id"],
            name=op.f("fk_plugin_permissions_version_id_plugin_versions"),
        ),
        sa.PrimaryKeyConstraint("version_id", "permission", name=op.f("pk_plugin_permissions")),
    )


def downgrade() -> None:
    op.drop_table("plugin_permissions")
    op.drop_table("plugin_hooks")
    op.drop_index("ix_plugin_dependencies_depends_on_slug", table_name="plugin_dependencies")
    op.drop_table("plugin_dependencies")
    op.drop_table("downloads")
    op.drop_table("plugin_versions")
    op.drop_index("ix_moderation_log_plugin_id", table_name="moderation_log")
    op.drop_table("moderation_log")
    op.drop_index("ix_publisher_keys_publisher_id", table_name="publisher_keys")
    op.drop_table("publisher_keys")
    op.drop_index("ix_plugins_tags", table_name="plugins", postgresql_using="gin")
    op.drop_index("ix_plugins_search_vector", table_name="plugins", postgresql_using="gin")
    op.drop_index("ix_plugins_rating_bayesian", table_name="plugins")
    op.drop_index("ix_plugins_publisher_id", table_name="plugins")
    op.drop_index(
        "ix_plugins_name_trgm",
        table_name="plugins",
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )
    op.drop_index("ix_plugins_name", table_name="plugins")
    op.drop_index("ix_plugins_latest_published_at", table_name="plugins")
    op.drop_index("ix_plugins_install_count", table_name="plugins")
    op.drop_index("ix_plugins_category", table_name="plugins")
    op.drop_table("plugins")
    op.drop_table("publishers")
    op.drop_table("installation_projection")
    op.drop_table("artifacts")
    op.execute("DROP FUNCTION IF EXISTS catalog_tags_text(varchar[])")
