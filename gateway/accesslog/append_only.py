"""Database-level guard: access-log records and tree nodes can be inserted, never changed.

Nothing in the gateway updates or deletes a record (records are kept at least two years,
개인정보의 안전성 확보조치 기준 제8조); these triggers make an accidental UPDATE, DELETE or
TRUNCATE fail loudly instead of silently breaking the tree. They do not stop an administrator
who drops them first: that is what the signed checkpoints and proofs are for.
"""

from __future__ import annotations

from sqlalchemy import Connection, Table, event

GUARDED = ("log_leaves", "log_nodes")
MESSAGE = "access log records are append-only"


def sqlite_ddl(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
        for verb in ("UPDATE", "DELETE")
    ]


POSTGRES_FUNCTION = (
    "CREATE OR REPLACE FUNCTION gateway_log_append_only() RETURNS trigger "
    f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$"
)


def postgres_ddl(table: str) -> list[str]:
    return [
        POSTGRES_FUNCTION,
        f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
        (f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
         "FOR EACH ROW EXECUTE FUNCTION gateway_log_append_only()"),
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
        (f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
         "FOR EACH STATEMENT EXECUTE FUNCTION gateway_log_append_only()"),
    ]


def ddl_for(dialect: str, table: str) -> list[str]:
    if dialect == "sqlite":
        return sqlite_ddl(table)
    if dialect == "postgresql":
        return postgres_ddl(table)
    return []  # other databases: the Merkle tree still detects any change


def remove(conn: Connection, tables: tuple[str, ...] = GUARDED) -> None:
    """Drop the guard triggers (migration downgrade; tests that play an administrator)."""
    for table in tables:
        if conn.dialect.name == "sqlite":
            for verb in ("update", "delete"):
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
        elif conn.dialect.name == "postgresql":
            for name in ("append_only", "no_truncate"):
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_{name} ON {table}")


def install(conn: Connection, tables: tuple[str, ...] = GUARDED) -> None:
    """Create the guard triggers (idempotent)."""
    for table in tables:
        for statement in ddl_for(conn.dialect.name, table):
            conn.exec_driver_sql(statement)


def guard_on_create(table: Table) -> None:
    """Install the guard whenever SQLAlchemy creates `table` (tests, embedded set-up)."""

    @event.listens_for(table, "after_create")
    def _after_create(target: Table, connection: Connection, **_: object) -> None:
        install(connection, (target.name,))
