"""The benchmark's data: 1,000 projects with 10 tasks each, identical on every database.

Ids are 1..1000 for projects and 1..10000 for tasks, so bodies can be compared byte for byte
between servers. Re-seeding empties the tables first (and restarts PostgreSQL's sequences).
The schema comes from a generated app's own migrations, run before this.
"""

from __future__ import annotations

import sqlite3

PROJECTS = 1000
TASKS_EACH = 10


def rows() -> tuple[list[tuple[str, str]], list[tuple[int, str, bool]]]:
    # One non-ASCII character per description: both sides must encode JSON the same way.
    projects = [(f"Project {n:04d}", f"Seeded project n\u00ba {n}") for n in range(1, PROJECTS + 1)]
    tasks = [
        (project, f"Task {t}", t % 3 == 0)
        for project in range(1, PROJECTS + 1)
        for t in range(1, TASKS_EACH + 1)
    ]
    return projects, tasks


def seed_postgres(url: str) -> None:
    import psycopg

    projects, tasks = rows()
    with psycopg.connect(url, connect_timeout=5) as conn:
        conn.execute("TRUNCATE tasks, projects RESTART IDENTITY")
        with conn.cursor() as cursor:
            with cursor.copy("COPY projects (name, description) FROM STDIN") as copy:
                for row in projects:
                    copy.write_row(row)
            with cursor.copy("COPY tasks (project_id, title, done) FROM STDIN") as copy:
                for row in tasks:
                    copy.write_row(row)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE projects, tasks")


def seed_sqlite(path: str) -> None:
    projects, tasks = rows()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.execute("DELETE FROM tasks")
        conn.execute("DELETE FROM projects")
        # Integer primary keys without AUTOINCREMENT start again at 1 in an empty table.
        conn.executemany("INSERT INTO projects (name, description) VALUES (?, ?)", projects)
        conn.executemany("INSERT INTO tasks (project_id, title, done) VALUES (?, ?, ?)", tasks)
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("ANALYZE")
    finally:
        conn.close()
