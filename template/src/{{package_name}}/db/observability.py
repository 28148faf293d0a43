"""Slow statements, logged with their duration and SQL, never their parameters (which can hold
personal data or secrets).
"""

import logging
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger(__name__)


def log_slow_statements(engine: AsyncEngine, threshold_ms: float) -> None:
    """Log, at WARNING, each statement `engine` runs that takes longer than `threshold_ms`;
    0 logs nothing. The duration is the cursor's execution, fetching the rows included for the
    drivers that fetch them all at once (asyncpg, aiosqlite, psycopg's default cursor).
    """
    if threshold_ms <= 0:
        return

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def start(connection: Connection, *_: Any) -> None:
        # A connection runs one statement at a time: one start per connection is enough.
        connection.info["statement_started"] = time.perf_counter()

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def end(connection: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        duration_ms = (time.perf_counter() - connection.info["statement_started"]) * 1000
        if duration_ms > threshold_ms:
            logger.warning(
                "slow statement: %.2f ms: %s",
                duration_ms,
                statement,
                extra={"duration_ms": round(duration_ms, 2), "statement": statement},
            )
