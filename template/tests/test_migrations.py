"""The migrations build exactly what the models describe, and can be undone and redone."""

import io
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.conftest import alembic_config

MIGRATIONS = Path(__file__).parent.parent / "migrations"


def round_trip(connection: Connection) -> list[str]:
    config = alembic_config(connection)
    command.check(config)  # raises if the models and the migrations disagree
    command.downgrade(config, "base")
    assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
    command.upgrade(config, "head")
    command.check(config)
    return sorted(inspect(connection).get_table_names())


async def test_upgrade_check_downgrade_upgrade(connection: AsyncConnection) -> None:
    # Runs inside the test's transaction, so the schema other tests use is restored afterwards.
    tables = await connection.run_sync(round_trip)

    assert tables == ["alembic_version", "projects", "tasks"]


def test_offline_mode_renders_the_sql() -> None:
    sql = io.StringIO()
    config = Config(output_buffer=sql)
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")

    command.upgrade(config, "head", sql=True)

    assert "CREATE TABLE projects" in sql.getvalue()
    assert "CREATE TABLE tasks" in sql.getvalue()
