"""Count the SQL statements a piece of code sends: the guard against N+1 queries.

    async def test_my_endpoint_has_a_fixed_cost(client, count_statements):
        with count_statements as statements:
            await client.get("/my/endpoint")
        assert len(statements) == 2, statements.sql

Use it on your own routes: seed a little data, count, seed a lot more, count again; the two
counts must be equal. Each `with` gives a new record, so the two can be compared.
"""

from types import TracebackType
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

# Transaction control is not a query: it is the same for every request whatever it loads.
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


class Statements:
    """The statements sent during one `with` block, transaction control left out."""

    def __init__(self) -> None:
        self.sql: list[str] = []

    def __len__(self) -> int:
        return len(self.sql)

    def record(self, _connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(TRANSACTION_CONTROL):
            self.sql.append(statement)


class StatementCounter:
    """Records each statement `engine` sends while a `with` block runs, in a new `Statements`."""

    def __init__(self, engine: AsyncEngine) -> None:
        # Events live on the synchronous engine that the AsyncEngine drives.
        self.engine = engine.sync_engine
        self.recording: list[Statements] = []

    def __enter__(self) -> Statements:
        statements = Statements()
        event.listen(self.engine, "before_cursor_execute", statements.record)
        self.recording.append(statements)
        return statements

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        event.remove(self.engine, "before_cursor_execute", self.recording.pop().record)
